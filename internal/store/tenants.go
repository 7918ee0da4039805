package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Tenant is a delivery company's customer account: its stores, drivers and orders.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// TenantSlug derives a tenant id from a display name: "Acme Foods, Inc." → "acme-foods-inc".
func TenantSlug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		default:
			dash = true
		}
	}
	out := b.String()
	if len(out) > 40 {
		out = out[:40]
	}
	return strings.Trim(out, "-")
}

// CreateTenant inserts a tenant. ErrConflict when the id is taken.
func (db *DB) CreateTenant(ctx context.Context, id, name string) (Tenant, error) {
	t := Tenant{ID: id, Name: name}
	if strings.TrimSpace(name) == "" || len(name) > 200 {
		return t, errors.New("tenant name: must be 1-200 characters")
	}
	err := db.WithTenantTx(ctx, id, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO tenants (id, name) VALUES ($1, $2) RETURNING created_at`, id, name).Scan(&t.CreatedAt)
	})
	if IsUniqueViolation(err) {
		return t, fmt.Errorf("tenant %s: %w", id, ErrConflict)
	}
	if err != nil {
		return t, fmt.Errorf("create tenant %s: %w", id, err)
	}
	return t, nil
}

// GetTenant reads a tenant. ErrNotFound when there is none.
func (db *DB) GetTenant(ctx context.Context, id string) (Tenant, error) {
	var t Tenant
	err := db.WithTenantTx(ctx, id, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id, name, created_at FROM tenants WHERE id = $1`, id).Scan(&t.ID, &t.Name, &t.CreatedAt)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return t, fmt.Errorf("tenant %s: %w", id, ErrNotFound)
	}
	return t, err
}
