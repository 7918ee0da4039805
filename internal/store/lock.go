package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// AdvisoryLocks holds one pooled connection for PostgreSQL session-level advisory locks. A
// lock taken on it lasts until Close or until the session ends, so a process that dies, or
// whose connection breaks, frees its locks with its session and another replica can take
// them. Locks are keyed (class, key), both int4, and scoped to the database. They need a
// real session: not through a transaction-pooling proxy. An AdvisoryLocks is used by one
// goroutine at a time.
type AdvisoryLocks struct {
	conn *pgxpool.Conn
}

// AdvisoryLocks takes a connection out of the pool until Close.
func (db *DB) AdvisoryLocks(ctx context.Context) (*AdvisoryLocks, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire lock connection: %w", redact(err))
	}
	return &AdvisoryLocks{conn: conn}, nil
}

// TryLock tries pg_try_advisory_lock(class, key) for each of keys that this session does not
// hold yet, in one round trip, and returns the keys of keys that it holds afterwards (in the
// order of keys). A key already held is not locked a second time (session locks stack), so
// calling TryLock again with the same keys is safe, and doubles as a check that the session
// is alive. An error means the connection is in doubt: Close it, its locks may be gone.
func (l *AdvisoryLocks) TryLock(ctx context.Context, class int32, keys []int32) ([]int32, error) {
	// pg_locks shows a (int4, int4) advisory lock as classid = class, objid = key, objsubid = 2.
	rows, err := l.conn.Query(ctx, `WITH mine AS (
			SELECT objid::int4 AS key FROM pg_locks
			WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objsubid = 2 AND granted
				AND classid = $1::int4::oid)
		SELECT k FROM unnest($2::int4[]) WITH ORDINALITY AS t(k, i)
		WHERE CASE WHEN k IN (SELECT key FROM mine) THEN true ELSE pg_try_advisory_lock($1, k) END
		ORDER BY i`, class, keys)
	if err != nil {
		return nil, fmt.Errorf("try advisory locks: %w", redact(err))
	}
	defer rows.Close()
	held := make([]int32, 0, len(keys))
	for rows.Next() {
		var k int32
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("try advisory locks: %w", err)
		}
		held = append(held, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("try advisory locks: %w", redact(err))
	}
	return held, nil
}

// Unlock releases (class, key) if this session holds it, every stacked level of it.
func (l *AdvisoryLocks) Unlock(ctx context.Context, class int32, key int32) error {
	for {
		var released bool
		if err := l.conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1, $2)`, class, key).Scan(&released); err != nil {
			return fmt.Errorf("advisory unlock: %w", redact(err))
		}
		if !released {
			return nil
		}
	}
}

// Close releases every lock of the session and returns the connection to the pool; when the
// release fails, the connection is closed instead, which ends the session and its locks.
func (l *AdvisoryLocks) Close() {
	if l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
		_ = l.conn.Conn().Close(ctx)
	}
	l.conn.Release()
	l.conn = nil
}
