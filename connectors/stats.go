package connectors

import (
	"slices"
	"sync"
	"time"
)

// statsWindow is how far back a tenant's error rate and p95 latency look.
const statsWindow = 5 * time.Minute

// statsCap bounds the calls kept per (tenant, platform).
const statsCap = 1024

type call struct {
	at     time.Time
	took   time.Duration
	failed bool
}

// ring keeps the latest calls of one (tenant, platform).
type ring struct {
	calls []call
	next  int
}

// stats keeps recent calls per (tenant, platform) for the health report.
type stats struct {
	mu sync.Mutex
	m  map[[2]string]*ring
}

func newStats() *stats { return &stats{m: map[[2]string]*ring{}} }

func (s *stats) add(tenant, platform string, took time.Duration, failed bool, now time.Time) {
	k := [2]string{tenant, platform}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.m[k]
	if r == nil {
		r = &ring{calls: make([]call, 0, 64)}
		s.m[k] = r
	}
	c := call{at: now, took: took, failed: failed}
	if len(r.calls) < statsCap {
		r.calls = append(r.calls, c)
		return
	}
	r.calls[r.next] = c
	r.next = (r.next + 1) % statsCap
}

// Window is a (tenant, platform)'s calls over the last five minutes.
type Window struct {
	Calls     int     `json:"calls"`
	Failures  int     `json:"failures"`
	ErrorRate float64 `json:"error_rate"` // failures / calls, 0 when no calls
	P95Millis float64 `json:"p95_ms"`     // of every call, failed ones included
}

func (s *stats) window(tenant, platform string, now time.Time) Window {
	s.mu.Lock()
	r := s.m[[2]string{tenant, platform}]
	var took []time.Duration
	var w Window
	if r != nil {
		took = make([]time.Duration, 0, len(r.calls))
		for _, c := range r.calls {
			if now.Sub(c.at) > statsWindow {
				continue
			}
			w.Calls++
			if c.failed {
				w.Failures++
			}
			took = append(took, c.took)
		}
	}
	s.mu.Unlock()
	if w.Calls == 0 {
		return w
	}
	w.ErrorRate = float64(w.Failures) / float64(w.Calls)
	slices.Sort(took)
	i := (len(took)*95 + 99) / 100
	w.P95Millis = float64(took[max(i-1, 0)].Microseconds()) / 1000
	return w
}
