package ingest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pilotx/dispatchhub/internal/metrics"
	"github.com/pilotx/dispatchhub/internal/store"
)

// row is one inbound webhook as it is stored in inbound_events.
type row struct {
	id, tenant, storeID, platform string
	eventID, eventType            string
	checksum                      []byte
	headers                       []byte // JSON object
	payload                       []byte // nil when payloadRef is set
	payloadRef                    string
	size                          int
	authenticated                 bool
	normalized                    []byte // JSON, nil when normalisation failed
	normalizeError                string
	receivedAt                    time.Time
}

type writeResult struct {
	id        string
	duplicate bool
	err       error
}

type writeReq struct {
	row  *row
	done chan writeResult
}

// errOverloaded: the commit queue is full; the platform should retry (503).
var errOverloaded = errors.New("ingest queue full")

// writer stores webhooks with group commit: concurrent requests share one transaction per
// tenant (a pipelined batch of INSERT ... ON CONFLICT DO NOTHING), and each request is
// answered only after the commit that holds its row has succeeded.
type writer struct {
	db         *store.DB
	q          chan writeReq
	batchMax   int
	committers int
	published  func(*row) // hands a committed row to the relay
	log        zerolog.Logger

	batchSize prometheus.Histogram
	commitDur prometheus.Histogram
	failures  prometheus.Counter
}

func newWriter(db *store.DB, queue, batchMax int, published func(*row), log zerolog.Logger, reg prometheus.Registerer) *writer {
	w := &writer{
		db: db, q: make(chan writeReq, queue), batchMax: batchMax, committers: 4, published: published, log: log,
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "commit_batch_size",
			Help: "Webhooks committed per transaction (group commit).", Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		commitDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "commit_seconds",
			Help: "Time of one group-commit transaction.", Buckets: metrics.LatencyBuckets,
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "commit_failures_total",
			Help: "Group commits that failed (their webhooks were answered 503).",
		}),
	}
	reg.MustRegister(w.batchSize, w.commitDur, w.failures)
	return w
}

// write queues r and waits for its durable commit, or for ctx.
func (w *writer) write(ctx context.Context, r *row) writeResult {
	req := writeReq{row: r, done: make(chan writeResult, 1)}
	select {
	case w.q <- req:
	default:
		return writeResult{err: errOverloaded}
	}
	select {
	case res := <-req.done:
		return res
	case <-ctx.Done():
		// The row may still commit; the platform's retry will then be a duplicate.
		return writeResult{err: ctx.Err()}
	}
}

// run commits until ctx ends; what is queued then is answered with an error.
func (w *writer) run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range w.committers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx)
		}()
	}
	wg.Wait()
	for {
		select {
		case req := <-w.q:
			req.done <- writeResult{err: errors.New("shutting down")}
		default:
			return nil
		}
	}
}

func (w *writer) loop(ctx context.Context) {
	batch := make([]writeReq, 0, w.batchMax)
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-w.q:
			batch = append(batch[:0], req)
		}
	gather:
		for len(batch) < w.batchMax {
			select {
			case req := <-w.q:
				batch = append(batch, req)
			default:
				break gather
			}
		}
		w.commit(ctx, batch)
	}
}

const insertInbound = `WITH ins AS (
	INSERT INTO inbound_events (id, store_id, platform, event_id, event_type, checksum, headers, payload, payload_ref,
		payload_size, authenticated, normalized, normalize_error, received_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, ''), $10, $11, $12, nullif($13, ''), $14)
	ON CONFLICT (platform, store_id, event_id) DO NOTHING
	RETURNING id, received_at),
unpublished AS (
	INSERT INTO inbound_unpublished (id, received_at) SELECT id, received_at FROM ins)
SELECT id::text, true FROM ins
UNION ALL
SELECT id::text, false FROM inbound_events
WHERE platform = $3 AND store_id = $2 AND event_id = $4 AND NOT EXISTS (SELECT 1 FROM ins)`

// commit writes a batch: one transaction per tenant in it.
func (w *writer) commit(ctx context.Context, batch []writeReq) {
	byTenant := make(map[string][]writeReq, 1)
	for _, req := range batch {
		byTenant[req.row.tenant] = append(byTenant[req.row.tenant], req)
	}
	for tenant, reqs := range byTenant {
		start := time.Now()
		results := make([]writeResult, len(reqs))
		// One round trip: the tenant, every row, and the commit when the batch ends.
		err := w.db.TenantBatch(context.WithoutCancel(ctx), tenant, func(b *pgx.Batch) {
			for _, req := range reqs {
				r := req.row
				var normalized any
				if r.normalized != nil {
					normalized = r.normalized
				}
				b.Queue(insertInbound, r.id, r.storeID, r.platform, r.eventID, r.eventType, r.checksum, r.headers,
					r.payload, r.payloadRef, r.size, r.authenticated, normalized, r.normalizeError, r.receivedAt)
			}
		}, func(br pgx.BatchResults) error {
			for i := range reqs {
				var id string
				var inserted bool
				err := br.QueryRow().Scan(&id, &inserted)
				switch {
				case errors.Is(err, pgx.ErrNoRows):
					// A concurrent transaction committed the same event meanwhile.
					results[i] = writeResult{duplicate: true}
				case err != nil:
					return err
				default:
					results[i] = writeResult{id: id, duplicate: !inserted}
				}
			}
			return nil
		})
		w.commitDur.Observe(time.Since(start).Seconds())
		w.batchSize.Observe(float64(len(reqs)))
		if err != nil {
			w.failures.Inc()
			w.log.Error().Err(err).Str("tenant", tenant).Int("webhooks", len(reqs)).Msg("ingest commit failed: answering 503")
			for _, req := range reqs {
				req.done <- writeResult{err: err}
			}
			continue
		}
		for i, req := range reqs {
			if results[i].duplicate && results[i].id == "" {
				results[i].id = w.existingID(ctx, req.row)
			}
			if !results[i].duplicate {
				w.published(req.row)
			}
			req.done <- results[i]
		}
	}
}

// existingID finds the id of the stored event a duplicate refers to. It is needed only when
// the original committed concurrently, after this batch's statement took its snapshot.
func (w *writer) existingID(ctx context.Context, r *row) string {
	var id string
	err := w.db.WithTenantTx(context.WithoutCancel(ctx), r.tenant, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id::text FROM inbound_events WHERE platform = $1 AND store_id = $2 AND event_id = $3`,
			r.platform, r.storeID, r.eventID).Scan(&id)
	})
	if err != nil {
		w.log.Warn().Err(err).Msg("duplicate webhook: original id not found")
	}
	return id
}
