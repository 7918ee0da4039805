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

// Pipeline is a tenant transaction whose statements travel in batches. Writes whose results
// nobody reads are queued with Queue and leave with the next round trip (Round, or the commit),
// where their errors surface. A transaction of reads and writes then costs a round trip per
// read that a later statement depends on, plus BEGIN and COMMIT.
type Pipeline struct {
	tx      pgx.Tx
	pending pgx.Batch
}

// Queue adds a write whose result is checked at the next round trip.
func (p *Pipeline) Queue(sql string, args ...any) { p.pending.Queue(sql, args...) }

// Round sends the queued writes and the statements queue adds in one round trip. The writes'
// errors are returned; read consumes the results of queue's statements, in order.
func (p *Pipeline) Round(ctx context.Context, queue func(*pgx.Batch), read func(pgx.BatchResults) error) error {
	b := &pgx.Batch{QueuedQueries: p.pending.QueuedQueries}
	p.pending = pgx.Batch{}
	writes := b.Len()
	if queue != nil {
		queue(b)
	}
	if b.Len() == 0 {
		return nil
	}
	br := p.tx.SendBatch(ctx, b)
	for range writes {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return err
		}
	}
	var readErr error
	if read != nil {
		readErr = read(br)
	}
	return errors.Join(readErr, br.Close())
}

// WithTenantPipeline runs fn in a transaction bound to tenant (as WithTenantTx binds it) whose
// statements fn sends through a Pipeline; the queued writes leave with the commit's round trip
// or before it. fn's error, or a queued write's, rolls the transaction back.
func (db *DB) WithTenantPipeline(ctx context.Context, tenant string, fn func(*Pipeline) error) error {
	if !ValidTenantID(tenant) {
		return fmt.Errorf("%w: %q", ErrInvalidTenant, tenant)
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		p := &Pipeline{tx: tx}
		p.Queue("SELECT set_config('app.tenant_id', $1, true)", tenant)
		if err := fn(p); err != nil {
			return err
		}
		return p.Round(ctx, nil, nil)
	})
}
