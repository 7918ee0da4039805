package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/metrics"
	"github.com/pilotx/dispatchhub/internal/outbox"
	"github.com/pilotx/dispatchhub/internal/store"
)

// PresenceConfig configures the Presence hook.
type PresenceConfig struct {
	// Grace: a driver whose connection is lost (no DISCONNECT, or taken over) turns offline only
	// if it has not reconnected within Grace, so a flapping phone does not storm.
	Grace time.Duration
	// LastSeenInterval: drivers.last_seen_at is written at most once per driver per interval.
	LastSeenInterval time.Duration
	// KeyPrefix starts every Redis key.
	KeyPrefix string
	// Queue is the capacity of the event queue between the hook and its worker.
	Queue int
	// RetainRefresh re-publishes the retained presence of online drivers this often, since the
	// broker expires retained messages after mqtt.message_expiry_max. 0 disables it.
	RetainRefresh time.Duration
}

// Publisher publishes a message into the broker as the hub (mqtt.Server.Publish).
type Publisher interface {
	Publish(topic string, payload []byte, retain bool, qos byte) error
}

// Presence tracks which drivers are online. Connect, clean disconnect, connection loss,
// takeover and will all reach it; its worker then writes Redis (the live view: hash
// {prefix}presence:{t}:{d} and set {prefix}online:{t}), the retained topic
// tenants/{t}/drivers/{d}/presence, drivers.last_seen_at, and DriverOnline/DriverOffline domain
// events through the outbox, in that driver's order.
type Presence struct {
	mqtt.HookBase
	cfg      PresenceConfig
	sessions *Sessions
	db       *store.DB
	rdb      redis.UniversalClient
	pub      Publisher
	log      zerolog.Logger
	now      func() time.Time

	clients sync.Map // *mqtt.Client → driverKey, drivers only
	events  chan presenceEvent

	transitions *prometheus.CounterVec
	queueDrops  prometheus.Counter
	failures    *prometheus.CounterVec
	online      prometheus.Gauge
}

var _ mqtt.Hook = (*Presence)(nil)

type driverKey struct{ tenant, driver string }

type eventKind uint8

const (
	evConnect eventKind = iota
	evCleanDisconnect
	evLost
	evSeen
)

type presenceEvent struct {
	kind eventKind
	key  driverKey
	at   time.Time
}

// NewPresence builds the hook; Run must run for its worker to act.
func NewPresence(cfg PresenceConfig, sessions *Sessions, db *store.DB, rdb redis.UniversalClient, pub Publisher, log zerolog.Logger, reg prometheus.Registerer) *Presence {
	if cfg.Queue <= 0 {
		cfg.Queue = 65536
	}
	if cfg.LastSeenInterval <= 0 {
		cfg.LastSeenInterval = 10 * time.Second
	}
	p := &Presence{
		cfg: cfg, sessions: sessions, db: db, rdb: rdb, pub: pub, now: time.Now,
		log:    log.With().Str("component", "presence").Logger(),
		events: make(chan presenceEvent, cfg.Queue),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "presence", Name: "transitions_total",
			Help: "Drivers turning online or offline, by state and cause.",
		}, []string{"state", "cause"}),
		queueDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "presence", Name: "queue_dropped_total",
			Help: "Presence events dropped because the worker's queue was full.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "presence", Name: "write_failures_total",
			Help: "Presence writes that failed after retries, by target.",
		}, []string{"target"}),
		online: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Subsystem: "presence", Name: "drivers_online",
			Help: "Drivers online on this replica.",
		}),
	}
	reg.MustRegister(p.transitions, p.queueDrops, p.failures, p.online)
	return p
}

// ID names the hook.
func (p *Presence) ID() string { return "presence" }

// Provides lists the events the hook handles.
func (p *Presence) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnSessionEstablished, mqtt.OnDisconnect}, []byte{b})
}

// OnSessionEstablished: a driver is connected.
func (p *Presence) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	sess := p.sessions.Get(cl)
	if sess == nil || sess.Identity.Role != auth.RoleDriver {
		return
	}
	key := driverKey{sess.Identity.Tenant, sess.Identity.Subject}
	p.clients.Store(cl, key)
	p.send(presenceEvent{kind: evConnect, key: key, at: p.now()})
}

// OnDisconnect: a clean DISCONNECT turns the driver offline at once; a lost or taken-over
// connection (the will case included) only after the grace period.
func (p *Presence) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	v, ok := p.clients.LoadAndDelete(cl)
	if !ok {
		return
	}
	kind := evLost
	if err == nil && !cl.IsTakenOver() {
		kind = evCleanDisconnect
	}
	p.send(presenceEvent{kind: kind, key: v.(driverKey), at: p.now()})
}

// Seen records activity of a driver (a location fix); it only marks last_seen_at as due.
func (p *Presence) Seen(tenant, driver string, at time.Time) {
	p.send(presenceEvent{kind: evSeen, key: driverKey{tenant, driver}, at: at})
}

func (p *Presence) send(ev presenceEvent) {
	select {
	case p.events <- ev:
	default:
		p.queueDrops.Inc()
		p.log.Error().Str("tenant", ev.key.tenant).Str("driver", ev.key.driver).Msg("presence queue full: event dropped")
	}
}

type driverState struct {
	conns     int
	online    bool
	since     time.Time
	cause     string
	lastSeen  time.Time
	lastWrite time.Time
	dirty     bool
}

// Run is the worker: it owns all presence state and every write. It returns when ctx ends.
func (p *Presence) Run(ctx context.Context) error {
	states := make(map[driverKey]*driverState)
	pending := make(map[driverKey]time.Time) // lost connections waiting out the grace period
	tick := min(time.Second, max(p.cfg.Grace/4, 10*time.Millisecond))
	graceTicker := time.NewTicker(tick)
	defer graceTicker.Stop()
	flushTicker := time.NewTicker(p.cfg.LastSeenInterval)
	defer flushTicker.Stop()
	var refresh <-chan time.Time
	if p.cfg.RetainRefresh > 0 {
		t := time.NewTicker(p.cfg.RetainRefresh)
		defer t.Stop()
		refresh = t.C
	}

	get := func(k driverKey) *driverState {
		st := states[k]
		if st == nil {
			st = &driverState{}
			states[k] = st
		}
		return st
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-p.events:
			st := get(ev.key)
			if ev.at.After(st.lastSeen) {
				st.lastSeen = ev.at
			}
			switch ev.kind {
			case evConnect:
				st.conns++
				delete(pending, ev.key)
				if !st.online {
					st.online = true
					p.transition(ctx, ev.key, st, true, "connect")
				}
			case evCleanDisconnect, evLost:
				st.conns = max(st.conns-1, 0)
				if st.conns > 0 || !st.online {
					break
				}
				if ev.kind == evCleanDisconnect || p.cfg.Grace <= 0 {
					delete(pending, ev.key)
					st.online = false
					p.transition(ctx, ev.key, st, false, causeOf(ev.kind))
				} else {
					pending[ev.key] = ev.at.Add(p.cfg.Grace)
				}
			case evSeen:
				st.dirty = true
			}
		case now := <-graceTicker.C:
			for k, deadline := range pending {
				if now.Before(deadline) {
					continue
				}
				delete(pending, k)
				if st := states[k]; st != nil && st.conns == 0 && st.online {
					st.online = false
					p.transition(ctx, k, st, false, "lost")
				}
			}
		case <-refresh:
			for k, st := range states {
				if st.online {
					p.publishRetained(k, st, true, st.cause)
				}
			}
		case now := <-flushTicker.C:
			p.flushLastSeen(ctx, states, now)
			for k, st := range states {
				if !st.online && st.conns == 0 && !st.dirty && now.Sub(st.lastSeen) > 10*p.cfg.LastSeenInterval {
					if _, waiting := pending[k]; !waiting {
						delete(states, k)
					}
				}
			}
		}
	}
}

func causeOf(k eventKind) string {
	if k == evCleanDisconnect {
		return "disconnect"
	}
	return "lost"
}

// presencePayload is the retained message on tenants/{t}/drivers/{d}/presence.
type presencePayload struct {
	Online   bool      `json:"online"`
	LastSeen time.Time `json:"last_seen"`
	Since    time.Time `json:"since"`
	Cause    string    `json:"cause"`
}

// transition writes one online/offline change everywhere it must go.
func (p *Presence) transition(ctx context.Context, k driverKey, st *driverState, online bool, cause string) {
	now := p.now().UTC()
	state := "offline"
	evType := "DriverOffline"
	if online {
		state, evType = "online", "DriverOnline"
		p.online.Inc()
	} else {
		p.online.Dec()
	}
	p.transitions.WithLabelValues(state, cause).Inc()
	log := p.log.With().Str("tenant", k.tenant).Str("driver", k.driver).Logger()
	log.Debug().Str("state", state).Str("cause", cause).Msg("presence")

	lastSeen := st.lastSeen.UTC()
	if lastSeen.IsZero() {
		lastSeen = now
	}
	st.since, st.cause = now, cause

	// Redis: the live view other components read (dispatch availability).
	hkey := p.cfg.KeyPrefix + "presence:" + k.tenant + ":" + k.driver
	okey := p.cfg.KeyPrefix + "online:" + k.tenant
	if err := retry(ctx, func(ctx context.Context) error {
		_, err := p.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.HSet(ctx, hkey, "online", online, "since", now.UnixMilli(), "last_seen", lastSeen.UnixMilli(), "cause", cause)
			if online {
				pipe.SAdd(ctx, okey, k.driver)
			} else {
				pipe.SRem(ctx, okey, k.driver)
			}
			return nil
		})
		return err
	}); err != nil {
		p.failures.WithLabelValues("redis").Inc()
		log.Error().Err(err).Msg("presence: redis write failed")
	}

	p.publishRetained(k, st, online, cause)

	// PostgreSQL: the driver row (created on first sight), last_seen_at when due, and the domain event.
	writeSeen := now.Sub(st.lastWrite) >= p.cfg.LastSeenInterval
	eventPayload, _ := json.Marshal(map[string]any{"driver_id": k.driver, "at": now, "last_seen": lastSeen, "cause": cause})
	err := retry(ctx, func(ctx context.Context) error {
		return p.db.WithTenantTx(ctx, k.tenant, func(tx pgx.Tx) error {
			var seen *time.Time
			if writeSeen {
				seen = &lastSeen
			}
			if _, err := tx.Exec(ctx, `INSERT INTO drivers (id, last_seen_at) VALUES ($1, $2)
				ON CONFLICT (tenant_id, id) DO UPDATE
				SET last_seen_at = coalesce(greatest(drivers.last_seen_at, excluded.last_seen_at), drivers.last_seen_at)`, k.driver, seen); err != nil {
				return fmt.Errorf("upsert driver: %w", err)
			}
			_, err := outbox.Enqueue(ctx, tx, outbox.Event{
				Type: evType, AggregateType: "driver", AggregateID: k.driver, OccurredAt: now, Payload: eventPayload,
			})
			return err
		})
	})
	if err != nil {
		p.failures.WithLabelValues("postgres").Inc()
		log.Error().Err(err).Str("event", evType).Msg("presence: database write failed; event lost")
		return
	}
	if writeSeen {
		st.lastWrite, st.dirty = now, false
	} else {
		st.dirty = true
	}
}

// publishRetained publishes the retained presence topic for the driver and its dispatchers.
func (p *Presence) publishRetained(k driverKey, st *driverState, online bool, cause string) {
	lastSeen := st.lastSeen.UTC()
	if lastSeen.IsZero() {
		lastSeen = st.since
	}
	payload, _ := json.Marshal(presencePayload{Online: online, LastSeen: lastSeen, Since: st.since, Cause: cause})
	if err := p.pub.Publish("tenants/"+k.tenant+"/drivers/"+k.driver+"/presence", payload, true, 1); err != nil {
		p.failures.WithLabelValues("mqtt").Inc()
		p.log.Error().Err(err).Str("tenant", k.tenant).Str("driver", k.driver).Msg("presence: retained publish failed")
	}
}

// flushLastSeen writes last_seen_at for drivers seen since their last write, at most once per
// driver per LastSeenInterval, one statement per tenant.
func (p *Presence) flushLastSeen(ctx context.Context, states map[driverKey]*driverState, now time.Time) {
	byTenant := make(map[string][]driverKey)
	for k, st := range states {
		if st.dirty && now.Sub(st.lastWrite) >= p.cfg.LastSeenInterval {
			byTenant[k.tenant] = append(byTenant[k.tenant], k)
		}
	}
	for tenant, keys := range byTenant {
		ids := make([]string, len(keys))
		seen := make([]time.Time, len(keys))
		for i, k := range keys {
			ids[i], seen[i] = k.driver, states[k].lastSeen.UTC()
		}
		err := retry(ctx, func(ctx context.Context) error {
			return p.db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE drivers d SET last_seen_at = greatest(d.last_seen_at, v.seen)
					FROM unnest($1::text[], $2::timestamptz[]) AS v(id, seen) WHERE d.id = v.id`, ids, seen)
				return err
			})
		})
		if err != nil {
			p.failures.WithLabelValues("postgres").Inc()
			p.log.Error().Err(err).Str("tenant", tenant).Msg("presence: last_seen_at flush failed; will retry")
			continue
		}
		for _, k := range keys {
			st := states[k]
			st.dirty, st.lastWrite = false, now
		}
	}
}

// retry runs fn up to three times, 100 ms then 400 ms apart.
func retry(ctx context.Context, fn func(context.Context) error) error {
	var err error
	wait := 100 * time.Millisecond
	for attempt := 0; attempt < 3; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = fn(actx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		if errors.Is(err, store.ErrInvalidTenant) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait *= 4
	}
	return err
}
