package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/outbox"
	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

var tenantTables = []string{"tenants", "stores", "drivers", "orders", "assignments", "events", "outbox", "inbound_events", "dead_letters", "inbox", "inbound_unpublished"}

func TestMigrationsUpDownUp(t *testing.T) {
	db := testenv.NewDatabase(t, false)
	m, err := store.NewMigrator(db.OwnerURL)
	require.NoError(t, err)
	defer m.Close()

	ctx := context.Background()
	owner, err := pgx.Connect(ctx, db.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	countTables := func() int {
		var n int
		require.NoError(t, owner.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY($1)`, tenantTables).Scan(&n))
		return n
	}

	st, err := m.Status()
	require.NoError(t, err)
	assert.Zero(t, st.Version)
	require.NotEmpty(t, st.Migrations)
	for _, mg := range st.Migrations {
		assert.False(t, mg.Applied)
	}

	for round := 1; round <= 2; round++ {
		require.NoError(t, m.Up(), "up, round %d", round)
		require.NoError(t, m.Up(), "up again is a no-op")
		assert.Equal(t, len(tenantTables), countTables())
		st, err = m.Status()
		require.NoError(t, err)
		assert.Equal(t, st.Migrations[len(st.Migrations)-1].Version, st.Version)
		assert.False(t, st.Dirty)
		for _, mg := range st.Migrations {
			assert.True(t, mg.Applied, "migration %d applied", mg.Version)
		}

		require.NoError(t, m.Down(0), "down, round %d", round)
		assert.Zero(t, countTables())
	}
	require.NoError(t, m.Up())
}

// fixture: a migrated database, two tenants with a store each, and a one-connection pool of
// the service role so that connection reuse is certain.
type fixture struct {
	db     *store.DB
	a, b   store.Store
	dbInfo testenv.Database
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	info := testenv.NewDatabase(t, true)
	db, err := store.Open(store.Config{URL: info.AppURL, MaxConns: 1})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	ctx := context.Background()
	for _, id := range []string{"tenant-a", "tenant-b"} {
		_, err := db.CreateTenant(ctx, id, "Tenant "+id)
		require.NoError(t, err)
	}
	a, err := db.AddStore(ctx, store.Store{TenantID: "tenant-a", Platform: "shopify", Name: "A shop", SecretRefs: []string{"env:A_SECRET"}, Pickup: &store.LatLng{Lat: 38.72, Lng: -9.14}})
	require.NoError(t, err)
	b, err := db.AddStore(ctx, store.Store{TenantID: "tenant-b", Platform: "woocommerce", Name: "B shop"})
	require.NoError(t, err)
	return fixture{db: db, a: a, b: b, dbInfo: info}
}

func TestRLSShowsOnlyTheCurrentTenant(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	err := f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id, name FROM stores`) // no tenant filter on purpose
		if err != nil {
			return err
		}
		type row struct{ Tenant, Name string }
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
		if err != nil {
			return err
		}
		assert.Equal(t, []row{{"tenant-a", "A shop"}}, got)
		var tenants int
		require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM tenants`).Scan(&tenants))
		assert.Equal(t, 1, tenants)
		return nil
	})
	require.NoError(t, err)

	stores, err := f.db.ListStores(ctx, "tenant-b")
	require.NoError(t, err)
	require.Len(t, stores, 1)
	assert.Equal(t, f.b.ID, stores[0].ID)
}

func TestRLSNoTenantNoRows(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.dbInfo.AppURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, table := range tenantTables {
		var n int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n))
		assert.Zero(t, n, "%s without a tenant", table)
	}
	_, err = conn.Exec(ctx, `INSERT INTO tenants (id, name) VALUES ('tenant-c', 'C')`)
	assert.ErrorContains(t, err, "row-level security", "no tenant, no insert")
}

func TestRLSRefusesWritesToAnotherTenant(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	err := f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO stores (tenant_id, platform) VALUES ('tenant-b', 'shopify')`)
		return err
	})
	assert.ErrorContains(t, err, "row-level security", "insert into another tenant")

	err = f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE stores SET name = 'hijacked' WHERE id = $1`, f.b.ID)
		if err != nil {
			return err
		}
		assert.Zero(t, tag.RowsAffected(), "another tenant's row is invisible to UPDATE")
		tag, err = tx.Exec(ctx, `DELETE FROM stores WHERE id = $1`, f.b.ID)
		if err != nil {
			return err
		}
		assert.Zero(t, tag.RowsAffected(), "and to DELETE")
		return nil
	})
	require.NoError(t, err)

	err = f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE stores SET tenant_id = 'tenant-b' WHERE id = $1`, f.a.ID)
		return err
	})
	assert.ErrorContains(t, err, "row-level security", "moving a row to another tenant")

	stores, err := f.db.ListStores(ctx, "tenant-b")
	require.NoError(t, err)
	require.Len(t, stores, 1)
	assert.Equal(t, "B shop", stores[0].Name, "tenant B's store is untouched")
}

func TestPooledConnectionCarriesNoTenant(t *testing.T) {
	f := newFixture(t) // the pool has exactly one connection, so every use below reuses it
	ctx := context.Background()
	var pid1, pid2 int
	require.NoError(t, f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid1)
	}))
	require.Error(t, f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error { return errors.New("rolled back") }))

	var setting *string
	var n int
	pool := f.db.Pool()
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_backend_pid(), current_setting('app.tenant_id', true)`).Scan(&pid2, &setting))
	assert.Equal(t, pid1, pid2, "same pooled connection")
	if setting != nil {
		assert.Empty(t, *setting, "the tenant setting ended with the transaction")
	}
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM stores`).Scan(&n))
	assert.Zero(t, n, "the reused connection sees no tenant's rows")
}

func TestServiceRoleCannotEscapeRLS(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.dbInfo.AppURL)
	require.NoError(t, err)
	defer conn.Close(ctx)

	var super, bypass bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&super, &bypass))
	assert.False(t, super)
	assert.False(t, bypass)
	var owned int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND pg_has_role(current_user, c.relowner, 'USAGE')`).Scan(&owned))
	assert.Zero(t, owned, "the service role owns nothing")

	_, err = conn.Exec(ctx, `ALTER TABLE stores DISABLE ROW LEVEL SECURITY`)
	assert.ErrorContains(t, err, "must be owner")
	_, err = conn.Exec(ctx, `SET row_security = off`)
	require.NoError(t, err)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM stores`).Scan(&n)
	assert.ErrorContains(t, err, "row-level security", "row_security=off fails instead of showing rows")
	_, err = conn.Exec(ctx, `RESET row_security`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `SET ROLE dispatchhub`)
	assert.Error(t, err, "the service role cannot become the owner")
}

func TestEventsAreAppendOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	require.NoError(t, f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO events (type, entity_type, entity_id) VALUES ('OrderCreated', 'order', 'o1')`)
		return err
	}))
	for _, stmt := range []string{`UPDATE events SET type = 'X'`, `DELETE FROM events`} {
		err := f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, stmt)
			return err
		})
		assert.ErrorContains(t, err, "permission denied", stmt)
	}
	owner, err := pgx.Connect(ctx, f.dbInfo.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	_, err = owner.Exec(ctx, `UPDATE events SET type = 'X'`)
	if err == nil {
		// FORCE RLS hides every row from the owner without a tenant; bind one and retry.
		tx, terr := owner.Begin(ctx)
		require.NoError(t, terr)
		_, terr = tx.Exec(ctx, `SELECT set_config('app.tenant_id', 'tenant-a', true)`)
		require.NoError(t, terr)
		_, err = tx.Exec(ctx, `UPDATE events SET type = 'X'`)
		_ = tx.Rollback(ctx)
	}
	assert.ErrorContains(t, err, "append-only", "not even the owner rewrites history")
}

func TestSystemTxIsNarrow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		require.NoError(t, f.db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
			_, err := outbox.Enqueue(ctx, tx, outbox.Event{Type: "OrderCreated", AggregateType: "order", AggregateID: "o-" + tenant})
			return err
		}))
	}
	err := f.db.WithSystemTx(ctx, "test-relay", func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
			return err
		}
		assert.Equal(t, 2, n, "the relay sees every tenant's outbox")
		tag, err := tx.Exec(ctx, `UPDATE outbox SET published_at = now()`)
		if err != nil {
			return err
		}
		assert.EqualValues(t, 2, tag.RowsAffected())
		return nil
	})
	require.NoError(t, err)

	for _, stmt := range []string{
		`SELECT count(*) FROM orders`,
		`UPDATE outbox SET payload = '{}'`,
		`INSERT INTO stores (tenant_id, platform) VALUES ('tenant-a', 'x')`,
		`SELECT count(*) FROM events`,
	} {
		err := f.db.WithSystemTx(ctx, "test", func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, stmt)
			return err
		})
		assert.ErrorContains(t, err, "permission denied", stmt)
	}

	s, err := f.db.StoreByID(ctx, f.b.ID)
	require.NoError(t, err)
	assert.Equal(t, "tenant-b", s.TenantID)
	_, err = f.db.StoreByID(ctx, "6f1c8f2e-0000-4000-8000-000000000000")
	assert.ErrorIs(t, err, store.ErrNotFound)
}

func TestWithTenantTx(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	sentinel := errors.New("boom")
	err := f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE stores SET name = 'renamed'`); err != nil {
			return err
		}
		return sentinel
	})
	assert.ErrorIs(t, err, sentinel, "fn's error comes back as is")
	stores, err := f.db.ListStores(ctx, "tenant-a")
	require.NoError(t, err)
	assert.Equal(t, "A shop", stores[0].Name, "and the change is rolled back")

	// A statement fails inside fn, fn swallows the error and returns nil: the commit cannot
	// succeed and its error must surface.
	err = f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
		_, _ = tx.Exec(ctx, `INSERT INTO stores (tenant_id, platform) VALUES ('tenant-a', 'NOT VALID')`)
		return nil
	})
	require.Error(t, err, "a failed commit is never swallowed")
	assert.ErrorContains(t, err, "commit")

	assert.Panics(t, func() {
		_ = f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error { panic("bug") })
	})
	require.NoError(t, f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error { return nil }), "the pool recovers after a panic")

	for _, bad := range []string{"", "Tenant", "a.b", "a/b", "-a", "a+", "#", "x y"} {
		err := f.db.WithTenantTx(ctx, bad, func(tx pgx.Tx) error { return nil })
		assert.ErrorIs(t, err, store.ErrInvalidTenant, bad)
	}
}

func TestOutboxEnqueue(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var stored outbox.Event
	err := f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
		var err error
		stored, err = outbox.Enqueue(ctx, tx, outbox.Event{
			Type: "OrderCreated", AggregateType: "order", AggregateID: "o1", Version: 1,
			Payload: json.RawMessage(`{"external_ref":"1001"}`), Headers: map[string]string{"traceparent": "00-abc"},
		})
		return err
	})
	require.NoError(t, err)
	assert.Equal(t, "tenant-a", stored.Tenant, "the tenant comes from the transaction")
	assert.Len(t, stored.ID, 36)
	assert.WithinDuration(t, time.Now(), stored.OccurredAt, time.Minute)

	err = f.db.WithTenantTx(ctx, "tenant-b", func(tx pgx.Tx) error {
		var n int
		require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n))
		assert.Zero(t, n, "tenant B does not see A's events")
		return nil
	})
	require.NoError(t, err)

	err = f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
		_, err := outbox.Enqueue(ctx, tx, outbox.Event{Type: "OrderCreated"})
		return err
	})
	assert.ErrorIs(t, err, outbox.ErrInvalidEvent)
	err = f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
		_, err := outbox.Enqueue(ctx, tx, outbox.Event{Type: "OrderCreated", AggregateType: "order", AggregateID: "o1", Payload: json.RawMessage(`{`)})
		return err
	})
	assert.ErrorIs(t, err, outbox.ErrInvalidEvent)

	// The business write and the event commit or roll back together.
	err = f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
		if _, err := outbox.Enqueue(ctx, tx, outbox.Event{Type: "OrderCancelled", AggregateType: "order", AggregateID: "o1"}); err != nil {
			return err
		}
		return errors.New("business write failed")
	})
	require.Error(t, err)
	require.NoError(t, f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
		var n int
		require.NoError(t, tx.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE event_type = 'OrderCancelled'`).Scan(&n))
		assert.Zero(t, n)
		return nil
	}))
}

func TestTenantsAndStores(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.db.CreateTenant(ctx, "tenant-a", "again")
	assert.ErrorIs(t, err, store.ErrConflict)
	tn, err := f.db.GetTenant(ctx, "tenant-a")
	require.NoError(t, err)
	assert.Equal(t, "Tenant tenant-a", tn.Name)
	_, err = f.db.GetTenant(ctx, "nobody")
	assert.ErrorIs(t, err, store.ErrNotFound)

	_, err = f.db.AddStore(ctx, store.Store{TenantID: "nobody", Platform: "shopify"})
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = f.db.AddStore(ctx, store.Store{TenantID: "tenant-a", Platform: "Shop!fy"})
	assert.ErrorContains(t, err, "platform")
	_, err = f.db.AddStore(ctx, store.Store{TenantID: "tenant-a", Platform: "shopify", SecretRefs: []string{"plaintext-secret"}})
	assert.ErrorContains(t, err, "secret ref")
	_, err = f.db.AddStore(ctx, store.Store{TenantID: "tenant-a", Platform: "shopify", Pickup: &store.LatLng{Lat: 91}})
	assert.ErrorContains(t, err, "pickup")

	assert.Equal(t, &store.LatLng{Lat: 38.72, Lng: -9.14}, f.a.Pickup)
	assert.Equal(t, []string{"env:A_SECRET"}, f.a.SecretRefs)
	assert.Equal(t, "acme-foods-inc", store.TenantSlug("Acme Foods, Inc."))
	assert.Equal(t, "x", store.TenantSlug("--X--"))
	long := store.TenantSlug("abcdefghijklmnopqrstuvwxyzabcdefghijklm nopqrstuvwxyz")
	assert.True(t, store.ValidTenantID(long), "%q is a valid id", long)
}
