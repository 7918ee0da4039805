package dispatch

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/pilotx/dispatchhub/geo"
	"github.com/pilotx/dispatchhub/internal/metrics"
	"github.com/pilotx/dispatchhub/internal/store"
)

// LockClass is the first key of the engine's session advisory locks; the second is the tenant
// partition (TenantPartition). The replica holding a partition dispatches its tenants.
const LockClass int32 = 0x64737074 // "dspt"

// Partitions is how many tenant partitions the engine's ownership is split into.
const Partitions = 16

// TenantPartition is the partition of tenant (FNV-1a of its id, modulo Partitions).
func TenantPartition(tenant string) int16 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(tenant))
	return int16(h.Sum32() % Partitions)
}

// Defaults of EngineConfig.
const (
	DefaultOfferTimeout      = 30 * time.Second
	DefaultMaxPickupMeters   = 15000
	DefaultBroadcastFanout   = 3
	DefaultBatchWindow       = 2 * time.Second
	DefaultSilentAfter       = 60 * time.Second
	DefaultSweepInterval     = time.Second
	DefaultTenantRefresh     = 10 * time.Second
	DefaultMaxFixFutureSkew  = time.Minute
	defaultRoundTimeout      = 10 * time.Second
	maxWaitingPerRound       = 500
	noCandidateRecordEvery   = time.Minute
	defaultReplyWorkers      = 8
	defaultReplyQueue        = 4096
	defaultReplyAttempts     = 5
	defaultReplyRetryInitial = 50 * time.Millisecond
)

// EngineConfig configures the dispatch engine. Zero values take the defaults. Settings are
// the tenant-wide defaults; a tenant's own settings (tenants.settings->'dispatch', PUT
// /v1/dispatch/settings) override them.
type EngineConfig struct {
	Settings      Settings
	SilentAfter   time.Duration // a driver with no location fix for this long loses its offers and unpicked jobs
	SweepInterval time.Duration // rounds run at least this often (expiries, lost drivers, waiting orders)
	TenantRefresh time.Duration // how often the list of tenants and the tenant settings are re-read
	Index         geo.IndexConfig
	KeyPrefix     string // Redis key prefix (presence: {prefix}online:{tenant})
	// Direct, when set, is this process's broker: an offer is published to its driver's jobs
	// topic right after its commit (the fast path), marked with Replica so that this process's
	// bridge does not publish it a second time (bridge.Config.Replica must be the same). The
	// bridges of other replicas publish it into their brokers as usual.
	Direct  DirectPublisher
	Replica string
}

// DirectPublisher publishes into this process's MQTT broker with an MQTT 5 message expiry
// (broker.Broker).
type DirectPublisher interface {
	PublishExpiring(topic string, payload []byte, qos byte, expiry time.Duration) error
}

// Settings are the dispatch settings of a tenant.
type Settings struct {
	Strategy        Strategy      `json:"strategy"`
	OfferTimeout    time.Duration `json:"-"`
	MaxPickupMeters float64       `json:"max_pickup_distance_m"`
	BroadcastFanout int           `json:"broadcast_fanout"`
	BatchWindow     time.Duration `json:"-"`
}

// WithDefaults fills zero fields from d.
func (s Settings) WithDefaults(d Settings) Settings {
	if s.Strategy == "" {
		s.Strategy = d.Strategy
	}
	if s.OfferTimeout == 0 {
		s.OfferTimeout = d.OfferTimeout
	}
	if s.MaxPickupMeters == 0 {
		s.MaxPickupMeters = d.MaxPickupMeters
	}
	if s.BroadcastFanout == 0 {
		s.BroadcastFanout = d.BroadcastFanout
	}
	if s.BatchWindow == 0 {
		s.BatchWindow = d.BatchWindow
	}
	return s
}

// builtinSettings are the defaults of the defaults.
var builtinSettings = Settings{
	Strategy: StrategyNearest, OfferTimeout: DefaultOfferTimeout, MaxPickupMeters: DefaultMaxPickupMeters,
	BroadcastFanout: DefaultBroadcastFanout, BatchWindow: DefaultBatchWindow,
}

// Validate checks s; key prefixes each error's key (e.g. "dispatch.").
func (s Settings) Validate(key string) error {
	var errs []error
	if s.Strategy != "" && !s.Strategy.Valid() {
		errs = append(errs, fmt.Errorf("%sstrategy: must be nearest, batch, broadcast or manual, got %q", key, s.Strategy))
	}
	if s.OfferTimeout != 0 && (s.OfferTimeout < 5*time.Second || s.OfferTimeout > 10*time.Minute) {
		errs = append(errs, fmt.Errorf("%soffer_timeout: must be 5s to 10m, got %s", key, s.OfferTimeout))
	}
	if s.MaxPickupMeters != 0 && (s.MaxPickupMeters < 100 || s.MaxPickupMeters > 500_000) {
		errs = append(errs, fmt.Errorf("%smax_pickup_distance_m: must be 100 to 500000, got %g", key, s.MaxPickupMeters))
	}
	if s.BroadcastFanout != 0 && (s.BroadcastFanout < 1 || s.BroadcastFanout > 50) {
		errs = append(errs, fmt.Errorf("%sbroadcast_fanout: must be 1 to 50, got %d", key, s.BroadcastFanout))
	}
	if s.BatchWindow != 0 && (s.BatchWindow < 100*time.Millisecond || s.BatchWindow > time.Minute) {
		errs = append(errs, fmt.Errorf("%sbatch_window: must be 100ms to 1m, got %s", key, s.BatchWindow))
	}
	return errors.Join(errs...)
}

func (c EngineConfig) withDefaults() EngineConfig {
	c.Settings = c.Settings.WithDefaults(builtinSettings)
	if c.SilentAfter == 0 {
		c.SilentAfter = DefaultSilentAfter
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.TenantRefresh == 0 {
		c.TenantRefresh = DefaultTenantRefresh
	}
	return c
}

// Validate checks c after defaults are applied.
func (c EngineConfig) Validate() error {
	c = c.withDefaults()
	errs := []error{c.Settings.Validate("dispatch.")}
	if c.SilentAfter < 5*time.Second {
		errs = append(errs, fmt.Errorf("dispatch.silent_after: must be at least 5s, got %s", c.SilentAfter))
	}
	if c.SweepInterval < 50*time.Millisecond || c.SweepInterval > time.Minute {
		errs = append(errs, fmt.Errorf("dispatch.sweep_interval: must be 50ms to 1m, got %s", c.SweepInterval))
	}
	if c.TenantRefresh < time.Second {
		errs = append(errs, fmt.Errorf("dispatch.tenant_refresh: must be at least 1s, got %s", c.TenantRefresh))
	}
	if _, err := geo.NewIndex(c.Index); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Engine assigns orders to drivers. Every replica runs one: each keeps an H3 index of every
// tenant's drivers (fed by loc.> on NATS), and the replica holding a tenant's partition lock
// dispatches that tenant — offers, expiries, lost drivers — so each tenant has exactly one
// dispatcher, and another replica takes over within a sweep when its holder dies. Driver
// replies are applied by whichever replica receives them (ApplyReply locks the rows it
// changes); the owner learns of them through EVENTS.
type Engine struct {
	db  *store.DB
	nc  *nats.Conn
	rdb redis.UniversalClient
	cfg EngineConfig
	log zerolog.Logger
	now func() time.Time

	started time.Time

	mu      sync.Mutex
	indexes sync.Map // tenant → *geo.Index; read for every location fix
	loops   map[string]*tenantLoop
	relist  chan struct{} // an event of a tenant without a dispatcher here: read the tenants again
	held    atomic.Pointer[[]int16]

	m engineMetrics
}

type engineMetrics struct {
	fixes       *prometheus.CounterVec
	fixResults  [geo.Invalid + 1]prometheus.Counter // by geo.UpdateResult, resolved once: a fix is counted without a label lookup
	fixInvalid  prometheus.Counter                  // not a fix at all (subject or payload)
	decisions   *prometheus.CounterVec
	rounds      prometheus.Counter
	skipped     prometheus.Counter
	roundErrors prometheus.Counter
	roundTime   prometheus.Histogram
	owned       prometheus.Gauge
	offerLag    prometheus.Histogram
}

// NewEngine builds an engine; Run starts it.
func NewEngine(db *store.DB, nc *nats.Conn, rdb redis.UniversalClient, cfg EngineConfig, log zerolog.Logger, reg prometheus.Registerer) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		db: db, nc: nc, rdb: rdb, cfg: cfg.withDefaults(), now: time.Now,
		log:    log.With().Str("component", "dispatch").Logger().Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Second}),
		loops:  map[string]*tenantLoop{},
		relist: make(chan struct{}, 1),
	}
	e.m = engineMetrics{
		fixes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "dispatch", Name: "fixes_total",
			Help: "Location fixes seen by the dispatch index, by result (accepted, moved, stale, out_of_order, jump, invalid).",
		}, []string{"result"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "dispatch", Name: "decisions_total",
			Help: "Dispatch decisions, by strategy and outcome.",
		}, []string{"strategy", "outcome"}),
		rounds: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "dispatch", Name: "rounds_total", Help: "Dispatch rounds run by this replica.",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "dispatch", Name: "rounds_skipped_total",
			Help: "Wakes for new orders let pass because the last round found no free driver.",
		}),
		roundErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "dispatch", Name: "round_errors_total", Help: "Dispatch rounds that failed (retried at the next sweep).",
		}),
		roundTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "dispatch", Name: "round_seconds", Help: "Time of one dispatch round.", Buckets: metrics.LatencyBuckets,
		}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Subsystem: "dispatch", Name: "tenants_owned", Help: "Tenants this replica dispatches.",
		}),
		offerLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "dispatch", Name: "offer_wait_seconds",
			Help: "Time from an order starting to wait (created or back to pending) to its offer's commit.", Buckets: metrics.LatencyBuckets,
		}),
	}
	for r := range e.m.fixResults {
		e.m.fixResults[r] = e.m.fixes.WithLabelValues(geo.UpdateResult(r).String())
	}
	e.m.fixInvalid = e.m.fixes.WithLabelValues("invalid")
	if reg != nil {
		for _, c := range []prometheus.Collector{e.m.fixes, e.m.decisions, e.m.rounds, e.m.skipped, e.m.roundErrors, e.m.roundTime, e.m.owned, e.m.offerLag} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("dispatch metrics: %w", err)
			}
		}
	}
	return e, nil
}

// Wake asks for a round of tenant's dispatcher now, if this replica runs it. A tenant this
// replica does not know yet (created since the last listing) has the tenants read again. It
// never blocks.
func (e *Engine) Wake(tenant string) { e.wake(tenant, (*tenantLoop).wake) }

// NewOrders is Wake for new or re-queued orders of tenant and nothing else: when the last
// round found no free driver it waits for the next sweep or for a driver to be freed.
func (e *Engine) NewOrders(tenant string) { e.wake(tenant, (*tenantLoop).wakeForOrders) }

func (e *Engine) wake(tenant string, signal func(*tenantLoop)) {
	e.mu.Lock()
	l := e.loops[tenant]
	e.mu.Unlock()
	if l != nil {
		signal(l)
		return
	}
	if held := e.held.Load(); held == nil || !slices.Contains(*held, TenantPartition(tenant)) {
		return // another replica's tenant
	}
	select {
	case e.relist <- struct{}{}:
	default:
	}
}

// Index returns tenant's driver index, creating it.
func (e *Engine) Index(tenant string) *geo.Index {
	if idx, ok := e.indexes.Load(tenant); ok {
		return idx.(*geo.Index)
	}
	idx, _ := geo.NewIndex(e.cfg.Index) // validated in NewEngine
	got, _ := e.indexes.LoadOrStore(tenant, idx)
	return got.(*geo.Index)
}

// Run subscribes to locations and events, holds what partitions it can and dispatches their
// tenants until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	e.started = e.now()
	locSub, err := e.nc.Subscribe("loc.>", e.onFix)
	if err != nil {
		return fmt.Errorf("dispatch: subscribe loc.>: %w", err)
	}
	defer func() { _ = locSub.Unsubscribe() }()
	evSub, err := e.nc.Subscribe("events.>", e.onEvent)
	if err != nil {
		return fmt.Errorf("dispatch: subscribe events.>: %w", err)
	}
	defer func() { _ = evSub.Unsubscribe() }()

	locks := store.NewPartitionLocks(e.db, LockClass, Partitions)
	defer locks.Release()
	defer e.stopAll()

	tick := time.NewTicker(e.cfg.SweepInterval)
	defer tick.Stop()
	var listed time.Time
	var tenants []string
	for {
		before := locks.Held()
		if err := locks.Refresh(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn().Err(err).Msg("dispatch: partition locks failed; dispatching nothing until the lock connection is back")
		}
		held := locks.Held()
		e.held.Store(&held)
		changed := !slices.Equal(before, held)
		if changed {
			e.log.Info().Ints16("partitions", locks.Held()).Msg("dispatch: partitions held")
		}
		if changed || e.now().Sub(listed) >= e.cfg.TenantRefresh {
			if t, err := e.listTenants(ctx); err == nil {
				tenants, listed = t, e.now()
			} else if ctx.Err() == nil {
				e.log.Warn().Err(err).Msg("dispatch: list tenants failed")
			}
		}
		e.reconcile(ctx, tenants, locks)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-e.relist:
			listed = time.Time{}
		}
	}
}

// listTenants reads every tenant id (system role: tenants are cross-tenant by nature).
func (e *Engine) listTenants(ctx context.Context) ([]string, error) {
	var out []string
	err := e.db.WithSystemTx(ctx, "dispatch-tenants", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM tenants ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			out = append(out, id)
		}
		return rows.Err()
	})
	return out, err
}

// reconcile starts a dispatcher for every tenant of a held partition and stops the others.
func (e *Engine) reconcile(ctx context.Context, tenants []string, locks *store.PartitionLocks) {
	want := map[string]bool{}
	for _, t := range tenants {
		if locks.Holds(TenantPartition(t)) {
			want[t] = true
		}
	}
	e.mu.Lock()
	var stop []*tenantLoop
	for t, l := range e.loops {
		if !want[t] {
			stop = append(stop, l)
			delete(e.loops, t)
		}
	}
	for t := range want {
		if e.loops[t] == nil {
			e.loops[t] = e.startLoop(ctx, t)
		}
	}
	e.m.owned.Set(float64(len(e.loops)))
	e.mu.Unlock()
	for _, l := range stop {
		l.stop()
	}
}

func (e *Engine) stopAll() {
	e.mu.Lock()
	loops := e.loops
	e.loops = map[string]*tenantLoop{}
	e.m.owned.Set(0)
	e.mu.Unlock()
	for _, l := range loops {
		l.stop()
	}
}

// onFix feeds one location fix (loc.{tenant}.{driver}) to the tenant's index.
func (e *Engine) onFix(msg *nats.Msg) {
	rest, ok := strings.CutPrefix(msg.Subject, "loc.")
	if !ok {
		return
	}
	tenant, driver, ok := strings.Cut(rest, ".")
	if !ok || tenant == "" || driver == "" {
		e.m.fixInvalid.Inc()
		return
	}
	now := e.now()
	fix, err := geo.DecodeFix(msg.Data, now, DefaultMaxFixFutureSkew)
	if err != nil {
		e.m.fixInvalid.Inc()
		return
	}
	res := e.Index(tenant).Update(driver, fix, now)
	e.m.fixResults[res].Inc()
}

// onEvent wakes the dispatcher of the event's tenant (events.{tenant}.{Type}) for the events
// that can open work: a new or re-queued order, a freed driver.
func (e *Engine) onEvent(msg *nats.Msg) {
	rest, ok := strings.CutPrefix(msg.Subject, "events.")
	if !ok {
		return
	}
	tenant, typ, ok := strings.Cut(rest, ".")
	if !ok {
		return
	}
	switch typ {
	case EventOrderCreated, EventOrderUpdated:
		e.NewOrders(tenant)
	case EventAssignmentChanged, EventDeliveryCompleted, EventDeliveryFailed, EventOrderCancelled, "DriverOnline", "DriverOffline":
		e.Wake(tenant)
	default:
		// nothing new to dispatch (offers made, jobs taken or picked up, fixes, rejections)
	}
}

// Tenants lists the tenants this replica dispatches now, sorted.
func (e *Engine) Tenants() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.loops))
	for t := range e.loops {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
