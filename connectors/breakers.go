package connectors

import (
	"math"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
)

// BreakerConfig says when the breaker of one (platform, store) opens and how it recovers.
type BreakerConfig struct {
	FailureRate float64       // share of the last Calls calls that, failed, opens it, 0..1 (default 0.5)
	Calls       uint          // the calls the share is taken over (default 10)
	Delay       time.Duration // how long it stays open before probing (default 10s)
	Probes      uint          // successful probes in half-open that close it (default 2)
	SlowCall    time.Duration // a call slower than this counts as a failure (default 5s)
}

func (c *BreakerConfig) defaults() {
	if c.FailureRate <= 0 || c.FailureRate > 1 {
		c.FailureRate = 0.5
	}
	if c.Calls == 0 {
		c.Calls = 10
	}
	if c.Delay <= 0 {
		c.Delay = 10 * time.Second
	}
	if c.Probes == 0 {
		c.Probes = 2
	}
	if c.SlowCall <= 0 {
		c.SlowCall = 5 * time.Second
	}
}

// failures is how many of the last Calls calls, failed, open the breaker: at least one.
// The window counts calls, not time, so a store with a lot of traffic before an outage is cut
// off after the same few failures as a quiet one.
func (c BreakerConfig) failures() uint {
	return max(1, uint(math.Ceil(c.FailureRate*float64(c.Calls))))
}

// breakerKey names the breaker of one store of one platform.
type breakerKey struct{ Platform, Tenant, Store string }

// breaker is a failsafe-go circuit breaker and when it last opened.
type breaker struct {
	cb       circuitbreaker.CircuitBreaker[any]
	mu       sync.Mutex
	openedAt time.Time // zero while closed
}

// breakers holds one breaker per (platform, store), created on first use. Permits and
// results are recorded by hand (TryAcquirePermit, RecordSuccess, RecordFailure) so that a
// slow success counts against the platform without being retried.
type breakers struct {
	cfg      BreakerConfig
	mu       sync.RWMutex
	m        map[breakerKey]*breaker
	onChange func(k breakerKey, state circuitbreaker.State)
}

func newBreakers(cfg BreakerConfig, onChange func(breakerKey, circuitbreaker.State)) *breakers {
	cfg.defaults()
	return &breakers{cfg: cfg, m: map[breakerKey]*breaker{}, onChange: onChange}
}

func (bs *breakers) get(k breakerKey) *breaker {
	bs.mu.RLock()
	b := bs.m[k]
	bs.mu.RUnlock()
	if b != nil {
		return b
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b = bs.m[k]; b != nil {
		return b
	}
	b = &breaker{}
	b.cb = circuitbreaker.NewBuilder[any]().
		WithFailureThresholdRatio(bs.cfg.failures(), bs.cfg.Calls).
		WithDelay(bs.cfg.Delay).
		WithSuccessThreshold(bs.cfg.Probes).
		OnStateChanged(func(e circuitbreaker.StateChangedEvent) {
			b.mu.Lock()
			switch e.NewState {
			case circuitbreaker.OpenState:
				if b.openedAt.IsZero() {
					b.openedAt = time.Now()
				}
			case circuitbreaker.ClosedState:
				b.openedAt = time.Time{}
			}
			b.mu.Unlock()
			if bs.onChange != nil {
				bs.onChange(k, e.NewState)
			}
		}).
		Build()
	bs.m[k] = b
	return b
}

// record counts one call's result: a failure when err may heal with time (a 5xx, a timeout,
// a throttle) or the call was slow; a permanent answer (a 4xx about this job) is the job's
// fault, not the platform's, and counts as a success.
func (bs *breakers) record(b *breaker, err error, took time.Duration) {
	if (err != nil && Retryable(err)) || took > bs.cfg.SlowCall {
		b.cb.RecordFailure()
		return
	}
	b.cb.RecordSuccess()
}

// BreakerState is one breaker as health reports show it.
type BreakerState struct {
	Platform string    `json:"platform"`
	Tenant   string    `json:"tenant"`
	Store    string    `json:"store_id"`
	State    string    `json:"state"` // closed, open, half-open
	OpenedAt time.Time `json:"opened_at,omitzero"`
	Retry    time.Time `json:"probe_at,omitzero"` // open: when it lets a probe through
}

// states lists the breakers of tenant (every tenant when ""), open ones first.
func (bs *breakers) states(tenant string) []BreakerState {
	bs.mu.RLock()
	defer bs.mu.RUnlock()
	out := make([]BreakerState, 0, len(bs.m))
	for k, b := range bs.m {
		if tenant != "" && k.Tenant != tenant {
			continue
		}
		st := BreakerState{Platform: k.Platform, Tenant: k.Tenant, Store: k.Store, State: stateName(b.cb.State())}
		b.mu.Lock()
		st.OpenedAt = b.openedAt
		b.mu.Unlock()
		if b.cb.IsOpen() {
			st.Retry = time.Now().Add(b.cb.RemainingDelay())
		}
		out = append(out, st)
	}
	return out
}

func stateName(s circuitbreaker.State) string {
	switch s {
	case circuitbreaker.OpenState:
		return "open"
	case circuitbreaker.HalfOpenState:
		return "half-open"
	default:
		return "closed"
	}
}
