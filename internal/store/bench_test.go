package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pilotx/dispatchhub/internal/outbox"
	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

// BenchmarkTx measures the cost of tenant binding: the same one-row read in a plain
// transaction of the pool (baseline, no RLS context) and in WithTenantTx, plus an outbox write.
func BenchmarkTx(b *testing.B) {
	info := testenv.NewDatabase(b, true)
	db, err := store.Open(store.Config{URL: info.AppURL, MaxConns: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.CreateTenant(ctx, "bench", "Bench"); err != nil {
		b.Fatal(err)
	}
	read := func(tx pgx.Tx) error {
		var n int
		return tx.QueryRow(ctx, `SELECT count(*) FROM tenants`).Scan(&n)
	}

	b.Run("baseline-plain-tx", func(b *testing.B) {
		pool := db.Pool()
		for b.Loop() {
			tx, err := pool.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := read(tx); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tenant-tx", func(b *testing.B) {
		for b.Loop() {
			if err := db.WithTenantTx(ctx, "bench", read); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tenant-tx-outbox-enqueue", func(b *testing.B) {
		for b.Loop() {
			err := db.WithTenantTx(ctx, "bench", func(tx pgx.Tx) error {
				_, err := outbox.Enqueue(ctx, tx, outbox.Event{Type: "OrderCreated", AggregateType: "order", AggregateID: "o1"})
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
