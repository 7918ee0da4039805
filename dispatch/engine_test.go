package dispatch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/dispatch"
	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

// engineFixture is a database with tenants and an embedded NATS server, both of the test's own.
func engineFixture(t *testing.T, tenants ...string) (*store.DB, *bus.Bus) {
	t.Helper()
	info := testenv.NewDatabase(t, true)
	db, err := store.Open(store.Config{URL: info.AppURL, MaxConns: 8})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	for _, tenant := range tenants {
		_, err := db.CreateTenant(context.Background(), tenant, tenant)
		require.NoError(t, err)
	}
	b, err := bus.Start(context.Background(), bus.Config{Host: "127.0.0.1", Port: 0, StoreDir: t.TempDir(), MaxStore: 1 << 28, Replicas: 1,
		DuplicateWindow: time.Minute, IngestMaxAge: time.Hour, EventsMaxAge: time.Hour, OutboundMaxAge: time.Hour}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return db, b
}

// Two replicas share the tenants: one dispatches them all (it holds every partition), the
// other nothing; when the first stops, the second takes over and offers the order that waits.
func TestEngineOwnershipAndTakeover(t *testing.T) {
	db, b := engineFixture(t, "acme", "beta")
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)

	cfg := dispatch.EngineConfig{SweepInterval: 50 * time.Millisecond, TenantRefresh: time.Second, KeyPrefix: prefix}
	newEngine := func() *dispatch.Engine {
		e, err := dispatch.NewEngine(db, b.Conn(), rdb, cfg, zerolog.Nop(), prometheus.NewRegistry())
		require.NoError(t, err)
		return e
	}
	run := func(e *dispatch.Engine) (stop func()) {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		return func() { cancel(); require.NoError(t, <-done) }
	}

	first, second := newEngine(), newEngine()
	stopFirst := run(first)
	testenv.Eventually(t, 5*time.Second, func() bool { return len(first.Tenants()) == 2 }, "the first replica dispatches both tenants")
	stopSecond := run(second)
	defer stopSecond()
	time.Sleep(300 * time.Millisecond) // several sweeps
	assert.Empty(t, second.Tenants(), "a tenant has one dispatcher at a time")

	stopFirst()
	testenv.Eventually(t, 5*time.Second, func() bool { return len(second.Tenants()) == 2 }, "the second replica takes over")

	// The new owner dispatches: an online driver with a fix near a waiting order gets the offer.
	require.NoError(t, db.WithTenantTx(ctx, "acme", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO drivers (id) VALUES ('d1')`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO orders (source, external_ref, pickup_lat, pickup_lng) VALUES ('api', 'o1', 38.72, -9.14)`)
		return err
	}))
	require.NoError(t, rdb.SAdd(ctx, prefix+"online:acme", "d1").Err())
	fix := func() {
		require.NoError(t, b.Conn().Publish("loc.acme.d1", fmt.Appendf(nil, `{"lat":38.7201,"lng":-9.1401,"ts":%d}`, time.Now().UnixMilli())))
	}
	fix()
	testenv.Eventually(t, 5*time.Second, func() bool {
		fix()
		var n int
		_ = db.WithTenantTx(ctx, "acme", func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM assignments WHERE driver_id = 'd1' AND status = 'offered'`).Scan(&n)
		})
		return n == 1
	}, "the order is offered to d1 by the replica that took over")
}

// A wake for new orders runs no round while the last round found no free driver: the orders
// wait for the driver-side wake (or the sweep). Once a driver is free, the same wake runs a
// round and the order is offered.
func TestEngineNewOrdersWaitForAFreeDriver(t *testing.T) {
	db, b := engineFixture(t, "acme")
	ctx := context.Background()
	rdb, prefix := testenv.Redis(t)
	reg := prometheus.NewRegistry()
	// No sweep during the test: every round is one a wake asked for (or the first).
	e, err := dispatch.NewEngine(db, b.Conn(), rdb, dispatch.EngineConfig{SweepInterval: time.Minute, TenantRefresh: time.Second, KeyPrefix: prefix},
		zerolog.Nop(), reg)
	require.NoError(t, err)
	counter := func(name string) float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == name {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	addOrder := func(ref string) {
		require.NoError(t, db.WithTenantTx(ctx, "acme", func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO orders (source, external_ref, pickup_lat, pickup_lng) VALUES ('api', $1, 38.72, -9.14)`, ref)
			return err
		}))
	}
	offered := func(ref string) bool {
		var n int
		require.NoError(t, db.WithTenantTx(ctx, "acme", func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM assignments a JOIN orders o ON o.id = a.order_id
				WHERE o.external_ref = $1 AND a.status = 'offered'`, ref).Scan(&n)
		}))
		return n == 1
	}
	// d1 is online but has sent no fix yet: nobody is free.
	require.NoError(t, db.WithTenantTx(ctx, "acme", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO drivers (id) VALUES ('d1')`)
		return err
	}))
	require.NoError(t, rdb.SAdd(ctx, prefix+"online:acme", "d1").Err())
	addOrder("o1")

	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(rctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	testenv.Eventually(t, 5*time.Second, func() bool { return counter("dispatchhub_dispatch_rounds_total") >= 1 }, "the first round")
	rounds := counter("dispatchhub_dispatch_rounds_total")

	e.NewOrders("acme")
	testenv.Eventually(t, 5*time.Second, func() bool { return counter("dispatchhub_dispatch_rounds_skipped_total") == 1 }, "the wake let pass")
	assert.Equal(t, rounds, counter("dispatchhub_dispatch_rounds_total"), "no round for new orders without a free driver")
	assert.False(t, offered("o1"))

	// d1's first fix makes it free; a driver-side wake runs a round and offers o1.
	require.NoError(t, b.Conn().Publish("loc.acme.d1", fmt.Appendf(nil, `{"lat":38.7201,"lng":-9.1401,"ts":%d}`, time.Now().UnixMilli())))
	testenv.Eventually(t, 5*time.Second, func() bool { _, ok := e.Index("acme").Position("d1"); return ok }, "d1's fix indexed")
	e.Wake("acme")
	testenv.Eventually(t, 5*time.Second, func() bool { return offered("o1") }, "o1 offered to d1")

	// That round found d1 free, so the next order's wake runs a round; d1, holding an offer,
	// is not free in it, so the wake after that is let pass again.
	rounds = counter("dispatchhub_dispatch_rounds_total")
	addOrder("o2")
	e.NewOrders("acme")
	testenv.Eventually(t, 5*time.Second, func() bool { return counter("dispatchhub_dispatch_rounds_total") == rounds+1 }, "a round for o2")
	e.NewOrders("acme")
	testenv.Eventually(t, 5*time.Second, func() bool { return counter("dispatchhub_dispatch_rounds_skipped_total") == 2 }, "the next wake let pass")
	assert.Equal(t, rounds+1, counter("dispatchhub_dispatch_rounds_total"))
	assert.False(t, offered("o2"))
}
