// Package store is the PostgreSQL access layer: a pgx pool connected as the service role, the
// only places transactions begin (WithTenantTx, WithSystemTx), the schema migrator and the
// repositories of tenants and stores.
//
// Tenant isolation is enforced by PostgreSQL row-level security, not by WHERE clauses: every
// tenant transaction sets app.tenant_id with set_config(..., true), which PostgreSQL resets at
// the end of the transaction, so a pooled connection never carries a tenant into its next use.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors returned by the store.
var (
	ErrInvalidTenant = errors.New("invalid tenant id")
	ErrNotFound      = errors.New("not found")
	ErrConflict      = errors.New("already exists")
)

// Config configures the pool.
type Config struct {
	URL              string
	MaxConns         int
	MinConns         int
	ConnectTimeout   time.Duration
	StatementTimeout time.Duration
}

// DB is the pool of service-role connections.
type DB struct {
	pool *pgxpool.Pool
}

// Open builds the pool. It does not wait for the server: use Ping to know it answers.
func Open(cfg Config) (*DB, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// pgx quotes the DSN in some errors: keep passwords out of logs.
		return nil, errors.New("postgres.url: cannot be parsed as a PostgreSQL connection URL")
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = int32(cfg.MaxConns)
	}
	pc.MinConns = int32(cfg.MinConns)
	if cfg.ConnectTimeout > 0 {
		pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	}
	pc.HealthCheckPeriod = 5 * time.Second
	pc.ConnConfig.RuntimeParams["application_name"] = "dispatchhub"
	if cfg.StatementTimeout > 0 {
		pc.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(cfg.StatementTimeout.Milliseconds(), 10)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %w", err)
	}
	return &DB{pool: pool}, nil
}

// Ping checks that a connection can be had and the server answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", redact(err))
	}
	return nil
}

// Close closes every connection. It waits for connections in use to be released.
func (db *DB) Close() { db.pool.Close() }

// Stat reports pool statistics (for metrics).
func (db *DB) Stat() *pgxpool.Stat { return db.pool.Stat() }

// WithTenantTx runs fn in a transaction bound to tenant: row-level security shows and accepts
// only that tenant's rows. fn's error rolls back and is returned as is; otherwise the commit's
// error is returned. The tenant setting is transaction-local and gone once the connection is
// back in the pool.
func (db *DB) WithTenantTx(ctx context.Context, tenant string, fn func(pgx.Tx) error) error {
	if !ValidTenantID(tenant) {
		return fmt.Errorf("%w: %q", ErrInvalidTenant, tenant)
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('app.tenant_id', $1, true)", tenant); err != nil {
			return fmt.Errorf("set tenant: %w", err)
		}
		return fn(tx)
	})
}

// WithSystemTx runs fn as the dispatchhub_system role, the one explicit path across tenants.
// That role can do only what migrations grant it (read tenants and stores, relay the outbox
// and inbound events, list dead letters); everything else is refused by PostgreSQL. purpose
// names the worker in pg_stat_activity and the server log.
func (db *DB) WithSystemTx(ctx context.Context, purpose string, fn func(pgx.Tx) error) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL ROLE dispatchhub_system"); err != nil {
			return fmt.Errorf("enter system role: %w", err)
		}
		if _, err := tx.Exec(ctx, "SELECT set_config('application_name', $1, true)", "dispatchhub/"+purpose); err != nil {
			return fmt.Errorf("set purpose: %w", err)
		}
		return fn(tx)
	})
}

func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) (err error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", redact(err))
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", redact(err))
	}
	return nil
}

// ValidUUID reports whether s is a UUID in its canonical 36-character form, the only form a
// uuid column's id takes in URLs and messages; a caller answers "not found" for anything else
// without asking PostgreSQL.
func ValidUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// ValidTenantID reports whether s can be a tenant id: 1-40 characters of a-z, 0-9 and '-',
// not starting or ending with '-'. Tenant ids appear in MQTT topics, NATS subjects and client
// ids, so they never contain '/', '+', '#', '.', '*', '>' or spaces.
func ValidTenantID(s string) bool {
	if len(s) == 0 || len(s) > 40 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// IsUniqueViolation reports whether err is PostgreSQL's unique_violation.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// IsForeignKeyViolation reports whether err is PostgreSQL's foreign_key_violation.
func IsForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// redact drops a connection error's DSN-bearing details while keeping its cause.
func redact(err error) error {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("connect to %s: %w", ce.Config.Host+":"+strconv.Itoa(int(ce.Config.Port)), errors.Unwrap(ce))
	}
	return err
}
