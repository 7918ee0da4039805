package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pilotx/dispatchhub/internal/auth"
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
	for _, s := range out {
		if s.Platform == "shopify" {
			a.devWebhook(&b, base, s.Store, s.secretFile)
		}
	}
	a.devTokens(&b)
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

// devTokens prints a driver and a dispatcher token and MQTT examples to use them with.
func (a *App) devTokens(b *strings.Builder) {
	if a.realtime == nil {
		return
	}
	host, port := "127.0.0.1", "1883"
	if addr := a.realtime.broker.Addr("tcp"); addr != "" {
		if h, p, err := net.SplitHostPort(addr); err == nil {
			host, port = h, p
		}
	}
	fmt.Fprintf(b, "\nmqtt: tcp %s  websocket %s\n", a.realtime.broker.Addr("tcp"), wsURL(a.realtime.broker.Addr("ws"), a.cfg.MQTT.WSPath))
	if a.hs256 == nil {
		fmt.Fprintf(b, "tokens: bin/dispatchhub token --tenant %s --role driver --sub driver-1\n", DevTenant)
		return
	}
	signer := auth.NewHS256Signer(a.hs256)
	sign := func(role auth.Role, sub string) string {
		tok, err := signer.Sign(auth.Identity{Tenant: DevTenant, Subject: sub, Role: role}, a.cfg.Auth.Audience, a.cfg.Auth.Issuer, 12*time.Hour)
		if err != nil {
			return "(" + err.Error() + ")"
		}
		return tok
	}
	driverTok, dispTok := sign(auth.RoleDriver, "driver-1"), sign(auth.RoleDispatcher, "dispatcher-1")
	fmt.Fprintf(b, "driver token (driver-1, 12h):         %s\n", driverTok)
	fmt.Fprintf(b, "dispatcher token (dispatcher-1, 12h): %s\n", dispTok)
	fmt.Fprintf(b, "watch the tenant live (client id must be {tenant}.{sub}):\n  mosquitto_sub -h %s -p %s -V mqttv5 -i %s.dispatcher-1 -u %s -P '%s' -t 'tenants/%s/#' -v\n",
		host, port, DevTenant, DevTenant, dispTok, DevTenant)
	fmt.Fprintf(b, "publish a fix as driver-1:\n  mosquitto_pub -h %s -p %s -V mqttv5 -i %s.driver-1 -u %s -P '%s' -q 1 -t tenants/%s/drivers/driver-1/location -m \"{\\\"lat\\\":38.7223,\\\"lng\\\":-9.1393,\\\"ts\\\":$(date +%%s%%3N)}\"\n",
		host, port, DevTenant, DevTenant, driverTok, DevTenant)
	fmt.Fprintf(b, "more tokens: bin/dispatchhub token --tenant %s --role driver --sub driver-2\n", DevTenant)
}

func wsURL(addr, path string) string {
	if addr == "" {
		return "(disabled)"
	}
	return "ws://" + addr + path
}

// devOrder is the demo order the printed curl sends (a Shopify orders/create payload).
const devOrder = `{"id":820982911946154500,"name":"#1001","updated_at":"2026-11-25T12:00:00Z","currency":"EUR","total_price":"21.50",` +
	`"shipping_address":{"first_name":"Ana","last_name":"Silva","address1":"Rua Augusta 1","city":"Lisboa","zip":"1100-053",` +
	`"country_code":"PT","latitude":38.7105,"longitude":-9.1372},"line_items":[{"sku":"PZ-1","title":"Pizza","quantity":2,"price":"10.75"}]}`

// devWebhook prints a curl that sends a correctly signed Shopify webhook to the demo store.
func (a *App) devWebhook(b *strings.Builder, base string, s store.Store, secretFile string) {
	raw, err := os.ReadFile(secretFile)
	if err != nil {
		return
	}
	mac := hmac.New(sha256.New, bytes.TrimRight(raw, "\r\n"))
	mac.Write([]byte(devOrder))
	sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	fmt.Fprintf(b, "\nsend a signed Shopify webhook (a new event id each time; repeat one to see \"duplicate\"):\n")
	fmt.Fprintf(b, "  curl -s %s/v1/webhooks/shopify/%s -H 'Content-Type: application/json' -H 'X-Shopify-Topic: orders/create' \\\n", base, s.ID)
	fmt.Fprintf(b, "    -H \"X-Shopify-Event-Id: $(date +%%s%%N)\" -H 'X-Shopify-Hmac-Sha256: %s' \\\n    -d '%s'\n", sig, devOrder)
	fmt.Fprintf(b, "  bin/dispatchhub webhooks rejected      # why a webhook was refused\n")
}
