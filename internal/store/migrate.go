package store

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // registers the pgx5:// driver
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"github.com/pilotx/dispatchhub/migrations"
)

// Migrator applies the embedded schema migrations as the schema-owning role. golang-migrate
// holds an advisory lock while it works, so replicas starting together are safe.
type Migrator struct {
	m *migrate.Migrate
}

// MigrationStatus is the schema's state.
type MigrationStatus struct {
	Version    uint        `json:"version"`
	Dirty      bool        `json:"dirty"`
	Migrations []Migration `json:"migrations"`
}

// Migration is one embedded migration.
type Migration struct {
	Version uint   `json:"version"`
	Name    string `json:"name"`
	Applied bool   `json:"applied"`
}

// NewMigrator connects to PostgreSQL at migrateURL (the owner role).
func NewMigrator(migrateURL string) (*Migrator, error) {
	u, err := url.Parse(migrateURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New("postgres.migrate_url: cannot be parsed as a postgres:// URL")
	}
	u.Scheme = "pgx5"
	q := u.Query()
	q.Set("x-migrations-table", "schema_migrations")
	u.RawQuery = q.Encode()
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	m, err := migrate.NewWithSourceInstance("iofs", src, u.String())
	if err != nil {
		_ = src.Close()
		return nil, fmt.Errorf("migrate: connect: %w", redactURL(err, migrateURL))
	}
	return &Migrator{m: m}, nil
}

// Up applies every pending migration. Nothing pending is not an error.
func (mg *Migrator) Up() error {
	if err := mg.m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate up: %w", err)
	}
	return nil
}

// Down reverts steps migrations; steps <= 0 reverts all of them.
func (mg *Migrator) Down(steps int) error {
	var err error
	if steps <= 0 {
		err = mg.m.Down()
	} else {
		err = mg.m.Steps(-steps)
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate down: %w", err)
	}
	return nil
}

// Status reports the applied version and every embedded migration.
func (mg *Migrator) Status() (MigrationStatus, error) {
	var st MigrationStatus
	v, dirty, err := mg.m.Version()
	if err != nil && !errors.Is(err, migrate.ErrNilVersion) {
		return st, fmt.Errorf("migrate status: %w", err)
	}
	st.Version, st.Dirty = v, dirty
	all, err := Available()
	if err != nil {
		return st, err
	}
	for _, m := range all {
		m.Applied = v != 0 && m.Version <= v && !(dirty && m.Version == v)
		st.Migrations = append(st.Migrations, m)
	}
	return st, nil
}

// Close releases the migrator's connection.
func (mg *Migrator) Close() error {
	serr, derr := mg.m.Close()
	return errors.Join(serr, derr)
}

// Available lists the embedded migrations in order.
func Available() ([]Migration, error) {
	entries, err := fs.Glob(migrations.FS, "*.up.sql")
	if err != nil {
		return nil, err
	}
	out := make([]Migration, 0, len(entries))
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e, ".up.sql"), "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration file %s: want NNNNNN_name.up.sql", e)
		}
		out = append(out, Migration{Version: uint(v), Name: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// redactURL removes the DSN (and its password) from an error message.
func redactURL(err error, raw string) error {
	msg := err.Error()
	if raw != "" {
		msg = strings.ReplaceAll(msg, raw, "[postgres.migrate_url]")
	}
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "***")
		}
	}
	return errors.New(msg)
}
