package ingest

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/metrics"
	"github.com/pilotx/dispatchhub/internal/store"
)

// Message is what the edge publishes on INGEST, subject ingest.{platform}.{tenant}, with
// Nats-Msg-Id = ID. The raw payload stays in PostgreSQL (inbound_events.payload or the object
// the row references).
type Message struct {
	ID             string          `json:"id"`
	Tenant         string          `json:"tenant"`
	StoreID        string          `json:"store_id"`
	Platform       string          `json:"platform"`
	EventID        string          `json:"event_id"`
	EventType      string          `json:"event_type"`
	ReceivedAt     time.Time       `json:"received_at"`
	Authenticated  bool            `json:"authenticated"`
	PayloadSize    int             `json:"payload_size"`
	Normalized     json.RawMessage `json:"normalized,omitempty"`
	NormalizeError string          `json:"normalize_error,omitempty"`
}

// Subject is the INGEST subject of a platform and tenant.
func Subject(platform, tenant string) string { return "ingest." + platform + "." + tenant }

// relay publishes every committed inbound event exactly once into JetStream. Committed rows
// arrive on a fast path straight from the writer; a poller finds rows that never made it (the
// process died between commit and publish, NATS was down) in inbound_unpublished. Both paths
// publish with Nats-Msg-Id = the row id, so JetStream drops a second copy within its
// duplicate window, and the event leaves inbound_unpublished once JetStream has acknowledged.
type relay struct {
	db   *store.DB
	js   jetstream.JetStream
	fast chan Message
	poll time.Duration
	log  zerolog.Logger

	published prometheus.Counter
	failures  prometheus.Counter
	lag       prometheus.Histogram
	backlog   prometheus.Gauge
	batches   *prometheus.CounterVec
	marking   sync.WaitGroup // the fast path's mark in flight
	yielded   int            // polls skipped in a row while the fast path had a queue
}

// maxYield is how many polls in a row the poller lets pass while the fast path has a queue.
// The rows the poller would find are then mostly the ones queued for the fast path, and
// publishing them twice is work the hub cannot spare when it is behind (JetStream drops the
// copies, but only after storing the batch). Rows the fast path dropped (its queue full) or
// failed to publish still go out within maxYield polls.
const maxYield = 10

func newRelay(db *store.DB, js jetstream.JetStream, poll time.Duration, log zerolog.Logger, reg prometheus.Registerer) *relay {
	r := &relay{
		db: db, js: js, fast: make(chan Message, 16384), poll: poll, log: log,
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "relayed_total",
			Help: "Inbound events published on INGEST and marked published.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "relay_failures_total",
			Help: "INGEST publishes that failed (retried by the poller).",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "relay_lag_seconds",
			Help: "Time from a webhook's arrival to its publication on INGEST.", Buckets: metrics.LatencyBuckets,
		}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "relay_backlog",
			Help: "Committed inbound events found unpublished by the last poll.",
		}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "relay_atomic_batches_total",
			Help: "Atomic batches the relay sent to INGEST, by outcome: stored, or refused (then published message by message).",
		}, []string{"outcome"}),
	}
	reg.MustRegister(r.published, r.failures, r.lag, r.backlog, r.batches)
	return r
}

func messageOf(r *row) Message {
	return Message{
		ID: r.id, Tenant: r.tenant, StoreID: r.storeID, Platform: r.platform, EventID: r.eventID, EventType: r.eventType,
		ReceivedAt: r.receivedAt, Authenticated: r.authenticated, PayloadSize: r.size,
		Normalized: r.normalized, NormalizeError: r.normalizeError,
	}
}

// enqueue hands a committed row to the fast path; when it is full the poller takes over.
func (rl *relay) enqueue(r *row) {
	select {
	case rl.fast <- messageOf(r):
	default:
	}
}

// run publishes until ctx ends.
func (rl *relay) run(ctx context.Context) error {
	ticker := time.NewTicker(rl.poll)
	defer ticker.Stop()
	batch := make([]Message, 0, 512)
	rl.pollOnce(ctx) // whatever an earlier process left unpublished
	defer rl.marking.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-rl.fast:
			batch = append(batch[:0], m)
		gather:
			for len(batch) < cap(batch) {
				select {
				case m := <-rl.fast:
					batch = append(batch, m)
				default:
					break gather
				}
			}
			rl.markAsync(ctx, rl.send(ctx, batch))
		case <-ticker.C:
			rl.tick(ctx)
		}
	}
}

// tick is a poll, unless the fast path has a queue and the poller has let fewer than maxYield
// polls pass; it reports whether it polled.
func (rl *relay) tick(ctx context.Context) bool {
	if len(rl.fast) > 0 && rl.yielded < maxYield {
		rl.yielded++
		return false
	}
	rl.yielded = 0
	rl.marking.Wait()
	rl.pollOnce(ctx)
	return true
}

// pollOnce publishes committed rows that are still unpublished some time after their arrival.
func (rl *relay) pollOnce(ctx context.Context) {
	for {
		var msgs []Message
		err := rl.db.WithSystemTx(ctx, "ingest-relay", func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT e.id::text, e.tenant_id, e.store_id::text, e.platform, e.event_id, e.event_type, e.received_at,
					e.authenticated, e.payload_size, e.normalized, coalesce(e.normalize_error, '')
				FROM inbound_unpublished u JOIN inbound_events e ON e.id = u.id
				WHERE u.received_at < now() - $1::interval
				ORDER BY u.received_at, u.id LIMIT 500`, rl.poll.String())
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var m Message
				var normalized []byte
				if err := rows.Scan(&m.ID, &m.Tenant, &m.StoreID, &m.Platform, &m.EventID, &m.EventType, &m.ReceivedAt,
					&m.Authenticated, &m.PayloadSize, &normalized, &m.NormalizeError); err != nil {
					return err
				}
				m.Normalized = normalized
				msgs = append(msgs, m)
			}
			return rows.Err()
		})
		if err != nil {
			if ctx.Err() == nil {
				rl.log.Warn().Err(err).Msg("ingest relay: poll failed")
			}
			return
		}
		rl.backlog.Set(float64(len(msgs)))
		if len(msgs) == 0 {
			return
		}
		if rl.publish(ctx, msgs) < len(msgs) || len(msgs) < 500 {
			return
		}
	}
}

// publish sends msgs, waits for JetStream's acks and marks the acknowledged ones published.
// It returns how many were marked.
func (rl *relay) publish(ctx context.Context, msgs []Message) int {
	return rl.mark(ctx, rl.send(ctx, msgs))
}

// send publishes msgs and returns the ids JetStream acknowledged.
func (rl *relay) send(ctx context.Context, msgs []Message) []string {
	type pending struct {
		id  string
		at  time.Time
		ack jetstream.PubAckFuture
	}
	encoded := make([]*nats.Msg, 0, len(msgs))
	received := make([]time.Time, 0, len(msgs))
	for _, m := range msgs {
		data, err := json.Marshal(m)
		if err != nil {
			rl.log.Error().Err(err).Str("id", m.ID).Msg("ingest relay: encode")
			continue
		}
		encoded = append(encoded, &nats.Msg{
			Subject: Subject(m.Platform, m.Tenant), Data: data,
			Header: nats.Header{jetstream.MsgIDHeader: []string{m.ID}},
		})
		received = append(received, m.ReceivedAt)
	}
	ids := make([]string, 0, len(encoded))
	var single []int // indexes of messages to publish one by one
	for lo := 0; lo < len(encoded); lo += bus.AtomicBatchMax {
		hi := min(lo+bus.AtomicBatchMax, len(encoded))
		if hi-lo < bus.AtomicBatchMin {
			for i := lo; i < hi; i++ {
				single = append(single, i)
			}
			continue
		}
		if err := bus.PublishAtomic(ctx, rl.js.Conn(), encoded[lo:hi]); err != nil {
			rl.batches.WithLabelValues("refused").Inc()
			rl.log.Debug().Err(err).Int("messages", hi-lo).Msg("ingest relay: atomic batch refused; publishing one by one")
			for i := lo; i < hi; i++ {
				single = append(single, i)
			}
			continue
		}
		rl.batches.WithLabelValues("stored").Inc()
		for i := lo; i < hi; i++ {
			ids = append(ids, encoded[i].Header.Get(jetstream.MsgIDHeader))
			rl.lag.Observe(time.Since(received[i]).Seconds())
		}
	}
	futures := make([]pending, 0, len(single))
	for _, i := range single {
		msg := encoded[i]
		bus.ClearBatchHeaders(msg)
		f, err := rl.js.PublishMsgAsync(msg)
		if err != nil {
			rl.failures.Inc()
			continue
		}
		futures = append(futures, pending{id: msg.Header.Get(jetstream.MsgIDHeader), at: received[i], ack: f})
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, p := range futures {
		select {
		case <-p.ack.Ok():
			ids = append(ids, p.id)
			rl.lag.Observe(time.Since(p.at).Seconds())
		case err := <-p.ack.Err():
			rl.failures.Inc()
			rl.log.Warn().Err(err).Str("id", p.id).Msg("ingest relay: publish failed; the poller retries")
		case <-wctx.Done():
			rl.failures.Inc() // unacknowledged: the poller retries, JetStream de-duplicates
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return ids
}

// markAsync marks ids published on a goroutine of its own, so that the fast path publishes
// the next batch meanwhile; one mark runs at a time.
func (rl *relay) markAsync(ctx context.Context, ids []string) {
	rl.marking.Wait()
	if len(ids) == 0 {
		return
	}
	rl.marking.Add(1)
	go func() {
		defer rl.marking.Done()
		rl.mark(ctx, ids)
	}()
}

// mark records ids as published and returns how many it marked.
func (rl *relay) mark(ctx context.Context, ids []string) int {
	if ctx.Err() != nil || len(ids) == 0 {
		return 0
	}
	// The mark is committed without waiting for the disk: lost in a crash (at most the last
	// few hundred milliseconds of marks), it only makes the poller publish these events again
	// after the restart, and JetStream drops the copies by Nats-Msg-Id (nats.duplicate_window,
	// 15 min by default; consumers de-duplicate by event id beyond it).
	err := rl.db.SystemBatch(context.WithoutCancel(ctx), "ingest-relay", true, func(b *pgx.Batch) {
		b.Queue(`DELETE FROM inbound_unpublished WHERE id = ANY($1::uuid[])`, ids)
	}, func(br pgx.BatchResults) error {
		_, err := br.Exec()
		return err
	})
	if err != nil {
		rl.log.Warn().Err(err).Int("events", len(ids)).Msg("ingest relay: mark published failed; they will be re-sent and de-duplicated")
		return 0
	}
	rl.published.Add(float64(len(ids)))
	return len(ids)
}
