package hooks

import (
	"context"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/pilotx/dispatchhub/geo"
	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/metrics"
)

// LocationConfig configures the Location hook.
type LocationConfig struct {
	MaxFutureSkew      time.Duration // fixes further ahead of the hub's clock are dropped
	Buffer             int           // fixes queued for NATS; overflow drops the oldest
	RedisFlushInterval time.Duration // the latest fix per driver goes to Redis at most this often
	KeyPrefix          string
	LatestTTL          time.Duration // expiry of the latest-fix keys; default 1h
}

// NATSPublisher publishes on core NATS (nats.Conn.Publish).
type NATSPublisher interface {
	Publish(subject string, data []byte) error
}

// Location validates each fix a driver publishes on tenants/{t}/drivers/{d}/location. A bad
// fix is dropped and counted and the connection lives on. A good one is queued (without
// blocking the client: the queue is bounded and drops its oldest entry when full) for a worker
// that publishes it on NATS loc.{tenant}.{driver} for the dispatch engine and keeps the latest
// fix per driver, written to Redis ({prefix}loc:{t}:{d}) coalesced. MQTT delivery of the
// message to subscribers is not changed.
type Location struct {
	mqtt.HookBase
	cfg      LocationConfig
	sessions *Sessions
	nc       NATSPublisher
	rdb      redis.UniversalClient
	presence *Presence
	log      zerolog.Logger
	now      func() time.Time

	mu   sync.Mutex
	ring []queuedFix
	head int // index of the oldest
	size int
	wake chan struct{}

	accepted prometheus.Counter
	invalid  map[string]prometheus.Counter
	dropped  prometheus.Counter
	lag      prometheus.Histogram
	failures *prometheus.CounterVec
}

var _ mqtt.Hook = (*Location)(nil)

type queuedFix struct {
	tenant, driver string
	fix            geo.Fix
	received       time.Time
}

// NewLocation builds the hook; Run must run for its worker to act. presence may be nil.
func NewLocation(cfg LocationConfig, sessions *Sessions, nc NATSPublisher, rdb redis.UniversalClient, presence *Presence, log zerolog.Logger, reg prometheus.Registerer) *Location {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 8192
	}
	if cfg.RedisFlushInterval <= 0 {
		cfg.RedisFlushInterval = time.Second
	}
	if cfg.LatestTTL <= 0 {
		cfg.LatestTTL = time.Hour
	}
	invalid := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "location", Name: "invalid_total",
		Help: "Location fixes dropped as invalid, by reason.",
	}, []string{"reason"})
	h := &Location{
		cfg: cfg, sessions: sessions, nc: nc, rdb: rdb, presence: presence, now: time.Now,
		log:  log.With().Str("component", "location").Logger(),
		ring: make([]queuedFix, cfg.Buffer),
		wake: make(chan struct{}, 1),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "location", Name: "accepted_total",
			Help: "Valid location fixes queued for hand-off.",
		}),
		invalid: map[string]prometheus.Counter{},
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "location", Name: "handoff_dropped_total",
			Help: "Valid fixes dropped because the hand-off queue was full (oldest first).",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "location", Name: "handoff_lag_seconds",
			Help: "Time from a fix's arrival at the broker to its publication on NATS.", Buckets: metrics.LatencyBuckets,
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "location", Name: "handoff_failures_total",
			Help: "Fixes not handed off, by target.",
		}, []string{"target"}),
	}
	for _, e := range []*geo.FixError{geo.ErrFixTooLarge, geo.ErrFixJSON, geo.ErrFixLat, geo.ErrFixLng, geo.ErrFixTime, geo.ErrFixFuture, geo.ErrFixSpeed, geo.ErrFixHeading, geo.ErrFixAccuracy} {
		h.invalid[e.Reason] = invalid.WithLabelValues(e.Reason)
	}
	reg.MustRegister(h.accepted, invalid, h.dropped, h.lag, h.failures)
	return h
}

// ID names the hook.
func (h *Location) ID() string { return "location" }

// Provides lists the events the hook handles.
func (h *Location) Provides(b byte) bool { return b == mqtt.OnPublish }

// OnPublish validates fixes on a driver's own location topic (the ACL has already refused
// every other publisher) and queues the good ones.
func (h *Location) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if !strings.HasSuffix(pk.TopicName, "/location") {
		return pk, nil
	}
	sess := h.sessions.Get(cl)
	if sess == nil {
		return pk, nil
	}
	tenant, driver := sess.Identity.Tenant, sess.Identity.Subject
	switch sess.Identity.Role {
	case auth.RoleDriver:
		if pk.TopicName != sess.ACL.location {
			return pk, nil
		}
	case auth.RoleService:
		// A service may publish fixes for its tenant's drivers (a telematics integration).
		var ok bool
		if driver, ok = driverOfLocationTopic(pk.TopicName, tenant); !ok {
			return pk, nil
		}
	default:
		return pk, nil
	}
	now := h.now()
	fix, err := geo.DecodeFix(pk.Payload, now, h.cfg.MaxFutureSkew)
	if err != nil {
		if fe, ok := err.(*geo.FixError); ok {
			h.invalid[fe.Reason].Inc()
		}
		if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos > 0 {
			return pk, packets.ErrPayloadFormatInvalid // PUBACK 0x99, not delivered
		}
		return pk, packets.CodeSuccessIgnore // acknowledged, not delivered
	}
	h.accepted.Inc()
	h.push(queuedFix{tenant: tenant, driver: driver, fix: fix, received: now})
	return pk, nil
}

func (h *Location) push(q queuedFix) {
	h.mu.Lock()
	if h.size == len(h.ring) {
		h.ring[h.head] = q // overwrite the oldest
		h.head = (h.head + 1) % len(h.ring)
		h.mu.Unlock()
		h.dropped.Inc()
	} else {
		h.ring[(h.head+h.size)%len(h.ring)] = q
		h.size++
		h.mu.Unlock()
	}
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// drain moves every queued fix into dst.
func (h *Location) drain(dst []queuedFix) []queuedFix {
	h.mu.Lock()
	for h.size > 0 {
		dst = append(dst, h.ring[h.head])
		h.ring[h.head] = queuedFix{}
		h.head = (h.head + 1) % len(h.ring)
		h.size--
	}
	h.mu.Unlock()
	return dst
}

// driverOfLocationTopic returns d of "tenants/{tenant}/drivers/{d}/location".
func driverOfLocationTopic(topic, tenant string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, "tenants/"+tenant+"/drivers/")
	if !ok {
		return "", false
	}
	d, ok := strings.CutSuffix(rest, "/location")
	if !ok || !auth.ValidSubject(d) {
		return "", false
	}
	return d, true
}

// latestFix is the newest fix of a driver and whether Redis has it yet.
type latestFix struct {
	q     queuedFix
	dirty bool
}

// Run is the worker; it returns when ctx ends, after a last hand-off of what is queued.
func (h *Location) Run(ctx context.Context) error {
	w := &latestFixes{byDriver: make(map[driverKey]*latestFix)}
	ticker := time.NewTicker(h.cfg.RedisFlushInterval)
	defer ticker.Stop()
	var batch []queuedFix
	var subject, payload []byte
	for {
		select {
		case <-ctx.Done():
			batch = h.drain(batch[:0])
			h.handOff(batch, w, &subject, &payload)
			h.flushLatest(context.WithoutCancel(ctx), w)
			return nil
		case <-h.wake:
			batch = h.drain(batch[:0])
			h.handOff(batch, w, &subject, &payload)
		case <-ticker.C:
			h.flushLatest(ctx, w)
		}
	}
}

// latestFixes is the worker's view of the newest fix per driver: the drivers whose fix
// Redis does not have yet are listed, so that a flush costs what changed, not every driver
// ever seen; drivers silent for longer than their keys live are forgotten once a minute.
type latestFixes struct {
	byDriver  map[driverKey]*latestFix
	dirty     []*latestFix
	lastSweep time.Time
}

// latestSweepInterval is how often the worker forgets drivers whose latest fix expired.
const latestSweepInterval = time.Minute

func (h *Location) handOff(batch []queuedFix, w *latestFixes, subject, payload *[]byte) {
	for _, q := range batch {
		*subject = append(append(append(append((*subject)[:0], "loc."...), q.tenant...), '.'), q.driver...)
		*payload = q.fix.AppendJSON((*payload)[:0])
		if err := h.nc.Publish(string(*subject), *payload); err != nil {
			h.failures.WithLabelValues("nats").Inc()
			h.log.Warn().Err(err).Str("tenant", q.tenant).Str("driver", q.driver).Msg("location: nats publish failed")
		} else {
			h.lag.Observe(time.Since(q.received).Seconds())
		}
		k := driverKey{q.tenant, q.driver}
		prev, ok := w.byDriver[k]
		switch {
		case !ok:
			l := &latestFix{q: q, dirty: true}
			w.byDriver[k] = l
			w.dirty = append(w.dirty, l)
		case q.fix.At >= prev.q.fix.At: // an older fix arriving late never replaces a newer one
			prev.q = q
			if !prev.dirty {
				prev.dirty = true
				w.dirty = append(w.dirty, prev)
			}
		}
		if h.presence != nil {
			h.presence.Seen(q.tenant, q.driver, q.received)
		}
	}
}

// flushLatest writes the newest fix of each driver that changed since the last flush, in one
// pipeline, and now and then forgets drivers silent for longer than the keys live.
func (h *Location) flushLatest(ctx context.Context, w *latestFixes) {
	if now := h.now(); now.Sub(w.lastSweep) >= latestSweepInterval {
		w.lastSweep = now
		cutoff := now.Add(-h.cfg.LatestTTL)
		for k, l := range w.byDriver {
			if !l.dirty && l.q.received.Before(cutoff) {
				delete(w.byDriver, k)
			}
		}
	}
	dirty := w.dirty
	if len(dirty) == 0 {
		return
	}
	_, err := h.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, l := range dirty {
			pipe.Set(ctx, h.cfg.KeyPrefix+"loc:"+l.q.tenant+":"+l.q.driver, l.q.fix.JSON(), h.cfg.LatestTTL)
		}
		return nil
	})
	if err != nil {
		h.failures.WithLabelValues("redis").Inc()
		h.log.Warn().Err(err).Int("drivers", len(dirty)).Msg("location: redis flush failed; next flush retries")
		return
	}
	for _, l := range dirty {
		l.dirty = false
	}
	clear(dirty)
	w.dirty = dirty[:0]
}
