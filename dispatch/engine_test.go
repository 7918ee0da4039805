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

// Two replicas share the tenants: one dispatches them all (it holds every partition), the
// other nothing; when the first stops, the second takes over and offers the order that waits.
func TestEngineOwnershipAndTakeover(t *testing.T) {
	info := testenv.NewDatabase(t, true)
	db, err := store.Open(store.Config{URL: info.AppURL, MaxConns: 8})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	ctx := context.Background()
	for _, tenant := range []string{"acme", "beta"} {
		_, err := db.CreateTenant(ctx, tenant, tenant)
		require.NoError(t, err)
	}
	b, err := bus.Start(ctx, bus.Config{Host: "127.0.0.1", Port: 0, StoreDir: t.TempDir(), MaxStore: 1 << 28, Replicas: 1,
		DuplicateWindow: time.Minute, IngestMaxAge: time.Hour, EventsMaxAge: time.Hour, OutboundMaxAge: time.Hour}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(b.Close)
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
