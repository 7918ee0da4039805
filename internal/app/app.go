// Package app is the composition root: it builds every component from the configuration,
// starts them in order, waits for dependencies without crashing, and stops everything within
// the shutdown timeout. Every goroutine started here is owned and waited for.
package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/google/uuid"
	"github.com/pilotx/dispatchhub/dispatch"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/errgroup"

	"github.com/pilotx/dispatchhub/ingest"
	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/edge"
	"github.com/pilotx/dispatchhub/internal/health"
	"github.com/pilotx/dispatchhub/internal/metrics"
	"github.com/pilotx/dispatchhub/internal/store"
)

// App is one running hub.
type App struct {
	cfg    config.Config
	log    zerolog.Logger
	stdout io.Writer

	reg    *prometheus.Registry
	checks *health.Registry
	edge   *edge.Server
	db     *store.DB
	redis  *redis.Client
	bus    atomic.Pointer[bus.Bus]

	realtime *realtime
	engine   *dispatch.Engine  // built with the realtime core (its reply hook needs it)
	replies  *dispatch.Replies // drivers' replies, fed by the broker's reply hook
	replica  string            // this process: the engine's direct offers and the bridge agree on it
	ingest   atomic.Pointer[ingest.Edge]
	api      atomic.Pointer[fasthttp.RequestHandler]
	workers  workers
	hs256    []byte // the HS256 secret tokens are verified with, when there is one

	started chan struct{}
	once    sync.Once
}

// New builds the hub. stdout receives the --dev banner; logs go to log.
func New(cfg config.Config, log zerolog.Logger, stdout io.Writer) *App {
	return &App{cfg: cfg, log: log, stdout: stdout, started: make(chan struct{}), replica: uuid.NewString()}
}

// Started is closed once every dependency is up and every component runs.
func (a *App) Started() <-chan struct{} { return a.started }

// HTTPAddr is the address the edge listens on (valid once Run has bound it).
func (a *App) HTTPAddr() string {
	if a.edge == nil {
		return a.cfg.HTTPAddr()
	}
	return a.edge.Addr()
}

// Run runs the hub until ctx ends, then shuts down within the shutdown timeout. It returns an
// error only for what a restart cannot fix by waiting: a taken port, a bad URL, a failed
// migration, a shutdown that overran.
func (a *App) Run(ctx context.Context) error {
	a.reg = metrics.NewRegistry()
	a.checks = health.NewRegistry()
	a.edge = edge.New(edge.Config{
		Addr:           a.cfg.HTTPAddr(),
		ReadTimeout:    a.cfg.HTTP.ReadTimeout,
		WriteTimeout:   a.cfg.HTTP.WriteTimeout,
		IdleTimeout:    a.cfg.HTTP.IdleTimeout,
		BodyLimit:      int(a.cfg.HTTP.BodyLimit),
		Concurrency:    a.cfg.HTTP.Concurrency,
		ReadyzTimeout:  a.cfg.HTTP.ReadyzTimeout,
		TrustedProxies: a.cfg.HTTP.TrustedProxies,
	}, a.log.With().Str("component", "http").Logger(), a.reg, a.checks)
	a.mountRoutes()
	if err := a.edge.Listen(); err != nil {
		return err
	}

	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		serveErr <- a.edge.Serve()
	}()
	a.log.Info().Str("component", "http").Str("addr", a.edge.Addr()).Msg("http edge listening")

	err := a.startDependencies(ctx)
	if err == nil {
		err = a.startRealtime()
	}
	if err == nil {
		err = a.startIngest()
	}
	if err == nil {
		err = a.startBackbone()
	}
	if err == nil {
		if a.cfg.Dev {
			err = a.seedDev(ctx)
		}
	}
	if err == nil {
		a.once.Do(func() { close(a.started) })
		a.log.Info().Str("http", a.edge.Addr()).Str("nats", a.natsURL()).Msg("dispatchhub ready")
		select {
		case <-ctx.Done():
		case err = <-serveErr:
			if err == nil {
				err = errors.New("http edge stopped unexpectedly")
			}
		}
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = nil // stopped while waiting for a dependency: a clean stop
	}
	a.log.Info().Msg("shutting down")
	if serr := a.shutdown(&wg); serr != nil {
		return errors.Join(err, serr)
	}
	a.log.Info().Msg("stopped")
	return err
}

func (a *App) natsURL() string {
	if b := a.bus.Load(); b != nil {
		return b.ClientURL()
	}
	return ""
}

// startDependencies brings PostgreSQL (and migrations), Redis and NATS up in parallel, each
// retried with exponential backoff until it answers or ctx ends. Readiness checks exist from
// the start, so /readyz names whatever is still missing.
func (a *App) startDependencies(ctx context.Context) error {
	db, err := store.Open(store.Config{
		URL:              a.cfg.Postgres.URL,
		MaxConns:         a.cfg.Postgres.MaxConns,
		MinConns:         a.cfg.Postgres.MinConns,
		ConnectTimeout:   a.cfg.Postgres.ConnectTimeout,
		StatementTimeout: a.cfg.Postgres.StatementTimeout,
	})
	if err != nil {
		return err
	}
	a.db = db
	a.checks.Set("postgres", db.Ping)

	a.redis = redis.NewClient(&redis.Options{
		Addr:        a.cfg.Redis.Addr,
		Password:    a.cfg.Redis.Password,
		DB:          a.cfg.Redis.DB,
		PoolSize:    a.cfg.Redis.PoolSize,
		DialTimeout: a.cfg.Redis.DialTimeout,
		MaxRetries:  1,
	})
	a.checks.Set("redis", func(ctx context.Context) error {
		if err := a.redis.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		return nil
	})

	var natsErr atomic.Value
	natsErr.Store("starting")
	a.checks.Set("nats", func(ctx context.Context) error {
		if b := a.bus.Load(); b != nil {
			return b.Check(ctx)
		}
		return fmt.Errorf("nats: %v", natsErr.Load())
	})

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return a.retry(gctx, "postgres", func(ctx context.Context) error {
			if err := db.Ping(ctx); err != nil {
				return err
			}
			if a.cfg.Postgres.AutoMigrate {
				return a.migrate()
			}
			return nil
		})
	})
	g.Go(func() error {
		return a.retry(gctx, "redis", func(ctx context.Context) error { return a.redis.Ping(ctx).Err() })
	})
	g.Go(func() error {
		return a.retry(gctx, "nats", func(ctx context.Context) error {
			b, err := bus.Start(ctx, bus.Config{
				URL:             a.cfg.NATS.URL,
				Host:            a.cfg.NATS.Host,
				Port:            a.cfg.NATS.Port,
				StoreDir:        a.cfg.NATSStoreDir(),
				MaxStore:        int64(a.cfg.NATS.MaxStore),
				Replicas:        a.cfg.NATS.Replicas,
				DuplicateWindow: a.cfg.NATS.DuplicateWindow,
				IngestMaxAge:    a.cfg.NATS.IngestMaxAge,
				EventsMaxAge:    a.cfg.NATS.EventsMaxAge,
				OutboundMaxAge:  a.cfg.NATS.OutboundMaxAge,
			}, a.log.With().Str("component", "nats").Logger())
			if err != nil {
				natsErr.Store(err.Error())
				return err
			}
			a.bus.Store(b)
			return nil
		})
	})
	return g.Wait()
}

// permanentError stops a retry loop: waiting will not fix it.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func (a *App) migrate() error {
	m, err := store.NewMigrator(a.cfg.Postgres.MigrateURL)
	if err != nil {
		return err // connection trouble: retried
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		return permanentError{err}
	}
	st, err := m.Status()
	if err == nil {
		a.log.Info().Str("component", "postgres").Uint("schema_version", st.Version).Msg("schema migrated")
	}
	return nil
}

// retry calls fn until it succeeds, fails permanently or ctx ends, waiting between attempts
// from startup.retry_initial, doubling with ±20 % jitter, up to startup.retry_max.
func (a *App) retry(ctx context.Context, name string, fn func(context.Context) error) error {
	log := a.log.With().Str("component", name).Logger()
	wait := a.cfg.Startup.RetryInitial
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, max(a.cfg.Postgres.ConnectTimeout, 5*time.Second))
		err := fn(actx)
		cancel()
		if err == nil {
			if attempt > 1 {
				log.Info().Int("attempt", attempt).Msg(name + " is up")
			}
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) {
			return fmt.Errorf("%s: %w", name, perm.err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d := time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))
		log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", d).Msg(name + " unavailable, retrying")
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, a.cfg.Startup.RetryMax)
	}
}

// shutdown stops the components in reverse order within the shutdown timeout.
func (a *App) shutdown(wg *sync.WaitGroup) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		var errs []error
		if err := a.edge.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
		wg.Wait()
		a.workers.stop()
		if a.realtime != nil {
			if err := a.realtime.stop(); err != nil {
				errs = append(errs, fmt.Errorf("mqtt shutdown: %w", err))
			}
		}
		if b := a.bus.Load(); b != nil {
			b.Close()
		}
		if a.redis != nil {
			_ = a.redis.Close()
		}
		if a.db != nil {
			a.db.Close()
		}
		done <- errors.Join(errs...)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("shutdown did not finish within %s", a.cfg.ShutdownTimeout)
	}
}
