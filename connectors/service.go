package connectors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pilotx/dispatchhub/internal/metrics"
	"github.com/pilotx/dispatchhub/internal/store"
)

// Config configures the connectors. Zero values take the defaults named on each field.
type Config struct {
	Workers         int           // concurrent pushes per platform, the platform's bulkhead (default 8)
	Attempts        int           // pushes of one job before it becomes a dead letter (default 10)
	RetryDelay      time.Duration // the first backoff ceiling; each later one doubles (default 1s)
	RetryDelayMax   time.Duration // the largest backoff ceiling (default 5m)
	Timeout         time.Duration // one call to a platform (default 10s)
	AckWait         time.Duration // a job not answered within this is redelivered (default 1m; more than Timeout)
	DelayedAfter    time.Duration // a tenant's platform is delayed when a job waits longer than this (default 1m)
	HealthInterval  time.Duration // how often health is evaluated (default 1s)
	Retention       time.Duration // finished jobs are kept this long to recognise redeliveries (default 7 days)
	PlatformRefresh time.Duration // how often the set of platforms with stores is re-read (default 30s)
	RouterWorkers   int           // events turned into jobs at once (default 4)
	Breaker         BreakerConfig
	Carrier         string // the carrier name shown to the customer (default "Pilot X")
	TrackingURL     string // a tracking link template with {job} and {order}; empty: none
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.Attempts <= 0 {
		c.Attempts = 10
	}
	if c.RouterWorkers <= 0 {
		c.RouterWorkers = 4
	}
	def(&c.RetryDelay, time.Second)
	def(&c.RetryDelayMax, 5*time.Minute)
	def(&c.Timeout, 10*time.Second)
	def(&c.AckWait, time.Minute)
	c.AckWait = max(c.AckWait, c.Timeout+5*time.Second)
	def(&c.DelayedAfter, time.Minute)
	def(&c.HealthInterval, time.Second)
	def(&c.Retention, 7*24*time.Hour)
	def(&c.PlatformRefresh, 30*time.Second)
	if c.Carrier == "" {
		c.Carrier = "Pilot X"
	}
	c.Breaker.defaults()
}

// Service runs the connectors: the router from EVENTS to OUTBOUND, one pool of workers per
// platform on OUTBOUND, the health watcher and the pruning of finished jobs.
type Service struct {
	db    *store.DB
	js    jetstream.JetStream
	reg   *Registry
	flags *Flags
	cfg   Config
	log   zerolog.Logger
	now   func() time.Time

	breakers *breakers
	stats    *stats
	stores   *storeCache
	m        serviceMetrics

	mu    sync.Mutex
	pools map[string]bool
	spawn chan string // platforms whose pool should run
}

type serviceMetrics struct {
	jobs         *prometheus.CounterVec
	push         *prometheus.HistogramVec
	lag          *prometheus.HistogramVec
	pending      *prometheus.GaugeVec
	oldest       *prometheus.GaugeVec
	breakersOpen *prometheus.GaugeVec
	degraded     *prometheus.GaugeVec
}

// New builds the connectors; Run starts them.
func New(db *store.DB, js jetstream.JetStream, reg *Registry, flags *Flags, cfg Config, log zerolog.Logger, promReg prometheus.Registerer) *Service {
	cfg.defaults()
	s := &Service{db: db, js: js, reg: reg, flags: flags, cfg: cfg, log: log, now: time.Now,
		stats: newStats(), stores: newStoreCache(db, 30*time.Second), pools: map[string]bool{}, spawn: make(chan string, 64)}
	s.breakers = newBreakers(cfg.Breaker, func(k breakerKey, st circuitbreaker.State) {
		s.log.Warn().Str("platform", k.Platform).Str("tenant", k.Tenant).Str("store", k.Store).Str("state", stateName(st)).
			Msg("connectors: breaker changed")
	})
	s.m = serviceMetrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "connector", Name: "jobs_total",
			Help: "Connector jobs by platform and outcome: queued, skipped (flag off or outside the canary), unconfigured (the store has no API credential or address), pushed, retried, throttled, breaker_open (deferred, no call made), waiting (deferred behind an older status of its order), dead_lettered, duplicate (already applied), superseded (a newer status was pushed).",
		}, []string{"platform", "outcome"}),
		push: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "connector", Name: "push_seconds",
			Help: "Time of one call to a platform, failed ones included, by platform and result (ok, error).", Buckets: metrics.LatencyBuckets,
		}, []string{"platform", "result"}),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "connector", Name: "lag_seconds",
			Help: "Time from the domain event to its status on the platform, by platform.", Buckets: metrics.LatencyBuckets,
		}, []string{"platform"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Subsystem: "connector", Name: "pending_jobs",
			Help: "Jobs not yet on their platform (every tenant), by platform.",
		}, []string{"platform"}),
		oldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Subsystem: "connector", Name: "queue_lag_seconds",
			Help: "Age of the oldest pending job, by platform (0 when none).",
		}, []string{"platform"}),
		breakersOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Subsystem: "connector", Name: "breakers_open",
			Help: "Circuit breakers (one per store) open or half-open in this process, by platform.",
		}, []string{"platform"}),
		degraded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Subsystem: "connector", Name: "degraded_tenants",
			Help: "Tenants whose sync with the platform is delayed, by platform.",
		}, []string{"platform"}),
	}
	promReg.MustRegister(s.m.jobs, s.m.push, s.m.lag, s.m.pending, s.m.oldest, s.m.breakersOpen, s.m.degraded)
	return s
}

// Flags returns the flags the service obeys.
func (s *Service) Flags() *Flags { return s.flags }

// Run runs every part until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	run := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("connectors %s: %w", name, err)
			}
		}()
	}
	run("router", s.route)
	run("health", s.watchHealth)
	run("prune", s.prune)
	run("pools", func(ctx context.Context) error { return s.runPools(ctx, &wg) })
	wg.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
}

func collect(errs <-chan error) []error {
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

// ensure makes the platform's pool run.
func (s *Service) ensure(platform string) {
	s.mu.Lock()
	running := s.pools[platform]
	s.mu.Unlock()
	if running {
		return
	}
	select {
	case s.spawn <- platform:
	default: // the pool manager is busy; its next refresh starts the pool
	}
}

// runPools starts a pool for every platform with a connector or a store, and for every
// platform the router asks for, until ctx ends.
func (s *Service) runPools(ctx context.Context, wg *sync.WaitGroup) error {
	start := func(platform string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.pools[platform] || !store.ValidPlatform(platform) {
			return
		}
		s.pools[platform] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runPool(ctx, platform)
			s.mu.Lock()
			delete(s.pools, platform)
			s.mu.Unlock()
		}()
	}
	refresh := func() {
		for _, p := range s.reg.Platforms() {
			start(p)
		}
		platforms, err := storePlatforms(ctx, s.db)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn().Err(err).Msg("connectors: cannot list the stores' platforms; retrying")
			}
			return
		}
		for _, p := range platforms {
			start(p)
		}
	}
	refresh()
	t := time.NewTicker(s.cfg.PlatformRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-s.spawn:
			start(p)
		case <-t.C:
			refresh()
		}
	}
}

// prune deletes finished jobs past the retention, hourly.
func (s *Service) prune(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := prune(ctx, s.db, s.cfg.Retention); err != nil {
			if ctx.Err() == nil {
				s.log.Warn().Err(err).Msg("connectors: pruning finished jobs failed")
			}
		} else if n > 0 {
			s.log.Info().Int64("jobs", n).Msg("connectors: finished jobs pruned")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
