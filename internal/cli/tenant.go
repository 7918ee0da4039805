package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/store"
)

// withDB opens the service-role pool for one command.
func (e *env) withDB(cmd *cobra.Command, fn func(context.Context, config.Config, *store.DB) error) error {
	cfg, err := e.load(cmd)
	if err != nil {
		return err
	}
	db, err := store.Open(store.Config{URL: cfg.Postgres.URL, MaxConns: 2, ConnectTimeout: cfg.Postgres.ConnectTimeout, StatementTimeout: cfg.Postgres.StatementTimeout})
	if err != nil {
		return err
	}
	defer db.Close()
	return hint(fn(cmd.Context(), cfg, db))
}

func (e *env) tenantCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Manage tenants"}
	var id string
	var asJSON bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a tenant; its id is --id or a slug of NAME",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if id == "" {
				id = store.TenantSlug(name)
			}
			if !store.ValidTenantID(id) {
				return fmt.Errorf("tenant id: must be 1-40 of a-z, 0-9 and '-', not starting or ending with '-', got %q (pass --id)", id)
			}
			return e.withDB(cmd, func(ctx context.Context, _ config.Config, db *store.DB) error {
				t, err := db.CreateTenant(ctx, id, name)
				if err != nil {
					return err
				}
				if asJSON {
					return e.printJSON(map[string]string{"id": t.ID, "name": t.Name})
				}
				fmt.Fprintf(e.stdout, "tenant %s created (%s)\n", t.ID, t.Name)
				return nil
			})
		},
	}
	create.Flags().StringVar(&id, "id", "", "tenant id (default: a slug of NAME)")
	create.Flags().BoolVar(&asJSON, "json", false, "print one JSON object: {\"id\":...}")
	cmd.AddCommand(create)
	return cmd
}
