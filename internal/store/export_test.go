package store

import "github.com/jackc/pgx/v5/pgxpool"

// Pool exposes the pool to this package's external tests.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }
