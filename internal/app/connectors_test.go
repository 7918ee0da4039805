package app_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/connectors/fakeplatform"
	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

// syncedShop points the backbone's Shopify store at a fake Shopify and returns it.
func (b *backbone) syncedShop() *fakeplatform.Server {
	shop := fakeplatform.NewShopify(b.t)
	b.t.Setenv("DH_CONNECTOR_SHOP_TOKEN", shop.Credential())
	conn, err := pgx.Connect(context.Background(), b.dbInfo.OwnerURL)
	require.NoError(b.t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `SELECT set_config('app.tenant_id', 'acme', false)`)
	require.NoError(b.t, err)
	tag, err := conn.Exec(context.Background(), `UPDATE stores SET api_base = $1, api_credential_ref = 'env:DH_CONNECTOR_SHOP_TOKEN' WHERE id = $2`,
		shop.URL(), b.store.ID)
	require.NoError(b.t, err)
	require.EqualValues(b.t, 1, tag.RowsAffected())
	return shop
}

// connectorStatus reads GET /v1/connectors for platform.
func (b *backbone) connectorStatus(platform string) connectors.Status {
	var out struct {
		Connectors []connectors.Status `json:"connectors"`
	}
	require.Equal(b.t, 200, b.api("GET", "/v1/connectors", b.token("acme", "disp", auth.RoleDispatcher), nil, &out))
	for _, s := range out.Connectors {
		if s.Platform == platform {
			return s
		}
	}
	return connectors.Status{}
}

// deliver has the driver pick up and deliver the order it holds.
func deliver(d *driverApp, orderID string) {
	j := d.wait("OrderAssigned", orderID)
	d.reply(j.JobID, "picked_up")
	d.reply(j.JobID, "delivered")
}

// A store's order is dispatched and delivered; its statuses reach the store's Shopify once.
// While Shopify fails, the tenant's dispatch goes on, its connector is degraded — the
// ConnectorDegraded event and the retained connectors topic carry the banner — and when
// Shopify is back the backlog drains and the connector recovers.
func TestConnectorPushesStatusesAndShowsOutage(t *testing.T) {
	b := startDispatch(t, func(c *config.Config) {
		c.Connectors.RetryDelay = 100 * time.Millisecond
		c.Connectors.RetryDelayMax = 500 * time.Millisecond
		c.Connectors.BreakerCalls = 4
		c.Connectors.BreakerDelay = time.Second
		c.Connectors.BreakerProbes = 1
		c.Connectors.DelayedAfter = 30 * time.Second
	})
	shop := b.syncedShop()
	events := b.watch("acme", "disp", auth.RoleDispatcher, "tenants/acme/events/#")

	d, orderID := b.assignedOrder("d-sync", 701)
	deliver(d, orderID)
	testenv.Eventually(t, 20*time.Second, func() bool {
		a := shop.Applied("701")
		return len(a) >= 3 && a[len(a)-1] == "event:DELIVERED"
	}, "the statuses reach Shopify")
	assert.Equal(t, []string{"fulfillment:create", "event:IN_TRANSIT", "event:DELIVERED"}, shop.Applied("701"))
	var st connectors.Status
	testenv.Eventually(t, 10*time.Second, func() bool { st = b.connectorStatus("shopify"); return st.Pending == 0 }, "nothing pending")
	assert.Equal(t, connectors.StateHealthy, st.State)
	assert.Equal(t, "closed", st.Breaker)
	assert.GreaterOrEqual(t, st.Calls, 3)

	// Shopify goes down: dispatch goes on, the sync is delayed.
	shop.Fail(fakeplatform.Failure{Status: 503, Body: `{"errors":"Service Unavailable"}`})
	status, _ := b.webhook("orders/create", "evt-sync-702", shopifyOrder(702, time.Now(), "Lisboa"))
	require.Equal(t, 200, status)
	order2 := b.orderIDOf(702)
	deliver(d, order2)
	testenv.Eventually(t, 20*time.Second, func() bool { return len(events.on("tenants/acme/events/ConnectorDegraded")) == 1 }, "ConnectorDegraded")
	var degraded connectors.Status
	require.NoError(t, json.Unmarshal(eventPayload(t, events.on("tenants/acme/events/ConnectorDegraded")[0]), &degraded))
	assert.Equal(t, "shopify", degraded.Platform)
	assert.Contains(t, degraded.Message, "Shopify sync delayed since ")
	// A console that connects later sees the banner on the retained topic.
	late := b.watch("acme", "late-console", auth.RoleDispatcher, "tenants/acme/connectors/#")
	testenv.Eventually(t, 10*time.Second, func() bool { return len(late.on("tenants/acme/connectors/shopify")) == 1 }, "retained health")
	var retained connectors.Status
	require.NoError(t, json.Unmarshal(late.on("tenants/acme/connectors/shopify")[0], &retained))
	assert.Equal(t, connectors.StateDegraded, retained.State)
	st = b.connectorStatus("shopify")
	assert.Equal(t, connectors.StateDegraded, st.State)
	require.NotNil(t, st.DelayedSince)
	assert.Positive(t, st.Pending)

	var o orderView
	require.Equal(t, 200, b.api("GET", "/v1/orders/"+order2, b.token("acme", "disp", auth.RoleDispatcher), nil, &o))
	assert.Equal(t, "delivered", o.Status, "dispatch does not wait for Shopify")
	// New orders keep arriving through other channels.
	phone := map[string]any{
		"external_ref": "phone-1",
		"pickup":       map[string]any{"line1": "Rua do Ouro 10", "city": "Lisboa", "point": map[string]any{"lat": 38.7101, "lng": -9.1372}},
		"dropoff":      map[string]any{"line1": "Rua Augusta 1", "city": "Lisboa", "point": map[string]any{"lat": 38.71, "lng": -9.13}},
		"items":        []any{map[string]any{"name": "Pizza", "quantity": 1, "unit_price": "9.50"}},
	}
	require.Equal(t, 201, b.api("POST", "/v1/orders", b.token("acme", "disp", auth.RoleDispatcher), phone, &o))
	assert.Equal(t, "api", o.Source)

	shop.Recover()
	testenv.Eventually(t, 30*time.Second, func() bool { return len(events.on("tenants/acme/events/ConnectorRecovered")) == 1 }, "ConnectorRecovered")
	testenv.Eventually(t, 10*time.Second, func() bool { return len(shop.Applied("702")) == 3 }, "the backlog drained")
	assert.Equal(t, []string{"fulfillment:create", "event:IN_TRANSIT", "event:DELIVERED"}, shop.Applied("702"))
	assert.Zero(t, shop.Duplicates())
	testenv.Eventually(t, 10*time.Second, func() bool {
		msgs := late.on("tenants/acme/connectors/shopify")
		var s connectors.Status
		return len(msgs) == 2 && json.Unmarshal(msgs[1], &s) == nil && s.State == connectors.StateHealthy
	}, "the retained health is healthy again")
}

// eventPayload is the payload of a domain event as published on the events topic.
func eventPayload(t testing.TB, raw []byte) []byte {
	var ev struct {
		Payload json.RawMessage `json:"payload"`
	}
	require.NoError(t, json.Unmarshal(raw, &ev))
	return ev.Payload
}

func TestConnectorFlagsAPI(t *testing.T) {
	b := startBackbone(t, nil)
	disp := b.token("acme", "disp", auth.RoleDispatcher)
	var set connectors.FlagSetting
	require.Equal(t, 200, b.api("PUT", "/v1/connectors/shopify", disp, map[string]any{"enabled": true, "canary_percent": 25}, &set))
	assert.Equal(t, connectors.FlagSetting{Platform: "shopify", Flag: connectors.Flag{Enabled: true, CanaryPercent: 25}, Source: "tenant",
		UpdatedBy: "dispatcher:disp", UpdatedAt: set.UpdatedAt}, set)
	st := b.connectorStatus("shopify")
	require.NotNil(t, st.Flag)
	assert.Equal(t, 25, st.Flag.CanaryPercent)
	assert.Equal(t, "tenant", st.Flag.Source)

	var e struct {
		Error struct {
			Code   string            `json:"code"`
			Fields map[string]string `json:"fields"`
		} `json:"error"`
	}
	assert.Equal(t, 400, b.api("PUT", "/v1/connectors/shopify", disp, map[string]any{"enabled": true, "canary_percent": 101}, &e))
	assert.Contains(t, e.Error.Fields, "canary_percent")
	assert.Equal(t, 400, b.api("PUT", "/v1/connectors/shopify", disp, map[string]any{"canary_percent": 10}, &e))
	assert.Contains(t, e.Error.Fields, "enabled")
	assert.Equal(t, 400, b.api("PUT", "/v1/connectors/Sh*p", disp, map[string]any{"enabled": true}, nil))
	assert.Equal(t, 403, b.api("PUT", "/v1/connectors/shopify", b.token("acme", "d-1", auth.RoleDriver), map[string]any{"enabled": false}, nil))
	assert.Equal(t, 403, b.api("GET", "/v1/connectors?tenant=other", disp, nil, nil), "a dispatcher sees only its tenant")
	var other struct {
		Tenant string `json:"tenant"`
	}
	assert.Equal(t, 200, b.api("GET", "/v1/connectors?tenant=other", b.token("acme", "ops-1", auth.RoleOps), nil, &other))
	assert.Equal(t, "other", other.Tenant)
	assert.Equal(t, 401, b.api("GET", "/v1/connectors", "", nil, nil))
}
