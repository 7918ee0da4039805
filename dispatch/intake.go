package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pilotx/dispatchhub/ingest"
	"github.com/pilotx/dispatchhub/ingest/normalize"
	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/dlq"
	"github.com/pilotx/dispatchhub/internal/metrics"
	"github.com/pilotx/dispatchhub/internal/outbox"
	"github.com/pilotx/dispatchhub/internal/store"
)

// IntakeConfig configures order intake from INGEST.
type IntakeConfig struct {
	// Platforms gets one durable consumer and one worker pool each (bulkheads: a platform
	// whose events fail or are slow cannot hold up the others).
	Platforms []string
	Workers   int             // per platform; default 4
	Attempts  int             // deliveries of a message before it becomes a dead letter; default 5
	Backoff   []time.Duration // wait before delivery n+1 (the last repeats); default 1s, 5s, 30s
	AckWait   time.Duration   // a delivery not acknowledged within it is redelivered; default 30s
	// Applied, when set, is called with the tenant of each transaction of messages committed
	// (before their acks). It must not block: the engine's NewOrders (a cancellation that
	// frees a driver wakes the engine again by its OrderCancelled event).
	Applied func(tenant string)
}

func (c *IntakeConfig) defaults() {
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Attempts <= 0 {
		c.Attempts = 5
	}
	if len(c.Backoff) == 0 {
		c.Backoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
}

// inboxConsumer names intake in the inbox table.
const inboxConsumer = "intake"

// Intake turns the store events on INGEST into orders. Each message is applied in one tenant
// transaction — the order upserted (an older update never overwrites a newer one), the audit
// row, the domain event in the outbox, and the message id in the inbox — and acknowledged
// (confirmed by the server) only after that commit. A redelivered message finds its inbox row
// and changes nothing. A message that fails Attempts times becomes a dead letter and is
// acknowledged.
type Intake struct {
	db  *store.DB
	js  jetstream.JetStream
	cfg IntakeConfig
	log zerolog.Logger

	outcomes *prometheus.CounterVec
	duration prometheus.Histogram
	lag      prometheus.Histogram
}

// NewIntake builds the intake; Run starts it.
func NewIntake(db *store.DB, js jetstream.JetStream, cfg IntakeConfig, log zerolog.Logger, reg prometheus.Registerer) *Intake {
	cfg.defaults()
	in := &Intake{
		db: db, js: js, cfg: cfg, log: log,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "intake", Name: "messages_total",
			Help: "INGEST messages handled by order intake, by platform and outcome: created, updated, cancelled, stale (older than the order), ignored (not about an order), duplicate (already applied), retried, dead_lettered.",
		}, []string{"platform", "outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "intake", Name: "apply_seconds",
			Help: "Time to apply one INGEST message (transaction and confirmed ack).", Buckets: metrics.LatencyBuckets,
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "intake", Name: "lag_seconds",
			Help: "Time from a webhook's arrival to its effect committed.", Buckets: metrics.LatencyBuckets,
		}),
	}
	reg.MustRegister(in.outcomes, in.duration, in.lag)
	return in
}

// DurableName is the durable consumer of a platform's pool.
func DurableName(platform string) string { return "intake-" + platform }

// Run consumes until ctx ends.
func (in *Intake) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, p := range in.cfg.Platforms {
		cons, err := in.js.CreateOrUpdateConsumer(ctx, bus.StreamIngest, jetstream.ConsumerConfig{
			Durable:       DurableName(p),
			Description:   "order intake for " + p,
			FilterSubject: "ingest." + p + ".>",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       in.cfg.AckWait,
			MaxDeliver:    -1, // the intake decides when a message is dead
			MaxAckPending: in.cfg.Workers * groupMax * 2,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err != nil {
			return fmt.Errorf("intake consumer for %s: %w", p, err)
		}
		msgs := make(chan jetstream.Msg, in.cfg.Workers*groupMax)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(msgs)
			in.read(ctx, p, cons, msgs)
		}()
		for range in.cfg.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in.work(ctx, p, msgs)
			}()
		}
	}
	wg.Wait()
	return nil
}

// groupMax is the most messages a worker applies in one transaction.
const groupMax = 32

// read pulls the platform's messages into msgs until ctx ends.
func (in *Intake) read(ctx context.Context, platform string, cons jetstream.Consumer, msgs chan<- jetstream.Msg) {
	bus.Pull(ctx, cons, cap(msgs), in.log.With().Str("platform", platform).Logger(), "intake",
		bus.Hand(ctx, func(jetstream.Msg) chan<- jetstream.Msg { return msgs }))
}

// work applies what read hands over, several messages per transaction when they queue up.
func (in *Intake) work(ctx context.Context, platform string, msgs <-chan jetstream.Msg) {
	group := make([]jetstream.Msg, 0, groupMax)
	for msg := range msgs {
		group = append(group[:0], msg)
	gather:
		for len(group) < groupMax {
			select {
			case m, ok := <-msgs:
				if !ok {
					break gather
				}
				group = append(group, m)
			default:
				break gather
			}
		}
		if ctx.Err() != nil {
			for _, m := range group {
				_ = m.Nak() // shutting down: someone else takes them
			}
			continue
		}
		in.handleGroup(ctx, platform, group)
	}
}

// permanent marks an error that no retry can fix (the message itself is bad).
type permanent struct{ error }

// delivery is a message being applied.
type delivery struct {
	msg     jetstream.Msg
	m       ingest.Message
	ev      normalize.NormalizedEvent
	attempt int
	outcome string
	err     error
}

// handleGroup applies a group of messages: those of one tenant together in one transaction
// (their effects commit or fail together, each message's as a whole, and each is
// acknowledged only after the commit); when that transaction fails, each message is applied
// alone, so that only the failing one is retried or dead-lettered.
func (in *Intake) handleGroup(ctx context.Context, platform string, group []jetstream.Msg) {
	start := time.Now()
	byTenant := map[string][]*delivery{}
	var tenants []string
	for _, msg := range group {
		d := &delivery{msg: msg, attempt: 1}
		if meta, err := msg.Metadata(); err == nil {
			d.attempt = int(meta.NumDelivered)
		}
		if d.err = decode(msg, &d.m, &d.ev); d.err != nil {
			in.settle(ctx, platform, d)
			continue
		}
		if _, ok := byTenant[d.m.Tenant]; !ok {
			tenants = append(tenants, d.m.Tenant)
		}
		byTenant[d.m.Tenant] = append(byTenant[d.m.Tenant], d)
	}
	for _, tenant := range tenants {
		ds := byTenant[tenant]
		err := in.db.WithTenantPipeline(ctx, tenant, func(p *store.Pipeline) error {
			for _, d := range ds {
				var err error
				if d.outcome, err = in.applyIn(ctx, p, d); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil && len(ds) > 1 {
			for _, d := range ds { // alone, so that one bad message does not hold up the rest
				d.err = in.db.WithTenantPipeline(ctx, tenant, func(p *store.Pipeline) error {
					var err error
					d.outcome, err = in.applyIn(ctx, p, d)
					return err
				})
				if d.err == nil && in.cfg.Applied != nil {
					in.cfg.Applied(tenant)
				}
				in.settle(ctx, platform, d)
			}
			continue
		}
		if err == nil && in.cfg.Applied != nil {
			in.cfg.Applied(tenant) // committed: the engine may offer before the acks go out
		}
		for _, d := range ds {
			d.err = err
			in.settle(ctx, platform, d)
		}
	}
	in.duration.Observe(time.Since(start).Seconds() / float64(len(group)))
}

// settle acknowledges an applied message (confirmed by the server), or has a failed one
// redelivered later or dead-lettered.
func (in *Intake) settle(ctx context.Context, platform string, d *delivery) {
	if d.err == nil {
		if aerr := d.msg.DoubleAck(ctx); aerr != nil {
			// Committed but not acknowledged: the redelivery finds the inbox row.
			in.log.Warn().Err(aerr).Str("id", d.m.ID).Msg("intake: ack not confirmed; a redelivery will be a no-op")
		}
		in.outcomes.WithLabelValues(platform, d.outcome).Inc()
		if d.outcome != "duplicate" && !d.m.ReceivedAt.IsZero() {
			in.lag.Observe(time.Since(d.m.ReceivedAt).Seconds())
		}
		return
	}
	if ctx.Err() != nil {
		_ = d.msg.Nak() // shutting down: someone else takes it
		return
	}
	var perm permanent
	if errors.As(d.err, &perm) || d.attempt >= in.cfg.Attempts {
		in.deadLetter(ctx, platform, d.msg, &d.m, d.attempt, d.err)
		return
	}
	delay := in.cfg.Backoff[min(d.attempt-1, len(in.cfg.Backoff)-1)]
	in.log.Warn().Err(d.err).Str("platform", platform).Str("id", d.m.ID).Int("attempt", d.attempt).Dur("retry_in", delay).Msg("intake: apply failed; will retry")
	in.outcomes.WithLabelValues(platform, "retried").Inc()
	_ = d.msg.NakWithDelay(delay)
}

// decode reads an INGEST message and its normalised event; its errors are permanent.
func decode(msg jetstream.Msg, m *ingest.Message, ev *normalize.NormalizedEvent) error {
	if err := json.Unmarshal(msg.Data(), m); err != nil {
		return permanent{fmt.Errorf("message is not an ingest message: %w", err)}
	}
	if m.ID == "" || m.Tenant == "" || m.StoreID == "" {
		return permanent{errors.New("ingest message without id, tenant or store")}
	}
	if m.NormalizeError != "" || len(m.Normalized) == 0 {
		reason := m.NormalizeError
		if reason == "" {
			reason = "no normalised event"
		}
		return permanent{fmt.Errorf("not normalised: %s (the raw event is kept in inbound_events %s)", reason, m.ID)}
	}
	if err := json.Unmarshal(m.Normalized, ev); err != nil {
		return permanent{fmt.Errorf("normalised event unreadable: %w", err)}
	}
	if ev.Kind != normalize.Ignored && ev.ExternalID == "" {
		return permanent{errors.New("normalised order event without external_id")}
	}
	return nil
}

// deadLetter records msg in dead_letters under its tenant and acknowledges it. When even
// that fails the message is left to be redelivered.
func (in *Intake) deadLetter(ctx context.Context, platform string, msg jetstream.Msg, m *ingest.Message, attempts int, cause error) {
	tenant := m.Tenant
	if tenant == "" {
		tenant = tenantOfSubject(msg.Subject())
	}
	now := time.Now().UTC()
	msgID := m.ID
	if msgID == "" {
		msgID = msg.Headers().Get(jetstream.MsgIDHeader)
	}
	headers := map[string]string{}
	for k, v := range msg.Headers() {
		if len(v) > 0 && !strings.HasPrefix(k, "Nats-Batch-") {
			headers[k] = v[0]
		}
	}
	err := in.db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		return dlq.Record(ctx, tx, dlq.DeadLetter{
			Source: dlq.SourceIngest, Platform: platform, Subject: msg.Subject(), MessageID: msgID,
			Payload: msg.Data(), Headers: headers, Error: cause.Error(), Attempts: attempts,
			FirstFailedAt: now, LastFailedAt: now,
		})
	})
	if err != nil {
		in.log.Error().Err(err).AnErr("cause", cause).Str("subject", msg.Subject()).Msg("intake: dead letter not recorded; the message stays for redelivery")
		_ = msg.NakWithDelay(in.cfg.Backoff[len(in.cfg.Backoff)-1])
		return
	}
	in.log.Error().Err(cause).Str("platform", platform).Str("tenant", tenant).Str("id", msgID).Int("attempts", attempts).
		Msg("intake: message moved to dead letters")
	in.outcomes.WithLabelValues(platform, "dead_lettered").Inc()
	_ = msg.DoubleAck(ctx)
}

// tenantOfSubject reads {tenant} from ingest.{platform}.{tenant}.
func tenantOfSubject(subject string) string {
	parts := strings.Split(subject, ".")
	if len(parts) == 3 {
		return parts[2]
	}
	return ""
}

// applyIn runs one message's effects in p (its tenant's transaction) and says what they
// were. Its reads take one round trip; its writes leave with the next one (the next
// message's reads, or the commit).
func (in *Intake) applyIn(ctx context.Context, p *store.Pipeline, d *delivery) (string, error) {
	var (
		fresh      bool
		now        time.Time
		cur        Order
		found      bool
		pLat, pLng *float64
	)
	err := p.Round(ctx, func(b *pgx.Batch) {
		b.Queue(`INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, inboxConsumer, d.m.ID)
		b.Queue(`SELECT now()`)
		b.Queue(`SELECT `+OrderColumns+` FROM orders WHERE store_id = $1 AND external_ref = $2 FOR UPDATE`, d.m.StoreID, d.ev.ExternalID)
		b.Queue(`SELECT pickup_lat, pickup_lng FROM stores WHERE id = $1`, d.m.StoreID)
	}, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("inbox: %w", err)
		}
		fresh = tag.RowsAffected() == 1
		if err := br.QueryRow().Scan(&now); err != nil {
			return err
		}
		cur, err = ScanOrder(br.QueryRow())
		switch {
		case errors.Is(err, pgx.ErrNoRows): // a new order
		case err != nil:
			return fmt.Errorf("read order: %w", err)
		default:
			found = true
		}
		if err := br.QueryRow().Scan(&pLat, &pLng); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read store: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if !fresh {
		return "duplicate", nil
	}
	if d.ev.Kind == normalize.Ignored {
		return "ignored", nil
	}
	actor := "store:" + d.m.Platform
	now = now.UTC()
	if !found {
		o := newStoreOrder(&d.m, &d.ev, now, pLat, pLng)
		queueInsertOrder(p, &o, d.m.ID)
		if err := queueEvent(p, EventOrderCreated, o, actor, nil); err != nil {
			return "", err
		}
		if o.Status == StatusCancelled {
			return "cancelled", queueEvent(p, EventOrderCancelled, o, actor, map[string]any{"origin": OriginStore})
		}
		return "created", nil
	}
	if isStale(cur, &d.ev) {
		// Audit only: an older update, or a repeat of what the order already has.
		p.Queue(`INSERT INTO events (type, entity_type, entity_id, version, actor, payload) VALUES ('StaleUpdateIgnored', $1, $2, $3, $4, $5)`,
			AggregateOrder, cur.ID, cur.Version, actor, map[string]any{"inbound_id": d.m.ID, "kind": d.ev.Kind, "source_updated_at": d.ev.SourceUpdatedAt, "source_version": d.ev.SourceVersion})
		return "stale", nil
	}
	next := cur
	mergeOrder(&next, &d.ev)
	eventType, outcome := EventOrderUpdated, "updated"
	if d.ev.Kind == normalize.OrderCancelled && cur.Status != StatusCancelled && cur.Status.CanCancel() == nil {
		next.Status, next.CancelReason = StatusCancelled, "cancelled by the store"
		eventType, outcome = EventOrderCancelled, "cancelled"
	}
	next.Version, next.UpdatedAt = cur.Version+1, now
	queueUpdateOrder(p, &next, d.m.ID)
	var extra map[string]any
	if eventType == EventOrderCancelled {
		if extra, err = releaseAssignments(ctx, p, next.ID); err != nil {
			return "", err
		}
		if extra == nil {
			extra = map[string]any{}
		}
		extra["origin"] = OriginStore
	}
	return outcome, queueEvent(p, eventType, next, actor, extra)
}

// isStale reports whether ev is not newer than what cur already reflects: by the source's
// version when both have one, else by the source's updated_at. An event without either is
// applied (a platform that says nothing about order cannot be ordered).
func isStale(cur Order, ev *normalize.NormalizedEvent) bool {
	if ev.SourceVersion > 0 && cur.SourceVersion > 0 {
		return ev.SourceVersion <= cur.SourceVersion
	}
	if !ev.SourceUpdatedAt.IsZero() && cur.SourceUpdatedAt != nil {
		if ev.SourceUpdatedAt.Before(*cur.SourceUpdatedAt) {
			return true
		}
		// The same instant: a cancellation still counts; anything else is a repeat.
		return ev.SourceUpdatedAt.Equal(*cur.SourceUpdatedAt) && !(ev.Kind == normalize.OrderCancelled && cur.Status != StatusCancelled)
	}
	return false
}

// mergeOrder applies what ev carries to o; fields the event leaves out keep their value.
func mergeOrder(o *Order, ev *normalize.NormalizedEvent) {
	if ev.Pickup != nil {
		o.Pickup = ev.Pickup
	}
	if ev.Dropoff != nil {
		o.Dropoff = ev.Dropoff
	}
	if ev.Items != nil {
		o.Items = ev.Items
	}
	if ev.Contact != nil {
		o.Contact = ev.Contact
	}
	if ev.Totals != nil {
		o.Totals = ev.Totals
	}
	if ev.Note != "" {
		o.Note = ev.Note
	}
	if !ev.SourceUpdatedAt.IsZero() {
		t := ev.SourceUpdatedAt.UTC()
		o.SourceUpdatedAt = &t
	}
	if ev.SourceVersion > 0 {
		o.SourceVersion = ev.SourceVersion
	}
}

// newStoreOrder is the order a store event creates, as its row will read: its id is made
// here, and its times are the transaction's (now), as the columns' defaults would be.
func newStoreOrder(m *ingest.Message, ev *normalize.NormalizedEvent, now time.Time, pLat, pLng *float64) Order {
	o := Order{ID: uuid.NewString(), Tenant: m.Tenant, StoreID: m.StoreID, Source: m.Platform, ExternalRef: ev.ExternalID,
		Status: StatusPending, Items: []normalize.Item{}, Version: 1, CreatedAt: now, UpdatedAt: now}
	mergeOrder(&o, ev)
	if ev.Kind == normalize.OrderCancelled {
		o.Status, o.CancelReason = StatusCancelled, "cancelled by the store"
	}
	if (o.Pickup == nil || o.Pickup.Point == nil) && pLat != nil && pLng != nil {
		// The store's pickup point, when the payload has none.
		a := normalize.Address{}
		if o.Pickup != nil {
			a = *o.Pickup
		}
		a.Point = &normalize.Point{Lat: *pLat, Lng: *pLng}
		o.Pickup = &a
	}
	// As ScanOrder would read them back.
	o.Pickup, o.Dropoff = normalizedAddress(o.Pickup), normalizedAddress(o.Dropoff)
	return o
}

// normalizedAddress is a as its columns keep it: nil when it holds nothing.
func normalizedAddress(a *normalize.Address) *normalize.Address {
	if a == nil || *a == (normalize.Address{}) {
		return nil
	}
	return a
}

func queueInsertOrder(p *store.Pipeline, o *Order, inboundID string) {
	pRaw, pLat, pLng := AddressColumns(o.Pickup)
	dRaw, dLat, dLng := AddressColumns(o.Dropoff)
	var sv *int64
	if o.SourceVersion > 0 {
		sv = &o.SourceVersion
	}
	p.Queue(`INSERT INTO orders (id, store_id, source, external_ref, status, pickup_address, pickup_lat, pickup_lng,
			dropoff_address, dropoff_lat, dropoff_lng, items, contact, totals, note, cancel_reason, source_updated_at, source_version,
			last_inbound_id, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, nullif($15, ''), nullif($16, ''), $17, $18, $19, $20, $21, $21)`,
		o.ID, o.StoreID, o.Source, o.ExternalRef, o.Status, pRaw, pLat, pLng, dRaw, dLat, dLng,
		jsonOf(o.Items), jsonOrNil(o.Contact), jsonOrNil(o.Totals), o.Note, o.CancelReason, o.SourceUpdatedAt, sv, inboundID, o.Version, o.CreatedAt)
}

func queueUpdateOrder(p *store.Pipeline, o *Order, inboundID string) {
	pRaw, pLat, pLng := AddressColumns(o.Pickup)
	dRaw, dLat, dLng := AddressColumns(o.Dropoff)
	var sv *int64
	if o.SourceVersion > 0 {
		sv = &o.SourceVersion
	}
	p.Queue(`UPDATE orders SET status = $2, pickup_address = $3, pickup_lat = $4, pickup_lng = $5,
			dropoff_address = $6, dropoff_lat = $7, dropoff_lng = $8, items = $9, contact = $10, totals = $11, note = nullif($12, ''),
			cancel_reason = nullif($13, ''), source_updated_at = $14, source_version = $15, last_inbound_id = $16, version = $17
		WHERE id = $1`,
		o.ID, o.Status, pRaw, pLat, pLng, dRaw, dLat, dLng, jsonOf(o.Items), jsonOrNil(o.Contact), jsonOrNil(o.Totals),
		o.Note, o.CancelReason, o.SourceUpdatedAt, sv, inboundID, o.Version)
}

// releaseAssignments cancels the open assignments of a cancelled order and returns, for the
// event, the driver who had it (so that the driver's app is told).
func releaseAssignments(ctx context.Context, p *store.Pipeline, orderID string) (map[string]any, error) {
	var driver *string
	err := p.Round(ctx, func(b *pgx.Batch) {
		b.Queue(`WITH c AS (
			UPDATE assignments SET status = 'cancelled', reason = 'order cancelled', responded_at = coalesce(responded_at, now())
			WHERE order_id = $1 AND status IN ('offered', 'accepted') RETURNING driver_id, status)
		SELECT (SELECT driver_id FROM c ORDER BY driver_id LIMIT 1)`, orderID)
	}, func(br pgx.BatchResults) error { return br.QueryRow().Scan(&driver) })
	if err != nil {
		return nil, fmt.Errorf("release assignments: %w", err)
	}
	if driver == nil {
		return nil, nil
	}
	return map[string]any{"driver_id": *driver}, nil
}

// queueEvent queues the audit row and the domain event of o, whose payload is the order as it
// now is (plus extra fields, such as the driver to tell).
func queueEvent(p *store.Pipeline, eventType string, o Order, actor string, extra map[string]any) error {
	_, err := queueEventWith(p, eventType, o, actor, extra, nil)
	return err
}

// queueEventWith is queueEvent with outbox headers; it returns the event as queued.
func queueEventWith(p *store.Pipeline, eventType string, o Order, actor string, extra map[string]any, headers map[string]string) (outbox.Event, error) {
	payload, err := orderPayload(o, extra)
	if err != nil {
		return outbox.Event{}, err
	}
	p.Queue(`INSERT INTO events (type, entity_type, entity_id, version, actor, payload) VALUES ($1, $2, $3, $4, $5, $6)`,
		eventType, AggregateOrder, o.ID, o.Version, actor, payload)
	return outbox.Queue(p, o.Tenant, outbox.Event{
		Type: eventType, AggregateType: AggregateOrder, AggregateID: o.ID, Version: o.Version, Payload: payload, Headers: headers,
	})
}

// orderPayload is the JSON of o with extra top-level fields.
func orderPayload(o Order, extra map[string]any) (json.RawMessage, error) {
	raw, err := json.Marshal(o)
	if err != nil || len(extra) == 0 {
		return raw, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for k, v := range extra {
		m[k] = v
	}
	return json.Marshal(m)
}

func jsonOf(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// jsonOrNil is the JSON of a pointer, or SQL NULL for a nil one.
func jsonOrNil[T any](v *T) []byte {
	if v == nil {
		return nil
	}
	return jsonOf(v)
}
