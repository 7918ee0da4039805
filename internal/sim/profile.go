package sim

import (
	"context"
	"time"
)

// Lunch profile: the middle third of the run is the lunch peak. Over its first quarter the
// rate ramps linearly from 1x to LunchPeak x, holds LunchPeak x over its middle half, and
// ramps back to 1x over its last quarter; the first and last thirds run at 1x. A run without
// an end (Duration 0) repeats it every LunchPeriod.
const (
	LunchPeak   = 3.0
	LunchPeriod = 6 * time.Minute
)

// RateAt is the webhook rate (per second) elapsed into the webhook phase: Rate, shaped by
// the lunch profile or the ramp, replaced by the burst's rate during the burst.
func (c Config) RateAt(elapsed time.Duration) float64 {
	if c.Burst.Rate > 0 && elapsed >= c.Burst.At && elapsed < c.Burst.At+c.Burst.For {
		return c.Burst.Rate
	}
	r := c.Rate
	if c.Duration <= 0 {
		if c.Lunch {
			return r * lunchFactor(float64(elapsed%LunchPeriod)/float64(LunchPeriod))
		}
		return r
	}
	f := min(max(float64(elapsed)/float64(c.Duration), 0), 1)
	if c.RampTo > c.Rate {
		r += (c.RampTo - c.Rate) * f
	}
	if c.Lunch {
		r *= lunchFactor(f)
	}
	return r
}

// lunchFactor is the lunch profile's multiplier at fraction f (0..1) of the run.
func lunchFactor(f float64) float64 {
	u := (f - 1.0/3) * 3 // 0..1 across the middle third
	switch {
	case u < 0 || u >= 1:
		return 1
	case u < 0.25:
		return 1 + (LunchPeak-1)*u/0.25
	case u < 0.75:
		return LunchPeak
	default:
		return 1 + (LunchPeak-1)*(1-u)/0.25
	}
}

// minRate bounds the gap between two webhooks (a profile may not stall the scheduler).
const minRate = 0.01

// nextDue is when the webhook after one due at elapsed is due: one interval of the rate at
// that moment later. Summed over a run, the count of webhooks follows the integral of the
// rate within one webhook per change of rate.
func (c Config) nextDue(elapsed time.Duration) time.Duration {
	r := max(c.RateAt(elapsed), minRate)
	return elapsed + time.Duration(float64(time.Second)/r)
}

// schedule calls send(n, due) for webhook n (0, 1, ...) at its due time, open loop: it never
// waits for an answer, only for send to return (send hands the request off). It runs from
// start until the webhook phase ends (cfg.Duration; 0: until ctx ends) and returns how many it
// sent. When the scheduler falls behind it sends at once, and due tells how late it was.
func schedule(ctx context.Context, cfg Config, start time.Time, send func(n int, due time.Time)) int {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var elapsed time.Duration
	n := 0
	for {
		if cfg.Duration > 0 && elapsed >= cfg.Duration {
			return n
		}
		due := start.Add(elapsed)
		if wait := time.Until(due); wait > time.Millisecond {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return n
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return n
		}
		send(n, due)
		n++
		elapsed = cfg.nextDue(elapsed)
	}
}
