// Package bridge carries the domain events of the EVENTS stream into the embedded MQTT broker:
// every event goes to tenants/{t}/events/{EventType}, the snapshot of an order event to
// tenants/{t}/orders/{o}, and a job event that names a driver to that driver's
// tenants/{t}/drivers/{d}/jobs (DESIGN.md, "MQTT topics").
//
// Delivery is at-least-once and in stream order: one durable pull consumer, one message at a
// time, acknowledged only after its MQTT publishes. A message redelivered after a crash is
// published again; subscribers de-duplicate by the event id.
package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/jobtopic"
	"github.com/pilotx/dispatchhub/internal/metrics"
	"github.com/pilotx/dispatchhub/internal/outbox"
)

// Defaults of Config.
const (
	DefaultDurable = "bridge-mqtt"
	DefaultAckWait = 30 * time.Second
	DefaultBatch   = 256
)

const (
	filterSubject = "events.>"
	maxBatch      = 10000
	// fetchWait bounds one pull request. It is also how long Run may take to return once ctx
	// ends: an open pull request is drained to its end, so nothing is delivered to a
	// subscription that is gone (which would wait out AckWait and break the order).
	fetchWait = 500 * time.Millisecond
	// retryDelay is how long the bridge waits after a failed MQTT publish before it asks for
	// the message again.
	retryDelay = time.Second
	maxBackoff = 5 * time.Second
)

// Config configures the bridge. Zero values take the defaults.
type Config struct {
	// Replica names this process. A job event whose DirectHeader is this replica was published
	// to its driver's jobs topic by the dispatch engine of this process already (its fast
	// path); the bridge publishes it on the other topics only. Empty: every job is published.
	Replica string
	// Durable is the JetStream durable consumer name, default "bridge-mqtt". Every broker
	// replica needs all events, so replicas that each embed a broker need a durable each
	// (e.g. "bridge-mqtt-{replica}"); replicas sharing one would split the events between them.
	Durable string
	AckWait time.Duration // how long a message may stay unacknowledged before it is redelivered, default 30s
	Batch   int           // messages fetched at once and MaxAckPending of the consumer, default 256
}

func (c Config) withDefaults() Config {
	if c.Durable == "" {
		c.Durable = DefaultDurable
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	return c
}

// Validate checks c after defaults are applied; the error names each invalid key and what it
// accepts.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if strings.ContainsAny(c.Durable, ".*> \t\r\n/\\") || !utf8.ValidString(c.Durable) {
		errs = append(errs, fmt.Errorf("bridge.durable: must be a JetStream consumer name (no '.', '*', '>', '/', '\\' or white space), got %q", c.Durable))
	}
	if c.AckWait < time.Second {
		errs = append(errs, fmt.Errorf("bridge.ack_wait: must be at least 1s, got %s", c.AckWait))
	}
	if c.Batch < 1 || c.Batch > maxBatch {
		errs = append(errs, fmt.Errorf("bridge.batch: must be 1 to %d, got %d", maxBatch, c.Batch))
	}
	return errors.Join(errs...)
}

// Publisher injects a message into the MQTT broker.
type Publisher interface {
	Publish(topic string, payload []byte, retain bool, qos byte) error
}

var _ Publisher = (*mqtt.Server)(nil)

// ExpiringPublisher is a Publisher that can set an MQTT 5 message expiry interval. The bridge
// uses it for offers (AssignmentOffered on a driver's jobs topic expire with the offer).
type ExpiringPublisher interface {
	Publisher
	PublishExpiring(topic string, payload []byte, qos byte, expiry time.Duration) error
}

// Bridge consumes EVENTS and publishes to MQTT.
type Bridge struct {
	js  jetstream.JetStream
	pub Publisher
	cfg Config
	log zerolog.Logger
	now func() time.Time

	published, invalid, failed                           prometheus.Counter
	eventsTopic, ordersTopic, jobsTopic, connectorsTopic prometheus.Counter
	lag                                                  prometheus.Histogram
}

// New builds a bridge; Run starts it. Metrics are registered on reg when it is not nil (a
// second bridge on the same registry shares the first one's).
func New(js jetstream.JetStream, pub Publisher, cfg Config, log zerolog.Logger, reg prometheus.Registerer) *Bridge {
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "bridge", Name: "messages_total",
		Help: "EVENTS messages handled by the MQTT bridge, by outcome (published, invalid: terminated, failed: retried).",
	}, []string{"outcome"})
	publishes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "bridge", Name: "mqtt_publishes_total",
		Help: "MQTT messages published by the bridge, by topic kind (events, orders, jobs, connectors).",
	}, []string{"topic_kind"})
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: metrics.Namespace, Subsystem: "bridge", Name: "lag_seconds",
		Help:    "Time from an event's occurred_at to its MQTT publish.",
		Buckets: metrics.LatencyBuckets,
	})
	messages = register(reg, messages)
	publishes = register(reg, publishes)
	lag = register(reg, lag)
	return &Bridge{
		js: js, pub: pub, cfg: cfg.withDefaults(), now: time.Now,
		log:             log.With().Str("component", "bridge").Logger().Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Second}),
		published:       messages.WithLabelValues("published"),
		invalid:         messages.WithLabelValues("invalid"),
		failed:          messages.WithLabelValues("failed"),
		eventsTopic:     publishes.WithLabelValues("events"),
		ordersTopic:     publishes.WithLabelValues("orders"),
		jobsTopic:       publishes.WithLabelValues("jobs"),
		connectorsTopic: publishes.WithLabelValues("connectors"),
		lag:             lag,
	}
}

// register registers c on reg, or returns the equal collector registered already.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(fmt.Errorf("bridge metrics: %w", err))
	}
	return c
}

// Run creates or updates the durable pull consumer on EVENTS and bridges its messages until
// ctx ends, then returns nil. Messages fetched but not published by then are given back to the
// stream (Nak) in order, for the next Run. It returns an error for an invalid Config, a
// consumer that cannot be made to fit (e.g. an existing push consumer of that name) or a
// closed NATS connection; other NATS errors are logged and retried. Only one Run per durable
// may be active at a time, in this process or any other.
func (b *Bridge) Run(ctx context.Context) error {
	if err := b.cfg.Validate(); err != nil {
		return err
	}
	backoff := newBackoff()
	var cons jetstream.Consumer
	for ctx.Err() == nil {
		if cons == nil {
			c, err := b.consumer(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if fatal(err) {
					return fmt.Errorf("bridge consumer %s: %w", b.cfg.Durable, err)
				}
				b.log.Warn().Err(err).Str("durable", b.cfg.Durable).Msg("consumer not ready: retrying")
				backoff.wait(ctx)
				continue
			}
			cons = c
		}

		batch, err := cons.Fetch(b.cfg.Batch, jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			if errors.Is(err, nats.ErrConnectionClosed) {
				return fmt.Errorf("bridge fetch: %w", err)
			}
			b.log.Warn().Err(err).Msg("fetch failed: retrying")
			backoff.wait(ctx)
			continue
		}
		if failed := b.round(ctx, batch); failed {
			sleep(ctx, retryDelay)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			switch {
			case errors.Is(err, nats.ErrConnectionClosed):
				return fmt.Errorf("bridge fetch: %w", err)
			case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound):
				b.log.Warn().Err(err).Str("durable", b.cfg.Durable).Msg("consumer gone: re-creating it")
				cons = nil
			default:
				b.log.Warn().Err(err).Msg("fetch ended with an error: retrying")
			}
			backoff.wait(ctx)
			continue
		}
		backoff.reset()
	}
	return nil
}

// consumer creates the durable consumer (delivering the whole stream) or updates the one
// there, keeping where it starts.
func (b *Bridge) consumer(ctx context.Context) (jetstream.Consumer, error) {
	apply := func(c *jetstream.ConsumerConfig) {
		c.Durable = b.cfg.Durable
		c.Description = "MQTT bridge: events.{tenant}.{EventType} to tenants/{tenant}/... topics"
		c.FilterSubject, c.FilterSubjects = filterSubject, nil
		c.AckPolicy = jetstream.AckExplicitPolicy
		c.AckWait = b.cfg.AckWait
		c.MaxAckPending = b.cfg.Batch // a crashed round is redelivered whole before anything newer
		c.MaxDeliver = -1
	}
	existing, err := b.js.Consumer(ctx, bus.StreamEvents, b.cfg.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cfg := jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
		apply(&cfg)
		var created jetstream.Consumer
		created, err = b.js.CreateConsumer(ctx, bus.StreamEvents, cfg)
		if !errors.Is(err, jetstream.ErrConsumerExists) {
			return created, err
		}
		// created meanwhile by another process: update it below
		existing, err = b.js.Consumer(ctx, bus.StreamEvents, b.cfg.Durable)
	}
	if err != nil {
		return nil, err
	}
	info := existing.CachedInfo()
	if info.Config.DeliverSubject != "" {
		return nil, fmt.Errorf("%w: %s is a push consumer", jetstream.ErrNotPullConsumer, b.cfg.Durable)
	}
	cfg := info.Config
	apply(&cfg)
	return b.js.UpdateConsumer(ctx, bus.StreamEvents, cfg)
}

// fatal: an error that retrying will not cure.
func fatal(err error) bool {
	if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, jetstream.ErrNotPullConsumer) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 400
}

// round handles the messages of one fetch in order and reports whether a publish failed.
// After a failure, or once ctx ends, the rest is not handled: those messages are collected
// and, once the pull request is over (so none can come back into it), given back to the
// stream in order. The rest of the stream waits until they are redelivered: they are first
// on the consumer's redelivery queue, and the round after a failure starts only after
// retryDelay.
func (b *Bridge) round(ctx context.Context, batch jetstream.MessageBatch) (failed bool) {
	var unhandled []jetstream.Msg
	for msg := range batch.Messages() {
		if failed || ctx.Err() != nil {
			unhandled = append(unhandled, msg)
			continue
		}
		if err := b.handle(msg); err != nil {
			failed = true
			unhandled = append(unhandled, msg)
		}
	}
	for _, msg := range unhandled {
		if err := msg.Nak(); err != nil {
			b.log.Warn().Err(err).Str("subject", msg.Subject()).Msg("nak failed: the message is redelivered after ack_wait")
		}
	}
	return failed
}

// publication is one MQTT message of an event.
type publication struct {
	topic   string
	payload []byte
	count   prometheus.Counter
	expires time.Time // an offer's expiry: zero for messages that do not expire
	retain  bool      // kept by the broker for later subscribers (a connector's health)
}

// handle publishes one message and acknowledges it. An invalid message is terminated; the
// error of a failed publish is returned, and the message is left to the caller.
func (b *Bridge) handle(msg jetstream.Msg) error {
	ev, pubs, err := b.plan(msg)
	if err != nil {
		b.invalid.Inc()
		le := b.log.Warn().Err(err).Str("subject", msg.Subject())
		if md, mdErr := msg.Metadata(); mdErr == nil {
			le = le.Uint64("stream_seq", md.Sequence.Stream)
		}
		le.Msg("event terminated")
		if err := msg.TermWithReason(err.Error()); err != nil {
			b.log.Warn().Err(err).Str("subject", msg.Subject()).Msg("term failed")
		}
		return nil
	}
	for _, p := range pubs {
		if err := b.publish(p); err != nil {
			b.failed.Inc()
			b.log.Warn().Err(err).Str("event", ev.ID).Str("topic", p.topic).Msg("mqtt publish failed: retrying")
			return fmt.Errorf("publish %s: %w", p.topic, err)
		}
		p.count.Inc()
	}
	if err := msg.Ack(); err != nil {
		// published: a redelivery only publishes it again
		b.log.Warn().Err(err).Str("event", ev.ID).Msg("ack failed")
	}
	b.published.Inc()
	if !ev.OccurredAt.IsZero() {
		b.lag.Observe(max(b.now().Sub(ev.OccurredAt).Seconds(), 0))
	}
	return nil
}

// publish publishes p; an expiring one with its remaining time as MQTT 5 message expiry when
// the publisher can, and not at all when it has expired already (nobody may act on it).
func (b *Bridge) publish(p publication) error {
	if p.expires.IsZero() {
		return b.pub.Publish(p.topic, p.payload, p.retain, 1)
	}
	left := p.expires.Sub(b.now())
	if left <= 0 {
		return nil
	}
	if ep, ok := b.pub.(ExpiringPublisher); ok {
		return ep.PublishExpiring(p.topic, p.payload, 1, left)
	}
	return b.pub.Publish(p.topic, p.payload, false, 1)
}

// plan decodes a message and builds its MQTT messages. Every topic level taken from the event
// is checked before anything is published, so an invalid event publishes nothing.
func (b *Bridge) plan(msg jetstream.Msg) (outbox.Event, []publication, error) {
	var ev outbox.Event
	data := msg.Data()
	if err := json.Unmarshal(data, &ev); err != nil {
		return ev, nil, fmt.Errorf("%w: not an outbox event: %v", jobtopic.ErrInvalid, err)
	}
	if ev.ID == "" {
		ev.ID = msg.Headers().Get(jetstream.MsgIDHeader)
	}
	switch {
	case ev.ID == "":
		return ev, nil, fmt.Errorf("%w: no id", jobtopic.ErrInvalid)
	case !jobtopic.ValidLevel(ev.Tenant):
		return ev, nil, fmt.Errorf("%w: tenant %q", jobtopic.ErrInvalid, ev.Tenant)
	case !jobtopic.ValidLevel(ev.Type):
		return ev, nil, fmt.Errorf("%w: type %q", jobtopic.ErrInvalid, ev.Type)
	}
	base := "tenants/" + ev.Tenant + "/"
	pubs := make([]publication, 1, 3)
	pubs[0] = publication{topic: base + "events/" + ev.Type, payload: data, count: b.eventsTopic}

	if ev.AggregateType == "order" && hasValue(ev.Payload) {
		if !jobtopic.ValidLevel(ev.AggregateID) {
			return ev, nil, fmt.Errorf("%w: order id %q", jobtopic.ErrInvalid, ev.AggregateID)
		}
		pubs = append(pubs, publication{topic: base + "orders/" + ev.AggregateID, payload: ev.Payload, count: b.ordersTopic})
	}

	// A connector's health (ConnectorDegraded, ConnectorRecovered) is kept retained on
	// tenants/{t}/connectors/{platform}, so a console that connects later sees the banner.
	if ev.AggregateType == "connector" && hasValue(ev.Payload) {
		if !jobtopic.ValidLevel(ev.AggregateID) {
			return ev, nil, fmt.Errorf("%w: platform %q", jobtopic.ErrInvalid, ev.AggregateID)
		}
		pubs = append(pubs, publication{topic: base + "connectors/" + ev.AggregateID, payload: ev.Payload, count: b.connectorsTopic, retain: true})
	}

	if jobtopic.Is(ev.Type) && (b.cfg.Replica == "" || ev.Headers[jobtopic.DirectHeader] != b.cfg.Replica) {
		driver, payload, expires, err := jobtopic.Message(&ev)
		if err != nil {
			return ev, nil, err
		}
		if driver != "" {
			p := publication{topic: base + "drivers/" + driver + "/jobs", payload: payload, count: b.jobsTopic}
			if ev.Type == "AssignmentOffered" {
				p.expires = expires
			}
			pubs = append(pubs, p)
		}
	}
	return ev, pubs, nil
}

// hasValue: the raw JSON is present and not null.
func hasValue(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// backoff is the wait between retries of a failing NATS operation.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }

func (b *backoff) reset() { b.d = 100 * time.Millisecond }

func (b *backoff) wait(ctx context.Context) {
	sleep(ctx, b.d)
	b.d = min(2*b.d, maxBackoff)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
