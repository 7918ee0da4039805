package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// TenantBatch sends the statements queue adds in one round trip, as one implicit transaction
// bound to tenant as WithTenantTx binds it: PostgreSQL commits them all when it reaches the
// batch's end, or none when one fails. read consumes their results in order. The commit is
// durable (or has failed) only when TenantBatch returns; read cannot undo it, so read only
// reads. This is the write path for hot, small transactions: WithTenantTx needs three round
// trips more (BEGIN, the tenant, COMMIT).
func (db *DB) TenantBatch(ctx context.Context, tenant string, queue func(*pgx.Batch), read func(pgx.BatchResults) error) error {
	if !ValidTenantID(tenant) {
		return fmt.Errorf("%w: %q", ErrInvalidTenant, tenant)
	}
	b := &pgx.Batch{}
	b.Queue("SELECT set_config('app.tenant_id', $1, true)", tenant)
	queue(b)
	return db.sendBatch(ctx, b, read)
}

// SystemBatch is TenantBatch for the dispatchhub_system role (see WithSystemTx). With
// asyncCommit the commit does not wait for its WAL to reach the disk: only for writes whose
// loss in a crash is harmless, such as marks that make a relay skip what it has published
// (it then publishes again, and the bus de-duplicates).
func (db *DB) SystemBatch(ctx context.Context, purpose string, asyncCommit bool, queue func(*pgx.Batch), read func(pgx.BatchResults) error) error {
	b := &pgx.Batch{}
	b.Queue("SELECT set_config('role', 'dispatchhub_system', true), set_config('application_name', $1, true), set_config('synchronous_commit', $2, true)",
		"dispatchhub/"+purpose, map[bool]string{true: "off", false: "on"}[asyncCommit])
	queue(b)
	return db.sendBatch(ctx, b, read)
}

func (db *DB) sendBatch(ctx context.Context, b *pgx.Batch, read func(pgx.BatchResults) error) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire: %w", redact(err))
	}
	defer conn.Release()
	br := conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return fmt.Errorf("bind transaction: %w", redact(err))
	}
	var readErr error
	if read != nil {
		readErr = read(br)
	}
	if err := br.Close(); err != nil {
		return errors.Join(readErr, fmt.Errorf("commit: %w", redact(err)))
	}
	return readErr
}
