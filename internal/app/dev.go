package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pilotx/dispatchhub/internal/store"
)

// DevTenant is the tenant `serve --dev` seeds.
const DevTenant = "demo"

// devStores are the demo stores: one per platform, pickup points in Lisbon.
var devStores = []struct {
	platform, name, externalID string
	pickup                     store.LatLng
}{
	{"shopify", "Demo Shopify store", "demo-shop.myshopify.com", store.LatLng{Lat: 38.7223, Lng: -9.1393}},
	{"woocommerce", "Demo WooCommerce store", "demo-woo.example", store.LatLng{Lat: 38.7369, Lng: -9.1427}},
}

// seedDev creates (once) the demo tenant and stores, with dev secrets in files under
// {data_dir}/dev, and prints what to copy and paste.
func (a *App) seedDev(ctx context.Context) error {
	if _, err := a.db.CreateTenant(ctx, DevTenant, "Demo delivery company"); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("dev seed: %w", err)
	}
	existing, err := a.db.ListStores(ctx, DevTenant)
	if err != nil {
		return fmt.Errorf("dev seed: %w", err)
	}
	dir, err := filepath.Abs(filepath.Join(a.cfg.DataDir, "dev"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("dev seed: %w", err)
	}

	type seeded struct {
		store.Store
		secretFile string
	}
	var out []seeded
	for _, ds := range devStores {
		secretFile := filepath.Join(dir, ds.platform+".secret")
		if err := ensureSecretFile(secretFile); err != nil {
			return fmt.Errorf("dev seed: %w", err)
		}
		var s *store.Store
		for i := range existing {
			if existing[i].Platform == ds.platform && existing[i].ExternalID == ds.externalID {
				s = &existing[i]
			}
		}
		if s == nil {
			pickup := ds.pickup
			created, err := a.db.AddStore(ctx, store.Store{
				TenantID: DevTenant, Platform: ds.platform, Name: ds.name, ExternalID: ds.externalID,
				SecretRefs: []string{"file:" + secretFile}, Pickup: &pickup,
			})
			if err != nil {
				return fmt.Errorf("dev seed: %w", err)
			}
			s = &created
		}
		out = append(out, seeded{*s, secretFile})
	}

	var b strings.Builder
	base := a.cfg.BaseURL()
	if a.cfg.HTTP.PublicURL == "" {
		base = "http://" + a.edge.Addr()
	}
	fmt.Fprintf(&b, "\n== dispatchhub dev mode ==\n")
	fmt.Fprintf(&b, "tenant: %s\n", DevTenant)
	for _, s := range out {
		fmt.Fprintf(&b, "store %-12s id %s\n  webhook URL: %s/v1/webhooks/%s/%s\n  secret:      %s (ref file:%s)\n",
			s.Platform, s.ID, base, s.Platform, s.ID, s.secretFile, s.secretFile)
	}
	fmt.Fprintf(&b, "\ntry:\n  curl -s %s/readyz\n  curl -s %s/metrics | grep dispatchhub_\n", base, base)
	if u := a.natsURL(); u != "" {
		fmt.Fprintf(&b, "  nats --server %s stream ls        # tap the backbone with the nats CLI\n", u)
	}
	fmt.Fprintf(&b, "stop with Ctrl-C; `make services-down` stops PostgreSQL and Redis.\n\n")
	_, err = fmt.Fprint(a.stdout, b.String())
	return err
}

// ensureSecretFile writes a random 32-byte hex secret to path unless it exists.
func ensureSecretFile(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(hex.EncodeToString(buf)+"\n"), 0o600)
}
