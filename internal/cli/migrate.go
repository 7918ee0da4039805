package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pilotx/dispatchhub/internal/store"
)

func (e *env) migrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply, revert or show the schema migrations (as postgres.migrate_url)",
	}
	withMigrator := func(cmd *cobra.Command, fn func(*store.Migrator) error) error {
		cfg, err := e.load(cmd)
		if err != nil {
			return err
		}
		if cfg.Postgres.MigrateURL == "" {
			return configError{fmt.Errorf("postgres.migrate_url: must be a postgres:// URL to migrate, got \"\"")}
		}
		m, err := store.NewMigrator(cfg.Postgres.MigrateURL)
		if err != nil {
			return hint(err)
		}
		defer m.Close()
		return fn(m)
	}
	var asJSON, all bool
	up := &cobra.Command{
		Use: "up", Short: "Apply every pending migration", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withMigrator(cmd, func(m *store.Migrator) error {
				if err := m.Up(); err != nil {
					return err
				}
				return e.printStatus(m, asJSON)
			})
		},
	}
	down := &cobra.Command{
		Use: "down", Short: "Revert the last migration (--all: every migration)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withMigrator(cmd, func(m *store.Migrator) error {
				steps := 1
				if all {
					steps = 0
				}
				if err := m.Down(steps); err != nil {
					return err
				}
				return e.printStatus(m, asJSON)
			})
		},
	}
	down.Flags().BoolVar(&all, "all", false, "revert every migration (drops all data)")
	status := &cobra.Command{
		Use: "status", Short: "Show the schema version and each migration", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withMigrator(cmd, func(m *store.Migrator) error { return e.printStatus(m, asJSON) })
		},
	}
	for _, c := range []*cobra.Command{up, down, status} {
		c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	}
	cmd.AddCommand(up, down, status)
	return cmd
}

func (e *env) printStatus(m *store.Migrator, asJSON bool) error {
	st, err := m.Status()
	if err != nil {
		return err
	}
	if asJSON {
		return e.printJSON(st)
	}
	dirty := ""
	if st.Dirty {
		dirty = " (DIRTY: a migration failed half-way; fix the schema by hand, then force the version)"
	}
	fmt.Fprintf(e.stdout, "schema version %d%s\n", st.Version, dirty)
	for _, mg := range st.Migrations {
		mark := "pending"
		if mg.Applied {
			mark = "applied"
		}
		fmt.Fprintf(e.stdout, "  %06d %-30s %s\n", mg.Version, mg.Name, mark)
	}
	return nil
}
