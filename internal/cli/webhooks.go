package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/pilotx/dispatchhub/ingest"
)

func (e *env) webhooksCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "webhooks", Short: "Inspect the webhook edge"}
	var limit int
	var asJSON bool
	rejected := &cobra.Command{
		Use:   "rejected",
		Short: "List the latest refused webhooks (newest first), with why they were refused",
		Long: `List the latest refused webhooks, newest first: time, platform, store, status, reason,
the headers that matter (credentials are never kept) and the start of the body.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.load(cmd)
			if err != nil {
				return err
			}
			rdb := redis.NewClient(&redis.Options{Addr: cfg.Redis.Addr, Password: cfg.Redis.Password, DB: cfg.Redis.DB, DialTimeout: cfg.Redis.DialTimeout})
			defer rdb.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			list, err := ingest.ListRejections(ctx, rdb, cfg.Redis.KeyPrefix, limit)
			if err != nil {
				return fmt.Errorf("%w (is Redis up? `scripts/services.sh up`)", err)
			}
			if asJSON {
				if list == nil {
					list = []ingest.Rejection{}
				}
				return e.printJSON(map[string]any{"rejections": list})
			}
			if len(list) == 0 {
				fmt.Fprintln(e.stdout, "no rejected webhooks")
				return nil
			}
			for _, r := range list {
				fmt.Fprintf(e.stdout, "%s  %d %-20s %s/%s from %s: %s\n", r.At.Format(time.RFC3339), r.Status, r.Reason, r.Platform, r.StoreID, r.Remote, r.Detail)
				var hs []string
				for k, v := range r.Headers {
					hs = append(hs, k+": "+v)
				}
				if len(hs) > 0 {
					fmt.Fprintf(e.stdout, "    headers: %s\n", strings.Join(hs, " | "))
				}
				if r.BodyExcerpt != "" {
					fmt.Fprintf(e.stdout, "    body (%d bytes): %s\n", r.BodySize, r.BodyExcerpt)
				}
			}
			return nil
		},
	}
	rejected.Flags().IntVar(&limit, "limit", 50, "how many to show")
	rejected.Flags().BoolVar(&asJSON, "json", false, "print one JSON object {\"rejections\":[...]}")
	cmd.AddCommand(rejected)
	return cmd
}
