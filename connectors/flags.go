package connectors

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pilotx/dispatchhub/internal/store"
)

// Flag switches one platform's connector for a tenant: on or off, and the share of the
// tenant's orders it syncs (a canary while a connector is rolled out). An order is in the
// canary when a hash of its id falls under the percentage, so an order's statuses are either
// all synced or none.
type Flag struct {
	Enabled       bool `json:"enabled"`
	CanaryPercent int  `json:"canary_percent"` // 0-100
}

// Validate reports a percentage out of range.
func (f Flag) Validate() error {
	if f.CanaryPercent < 0 || f.CanaryPercent > 100 {
		return fmt.Errorf("canary_percent: must be 0-100, got %d", f.CanaryPercent)
	}
	return nil
}

// Includes reports whether the order's statuses are synced under f.
func (f Flag) Includes(orderID string) bool {
	if !f.Enabled || f.CanaryPercent <= 0 {
		return false
	}
	if f.CanaryPercent >= 100 {
		return true
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(orderID))
	return int(h.Sum32()%100) < f.CanaryPercent
}

// FlagSetting is a flag with where it comes from: "config" (the configured default) or
// "tenant" (set for this tenant through the API).
type FlagSetting struct {
	Platform string `json:"platform"`
	Flag
	Source    string     `json:"source"`
	UpdatedBy string     `json:"updated_by,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// flagsTTL is how long a replica trusts what it read; a change made elsewhere is seen within it.
const flagsTTL = 5 * time.Second

// Flags reads and writes the tenants' flags over the configured defaults.
type Flags struct {
	db       *store.DB
	defaults map[string]Flag // by platform; "*" for every platform without its own
	mu       sync.Mutex
	cache    map[string]flagCache // by tenant
}

type flagCache struct {
	at  time.Time
	set map[string]FlagSetting
}

// NewFlags returns the flags with defaults by platform ("*": every other platform; without
// it, connectors are on at 100 %).
func NewFlags(db *store.DB, defaults map[string]Flag) *Flags {
	d := map[string]Flag{"*": {Enabled: true, CanaryPercent: 100}}
	for k, v := range defaults {
		d[k] = v
	}
	return &Flags{db: db, defaults: d, cache: map[string]flagCache{}}
}

// Default is the configured flag of platform.
func (f *Flags) Default(platform string) Flag {
	if fl, ok := f.defaults[platform]; ok {
		return fl
	}
	return f.defaults["*"]
}

// For returns the tenant's flag of platform: its own, else the default.
func (f *Flags) For(ctx context.Context, tenant, platform string) (Flag, error) {
	set, err := f.tenant(ctx, tenant)
	if err != nil {
		return Flag{}, err
	}
	if s, ok := set[platform]; ok {
		return s.Flag, nil
	}
	return f.Default(platform), nil
}

// List returns the tenant's own flags and the default of every platform in platforms.
func (f *Flags) List(ctx context.Context, tenant string, platforms []string) ([]FlagSetting, error) {
	set, err := f.tenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]FlagSetting, 0, len(platforms)+len(set))
	seen := map[string]bool{}
	for _, p := range platforms {
		seen[p] = true
		if s, ok := set[p]; ok {
			out = append(out, s)
			continue
		}
		out = append(out, FlagSetting{Platform: p, Flag: f.Default(p), Source: "config"})
	}
	for p, s := range set {
		if !seen[p] {
			out = append(out, s)
		}
	}
	return out, nil
}

// Set stores the tenant's flag of platform.
func (f *Flags) Set(ctx context.Context, tenant, platform string, fl Flag, actor string) (FlagSetting, error) {
	if !store.ValidPlatform(platform) {
		return FlagSetting{}, fmt.Errorf("platform: must be 1-40 of a-z, 0-9, '_' and '-', got %q", platform)
	}
	if err := fl.Validate(); err != nil {
		return FlagSetting{}, err
	}
	s := FlagSetting{Platform: platform, Flag: fl, Source: "tenant", UpdatedBy: actor}
	err := f.db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		var at time.Time
		err := tx.QueryRow(ctx, `INSERT INTO connector_flags (platform, enabled, canary_percent, updated_by)
			VALUES ($1, $2, $3, nullif($4, ''))
			ON CONFLICT (tenant_id, platform) DO UPDATE SET enabled = $2, canary_percent = $3, updated_by = nullif($4, ''), updated_at = now()
			RETURNING updated_at`, platform, fl.Enabled, fl.CanaryPercent, actor).Scan(&at)
		at = at.UTC()
		s.UpdatedAt = &at
		return err
	})
	if err != nil {
		return s, fmt.Errorf("set %s connector flag of %s: %w", platform, tenant, err)
	}
	f.mu.Lock()
	delete(f.cache, tenant)
	f.mu.Unlock()
	return s, nil
}

func (f *Flags) tenant(ctx context.Context, tenant string) (map[string]FlagSetting, error) {
	f.mu.Lock()
	c, ok := f.cache[tenant]
	f.mu.Unlock()
	if ok && time.Since(c.at) < flagsTTL {
		return c.set, nil
	}
	set := map[string]FlagSetting{}
	err := f.db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT platform, enabled, canary_percent, coalesce(updated_by, ''), updated_at FROM connector_flags`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s FlagSetting
			var at time.Time
			if err := rows.Scan(&s.Platform, &s.Enabled, &s.CanaryPercent, &s.UpdatedBy, &at); err != nil {
				return err
			}
			at = at.UTC()
			s.UpdatedAt, s.Source = &at, "tenant"
			set[s.Platform] = s
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read connector flags of %s: %w", tenant, err)
	}
	f.mu.Lock()
	f.cache[tenant] = flagCache{at: time.Now(), set: set}
	f.mu.Unlock()
	return set, nil
}
