package loadgen

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// publishWorkers is how many goroutines publish; driver i belongs to worker i mod
// publishWorkers, so a connection slow to take a write delays few others.
const publishWorkers = 64

// Per fix: how far a driver moves (about 10 m) and what it reports.
const (
	stepDegrees = 0.0001
	fixSpeed    = 8.3 // m/s
	fixAccuracy = 5   // m
)

// publish runs the publishing phase from start for cfg.Duration: every driver publishes
// once per period (1/Rate), driver i at offset i/N of the period, so the publishes are
// spread evenly instead of arriving together.
func (g *gen) publish(ctx context.Context, start time.Time) {
	period := time.Duration(float64(time.Second) / g.cfg.Rate)
	end := start.Add(g.cfg.Duration)
	workers := min(publishWorkers, len(g.drivers))
	late := make([]Histogram, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.publishLoop(ctx, w, workers, start, end, period, &late[w])
		}()
	}
	wg.Wait()
	for i := range late {
		g.late.Merge(&late[i])
	}
}

// publishLoop publishes for the drivers of worker w, each when it is due.
func (g *gen) publishLoop(ctx context.Context, w, workers int, start, end time.Time, period time.Duration, late *Histogram) {
	n := len(g.drivers)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for round := 0; ; round++ {
		base := start.Add(time.Duration(round) * period)
		for i := w; i < n; i += workers {
			due := base.Add(offset(i, n, period))
			if !due.Before(end) {
				return
			}
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			} else if ctx.Err() != nil {
				return
			}
			if d := g.drivers[i]; d != nil {
				late.Record(time.Since(due))
				g.publishFix(ctx, d)
			}
		}
	}
}

// offset is when driver i of n publishes within each period.
func offset(i, n int, period time.Duration) time.Duration {
	return time.Duration(int64(period) * int64(i) / int64(n))
}

// publishFix moves d a step and publishes its fix, without waiting for the PUBACK.
func (g *gen) publishFix(ctx context.Context, d *driver) {
	if d.lost.Load() {
		g.failed.Add(1)
		return
	}
	d.seq++
	d.lat += stepDegrees * math.Cos(d.course)
	d.lng += stepDegrees * math.Sin(d.course)
	now := g.now()
	payload := appendFix(make([]byte, 0, 200), fix{
		Lat: d.lat, Lng: d.lng, TsMs: now / int64(time.Millisecond),
		Speed: fixSpeed, Heading: math.Mod(d.course*180/math.Pi, 360), Accuracy: fixAccuracy,
		Probe: probe{Driver: d.idx, Seq: d.seq, SentNs: now},
	})
	_, err := d.client.PublishWithOptions(ctx, &paho.Publish{Topic: d.topic, QoS: g.cfg.QoS, Payload: payload},
		paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
	if err != nil {
		g.failed.Add(1)
		if !errors.Is(err, context.Canceled) {
			g.errs.add("publish", err)
		}
		return
	}
	g.sent.Add(1)
}
