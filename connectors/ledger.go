package connectors

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pilotx/dispatchhub/internal/store"
)

// Job states in connector_jobs.
const (
	statePending = "pending"
	stateDone    = "done"
	stateDead    = "dead"
)

// asyncCommit lets a ledger write commit without waiting for the disk. Losing the last such
// writes in a crash only makes a job be pushed again, which every connector makes harmless
// (an idempotency key, or a read before the write). A dead letter is written durably: its
// message is acknowledged right after.
const asyncCommit = `SET LOCAL synchronous_commit = off`

// entry is what the ledger knows of a job when a worker picks it up.
type entry struct {
	State      string
	Attempts   int
	Superseded bool      // a newer status of the same order is already on the platform
	Waiting    bool      // an older status of the same order is still pending: it goes first
	FirstAt    time.Time // when the job was first seen
}

// track registers j in connector_jobs (or reads its row) before a push. A replayed job whose
// row is dead becomes pending again with its attempts reset. Superseded says whether a status
// of the same order that happened later is done already; Waiting, whether one that happened
// earlier is still pending (an order's statuses reach the store in the order they happened).
func track(ctx context.Context, db *store.DB, j *Job, replay bool) (entry, error) {
	var e entry
	err := db.WithTenantTx(ctx, j.Tenant, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(asyncCommit)
		b.Queue(`INSERT INTO connector_jobs (id, platform, store_id, order_id, status, occurred_at)
			VALUES ($1, $2, $3::uuid, $4::uuid, $5, $6)
			ON CONFLICT (tenant_id, id) DO UPDATE SET
				state = CASE WHEN $7 AND connector_jobs.state = 'dead' THEN 'pending' ELSE connector_jobs.state END,
				attempts = CASE WHEN $7 AND connector_jobs.state = 'dead' THEN 0 ELSE connector_jobs.attempts END
			RETURNING state, attempts, created_at`,
			j.ID, j.Platform, j.StoreID, j.OrderID, j.Status, j.OccurredAt, replay)
		b.Queue(`SELECT
			EXISTS (SELECT 1 FROM connector_jobs WHERE order_id = $1::uuid AND platform = $2
				AND state = 'done' AND occurred_at > $3 AND id <> $4),
			EXISTS (SELECT 1 FROM connector_jobs WHERE order_id = $1::uuid AND platform = $2
				AND state = 'pending' AND (occurred_at, id) < ($3, $4))`, j.OrderID, j.Platform, j.OccurredAt, j.ID)
		br := tx.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return err
		}
		if err := br.QueryRow().Scan(&e.State, &e.Attempts, &e.FirstAt); err != nil {
			_ = br.Close()
			return err
		}
		if err := br.QueryRow().Scan(&e.Superseded, &e.Waiting); err != nil {
			_ = br.Close()
			return err
		}
		return br.Close()
	})
	if err != nil {
		return e, fmt.Errorf("track job %s: %w", j.ID, err)
	}
	return e, nil
}

// outcome is the result of one push, as the ledger records it.
type outcome struct {
	Err        error
	Status     int  // the platform's HTTP status, 0 when none
	Superseded bool // done without a push: a newer status is on the platform
	Dead       bool // given up: the dead letter is recorded in the same transaction
	deadLetter func(tx pgx.Tx) error
}

// finish records one push of j: done on success, else one more attempt with its error. It
// returns the attempts made so far.
func finish(ctx context.Context, db *store.DB, j *Job, o outcome, attempted bool) (int, error) {
	var attempts int
	inc := 0
	if attempted {
		inc = 1
	}
	err := db.WithTenantTx(ctx, j.Tenant, func(tx pgx.Tx) error {
		var status *int
		if o.Status != 0 {
			status = &o.Status
		}
		if !o.Dead {
			if _, err := tx.Exec(ctx, asyncCommit); err != nil {
				return err
			}
		}
		var err error
		switch {
		case o.Err == nil:
			err = tx.QueryRow(ctx, `UPDATE connector_jobs SET state = 'done', done_at = now(), attempts = attempts + $2,
				last_status = coalesce($3, last_status), last_error = NULL,
				first_attempt_at = CASE WHEN $2 > 0 THEN coalesce(first_attempt_at, now()) ELSE first_attempt_at END,
				last_attempt_at = CASE WHEN $2 > 0 THEN now() ELSE last_attempt_at END
				WHERE id = $1 RETURNING attempts`, j.ID, inc, status).Scan(&attempts)
		default:
			state := statePending
			if o.Dead {
				state = stateDead
			}
			err = tx.QueryRow(ctx, `UPDATE connector_jobs SET state = $4, attempts = attempts + $2,
				last_status = coalesce($3, last_status), last_error = $5,
				first_attempt_at = coalesce(first_attempt_at, now()), last_attempt_at = now()
				WHERE id = $1 RETURNING attempts`, j.ID, inc, status, state, clip(o.Err.Error(), 2<<10)).Scan(&attempts)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("job %s is not tracked", j.ID)
		}
		if err != nil {
			return err
		}
		if o.Dead && o.deadLetter != nil {
			return o.deadLetter(tx)
		}
		return nil
	})
	if err != nil {
		return attempts, fmt.Errorf("record push of job %s: %w", j.ID, err)
	}
	return attempts, nil
}

// Backlog is a tenant's pending jobs on one platform.
type Backlog struct {
	Tenant   string
	Platform string
	Pending  int
	Oldest   time.Time // occurred_at of the oldest pending job
}

// backlogs lists every tenant's backlog per platform.
func backlogs(ctx context.Context, db *store.DB) ([]Backlog, error) {
	var out []Backlog
	err := db.WithSystemTx(ctx, "connector-health", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id, platform, count(*), min(occurred_at) FROM connector_jobs
			WHERE state = 'pending' GROUP BY tenant_id, platform`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Backlog, error) {
			var b Backlog
			err := r.Scan(&b.Tenant, &b.Platform, &b.Pending, &b.Oldest)
			return b, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read connector backlogs: %w", err)
	}
	return out, nil
}

// prune deletes finished jobs older than keep; it returns how many.
func prune(ctx context.Context, db *store.DB, keep time.Duration) (int64, error) {
	var n int64
	err := db.WithSystemTx(ctx, "connector-prune", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM connector_jobs WHERE state <> 'pending'
			AND coalesce(done_at, last_attempt_at, created_at) < now() - make_interval(secs => $1)`, keep.Seconds())
		n = tag.RowsAffected()
		return err
	})
	return n, err
}
