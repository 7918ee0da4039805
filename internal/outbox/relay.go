package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
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

// Partitions is the number of outbox partitions: migration 000003 computes outbox.partition
// as abs(hashtext(aggregate_type || ':' || aggregate_id)) % 16.
const Partitions = 16

// Channel is the PostgreSQL notification channel on which a committed outbox insert wakes
// the relays (trigger outbox_notify).
const Channel = "dispatchhub_outbox"

const (
	relayPurpose   = "outbox-relay"
	prunePurpose   = "outbox-prune"
	pruneChunk     = 5000             // rows deleted per statement
	publishTimeout = 5 * time.Second  // one wave of JetStream publishes, message by message
	markTimeout    = 10 * time.Second // the published marks
	warnEvery      = 30 * time.Second // a failure of one kind is logged at most this often
)

// Errors of the relay.
var (
	ErrInvalidConfig = errors.New("invalid outbox relay config")
	ErrRelayRunning  = errors.New("outbox relay is running already")
)

// Subject is the EVENTS subject of a tenant's event type: events.{tenant}.{EventType}.
func Subject(tenant, eventType string) string { return "events." + tenant + "." + eventType }

// RelayConfig configures a Relay. Zero values take the defaults.
type RelayConfig struct {
	Partitions    int           // must equal the migration's 16 (default 16)
	PollInterval  time.Duration // fallback when no NOTIFY arrives, and retry of free partitions (default 1s)
	BatchMax      int           // rows read per partition per round (default 500)
	Retention     time.Duration // published rows older than this are deleted (default 24h)
	PruneInterval time.Duration // how often published rows are pruned (default 1m)
}

// withDefaults fills the zero values.
func (c RelayConfig) withDefaults() RelayConfig {
	if c.Partitions == 0 {
		c.Partitions = Partitions
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.BatchMax == 0 {
		c.BatchMax = 500
	}
	if c.Retention == 0 {
		c.Retention = 24 * time.Hour
	}
	if c.PruneInterval == 0 {
		c.PruneInterval = time.Minute
	}
	return c
}

// Validate checks c as NewRelay would use it (zero values are the defaults). Its errors wrap
// ErrInvalidConfig and name the field and the allowed values.
func (c RelayConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field, allowed string, got any) {
		errs = append(errs, fmt.Errorf("%w: %s: must be %s, got %v", ErrInvalidConfig, field, allowed, got))
	}
	if c.Partitions != Partitions {
		bad("Partitions", strconv.Itoa(Partitions)+" (the outbox.partition modulus of the migrations)", c.Partitions)
	}
	if c.PollInterval < 10*time.Millisecond || c.PollInterval > time.Hour {
		bad("PollInterval", "between 10ms and 1h0m0s", c.PollInterval)
	}
	if c.BatchMax < 1 || c.BatchMax > 10000 {
		bad("BatchMax", "between 1 and 10000", c.BatchMax)
	}
	if c.Retention < time.Second {
		bad("Retention", "at least 1s", c.Retention)
	}
	if c.PruneInterval < 10*time.Millisecond || c.PruneInterval > 24*time.Hour {
		bad("PruneInterval", "between 10ms and 24h0m0s", c.PruneInterval)
	}
	return errors.Join(errs...)
}

// Relay publishes the committed rows of the outbox to the EVENTS stream, each once and in
// order per aggregate, with Nats-Msg-Id = the event id.
//
// Rows of one aggregate share a partition, and across replicas one relay at a time holds a
// partition: a session advisory lock (LockClass, partition) on a connection the relay keeps,
// so a replica that dies frees its partitions with its session. Within a partition rows are
// published in seq order and the relay never publishes a row after an earlier one failed.
// Writers serialise the transactions of one aggregate (its row lock), so seq order is the
// aggregate's commit order. A row is marked published once JetStream acknowledged it; a
// mark lost in a crash only makes the relay publish the row again, which JetStream drops by
// Nats-Msg-Id within its duplicate window (consumers de-duplicate by id beyond it).
type Relay struct {
	db  *store.DB
	js  jetstream.JetStream
	cfg RelayConfig
	err error // the configuration's, returned by Run
	log zerolog.Logger

	running    atomic.Bool
	pruneOwner atomic.Bool // holds partition 0
	warns      warnLimiter

	published prometheus.Counter
	failures  prometheus.Counter
	lag       prometheus.Histogram
	backlog   prometheus.Gauge
	held      prometheus.Gauge
	pruned    prometheus.Counter
	batches   *prometheus.CounterVec
}

// NewRelay builds a relay; Run starts it. An invalid cfg is reported by Run. The relay keeps
// two connections of db's pool while it runs (partition locks, LISTEN) and uses a third for
// its rounds. reg receives its metrics (nil: not registered).
func NewRelay(db *store.DB, js jetstream.JetStream, cfg RelayConfig, log zerolog.Logger, reg prometheus.Registerer) *Relay {
	r := &Relay{
		db: db, js: js, cfg: cfg.withDefaults(), err: cfg.Validate(),
		log:   log.With().Str("component", "outbox-relay").Logger(),
		warns: warnLimiter{every: warnEvery},
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "outbox", Name: "published_total",
			Help: "Outbox events acknowledged by EVENTS and marked published.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "outbox", Name: "publish_failures_total",
			Help: "Outbox events whose publication failed (their partition waits for the next round).",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "outbox", Name: "lag_seconds",
			Help:    "Time from an event's occurred_at to its acknowledgement by EVENTS.",
			Buckets: metrics.LatencyBuckets,
		}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Subsystem: "outbox", Name: "backlog",
			Help: "Unpublished outbox rows the last round found in the partitions this relay holds.",
		}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Subsystem: "outbox", Name: "partitions_held",
			Help: "Outbox partitions this relay holds (of 16, across all replicas).",
		}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "outbox", Name: "pruned_total",
			Help: "Published outbox rows deleted after the retention.",
		}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "outbox", Name: "atomic_batches_total",
			Help: "Atomic batches the relay sent to EVENTS, by outcome: stored, or refused (then published message by message).",
		}, []string{"outcome"}),
	}
	if reg != nil {
		reg.MustRegister(r.published, r.failures, r.lag, r.backlog, r.held, r.pruned, r.batches)
	}
	return r
}

// Run relays until ctx ends, then releases its partitions and returns nil. It returns at
// once the configuration's error, or ErrRelayRunning when the relay runs already.
func (r *Relay) Run(ctx context.Context) error {
	if r.err != nil {
		return r.err
	}
	if !r.running.CompareAndSwap(false, true) {
		return ErrRelayRunning
	}
	defer r.running.Store(false)

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// NOTIFY wakes a round; a burst of them coalesces into one. (Re)listening wakes one too:
	// notifications sent while nobody listened are lost.
	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	wg.Go(func() { _ = r.db.Listen(ctx, Channel, func(string) { poke() }, poke) })
	wg.Go(func() { r.pruneLoop(ctx) })

	locks := store.NewPartitionLocks(r.db, LockClass, r.cfg.Partitions)
	defer func() {
		locks.Release()
		r.setHeld(nil)
	}()
	ticker := time.NewTicker(r.cfg.PollInterval)
	defer ticker.Stop()
	r.refreshLocks(ctx, locks)
	for {
		r.round(ctx, locks)
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
			if time.Since(locks.Checked()) >= r.cfg.PollInterval {
				r.refreshLocks(ctx, locks)
			}
		case <-ticker.C:
			r.refreshLocks(ctx, locks)
		}
	}
}

// refreshLocks takes free partitions and confirms the held ones (see store.PartitionLocks.Refresh).
func (r *Relay) refreshLocks(ctx context.Context, locks *store.PartitionLocks) {
	before := locks.Held()
	if err := locks.Refresh(ctx); err != nil && ctx.Err() == nil {
		r.limited(zerolog.WarnLevel, "locks").Err(err).Int("dropped", len(before)).
			Msg("outbox relay: partition locks failed; holding no partition until the lock connection is back")
	}
	if !slices.Equal(before, locks.Held()) {
		r.log.Info().Ints16("partitions", locks.Held()).Msg("outbox relay: partitions held")
	}
	r.setHeld(locks.Held())
}

func (r *Relay) setHeld(held []int16) {
	r.held.Set(float64(len(held)))
	r.pruneOwner.Store(len(held) > 0 && held[0] == 0)
}

// row is an unpublished outbox row.
type row struct {
	partition int16
	event     Event
}

// round publishes what the held partitions have unpublished, partition by partition in seq
// order, reading again the partitions that returned a full batch.
func (r *Relay) round(ctx context.Context, locks *store.PartitionLocks) {
	parts := locks.Held()
	seen := 0
	defer func() { r.backlog.Set(float64(seen)) }()
	for len(parts) > 0 && ctx.Err() == nil {
		rows, err := r.read(ctx, parts)
		if err != nil {
			if ctx.Err() == nil {
				r.limited(zerolog.WarnLevel, "read").Err(err).Msg("outbox relay: reading unpublished events failed")
			}
			return
		}
		seen += len(rows)
		if len(rows) == 0 {
			return
		}
		// Marks are written while later chunks are being published; all are committed
		// before the next read, which would otherwise find the same rows again.
		marks := r.startMarks(ctx)
		stopped, abort := r.publish(ctx, rows, marks.add)
		if n, err := marks.wait(); err != nil {
			r.limited(zerolog.WarnLevel, "mark").Err(err).Int("events", n).
				Msg("outbox relay: marking events published failed; they will be published again and de-duplicated")
			return
		}
		if abort {
			return
		}
		counts := make(map[int16]int, len(parts))
		for _, rw := range rows {
			counts[rw.partition]++
		}
		next := parts[:0:0]
		for _, p := range parts {
			if counts[p] == r.cfg.BatchMax && !stopped[p] {
				next = append(next, p)
			}
		}
		parts = next
		if len(parts) > 0 && time.Since(locks.Checked()) >= r.cfg.PollInterval {
			// A long round: make sure the partitions are still ours before going on.
			r.refreshLocks(ctx, locks)
			parts = slices.DeleteFunc(parts, func(p int16) bool { return !locks.Holds(p) })
		}
	}
}

// read returns up to BatchMax unpublished rows of each of parts, in seq order.
func (r *Relay) read(ctx context.Context, parts []int16) ([]row, error) {
	var out []row
	err := r.db.SystemBatch(ctx, relayPurpose, false, func(b *pgx.Batch) {
		b.Queue(`SELECT o.partition, o.id::text, o.tenant_id, o.event_type, o.aggregate_type, o.aggregate_id, o.version,
				o.occurred_at, o.payload, o.headers
			FROM unnest($1::int2[]) AS p(n)
			CROSS JOIN LATERAL (
				SELECT * FROM outbox WHERE partition = p.n AND published_at IS NULL ORDER BY seq LIMIT $2
			) AS o
			ORDER BY o.seq`, parts, r.cfg.BatchMax)
	}, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var rw row
			var payload, headers []byte
			e := &rw.event
			if err := rows.Scan(&rw.partition, &e.ID, &e.Tenant, &e.Type, &e.AggregateType, &e.AggregateID, &e.Version,
				&e.OccurredAt, &payload, &headers); err != nil {
				return err
			}
			e.OccurredAt = e.OccurredAt.UTC()
			e.Payload = payload
			e.Headers = decodeHeaders(headers)
			out = append(out, rw)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// decodeHeaders reads the headers column. Enqueue writes an object of strings; a value of
// another JSON type (written by hand) is kept as its JSON text rather than blocking the row.
func decodeHeaders(raw []byte) map[string]string {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil || len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		out[k] = s
	}
	return out
}

// publish sends rows to EVENTS in order: atomic batches of up to bus.AtomicBatchMax, and
// message by message when a batch is refused or a run is a single message. A partition stops
// at its first failure (stopped); a failure of the bus itself (closed, unreachable, timed
// out) stops the whole round (abort). It hands the ids JetStream acknowledged to acked, chunk
// by chunk.
func (r *Relay) publish(ctx context.Context, rows []row, acked func(ids []string)) (stopped map[int16]bool, abort bool) {
	stopped = map[int16]bool{}
	chunk := make([]*nats.Msg, 0, min(len(rows), bus.AtomicBatchMax))
	meta := make([]*row, 0, cap(chunk))
	next := 0
	for next < len(rows) && ctx.Err() == nil {
		chunk, meta = chunk[:0], meta[:0]
		for ; next < len(rows) && len(chunk) < bus.AtomicBatchMax; next++ {
			rw := &rows[next]
			if stopped[rw.partition] {
				continue
			}
			data, err := json.Marshal(rw.event)
			if err != nil { // cannot happen with what PostgreSQL returns; never skip a row
				stopped[rw.partition] = true
				r.failures.Inc()
				r.limited(zerolog.ErrorLevel, "encode").Err(err).Str("id", rw.event.ID).
					Msg("outbox relay: event cannot be encoded; its partition is blocked")
				continue
			}
			if limit := r.js.Conn().MaxPayload(); limit > 0 && int64(len(data)) > limit {
				// Never sent: it would leave the server a batch that is never committed.
				stopped[rw.partition] = true
				r.failures.Inc()
				r.limited(zerolog.ErrorLevel, "refused").Str("id", rw.event.ID).Int16("partition", rw.partition).
					Int("bytes", len(data)).Int64("max_payload", limit).
					Msg("outbox relay: event larger than NATS max_payload; its partition is blocked until it is accepted")
				continue
			}
			chunk = append(chunk, &nats.Msg{
				Subject: Subject(rw.event.Tenant, rw.event.Type),
				Data:    data,
				Header:  nats.Header{jetstream.MsgIDHeader: []string{rw.event.ID}},
			})
			meta = append(meta, rw)
		}
		if len(chunk) == 0 {
			break
		}
		ids := make([]string, 0, len(chunk))
		if len(chunk) >= bus.AtomicBatchMin {
			err := bus.PublishAtomic(ctx, r.js.Conn(), chunk)
			if err == nil {
				r.batches.WithLabelValues("stored").Inc()
				now := time.Now()
				for _, rw := range meta {
					ids = append(ids, rw.event.ID)
					r.lag.Observe(now.Sub(rw.event.OccurredAt).Seconds())
				}
				acked(ids)
				continue
			}
			if ctx.Err() != nil {
				return stopped, true
			}
			r.batches.WithLabelValues("refused").Inc()
			r.log.Debug().Err(err).Int("messages", len(chunk)).Msg("outbox relay: atomic batch refused; publishing one by one")
		}
		// Message by message: a later row of a partition is sent only once the earlier ones
		// are stored.
		abort = r.publishEach(ctx, chunk, meta, stopped, &ids)
		if len(ids) > 0 {
			acked(ids)
		}
		if abort {
			return stopped, true
		}
	}
	return stopped, ctx.Err() != nil
}

// publishEach publishes chunk message by message, skipping the partitions stopped, and
// appends the acknowledged ids to ids. It reports whether the bus failed (abort the round).
//
// A partition's rows go one after the other: a later row is sent only once the earlier one is
// stored, so that a failure never leaves a later event of an aggregate on EVENTS before an
// earlier one. Different partitions do not wait for each other: the chunk goes in waves, the
// first row of every partition at once, then the second of each, and so on, each wave
// published asynchronously and awaited as a whole. A round of a few events from as many
// orders costs one round trip to JetStream instead of one per event.
func (r *Relay) publishEach(ctx context.Context, chunk []*nats.Msg, meta []*row, stopped map[int16]bool, ids *[]string) bool {
	var waves [][]int // indexes into chunk
	depth := make(map[int16]int, len(chunk))
	for i, rw := range meta {
		k := depth[rw.partition]
		depth[rw.partition]++
		if k == len(waves) {
			waves = append(waves, nil)
		}
		waves[k] = append(waves[k], i)
	}
	abort := false
	sent := make([]jetstream.PubAckFuture, 0, len(chunk))
	for _, wave := range waves {
		sent = sent[:0]
		sentIdx := make([]int, 0, len(wave))
		for _, i := range wave {
			rw := meta[i]
			if stopped[rw.partition] {
				continue
			}
			bus.ClearBatchHeaders(chunk[i])
			f, err := r.js.PublishMsgAsync(chunk[i])
			if err != nil {
				stopped[rw.partition] = true
				abort = abort || r.publishFailed(ctx, rw, err)
				continue
			}
			sent, sentIdx = append(sent, f), append(sentIdx, i)
		}
		timeout := time.NewTimer(publishTimeout)
		for j, f := range sent {
			rw := meta[sentIdx[j]]
			select {
			case <-f.Ok():
				*ids = append(*ids, rw.event.ID)
				r.lag.Observe(time.Since(rw.event.OccurredAt).Seconds())
			case err := <-f.Err():
				stopped[rw.partition] = true
				abort = abort || r.publishFailed(ctx, rw, err)
			case <-timeout.C:
				// Not acknowledged in time: the bus is stuck. What was stored is published
				// again next round and dropped as a duplicate.
				timeout.Reset(0)
				stopped[rw.partition] = true
				abort = abort || r.publishFailed(ctx, rw, context.DeadlineExceeded)
			case <-ctx.Done():
				timeout.Stop()
				return true
			}
		}
		timeout.Stop()
		if abort {
			return true
		}
	}
	return false
}

// publishFailed accounts for a failed publish of rw and reports whether it is a failure of the
// bus (abort the round) rather than of the message (its partition stays blocked).
func (r *Relay) publishFailed(ctx context.Context, rw *row, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	r.failures.Inc()
	if messageRefused(err) {
		r.limited(zerolog.ErrorLevel, "refused").Err(err).Str("id", rw.event.ID).Int16("partition", rw.partition).
			Msg("outbox relay: EVENTS refuses the event; its partition is blocked until it is accepted")
		return false
	}
	r.limited(zerolog.WarnLevel, "publish").Err(err).
		Msg("outbox relay: publishing to EVENTS failed; retrying in the next round")
	return true
}

// messageRefused reports whether err concerns the message itself (too large, refused by the
// stream) rather than the bus being unavailable.
func messageRefused(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, nats.ErrMaxPayload) || errors.As(err, &apiErr)
}

// marks writes the published marks of one round on its own goroutine, coalescing the chunks
// that queue up while a mark is being written.
type marks struct {
	queue chan []string
	done  chan struct{}
	n     int   // ids handed in
	err   error // the first failure; later chunks are dropped (published again next round)
}

func (r *Relay) startMarks(ctx context.Context) *marks {
	m := &marks{queue: make(chan []string, 64), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ids := range m.queue {
		more:
			for {
				select {
				case next, ok := <-m.queue:
					if !ok {
						break more
					}
					ids = append(ids, next...)
				default:
					break more
				}
			}
			if m.err == nil {
				m.err = r.mark(ctx, ids)
			}
		}
	}()
	return m
}

// add queues ids to be marked. Only the publishing goroutine calls it.
func (m *marks) add(ids []string) {
	m.n += len(ids)
	m.queue <- ids
}

// wait returns once every mark is written, with how many ids were handed in and the first error.
func (m *marks) wait() (int, error) {
	close(m.queue)
	<-m.done
	return m.n, m.err
}

// mark sets published_at on the acknowledged rows, committed asynchronously: a mark lost in a
// crash only makes the relay publish the event again, and JetStream drops the copy.
func (r *Relay) mark(ctx context.Context, ids []string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	err := r.db.SystemBatch(ctx, relayPurpose, true, func(b *pgx.Batch) {
		b.Queue(`UPDATE outbox SET published_at = now() WHERE id = ANY($1::uuid[]) AND published_at IS NULL`, ids)
	}, func(br pgx.BatchResults) error {
		_, err := br.Exec()
		return err
	})
	if err != nil {
		return fmt.Errorf("mark published: %w", err)
	}
	r.published.Add(float64(len(ids)))
	return nil
}

// pruneLoop deletes old published rows every PruneInterval while this relay holds partition 0.
func (r *Relay) pruneLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for r.pruneOwner.Load() && ctx.Err() == nil {
			n, err := r.pruneChunk(ctx)
			if err != nil {
				if ctx.Err() == nil {
					r.limited(zerolog.WarnLevel, "prune").Err(err).Msg("outbox relay: pruning published events failed")
				}
				break
			}
			r.pruned.Add(float64(n))
			if n < pruneChunk {
				break
			}
		}
	}
}

// pruneChunk deletes up to pruneChunk rows published before now - Retention. The delete is
// committed asynchronously: one lost in a crash is done again next time.
func (r *Relay) pruneChunk(ctx context.Context) (int64, error) {
	var n int64
	err := r.db.SystemBatch(ctx, prunePurpose, true, func(b *pgx.Batch) {
		b.Queue(`DELETE FROM outbox WHERE seq IN (
				SELECT seq FROM outbox WHERE published_at < now() - make_interval(secs => $1) LIMIT $2)`,
			r.cfg.Retention.Seconds(), pruneChunk)
	}, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune outbox: %w", err)
	}
	return n, nil
}

// limited returns a log event of kind at level, or nil (zerolog's no-op) when one of that
// kind was logged less than warnEvery ago; the next one carries how many were suppressed.
func (r *Relay) limited(level zerolog.Level, kind string) *zerolog.Event {
	ok, suppressed := r.warns.allow(kind, time.Now())
	if !ok {
		return nil
	}
	e := r.log.WithLevel(level).Str("kind", kind)
	if suppressed > 0 {
		e = e.Int("suppressed", suppressed)
	}
	return e
}

// warnLimiter lets one log line per kind through every `every`.
type warnLimiter struct {
	every time.Duration

	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

func (w *warnLimiter) allow(kind string, now time.Time) (bool, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		w.last, w.suppressed = map[string]time.Time{}, map[string]int{}
	}
	if last, ok := w.last[kind]; ok && now.Sub(last) < w.every {
		w.suppressed[kind]++
		return false, 0
	}
	n := w.suppressed[kind]
	w.last[kind], w.suppressed[kind] = now, 0
	return true, n
}
