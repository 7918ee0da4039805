package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pilotx/dispatchhub/internal/secret"
)

// LatLng is a WGS84 point.
type LatLng struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

// Valid reports whether the point is on Earth.
func (p LatLng) Valid() bool {
	return p.Lat >= -90 && p.Lat <= 90 && p.Lng >= -180 && p.Lng <= 180
}

// Store is a shop on a commerce platform whose webhooks the hub receives and whose orders it
// delivers. Secrets are references (env:/file:), never values.
type Store struct {
	ID               string          `json:"id"`
	TenantID         string          `json:"tenant_id"`
	Platform         string          `json:"platform"`
	Name             string          `json:"name"`
	ExternalID       string          `json:"external_id,omitempty"`
	SecretRefs       []string        `json:"secret_refs"`
	APIBase          string          `json:"api_base,omitempty"`
	APICredentialRef string          `json:"api_credential_ref,omitempty"`
	Pickup           *LatLng         `json:"pickup,omitempty"`
	Settings         json.RawMessage `json:"settings,omitempty"`
	Enabled          bool            `json:"enabled"`
	CreatedAt        time.Time       `json:"created_at"`
	UpdatedAt        time.Time       `json:"updated_at"`
}

// ValidPlatform reports whether s can name a platform: 1-40 of a-z, 0-9, '_' and '-'.
func ValidPlatform(s string) bool {
	if len(s) == 0 || len(s) > 40 || s[0] == '-' || s[0] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func (s *Store) validate() error {
	if !ValidTenantID(s.TenantID) {
		return fmt.Errorf("%w: %q", ErrInvalidTenant, s.TenantID)
	}
	if !ValidPlatform(s.Platform) {
		return fmt.Errorf("platform: must be 1-40 of a-z, 0-9, _ and -, got %q", s.Platform)
	}
	for _, ref := range append(append([]string(nil), s.SecretRefs...), s.APICredentialRef) {
		if ref == "" {
			continue
		}
		if _, err := secret.Parse(ref); err != nil {
			return err
		}
	}
	if s.Pickup != nil && !s.Pickup.Valid() {
		return fmt.Errorf("pickup: latitude must be -90..90 and longitude -180..180, got %v,%v", s.Pickup.Lat, s.Pickup.Lng)
	}
	if len(s.Settings) > 0 && !json.Valid(s.Settings) {
		return errors.New("settings: must be a JSON object")
	}
	return nil
}

const storeColumns = `id::text, tenant_id, platform, name, coalesce(external_id, ''), secret_refs, coalesce(api_base, ''),
	coalesce(api_credential_ref, ''), pickup_lat, pickup_lng, settings, enabled, created_at, updated_at`

func scanStore(row pgx.Row) (Store, error) {
	var s Store
	var lat, lng *float64
	err := row.Scan(&s.ID, &s.TenantID, &s.Platform, &s.Name, &s.ExternalID, &s.SecretRefs, &s.APIBase,
		&s.APICredentialRef, &lat, &lng, &s.Settings, &s.Enabled, &s.CreatedAt, &s.UpdatedAt)
	if lat != nil && lng != nil {
		s.Pickup = &LatLng{Lat: *lat, Lng: *lng}
	}
	return s, err
}

// AddStore inserts a store of an existing tenant and returns it with its id.
func (db *DB) AddStore(ctx context.Context, s Store) (Store, error) {
	if err := s.validate(); err != nil {
		return s, err
	}
	if s.SecretRefs == nil {
		s.SecretRefs = []string{}
	}
	settings := s.Settings
	if len(settings) == 0 {
		settings = json.RawMessage(`{}`)
	}
	var lat, lng *float64
	if s.Pickup != nil {
		lat, lng = &s.Pickup.Lat, &s.Pickup.Lng
	}
	var out Store
	err := db.WithTenantTx(ctx, s.TenantID, func(tx pgx.Tx) error {
		var err error
		out, err = scanStore(tx.QueryRow(ctx, `INSERT INTO stores
			(tenant_id, platform, name, external_id, secret_refs, api_base, api_credential_ref, pickup_lat, pickup_lng, settings)
			VALUES ($1, $2, $3, nullif($4, ''), $5, nullif($6, ''), nullif($7, ''), $8, $9, $10)
			RETURNING `+storeColumns,
			s.TenantID, s.Platform, s.Name, s.ExternalID, s.SecretRefs, s.APIBase, s.APICredentialRef, lat, lng, settings))
		return err
	})
	switch {
	case IsForeignKeyViolation(err):
		return s, fmt.Errorf("tenant %s: %w", s.TenantID, ErrNotFound)
	case IsUniqueViolation(err):
		return s, fmt.Errorf("store %s/%s: %w", s.Platform, s.ExternalID, ErrConflict)
	case err != nil:
		return s, fmt.Errorf("add store: %w", err)
	}
	return out, nil
}

// ListStores returns a tenant's stores.
func (db *DB) ListStores(ctx context.Context, tenant string) ([]Store, error) {
	var out []Store
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+storeColumns+` FROM stores ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			s, err := scanStore(rows)
			if err != nil {
				return err
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list stores of %s: %w", tenant, err)
	}
	return out, nil
}

// StoreByID finds a store of any tenant by id, through the system role: the webhook edge
// learns the tenant from the store. ErrNotFound when there is none.
func (db *DB) StoreByID(ctx context.Context, id string) (Store, error) {
	var s Store
	err := db.WithSystemTx(ctx, "store-lookup", func(tx pgx.Tx) error {
		var err error
		s, err = scanStore(tx.QueryRow(ctx, `SELECT `+storeColumns+` FROM stores WHERE id = $1::uuid`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return s, fmt.Errorf("store %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("store %s: %w", id, err)
	}
	return s, nil
}
