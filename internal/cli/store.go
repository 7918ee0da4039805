package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pilotx/dispatchhub/ingest/verify"
	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/store"
)

func (e *env) storeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "store", Short: "Manage stores (the shops whose webhooks the hub receives)"}
	var s store.Store
	var pickup string
	var asJSON bool
	add := &cobra.Command{
		Use:   "add --tenant T --platform P --secret-ref REF --pickup LAT,LNG",
		Short: "Add a store and print its webhook URL",
		Long: `Add a store. --secret-ref is env:NAME or file:/absolute/path, resolved by the hub at run time;
repeat it to keep several secrets active while rotating. --pickup is where the store's orders
are collected (an order's own pickup overrides it). --api-base and --api-credential-ref point
the store's outbound connector at the platform's API (its real address by default).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s.Platform = strings.ToLower(s.Platform)
			if _, ok := verify.Lookup(s.Platform); !ok {
				return fmt.Errorf("platform: must be one of %s, got %q", strings.Join(verify.Platforms(), ", "), s.Platform)
			}
			p, err := parseLatLng(pickup)
			if err != nil {
				return err
			}
			s.Pickup = &p
			return e.withDB(cmd, func(ctx context.Context, cfg config.Config, db *store.DB) error {
				created, err := db.AddStore(ctx, s)
				if err != nil {
					return err
				}
				url := WebhookURL(cfg, created)
				if asJSON {
					return e.printJSON(map[string]string{"id": created.ID, "webhook_url": url, "tenant": created.TenantID, "platform": created.Platform})
				}
				fmt.Fprintf(e.stdout, "store %s added to tenant %s\nwebhook URL: %s\n", created.ID, created.TenantID, url)
				return nil
			})
		},
	}
	f := add.Flags()
	f.StringVar(&s.TenantID, "tenant", "", "tenant id (required)")
	f.StringVar(&s.Platform, "platform", "", "commerce platform, e.g. shopify, woocommerce (required)")
	f.StringArrayVar(&s.SecretRefs, "secret-ref", nil, "webhook secret reference env:NAME or file:/path (repeatable)")
	f.StringVar(&pickup, "pickup", "", "pickup point LAT,LNG (required)")
	f.StringVar(&s.Name, "name", "", "display name")
	f.StringVar(&s.ExternalID, "external-id", "", "the store's id on its platform (e.g. shop domain)")
	f.StringVar(&s.APIBase, "api-base", "", "base URL of the platform's API for status sync")
	f.StringVar(&s.APICredentialRef, "api-credential-ref", "", "API credential reference env:NAME or file:/path")
	f.BoolVar(&asJSON, "json", false, "print one JSON object: {\"id\":...,\"webhook_url\":...}")
	for _, name := range []string{"tenant", "platform", "secret-ref", "pickup"} {
		_ = add.MarkFlagRequired(name)
	}
	cmd.AddCommand(add)
	return cmd
}

// WebhookURL is where a store's platform must send its webhooks.
func WebhookURL(cfg config.Config, s store.Store) string {
	return strings.TrimRight(cfg.BaseURL(), "/") + "/v1/webhooks/" + s.Platform + "/" + s.ID
}

func parseLatLng(s string) (store.LatLng, error) {
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		return store.LatLng{}, errors.New("pickup: must be LAT,LNG such as 38.7223,-9.1393, got " + strconv.Quote(s))
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lng, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	p := store.LatLng{Lat: lat, Lng: lng}
	if err1 != nil || err2 != nil || !p.Valid() {
		return p, errors.New("pickup: must be LAT,LNG with latitude -90..90 and longitude -180..180, got " + strconv.Quote(s))
	}
	return p, nil
}
