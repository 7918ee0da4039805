package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/store"
)

func TestTenantBatch(t *testing.T) {
	f := newFixture(t) // one pooled connection: what a batch sets would show in the next one
	ctx := context.Background()

	t.Run("bound to the tenant, in one transaction, and nothing stays on the connection", func(t *testing.T) {
		var tenant string
		var stores int
		var sameTx bool
		err := f.db.TenantBatch(ctx, "tenant-a", func(b *pgx.Batch) {
			b.Queue(`INSERT INTO drivers (id) VALUES ('d1')`)
			b.Queue(`SELECT current_setting('app.tenant_id', true), (SELECT count(*) FROM stores),
				(SELECT xmin = pg_current_xact_id()::xid FROM drivers WHERE id = 'd1')`)
		}, func(br pgx.BatchResults) error {
			if _, err := br.Exec(); err != nil {
				return err
			}
			return br.QueryRow().Scan(&tenant, &stores, &sameTx)
		})
		require.NoError(t, err)
		assert.Equal(t, "tenant-a", tenant)
		assert.Equal(t, 1, stores, "row-level security shows the tenant's store only")
		assert.True(t, sameTx, "the statements share one transaction")

		err = f.db.TenantBatch(ctx, "tenant-b", func(b *pgx.Batch) {
			b.Queue(`SELECT count(*) FROM drivers`)
		}, func(br pgx.BatchResults) error { return br.QueryRow().Scan(&stores) })
		require.NoError(t, err)
		assert.Zero(t, stores, "tenant-b does not see tenant-a's driver")

		err = f.db.WithSystemTx(ctx, "test", func(tx pgx.Tx) error { return nil })
		require.NoError(t, err)
		var after string
		require.NoError(t, f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*)::text FROM drivers WHERE id = 'd1'`).Scan(&after)
		}))
		assert.Equal(t, "1", after, "committed")
	})

	t.Run("a failing statement commits none of them", func(t *testing.T) {
		err := f.db.TenantBatch(ctx, "tenant-a", func(b *pgx.Batch) {
			b.Queue(`INSERT INTO drivers (id) VALUES ('d2')`)
			b.Queue(`SELECT 1 / 0`)
		}, func(br pgx.BatchResults) error {
			if _, err := br.Exec(); err != nil {
				return err
			}
			_, err := br.Exec()
			return err
		})
		require.ErrorContains(t, err, "division by zero")
		var n int
		require.NoError(t, f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM drivers WHERE id = 'd2'`).Scan(&n)
		}))
		assert.Zero(t, n)
	})

	t.Run("another tenant's rows are refused", func(t *testing.T) {
		err := f.db.TenantBatch(ctx, "tenant-a", func(b *pgx.Batch) {
			b.Queue(`INSERT INTO drivers (tenant_id, id) VALUES ('tenant-b', 'd3')`)
		}, func(br pgx.BatchResults) error { _, err := br.Exec(); return err })
		assert.ErrorContains(t, err, "row-level security")
	})

	t.Run("invalid tenant", func(t *testing.T) {
		err := f.db.TenantBatch(ctx, "Tenant A", func(*pgx.Batch) {}, nil)
		assert.ErrorIs(t, err, store.ErrInvalidTenant)
	})

	t.Run("the next user of the connection inherits nothing", func(t *testing.T) {
		conn, err := f.db.Pool().Acquire(ctx)
		require.NoError(t, err)
		defer conn.Release()
		var tenant, role, sync string
		require.NoError(t, conn.QueryRow(ctx, `SELECT coalesce(current_setting('app.tenant_id', true), ''), current_user, current_setting('synchronous_commit')`).Scan(&tenant, &role, &sync))
		assert.Empty(t, tenant)
		assert.Equal(t, "dispatchhub_app", role)
		assert.Equal(t, "on", sync)
	})
}

func TestSystemBatch(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, async := range []bool{false, true} {
		var role, sync, app string
		var stores int
		err := f.db.SystemBatch(ctx, "test", async, func(b *pgx.Batch) {
			b.Queue(`SELECT current_user, current_setting('synchronous_commit'), current_setting('application_name'), (SELECT count(*) FROM stores)`)
		}, func(br pgx.BatchResults) error { return br.QueryRow().Scan(&role, &sync, &app, &stores) })
		require.NoError(t, err)
		assert.Equal(t, "dispatchhub_system", role)
		assert.Equal(t, map[bool]string{false: "on", true: "off"}[async], sync)
		assert.Equal(t, "dispatchhub/test", app)
		assert.Equal(t, 2, stores, "the system role reads every tenant's stores")
	}
	err := f.db.SystemBatch(ctx, "test", false, func(b *pgx.Batch) {
		b.Queue(`DELETE FROM stores`)
	}, func(br pgx.BatchResults) error { _, err := br.Exec(); return err })
	assert.ErrorContains(t, err, "permission denied", "the system role stays narrow")

	conn, err := f.db.Pool().Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	var role, sync string
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_user, current_setting('synchronous_commit')`).Scan(&role, &sync))
	assert.Equal(t, "dispatchhub_app", role, "the role ends with the batch")
	assert.Equal(t, "on", sync)
}

func TestTenantPipeline(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	var seen, tenant string
	err := f.db.WithTenantPipeline(ctx, "tenant-a", func(p *store.Pipeline) error {
		p.Queue(`INSERT INTO drivers (id) VALUES ('p1')`)
		if err := p.Round(ctx, func(b *pgx.Batch) {
			b.Queue(`SELECT string_agg(id, ','), current_setting('app.tenant_id', true) FROM drivers`)
		}, func(br pgx.BatchResults) error { return br.QueryRow().Scan(&seen, &tenant) }); err != nil {
			return err
		}
		p.Queue(`INSERT INTO drivers (id) VALUES ('p2')`) // leaves with the commit
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "p1", seen, "a queued write is visible to the reads of the next round trip")
	assert.Equal(t, "tenant-a", tenant)
	var n int
	require.NoError(t, f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM drivers WHERE id IN ('p1', 'p2')`).Scan(&n)
	}))
	assert.Equal(t, 2, n, "the last queued write committed")

	err = f.db.WithTenantPipeline(ctx, "tenant-a", func(p *store.Pipeline) error {
		p.Queue(`INSERT INTO drivers (id) VALUES ('p3')`)
		p.Queue(`INSERT INTO drivers (id) VALUES ('p1')`) // duplicate key, found at the commit
		return nil
	})
	require.Error(t, err)
	require.NoError(t, f.db.WithTenantTx(ctx, "tenant-a", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM drivers WHERE id = 'p3'`).Scan(&n)
	}))
	assert.Zero(t, n, "a failing queued write rolls the whole transaction back")

	err = f.db.WithTenantPipeline(ctx, "tenant-a", func(p *store.Pipeline) error {
		p.Queue(`INSERT INTO drivers (tenant_id, id) VALUES ('tenant-b', 'p4')`)
		return p.Round(ctx, nil, nil)
	})
	assert.ErrorContains(t, err, "row-level security")
	assert.ErrorIs(t, f.db.WithTenantPipeline(ctx, "Nope", func(*store.Pipeline) error { return nil }), store.ErrInvalidTenant)
}
