// Package health runs named readiness checks (PostgreSQL, Redis, NATS, MQTT listeners, ...)
// in parallel, each bounded in time, and reports which fail.
package health

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"
)

// Check answers nil when its dependency is usable.
type Check func(ctx context.Context) error

// Registry holds the checks; components add theirs as they start.
type Registry struct {
	mu     sync.RWMutex
	checks map[string]Check
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{checks: make(map[string]Check)} }

// Set adds or replaces the check called name.
func (r *Registry) Set(name string, c Check) {
	r.mu.Lock()
	r.checks[name] = c
	r.mu.Unlock()
}

// Report is the outcome of one run.
type Report struct {
	Ready   bool              `json:"-"`
	Status  string            `json:"status"`
	Failing []string          `json:"failing,omitempty"`
	Checks  map[string]string `json:"checks"`
}

// Run runs every check at once, each with its own timeout, and waits for all of them.
func (r *Registry) Run(ctx context.Context, timeout time.Duration) Report {
	r.mu.RLock()
	names := make([]string, 0, len(r.checks))
	checks := make([]Check, 0, len(r.checks))
	for n, c := range r.checks {
		names = append(names, n)
		checks = append(checks, c)
	}
	r.mu.RUnlock()

	results := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			results[i] = run(cctx, c)
		}()
	}
	wg.Wait()

	rep := Report{Ready: true, Status: "ready", Checks: make(map[string]string, len(names))}
	for i, n := range names {
		if results[i] != nil {
			rep.Ready = false
			rep.Failing = append(rep.Failing, n)
			rep.Checks[n] = results[i].Error()
			continue
		}
		rep.Checks[n] = "ok"
	}
	sort.Strings(rep.Failing)
	if !rep.Ready {
		rep.Status = "not ready"
	}
	return rep
}

// run calls c and gives up when ctx ends even if c ignores it.
func run(ctx context.Context, c Check) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- errors.New("check panicked")
			}
		}()
		done <- c(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errors.New("timed out")
	}
}
