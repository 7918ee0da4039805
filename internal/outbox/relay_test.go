package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/outbox"
	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const tenant = "acme"

// fixture: a migrated database with tenant acme, a pool of the service role and a bus.
type fixture struct {
	t    testing.TB
	info testenv.Database
	db   *store.DB
	bus  *bus.Bus
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	info := testenv.NewDatabase(t, true)
	f := &fixture{t: t, info: info, db: openDB(t, info.AppURL), bus: startBus(t)}
	_, err := f.db.CreateTenant(context.Background(), tenant, "Acme")
	require.NoError(t, err)
	return f
}

func openDB(t testing.TB, url string) *store.DB {
	t.Helper()
	db, err := store.Open(store.Config{URL: url, MaxConns: 8})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	return db
}

func startBus(t testing.TB) *bus.Bus {
	t.Helper()
	b, err := bus.Start(context.Background(), bus.Config{Host: "127.0.0.1", Port: 0, StoreDir: t.TempDir(), MaxStore: 1 << 28, Replicas: 1,
		DuplicateWindow: time.Minute, IngestMaxAge: time.Hour, EventsMaxAge: time.Hour, OutboundMaxAge: time.Hour}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return b
}

// ownJetStream is a second client connection to the bus's server, as another replica has.
func ownJetStream(t testing.TB, b *bus.Bus) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect("", nats.InProcessServer(b.Embedded()))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// relayRun is a running relay with its own metrics registry.
type relayRun struct {
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startRelay(t testing.TB, db *store.DB, js jetstream.JetStream, cfg outbox.RelayConfig) *relayRun {
	t.Helper()
	reg := prometheus.NewRegistry()
	r := outbox.NewRelay(db, js, cfg, zerolog.Nop(), reg)
	ctx, cancel := context.WithCancel(context.Background())
	run := &relayRun{reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- r.Run(ctx) }()
	t.Cleanup(func() { run.stop(t) })
	return run
}

// stop cancels the relay and waits for Run to return nil.
func (r *relayRun) stop(t testing.TB) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			assert.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Errorf("relay did not stop")
		}
	})
}

// metric reads dispatchhub_outbox_<name> (a counter or gauge; labels as name=value pairs).
func (r *relayRun) metric(name string, labels ...string) float64 {
	mfs, err := r.reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "dispatchhub_outbox_"+name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
				}
				if !found {
					continue next
				}
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func (r *relayRun) held() float64 { return r.metric("partitions_held") }

// enqueue writes evs in one tenant transaction and returns them as stored.
func (f *fixture) enqueue(evs ...outbox.Event) []outbox.Event {
	f.t.Helper()
	ctx := context.Background()
	out := make([]outbox.Event, 0, len(evs))
	require.NoError(f.t, f.db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		for _, e := range evs {
			stored, err := outbox.Enqueue(ctx, tx, e)
			if err != nil {
				return err
			}
			out = append(out, stored)
		}
		return nil
	}))
	return out
}

// enqueueSpread enqueues n events over aggregates order-0 .. order-(aggregates-1), perTx per
// transaction, with versions counting per aggregate from 1.
func (f *fixture) enqueueSpread(n, aggregates, perTx int) []outbox.Event {
	f.t.Helper()
	var all []outbox.Event
	version := map[string]int64{}
	var batch []outbox.Event
	for i := range n {
		agg := fmt.Sprintf("order-%d", i%aggregates)
		version[agg]++
		batch = append(batch, outbox.Event{Type: "OrderUpdated", AggregateType: "order", AggregateID: agg, Version: version[agg],
			Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))})
		if len(batch) == perTx || i == n-1 {
			all = append(all, f.enqueue(batch...)...)
			batch = nil
		}
	}
	return all
}

func (f *fixture) count(where string) int {
	f.t.Helper()
	var n int
	require.NoError(f.t, f.db.WithTenantTx(context.Background(), tenant, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE `+where).Scan(&n)
	}))
	return n
}

func (f *fixture) unpublished() int { return f.count("published_at IS NULL") }

// owner connects as the schema owner (test-only setup), bound to tenant acme.
func (f *fixture) owner() *pgx.Conn {
	f.t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, f.info.OwnerURL)
	require.NoError(f.t, err)
	f.t.Cleanup(func() { _ = c.Close(context.Background()) })
	_, err = c.Exec(ctx, `SELECT set_config('app.tenant_id', $1, false)`, tenant)
	require.NoError(f.t, err)
	return c
}

func streamCount(t testing.TB, js jetstream.JetStream) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), bus.StreamEvents)
	require.NoError(t, err)
	info, err := st.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

func streamMsgs(t testing.TB, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, bus.StreamEvents)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

// assertStream checks that the stream holds exactly the events of want, each once, with
// Nats-Msg-Id = its id, on events.{tenant}.{type}, and per aggregate in seq order.
func (f *fixture) assertStream(js jetstream.JetStream, want []outbox.Event) {
	f.t.Helper()
	t := f.t
	msgs := streamMsgs(t, js)
	require.Len(t, msgs, len(want), "each event once on EVENTS")
	seen := map[string]int{}
	gotOrder := map[string][]string{}
	for _, m := range msgs {
		var e outbox.Event
		require.NoError(t, json.Unmarshal(m.Data, &e))
		id := m.Header.Get(jetstream.MsgIDHeader)
		assert.Equal(t, e.ID, id, "Nats-Msg-Id is the event id")
		assert.Equal(t, "events."+e.Tenant+"."+e.Type, m.Subject)
		seen[id]++
		key := e.AggregateType + ":" + e.AggregateID
		gotOrder[key] = append(gotOrder[key], e.ID)
	}
	for _, e := range want {
		assert.Equal(t, 1, seen[e.ID], "event %s on the stream once", e.ID)
	}
	// The order PostgreSQL assigned.
	wantOrder := map[string][]string{}
	ids := make([]string, len(want))
	for i, e := range want {
		ids[i] = e.ID
	}
	require.NoError(t, f.db.WithTenantTx(context.Background(), tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT aggregate_type || ':' || aggregate_id, id::text FROM outbox
			WHERE id = ANY($1::uuid[]) ORDER BY seq`, ids)
		if err != nil {
			return err
		}
		for rows.Next() {
			var key, id string
			if err := rows.Scan(&key, &id); err != nil {
				return err
			}
			wantOrder[key] = append(wantOrder[key], id)
		}
		return rows.Err()
	}))
	for key, order := range wantOrder {
		assert.Equal(t, order, gotOrder[key], "aggregate %s in seq order", key)
	}
}

func fast(cfg outbox.RelayConfig) outbox.RelayConfig {
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	return cfg
}

func TestRelayPublishesOnNotify(t *testing.T) {
	f := newFixture(t)
	js := f.bus.JetStream()
	// An hour between polls: only NOTIFY can wake the relay within the test.
	run := startRelay(t, f.db, js, outbox.RelayConfig{PollInterval: time.Hour})
	testenv.Eventually(t, 10*time.Second, func() bool { return run.held() == 16 }, "the only relay holds every partition")

	at := time.Now().UTC().Truncate(time.Microsecond)
	var want []outbox.Event
	want = append(want, f.enqueue(outbox.Event{Type: "OrderCreated", AggregateType: "order", AggregateID: "o-1", Version: 1,
		OccurredAt: at, Payload: json.RawMessage(`{"total": 12.5, "items": [1, 2]}`), Headers: map[string]string{"traceparent": "00-abc-def-01"}})...)
	want = append(want, f.enqueue(outbox.Event{Type: "DriverOnline", AggregateType: "driver", AggregateID: "d-7", Version: 3, OccurredAt: at})...)
	testenv.Eventually(t, 10*time.Second, func() bool { return streamCount(t, js) == 2 }, "two events on EVENTS")
	want = append(want, f.enqueue(outbox.Event{Type: "OrderCancelled", AggregateType: "order", AggregateID: "o-1", Version: 2, OccurredAt: at})...)
	testenv.Eventually(t, 10*time.Second, func() bool { return streamCount(t, js) == 3 }, "a later event wakes the relay again")
	testenv.Eventually(t, 10*time.Second, func() bool { return f.unpublished() == 0 }, "rows marked published")
	assert.Equal(t, 3.0, run.metric("published_total"))
	assert.Zero(t, run.metric("publish_failures_total"))

	f.assertStream(js, want)
	msgs := streamMsgs(t, js)
	byID := map[string]*jetstream.RawStreamMsg{}
	for _, m := range msgs {
		byID[m.Header.Get(jetstream.MsgIDHeader)] = m
	}
	m := byID[want[0].ID]
	require.NotNil(t, m)
	assert.Equal(t, "events.acme.OrderCreated", m.Subject)
	var body map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(m.Data, &body))
	for _, k := range []string{"id", "tenant", "type", "aggregate_type", "aggregate_id", "version", "occurred_at", "payload", "headers"} {
		assert.Contains(t, body, k)
	}
	var got outbox.Event
	require.NoError(t, json.Unmarshal(m.Data, &got))
	assert.Equal(t, want[0].ID, got.ID)
	assert.Equal(t, "acme", got.Tenant)
	assert.Equal(t, "OrderCreated", got.Type)
	assert.Equal(t, "order", got.AggregateType)
	assert.Equal(t, "o-1", got.AggregateID)
	assert.Equal(t, int64(1), got.Version)
	assert.True(t, at.Equal(got.OccurredAt), "occurred_at %s, want %s", got.OccurredAt, at)
	assert.JSONEq(t, `{"total": 12.5, "items": [1, 2]}`, string(got.Payload))
	assert.Equal(t, map[string]string{"traceparent": "00-abc-def-01"}, got.Headers)
	assert.Equal(t, "events.acme.DriverOnline", byID[want[1].ID].Subject)
	assert.Equal(t, "events.acme.OrderCancelled", byID[want[2].ID].Subject)
	assert.Equal(t, 3.0, run.metric("published_total"), "nothing published twice")
}

func TestRelayKeepsOrderPerAggregate(t *testing.T) {
	f := newFixture(t)
	js := f.bus.JetStream()
	// Small reads: a round loops over full batches many times.
	run := startRelay(t, f.db, js, fast(outbox.RelayConfig{BatchMax: 7}))
	testenv.Eventually(t, 10*time.Second, func() bool { return run.held() == 16 }, "partitions held")

	want := f.enqueueSpread(300, 5, 12)
	testenv.Eventually(t, 20*time.Second, func() bool { return streamCount(t, js) == 300 }, "300 events on EVENTS")
	testenv.Eventually(t, 10*time.Second, func() bool { return f.unpublished() == 0 }, "all marked")
	f.assertStream(js, want)

	// Versions, too, come in order per aggregate.
	last := map[string]int64{}
	for _, m := range streamMsgs(t, js) {
		var e outbox.Event
		require.NoError(t, json.Unmarshal(m.Data, &e))
		assert.Equal(t, last[e.AggregateID]+1, e.Version, "aggregate %s", e.AggregateID)
		last[e.AggregateID] = e.Version
	}
}

func TestRelayPublishesBacklogInAtomicBatches(t *testing.T) {
	f := newFixture(t)
	js := f.bus.JetStream()
	want := f.enqueueSpread(1200, 40, 100)
	require.Equal(t, 1200, f.unpublished())

	run := startRelay(t, f.db, js, fast(outbox.RelayConfig{}))
	testenv.Eventually(t, 20*time.Second, func() bool { return f.unpublished() == 0 }, "the backlog is published")
	assert.Equal(t, uint64(1200), streamCount(t, js))
	f.assertStream(js, want)
	assert.Equal(t, 1200.0, run.metric("published_total"))
	assert.GreaterOrEqual(t, run.metric("atomic_batches_total", "outcome", "stored"), 3.0, "atomic batches of up to 500")
	assert.Zero(t, run.metric("atomic_batches_total", "outcome", "refused"))
	assert.Zero(t, run.metric("publish_failures_total"))
}

func TestRelayRepublishesWithoutDuplicatesWhenMarksAreLost(t *testing.T) {
	f := newFixture(t)
	js := f.bus.JetStream()
	want := f.enqueueSpread(120, 6, 40)
	run := startRelay(t, f.db, js, fast(outbox.RelayConfig{}))
	testenv.Eventually(t, 10*time.Second, func() bool { return f.unpublished() == 0 }, "published")
	run.stop(t)

	// A crash lost the last marks: the rows are unpublished again, the stream has them.
	_, err := f.owner().Exec(context.Background(), `UPDATE outbox SET published_at = NULL`)
	require.NoError(t, err)
	more := f.enqueueSpread(30, 3, 30)
	run = startRelay(t, f.db, js, fast(outbox.RelayConfig{}))
	testenv.Eventually(t, 10*time.Second, func() bool { return f.unpublished() == 0 }, "re-published")
	f.assertStream(js, append(want, more...))
	assert.Equal(t, 150.0, run.metric("published_total"))
	assert.Positive(t, run.metric("atomic_batches_total", "outcome", "refused"), "a batch with copies is refused, then sent one by one")
}

func TestTwoRelaysShareThePartitions(t *testing.T) {
	f := newFixture(t)
	js := f.bus.JetStream()
	ctx := context.Background()
	// Another session holds partitions 0-7 while a starts; a polls for free partitions only
	// hourly, so b, started once they are free, gets them: an even split, every time.
	holder, err := openDB(t, f.info.AppURL).AdvisoryLocks(ctx)
	require.NoError(t, err)
	held, err := holder.TryLock(ctx, outbox.LockClass, []int32{0, 1, 2, 3, 4, 5, 6, 7})
	require.NoError(t, err)
	require.Len(t, held, 8)
	a := startRelay(t, f.db, js, outbox.RelayConfig{PollInterval: time.Hour})
	testenv.Eventually(t, 10*time.Second, func() bool { return a.held() == 8 }, "a holds the free half")
	holder.Close()
	b := startRelay(t, openDB(t, f.info.AppURL), ownJetStream(t, f.bus), fast(outbox.RelayConfig{}))
	testenv.Eventually(t, 10*time.Second, func() bool { return b.held() == 8 }, "b holds the other half")

	var want []outbox.Event
	for range 4 {
		want = append(want, f.enqueueSpread(100, 40, 20)...)
	}
	testenv.Eventually(t, 20*time.Second, func() bool { return f.unpublished() == 0 }, "all published")
	testenv.Eventually(t, 10*time.Second, func() bool { return a.metric("published_total")+b.metric("published_total") == 400 },
		"every event published once")
	f.assertStream(js, want)
	assert.Positive(t, a.metric("published_total"))
	assert.Positive(t, b.metric("published_total"))
	assert.Equal(t, 16.0, a.held()+b.held(), "no partition held twice")
}

func TestTwoRelaysStartedTogether(t *testing.T) {
	f := newFixture(t)
	js := f.bus.JetStream()
	a := startRelay(t, f.db, js, fast(outbox.RelayConfig{}))
	b := startRelay(t, openDB(t, f.info.AppURL), ownJetStream(t, f.bus), fast(outbox.RelayConfig{}))
	testenv.Eventually(t, 10*time.Second, func() bool { return a.held()+b.held() == 16 }, "16 partitions held between them")
	want := f.enqueueSpread(200, 40, 20)
	testenv.Eventually(t, 20*time.Second, func() bool { return a.metric("published_total")+b.metric("published_total") == 200 },
		"every event published once")
	f.assertStream(js, want)
	assert.Equal(t, 16.0, a.held()+b.held(), "no partition held twice")
	t.Logf("partitions held: a=%v b=%v", a.held(), b.held())
}

func TestRelayFailover(t *testing.T) {
	f := newFixture(t)
	js := f.bus.JetStream()
	a := startRelay(t, f.db, js, fast(outbox.RelayConfig{}))
	testenv.Eventually(t, 10*time.Second, func() bool { return a.held() == 16 }, "a holds every partition")
	b := startRelay(t, openDB(t, f.info.AppURL), ownJetStream(t, f.bus), fast(outbox.RelayConfig{}))

	want := f.enqueueSpread(50, 10, 10)
	testenv.Eventually(t, 10*time.Second, func() bool { return f.unpublished() == 0 }, "a publishes")
	assert.Equal(t, 50.0, a.metric("published_total"))
	assert.Zero(t, b.held())
	assert.Zero(t, b.metric("published_total"))

	a.stop(t)
	assert.Zero(t, a.held(), "a stopped holds nothing")
	testenv.Eventually(t, 10*time.Second, func() bool { return b.held() == 16 }, "b takes a's partitions")
	want = append(want, f.enqueueSpread(50, 10, 10)...)
	testenv.Eventually(t, 10*time.Second, func() bool { return f.unpublished() == 0 }, "b publishes")
	assert.Equal(t, 50.0, b.metric("published_total"))
	f.assertStream(js, want)
}

func TestRelayDropsPartitionsWhenItsLockConnectionBreaks(t *testing.T) {
	f := newFixture(t)
	js := f.bus.JetStream()
	proxy := testenv.NewProxy(t, testenv.PostgresAddr())
	viaProxy := openDB(t, testenv.WithHost(f.info.AppURL, proxy.Addr()))
	a := startRelay(t, viaProxy, js, fast(outbox.RelayConfig{}))
	testenv.Eventually(t, 10*time.Second, func() bool { return a.held() == 16 }, "a holds every partition")
	b := startRelay(t, f.db, ownJetStream(t, f.bus), fast(outbox.RelayConfig{}))

	proxy.Stop() // a is cut off from PostgreSQL: its sessions end, and their locks
	testenv.Eventually(t, 15*time.Second, func() bool { return a.held() == 0 }, "a drops its partitions")
	testenv.Eventually(t, 15*time.Second, func() bool { return b.held() == 16 }, "b takes them")
	want := f.enqueueSpread(60, 12, 20)
	testenv.Eventually(t, 10*time.Second, func() bool { return f.unpublished() == 0 }, "b publishes")

	proxy.Start() // a is back, finds every partition taken
	want = append(want, f.enqueueSpread(60, 12, 20)...)
	testenv.Eventually(t, 10*time.Second, func() bool { return f.unpublished() == 0 }, "published")
	testenv.Eventually(t, 10*time.Second, func() bool { return b.metric("published_total") == 120 }, "by b")
	assert.Zero(t, a.held())
	f.assertStream(js, want)
}

func TestRelayLeavesRowsUnpublishedWhileNATSIsDown(t *testing.T) {
	f := newFixture(t)
	first := f.bus
	run := startRelay(t, f.db, first.JetStream(), fast(outbox.RelayConfig{}))
	testenv.Eventually(t, 10*time.Second, func() bool { return run.held() == 16 }, "partitions held")

	first.Close() // the relay's connection is closed for good
	want := f.enqueueSpread(20, 4, 10)
	testenv.Eventually(t, 10*time.Second, func() bool { return run.metric("publish_failures_total") >= 2 }, "publishing fails, and is retried")
	assert.Equal(t, 20, f.unpublished(), "nothing marked")
	assert.Zero(t, run.metric("published_total"))
	run.stop(t)

	second := startBus(t)
	run = startRelay(t, f.db, second.JetStream(), fast(outbox.RelayConfig{}))
	testenv.Eventually(t, 10*time.Second, func() bool { return f.unpublished() == 0 }, "published on the new bus")
	f.assertStream(second.JetStream(), want)
	assert.Equal(t, 20.0, run.metric("published_total"))
}

func TestRelayRetriesWhileTheStreamIsMissing(t *testing.T) {
	f := newFixture(t)
	js := f.bus.JetStream()
	ctx := context.Background()
	require.NoError(t, js.DeleteStream(ctx, bus.StreamEvents))
	run := startRelay(t, f.db, js, fast(outbox.RelayConfig{}))
	want := f.enqueueSpread(30, 3, 10)
	testenv.Eventually(t, 10*time.Second, func() bool { return run.metric("publish_failures_total") >= 1 }, "no stream, no publication")
	assert.Equal(t, 30, f.unpublished())

	require.NoError(t, f.bus.EnsureStreams(ctx))
	testenv.Eventually(t, 15*time.Second, func() bool { return f.unpublished() == 0 }, "the same relay publishes once the stream is back")
	f.assertStream(js, want)
}

// partitionOf is the outbox partition of an order, as the migration computes it.
func (f *fixture) partitionOf(aggregateID string) int {
	f.t.Helper()
	var p int
	require.NoError(f.t, f.db.WithTenantTx(context.Background(), tenant, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT abs(hashtext('order:' || $1)) % 16`, aggregateID).Scan(&p)
	}))
	return p
}

func TestRelayBlocksOnlyThePartitionOfAnEventItCannotPublish(t *testing.T) {
	f := newFixture(t)
	js := f.bus.JetStream()
	blocked := "o-big"
	other := ""
	for i := 0; other == ""; i++ {
		if id := fmt.Sprintf("o-%d", i); f.partitionOf(id) != f.partitionOf(blocked) {
			other = id
		}
	}
	big := json.RawMessage(`{"blob":"` + strings.Repeat("x", 2<<20) + `"}`) // over NATS max_payload
	stuck := f.enqueue(
		outbox.Event{Type: "OrderCreated", AggregateType: "order", AggregateID: blocked, Version: 1, Payload: big},
		outbox.Event{Type: "OrderUpdated", AggregateType: "order", AggregateID: blocked, Version: 2},
	)
	ok := f.enqueue(
		outbox.Event{Type: "OrderCreated", AggregateType: "order", AggregateID: other, Version: 1},
		outbox.Event{Type: "OrderUpdated", AggregateType: "order", AggregateID: other, Version: 2},
	)
	run := startRelay(t, f.db, js, fast(outbox.RelayConfig{}))
	testenv.Eventually(t, 10*time.Second, func() bool { return f.count("aggregate_id = '"+other+"' AND published_at IS NOT NULL") == 2 },
		"the other partition goes on")
	testenv.Eventually(t, 10*time.Second, func() bool { return run.metric("publish_failures_total") >= 2 }, "the blocked one is retried")
	assert.Equal(t, 2, f.count("aggregate_id = '"+blocked+"' AND published_at IS NULL"), "nothing after the failed event is published")
	f.assertStream(js, ok)
	assert.Zero(t, run.metric("atomic_batches_total", "outcome", "refused"), "the oversized event is never sent")
	assert.Equal(t, 2, f.count("id IN ('"+stuck[0].ID+"', '"+stuck[1].ID+"') AND published_at IS NULL"))
}

func TestRelayPrunesOnlyOldPublishedRows(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	owner := f.owner()
	// 6,000 rows published long ago: more than one delete statement.
	_, err := owner.Exec(ctx, `INSERT INTO outbox (id, event_type, aggregate_type, aggregate_id, payload, published_at)
		SELECT gen_random_uuid(), 'OrderCreated', 'order', 'bulk-' || g, '{}', now() - interval '3 hours'
		FROM generate_series(1, 6000) AS g`)
	require.NoError(t, err)
	evs := f.enqueueSpread(3, 3, 3)
	_, err = owner.Exec(ctx, `UPDATE outbox SET published_at = now() - interval '2 hours' WHERE id = $1`, evs[0].ID)
	require.NoError(t, err)
	_, err = owner.Exec(ctx, `UPDATE outbox SET published_at = now() - interval '30 minutes' WHERE id = $1`, evs[1].ID)
	require.NoError(t, err)
	// evs[2] stays unpublished: the relays' bus is down, so nothing else gets published.
	dead := startBus(t)
	dead.Close()

	cfg := fast(outbox.RelayConfig{Retention: time.Hour, PruneInterval: 50 * time.Millisecond})
	a := startRelay(t, f.db, dead.JetStream(), cfg)
	testenv.Eventually(t, 10*time.Second, func() bool { return a.held() == 16 }, "a holds partition 0")
	b := startRelay(t, openDB(t, f.info.AppURL), dead.JetStream(), cfg)
	testenv.Eventually(t, 15*time.Second, func() bool { return a.metric("pruned_total") == 6001 }, "old published rows pruned")

	var left []string
	rows, err := owner.Query(ctx, `SELECT id::text FROM outbox ORDER BY seq`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		left = append(left, id)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{evs[1].ID, evs[2].ID}, left, "recent published and unpublished rows stay")
	assert.Zero(t, b.metric("pruned_total"), "only the holder of partition 0 prunes")
	assert.Equal(t, 1, f.unpublished())
}

func TestRelayConfig(t *testing.T) {
	require.NoError(t, outbox.RelayConfig{}.Validate(), "zero values are the defaults")
	require.NoError(t, outbox.RelayConfig{Partitions: 16, PollInterval: 10 * time.Millisecond, BatchMax: 10000,
		Retention: time.Second, PruneInterval: 24 * time.Hour}.Validate())
	for _, tc := range []struct {
		cfg  outbox.RelayConfig
		want string
	}{
		{outbox.RelayConfig{Partitions: 8}, "Partitions: must be 16"},
		{outbox.RelayConfig{Partitions: -16}, "Partitions: must be 16"},
		{outbox.RelayConfig{PollInterval: time.Millisecond}, "PollInterval: must be between 10ms and 1h0m0s, got 1ms"},
		{outbox.RelayConfig{PollInterval: -time.Second}, "PollInterval: must be between"},
		{outbox.RelayConfig{BatchMax: -1}, "BatchMax: must be between 1 and 10000, got -1"},
		{outbox.RelayConfig{BatchMax: 10001}, "BatchMax: must be between 1 and 10000, got 10001"},
		{outbox.RelayConfig{Retention: -time.Hour}, "Retention: must be at least 1s, got -1h0m0s"},
		{outbox.RelayConfig{PruneInterval: -time.Minute}, "PruneInterval: must be between 10ms and 24h0m0s, got -1m0s"},
		{outbox.RelayConfig{PruneInterval: 25 * time.Hour}, "PruneInterval: must be between"},
	} {
		err := tc.cfg.Validate()
		require.ErrorIs(t, err, outbox.ErrInvalidConfig, "%+v", tc.cfg)
		assert.Contains(t, err.Error(), tc.want)
	}
	err := outbox.RelayConfig{Partitions: 8, BatchMax: -1}.Validate()
	assert.ErrorContains(t, err, "Partitions")
	assert.ErrorContains(t, err, "BatchMax", "every invalid field is named")

	// NewRelay cannot fail: Run reports the configuration's error at once.
	r := outbox.NewRelay(nil, nil, outbox.RelayConfig{Partitions: 8}, zerolog.Nop(), nil)
	assert.ErrorIs(t, r.Run(context.Background()), outbox.ErrInvalidConfig)
}

func TestRelayRunsOnce(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewRegistry()
	r := outbox.NewRelay(f.db, f.bus.JetStream(), fast(outbox.RelayConfig{}), zerolog.Nop(), reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	run := &relayRun{reg: reg}
	testenv.Eventually(t, 10*time.Second, func() bool { return run.held() == 16 }, "running")
	assert.ErrorIs(t, r.Run(context.Background()), outbox.ErrRelayRunning)
	cancel()
	require.NoError(t, <-done)
	assert.Zero(t, run.held(), "a stopped relay holds nothing")
}

// BenchmarkRelay: time for the relay to publish (and mark) a backlog of 2,000 events, against
// sequential js.Publish of the same messages (each awaiting its ack) in the same run.
func BenchmarkRelay(b *testing.B) {
	const n = 2000
	f := newFixture(b)
	js := f.bus.JetStream()
	ctx := context.Background()
	var relayTime, baseTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		evs := f.enqueueSpread(n, 200, 200)
		b.StartTimer()

		start := time.Now()
		run := startRelay(b, f.db, js, outbox.RelayConfig{})
		for run.metric("published_total") < n {
			time.Sleep(time.Millisecond)
		}
		relayTime += time.Since(start)
		b.StopTimer()
		run.stop(b)

		// Baseline: the same subjects, bodies and headers, new ids (the stream would drop copies).
		msgs := make([]*nats.Msg, len(evs))
		for j, e := range evs {
			e.ID = fmt.Sprintf("base-%d-%d", i, j)
			data, err := json.Marshal(e)
			require.NoError(b, err)
			msgs[j] = &nats.Msg{Subject: outbox.Subject(e.Tenant, e.Type), Data: data, Header: nats.Header{jetstream.MsgIDHeader: []string{e.ID}}}
		}
		start = time.Now()
		for _, m := range msgs {
			if _, err := js.PublishMsg(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		baseTime += time.Since(start)
		b.StartTimer()
	}
	relayRate := float64(n*b.N) / relayTime.Seconds()
	baseRate := float64(n*b.N) / baseTime.Seconds()
	b.ReportMetric(relayRate, "events/s")
	b.ReportMetric(baseRate, "baseline_events/s")
	b.ReportMetric(relayRate/baseRate, "x_baseline")
}
