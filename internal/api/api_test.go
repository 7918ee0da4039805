package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pilotx/dispatchhub/dispatch"
	"github.com/pilotx/dispatchhub/ingest/normalize"
	"github.com/pilotx/dispatchhub/internal/api"
	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/dlq"
	"github.com/pilotx/dispatchhub/internal/edge"
	"github.com/pilotx/dispatchhub/internal/health"
	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

var secret = []byte("api-test-hs256-secret-0123456789abcdef")

type env struct {
	t       *testing.T
	db      *store.DB
	bus     *bus.Bus
	base    string
	signer  *auth.Signer
	storeID string
}

// newEnv serves the API on a free port, with tenants acme (one store) and beta.
func newEnv(t *testing.T) *env {
	t.Helper()
	info := testenv.NewDatabase(t, true)
	db, err := store.Open(store.Config{URL: info.AppURL, MaxConns: 8, ConnectTimeout: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	ctx := context.Background()
	for _, id := range []string{"acme", "beta"} {
		_, err := db.CreateTenant(ctx, id, id)
		require.NoError(t, err)
	}
	s, err := db.AddStore(ctx, store.Store{TenantID: "acme", Platform: "shopify", SecretRefs: []string{"env:X"}, Pickup: &store.LatLng{Lat: 38.72, Lng: -9.14}})
	require.NoError(t, err)
	b, err := bus.Start(ctx, bus.Config{Host: "127.0.0.1", Port: 0, StoreDir: t.TempDir(), MaxStore: 1 << 28, Replicas: 1,
		DuplicateWindow: time.Minute, IngestMaxAge: time.Hour, EventsMaxAge: time.Hour, OutboundMaxAge: time.Hour}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	e := &env{t: t, db: db, bus: b, signer: auth.NewHS256Signer(secret), storeID: s.ID}
	e.base = serve(t, db, b.JetStream())
	return e
}

// serve starts an edge with the API mounted and returns its base URL. setup, when given, tunes
// the API before it is mounted.
func serve(t *testing.T, db *store.DB, js jetstream.JetStream, setup ...func(*api.API)) string {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{Audience: "dispatchhub", HS256Secret: secret, Algorithms: config.Default().Auth.Algorithms, Leeway: time.Second}, zerolog.Nop())
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	srv := edge.New(edge.Config{Addr: "127.0.0.1:0", ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second,
		BodyLimit: 4 << 20, Concurrency: 256, ReadyzTimeout: time.Second}, zerolog.Nop(), reg, health.NewRegistry())
	a := api.New(db, v, js, zerolog.Nop(), reg)
	for _, f := range setup {
		f(a)
	}
	a.Mount(srv.App())
	require.NoError(t, srv.Listen())
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, srv.Shutdown(ctx))
		require.NoError(t, <-done)
	})
	return "http://" + srv.Addr()
}

func (e *env) token(tenant string, role auth.Role, sub string) string {
	e.t.Helper()
	tok, err := e.signer.Sign(auth.Identity{Tenant: tenant, Role: role, Subject: sub}, "dispatchhub", "", time.Hour)
	require.NoError(e.t, err)
	return tok
}

type answer struct {
	Status int
	Header http.Header
	Raw    string
	JSON   map[string]any
}

func (a answer) errorCode() string {
	m, _ := a.JSON["error"].(map[string]any)
	s, _ := m["code"].(string)
	return s
}

func (a answer) errorMessage() string {
	m, _ := a.JSON["error"].(map[string]any)
	s, _ := m["message"].(string)
	return s
}

func (a answer) fields() map[string]any {
	m, _ := a.JSON["error"].(map[string]any)
	f, _ := m["fields"].(map[string]any)
	return f
}

// call sends a request; body is JSON when not a string, or sent as is.
func (e *env) call(method, path, token string, body any, hdr ...string) answer {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(e.t, err)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.base+path, r)
	require.NoError(e.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	a := answer{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &a.JSON)
	return a
}

func orderBody(ref string) map[string]any {
	return map[string]any{
		"external_ref": ref,
		"dropoff":      map[string]any{"line1": "Rua Augusta 1", "city": "Lisboa", "point": map[string]any{"lat": 38.71, "lng": -9.13}},
		"items":        []any{map[string]any{"name": "Pizza", "quantity": 2, "unit_price": "9.50"}},
		"contact":      map[string]any{"name": "Ana", "phone": "+351900000000"},
		"totals":       map[string]any{"currency": "EUR", "total": "19.00"},
		"note":         "ring twice",
	}
}

// createOrder makes an order of tenant through the API and returns it.
func (e *env) createOrder(tenant, ref string) dispatch.Order {
	e.t.Helper()
	a := e.call("POST", "/v1/orders", e.token(tenant, auth.RoleDispatcher, "u1"), orderBody(ref))
	require.Equal(e.t, http.StatusCreated, a.Status, a.Raw)
	var o dispatch.Order
	require.NoError(e.t, json.Unmarshal([]byte(a.Raw), &o))
	return o
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	other := auth.NewHS256Signer([]byte("another-secret-of-at-least-32-bytes!!"))
	foreign, err := other.Sign(auth.Identity{Tenant: "acme", Role: auth.RoleOps, Subject: "x"}, "dispatchhub", "", time.Hour)
	require.NoError(t, err)
	expired, err := e.signer.Sign(auth.Identity{Tenant: "acme", Role: auth.RoleOps, Subject: "x"}, "dispatchhub", "", -time.Minute)
	require.NoError(t, err)
	wrongAud, err := e.signer.Sign(auth.Identity{Tenant: "acme", Role: auth.RoleOps, Subject: "x"}, "elsewhere", "", time.Hour)
	require.NoError(t, err)

	routes := [][2]string{{"POST", "/v1/orders"}, {"GET", "/v1/orders"}, {"GET", "/v1/orders/00000000-0000-0000-0000-000000000000"},
		{"POST", "/v1/orders/00000000-0000-0000-0000-000000000000/cancel"}, {"GET", "/v1/drivers"}, {"GET", "/v1/drivers/d1/jobs"},
		{"GET", "/v1/dlq"}, {"POST", "/v1/dlq/00000000-0000-0000-0000-000000000000/replay"}, {"POST", "/v1/dlq/replay"}}
	cases := []struct {
		name, header, reason string
	}{
		{"missing", "", "missing"},
		{"not bearer", "Basic dXNlcjpwYXNz", "malformed"},
		{"garbage", "Bearer not.a.jwt", "malformed"},
		{"expired", "Bearer " + expired, "expired"},
		{"other key", "Bearer " + foreign, "bad_signature"},
		{"audience", "Bearer " + wrongAud, "audience"},
	}
	for _, r := range routes {
		for _, c := range cases {
			var hdr []string
			if c.header != "" {
				hdr = []string{"Authorization", c.header}
			}
			a := e.call(r[0], r[1], "", nil, hdr...)
			assert.Equal(t, http.StatusUnauthorized, a.Status, "%s %s %s", r[0], r[1], c.name)
			assert.Equal(t, "unauthorized", a.errorCode(), "%s %s %s", r[0], r[1], c.name)
			assert.Contains(t, a.errorMessage(), c.reason, "%s %s %s", r[0], r[1], c.name)
			assert.Contains(t, a.Header.Get("WWW-Authenticate"), "Bearer")
		}
	}
	a := e.call("GET", "/v1/orders", e.token("acme", auth.RoleOps, "x"), nil)
	assert.Equal(t, http.StatusOK, a.Status, a.Raw)

	// The webhook routes under /v1 are not behind the API's authentication.
	a = e.call("POST", "/v1/webhooks/shopify/"+e.storeID, "", "{}")
	assert.NotEqual(t, http.StatusUnauthorized, a.Status)
}

func TestRoles(t *testing.T) {
	e := newEnv(t)
	o := e.createOrder("acme", "R-1")
	dl := recordDeadLetter(t, e.db, "acme", "shopify", "m-1")
	cases := []struct {
		method, path string
		body         any
		refused      []auth.Role
	}{
		{"POST", "/v1/orders", orderBody("R-2"), []auth.Role{auth.RoleDriver, auth.RoleOps}},
		{"GET", "/v1/orders", nil, []auth.Role{auth.RoleDriver}},
		{"GET", "/v1/orders/" + o.ID, nil, []auth.Role{auth.RoleDriver}},
		{"POST", "/v1/orders/" + o.ID + "/cancel", map[string]any{"reason": "x"}, []auth.Role{auth.RoleDriver, auth.RoleOps}},
		{"GET", "/v1/drivers", nil, []auth.Role{auth.RoleDriver}},
		{"GET", "/v1/dlq", nil, []auth.Role{auth.RoleDriver, auth.RoleDispatcher}},
		{"POST", "/v1/dlq/" + dl + "/replay", nil, []auth.Role{auth.RoleDriver, auth.RoleDispatcher}},
		{"POST", "/v1/dlq/replay", nil, []auth.Role{auth.RoleDriver, auth.RoleDispatcher}},
	}
	for _, c := range cases {
		for _, role := range []auth.Role{auth.RoleDriver, auth.RoleDispatcher, auth.RoleOps, auth.RoleService} {
			a := e.call(c.method, c.path, e.token("acme", role, "u-"+string(role)), c.body)
			refused := false
			for _, r := range c.refused {
				refused = refused || r == role
			}
			if refused {
				assert.Equal(t, http.StatusForbidden, a.Status, "%s %s as %s: %s", c.method, c.path, role, a.Raw)
				assert.Equal(t, "forbidden", a.errorCode())
			} else {
				assert.Less(t, a.Status, 300, "%s %s as %s: %s", c.method, c.path, role, a.Raw)
			}
		}
	}
	// Jobs: a driver its own only; the others any driver's.
	a := e.call("GET", "/v1/drivers/d-1/jobs", e.token("acme", auth.RoleDriver, "d-1"), nil)
	assert.Equal(t, http.StatusOK, a.Status, a.Raw)
	a = e.call("GET", "/v1/drivers/d-2/jobs", e.token("acme", auth.RoleDriver, "d-1"), nil)
	assert.Equal(t, http.StatusForbidden, a.Status, a.Raw)
	assert.Equal(t, "forbidden", a.errorCode())
	for _, role := range []auth.Role{auth.RoleDispatcher, auth.RoleOps, auth.RoleService} {
		a = e.call("GET", "/v1/drivers/d-2/jobs", e.token("acme", role, "u"), nil)
		assert.Equal(t, http.StatusOK, a.Status, "%s: %s", role, a.Raw)
	}
}

func TestCreateOrder(t *testing.T) {
	e := newEnv(t)
	tok := e.token("acme", auth.RoleDispatcher, "u1")
	a := e.call("POST", "/v1/orders", tok, orderBody("API-1"))
	require.Equal(t, http.StatusCreated, a.Status, a.Raw)
	var o dispatch.Order
	require.NoError(t, json.Unmarshal([]byte(a.Raw), &o))
	assert.Equal(t, "/v1/orders/"+o.ID, a.Header.Get("Location"))
	assert.Equal(t, "acme", o.Tenant)
	assert.Equal(t, "API-1", o.ExternalRef)
	assert.Equal(t, dispatch.SourceAPI, o.Source)
	assert.Equal(t, dispatch.StatusPending, o.Status)
	assert.Equal(t, []normalize.Item{{Name: "Pizza", Quantity: 2, UnitPrice: "9.50"}}, o.Items)

	again := e.call("POST", "/v1/orders", e.token("acme", auth.RoleService, "svc"), orderBody("API-1"))
	require.Equal(t, http.StatusOK, again.Status, "the same reference again: the existing order")
	assert.JSONEq(t, a.Raw, again.Raw)

	withStore := orderBody("API-2")
	withStore["store_id"] = e.storeID
	delete(withStore, "pickup")
	a = e.call("POST", "/v1/orders", tok, withStore)
	require.Equal(t, http.StatusCreated, a.Status, a.Raw)
	pickup := a.JSON["pickup"].(map[string]any)["point"].(map[string]any)
	assert.Equal(t, 38.72, pickup["lat"], "the store's pickup point")

	h := e.call("GET", "/v1/orders/"+o.ID, tok, nil)
	require.Equal(t, http.StatusOK, h.Status)
	hist := h.JSON["history"].([]any)
	require.Len(t, hist, 1)
	assert.Equal(t, "dispatcher:u1", hist[0].(map[string]any)["actor"])
}

func TestCreateOrderValidation(t *testing.T) {
	e := newEnv(t)
	tok := e.token("acme", auth.RoleDispatcher, "u1")
	cases := []struct {
		name   string
		body   any
		fields map[string]any
	}{
		{"rules", map[string]any{
			"items":  []any{map[string]any{"name": "a", "quantity": 1}, map[string]any{"name": "b", "quantity": 0}, map[string]any{"sku": "c", "quantity": -1, "unit_price": "x"}},
			"pickup": map[string]any{"point": map[string]any{"lat": 100, "lng": 0}},
			"totals": map[string]any{"currency": "euro"},
		}, map[string]any{
			"external_ref":        "required",
			"dropoff":             "required",
			"items[1].quantity":   "must be > 0",
			"items[2].quantity":   "must be > 0",
			"items[2].unit_price": `must be a decimal number as a string, such as "12.50"`,
			"pickup.point.lat":    "must be -90..90",
			"totals.currency":     `must be an ISO 4217 code such as "EUR"`,
		}},
		{"dropoff without a place", map[string]any{"external_ref": "x", "dropoff": map[string]any{"city": "Lisboa"}},
			map[string]any{"dropoff": "needs a point or an address line (line1)"}},
		{"unknown top-level field", map[string]any{"external_ref": "x", "dropoff": map[string]any{"line1": "a"}, "priority": 1},
			map[string]any{"priority": "unknown field"}},
		{"unknown nested field", map[string]any{"external_ref": "x", "dropoff": map[string]any{"line1": "a", "floor": 3}},
			map[string]any{"dropoff.floor": "unknown field"}},
		{"unknown field in a point", map[string]any{"external_ref": "x", "dropoff": map[string]any{"point": map[string]any{"lat": 1, "lng": 2, "alt": 3}}},
			map[string]any{"dropoff.point.alt": "unknown field"}},
		{"unknown field in an item", map[string]any{"external_ref": "x", "dropoff": map[string]any{"line1": "a"}, "items": []any{map[string]any{"name": "a", "quantity": 1}, map[string]any{"name": "b", "quantity": 1, "colour": "red"}}},
			map[string]any{"items[1].colour": "unknown field"}},
		{"wrong types", map[string]any{"external_ref": 12, "dropoff": map[string]any{"line1": "a"}},
			map[string]any{"external_ref": "must be a string"}},
		{"wrong type in an item", map[string]any{"external_ref": "x", "dropoff": map[string]any{"line1": "a"}, "items": []any{map[string]any{"name": "a", "quantity": "two"}}},
			map[string]any{"items[0].quantity": "must be a number"}},
		{"missing quantity", map[string]any{"external_ref": "x", "dropoff": map[string]any{"line1": "a"}, "items": []any{map[string]any{"name": "a"}}},
			map[string]any{"items[0].quantity": "required"}},
		{"half a point", map[string]any{"external_ref": "x", "dropoff": map[string]any{"point": map[string]any{"lat": 1}}},
			map[string]any{"dropoff.point.lng": "required"}},
		{"items not a list", map[string]any{"external_ref": "x", "dropoff": map[string]any{"line1": "a"}, "items": map[string]any{}},
			map[string]any{"items": "must be an array"}},
		{"not an object", "[1,2]", map[string]any{"body": "must be an object"}},
		{"malformed", `{"external_ref": "x",`, map[string]any{"body": "malformed JSON: unexpected end"}},
		{"trailing data", `{"external_ref": "x", "dropoff": {"line1": "a"}} {}`, map[string]any{"body": "unexpected data after the JSON value"}},
		{"empty", " ", map[string]any{"body": "required: a JSON object"}},
		{"store of nobody", map[string]any{"external_ref": "x", "dropoff": map[string]any{"line1": "a"}, "store_id": "00000000-0000-0000-0000-000000000000"},
			map[string]any{"store_id": "unknown store"}},
	}
	for _, c := range cases {
		a := e.call("POST", "/v1/orders", tok, c.body)
		assert.Equal(t, http.StatusBadRequest, a.Status, "%s: %s", c.name, a.Raw)
		assert.Equal(t, "invalid", a.errorCode(), c.name)
		assert.NotEmpty(t, a.errorMessage(), c.name)
		assert.Equal(t, c.fields, a.fields(), c.name)
	}

	a := e.call("POST", "/v1/orders", tok, "external_ref=x", "Content-Type", "application/x-www-form-urlencoded")
	assert.Equal(t, http.StatusUnsupportedMediaType, a.Status, a.Raw)
	assert.Equal(t, "unsupported_media_type", a.errorCode())
	a = e.call("POST", "/v1/orders", tok, "{}", "Content-Encoding", "gzip")
	assert.Equal(t, http.StatusUnsupportedMediaType, a.Status, a.Raw)

	big := orderBody("BIG")
	big["note"] = strings.Repeat("n", api.BodyLimit)
	a = e.call("POST", "/v1/orders", tok, big)
	assert.Equal(t, http.StatusRequestEntityTooLarge, a.Status, a.Raw)
	assert.Equal(t, "payload_too_large", a.errorCode())

	list := e.call("GET", "/v1/orders", tok, nil)
	require.Equal(t, http.StatusOK, list.Status)
	assert.Empty(t, list.JSON["orders"], "nothing was created")
}

func TestListOrdersAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 120 {
		_, _, err := dispatch.CreateOrder(ctx, e.db, "acme", dispatch.NewOrder{ExternalRef: fmt.Sprintf("L-%03d", i), Dropoff: &normalize.Address{Line1: "x"}})
		require.NoError(t, err)
	}
	_, _, err := dispatch.CreateOrder(ctx, e.db, "beta", dispatch.NewOrder{ExternalRef: "B-1", Dropoff: &normalize.Address{Line1: "x"}})
	require.NoError(t, err)

	tok := e.token("acme", auth.RoleOps, "ops1")
	seen := map[string]bool{}
	var pages []int
	path := "/v1/orders?limit=50"
	for {
		a := e.call("GET", path, tok, nil)
		require.Equal(t, http.StatusOK, a.Status, a.Raw)
		orders := a.JSON["orders"].([]any)
		pages = append(pages, len(orders))
		for _, o := range orders {
			m := o.(map[string]any)
			assert.Equal(t, "acme", m["tenant"])
			seen[m["id"].(string)] = true
		}
		next, _ := a.JSON["next_cursor"].(string)
		if next == "" {
			break
		}
		require.Less(t, len(pages), 10)
		path = "/v1/orders?limit=50&cursor=" + url.QueryEscape(next)
	}
	assert.Equal(t, []int{50, 50, 20}, pages)
	assert.Len(t, seen, 120)

	a := e.call("GET", "/v1/orders", tok, nil)
	assert.Len(t, a.JSON["orders"], 50, "default limit")
	a = e.call("GET", "/v1/orders?status=pending&updated_since="+url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339))+"&limit=500", tok, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Len(t, a.JSON["orders"], 120)
	assert.Equal(t, "", a.JSON["next_cursor"])
	a = e.call("GET", "/v1/orders?status=cancelled", tok, nil)
	assert.Empty(t, a.JSON["orders"])
	a = e.call("GET", "/v1/orders?updated_since="+url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), tok, nil)
	assert.Empty(t, a.JSON["orders"])

	for query, field := range map[string]string{
		"status=lost": "status", "updated_since=yesterday": "updated_since", "limit=0": "limit", "limit=501": "limit",
		"limit=ten": "limit", "cursor=garbage": "cursor",
	} {
		a := e.call("GET", "/v1/orders?"+query, tok, nil)
		assert.Equal(t, http.StatusBadRequest, a.Status, query)
		assert.Equal(t, "invalid", a.errorCode(), query)
		assert.Contains(t, a.fields(), field, query)
		assert.Contains(t, a.errorMessage(), field, query)
	}
}

func TestGetAndCancelOrder(t *testing.T) {
	e := newEnv(t)
	o := e.createOrder("acme", "G-1")
	tok := e.token("acme", auth.RoleDispatcher, "u2")

	a := e.call("GET", "/v1/orders/"+o.ID, e.token("acme", auth.RoleOps, "o"), nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, o.ID, a.JSON["id"])
	assert.Equal(t, "pending", a.JSON["status"])
	assert.Len(t, a.JSON["history"], 1)

	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "nope"} {
		a = e.call("GET", "/v1/orders/"+id, tok, nil)
		assert.Equal(t, http.StatusNotFound, a.Status, id)
		assert.Equal(t, "not_found", a.errorCode())
		a = e.call("POST", "/v1/orders/"+id+"/cancel", tok, nil)
		assert.Equal(t, http.StatusNotFound, a.Status, id)
	}

	a = e.call("POST", "/v1/orders/"+o.ID+"/cancel", tok, map[string]any{"reason": "x", "urgent": true})
	assert.Equal(t, http.StatusBadRequest, a.Status)
	assert.Equal(t, map[string]any{"urgent": "unknown field"}, a.fields())

	a = e.call("POST", "/v1/orders/"+o.ID+"/cancel", tok, map[string]any{"reason": "customer called"})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, "cancelled", a.JSON["status"])
	assert.Equal(t, "customer called", a.JSON["cancel_reason"])
	assert.Equal(t, float64(2), a.JSON["version"])
	twice := e.call("POST", "/v1/orders/"+o.ID+"/cancel", tok, nil)
	require.Equal(t, http.StatusOK, twice.Status, "cancelling a cancelled order answers the order")
	assert.JSONEq(t, a.Raw, twice.Raw)

	a = e.call("GET", "/v1/orders/"+o.ID, tok, nil)
	hist := a.JSON["history"].([]any)
	require.Len(t, hist, 2)
	assert.Equal(t, "OrderCancelled", hist[1].(map[string]any)["type"])
	assert.Equal(t, "dispatcher:u2", hist[1].(map[string]any)["actor"])

	late := e.createOrder("acme", "G-2")
	require.NoError(t, e.db.WithTenantTx(context.Background(), "acme", func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `UPDATE orders SET status = 'picked_up' WHERE id = $1::uuid`, late.ID)
		return err
	}))
	a = e.call("POST", "/v1/orders/"+late.ID+"/cancel", tok, map[string]any{"reason": "too late"})
	assert.Equal(t, http.StatusConflict, a.Status, a.Raw)
	assert.Equal(t, "conflict", a.errorCode())
	assert.Contains(t, a.errorMessage(), "picked up")
	assert.NotContains(t, a.errorMessage(), late.ID)
}

// TestOtherTenantsOrders: a token of tenant beta, of any role that may use a route, gets 404
// for tenant acme's order on every order route, and changes nothing.
func TestOtherTenantsOrders(t *testing.T) {
	e := newEnv(t)
	o := e.createOrder("acme", "T-1")
	for _, role := range []auth.Role{auth.RoleDispatcher, auth.RoleOps, auth.RoleService} {
		tok := e.token("beta", role, "intruder")
		a := e.call("GET", "/v1/orders/"+o.ID, tok, nil)
		assert.Equal(t, http.StatusNotFound, a.Status, "%s: %s", role, a.Raw)
		assert.Equal(t, "not_found", a.errorCode())
		if role != auth.RoleOps {
			a = e.call("POST", "/v1/orders/"+o.ID+"/cancel", tok, map[string]any{"reason": "mine"})
			assert.Equal(t, http.StatusNotFound, a.Status, "%s: %s", role, a.Raw)
		}
		a = e.call("GET", "/v1/orders", tok, nil)
		require.Equal(t, http.StatusOK, a.Status)
		for _, listed := range a.JSON["orders"].([]any) {
			assert.Equal(t, "beta", listed.(map[string]any)["tenant"], role)
			assert.NotEqual(t, o.ID, listed.(map[string]any)["id"], role)
		}
		// The same reference in beta is beta's own order, not acme's.
		if role != auth.RoleOps {
			body := orderBody("T-1")
			a = e.call("POST", "/v1/orders", tok, body)
			assert.Contains(t, []int{http.StatusCreated, http.StatusOK}, a.Status)
			assert.NotEqual(t, o.ID, a.JSON["id"])
		}
	}
	got, err := dispatch.GetOrder(context.Background(), e.db, "acme", o.ID)
	require.NoError(t, err)
	assert.Equal(t, o, got, "untouched")
}

func TestDriversAPI(t *testing.T) {
	e := newEnv(t)
	o := e.createOrder("acme", "D-1")
	var jobID string
	require.NoError(t, e.db.WithTenantTx(context.Background(), "acme", func(tx pgx.Tx) error {
		ctx := context.Background()
		if _, err := tx.Exec(ctx, `INSERT INTO drivers (id, name, last_seen_at) VALUES ('d-1', 'Dana', now()), ('d-2', 'Eli', NULL)`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO assignments (order_id, driver_id, status, expires_at) VALUES ($1::uuid, 'd-1', 'offered', now() + interval '30 seconds') RETURNING id::text`, o.ID).Scan(&jobID)
	}))

	a := e.call("GET", "/v1/drivers", e.token("acme", auth.RoleDispatcher, "u"), nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	drivers := a.JSON["drivers"].([]any)
	require.Len(t, drivers, 2)
	d1 := drivers[0].(map[string]any)
	assert.Equal(t, "d-1", d1["id"])
	assert.Equal(t, "Dana", d1["name"])
	assert.Equal(t, true, d1["on_duty"])
	assert.Equal(t, float64(1), d1["capacity"])
	assert.NotEmpty(t, d1["last_seen_at"])

	a = e.call("GET", "/v1/drivers", e.token("beta", auth.RoleDispatcher, "u"), nil)
	require.Equal(t, http.StatusOK, a.Status)
	assert.Empty(t, a.JSON["drivers"], "another tenant's drivers are not listed")

	a = e.call("GET", "/v1/drivers/d-1/jobs", e.token("acme", auth.RoleDriver, "d-1"), nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	jobs := a.JSON["jobs"].([]any)
	require.Len(t, jobs, 1)
	j := jobs[0].(map[string]any)
	assert.Equal(t, jobID, j["job_id"])
	assert.Equal(t, o.ID, j["order_id"])
	assert.Equal(t, "offered", j["status"])
	assert.NotEmpty(t, j["expires_at"])
	assert.NotNil(t, j["dropoff"])

	since := url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))
	a = e.call("GET", "/v1/drivers/d-1/jobs?updated_since="+since, e.token("acme", auth.RoleDriver, "d-1"), nil)
	require.Equal(t, http.StatusOK, a.Status)
	assert.Empty(t, a.JSON["jobs"])
	a = e.call("GET", "/v1/drivers/d-1/jobs?updated_since=2025-01-01T00:00:00+00:00", e.token("acme", auth.RoleDispatcher, "u"), nil)
	require.Equal(t, http.StatusOK, a.Status, "an unencoded '+' in the zone: %s", a.Raw)
	assert.Len(t, a.JSON["jobs"], 1)
	a = e.call("GET", "/v1/drivers/d-1/jobs?updated_since=soon", e.token("acme", auth.RoleDispatcher, "u"), nil)
	assert.Equal(t, http.StatusBadRequest, a.Status)
	assert.Contains(t, a.fields(), "updated_since")

	// Another tenant: the same driver id has no jobs there; a driver of beta named d-1 sees beta's.
	a = e.call("GET", "/v1/drivers/d-1/jobs", e.token("beta", auth.RoleDriver, "d-1"), nil)
	require.Equal(t, http.StatusOK, a.Status)
	assert.Empty(t, a.JSON["jobs"])
	a = e.call("GET", "/v1/drivers/d-1/jobs", e.token("beta", auth.RoleOps, "o"), nil)
	require.Equal(t, http.StatusOK, a.Status)
	assert.Empty(t, a.JSON["jobs"])
	a = e.call("GET", "/v1/drivers/"+url.PathEscape("no/such")+"/jobs", e.token("acme", auth.RoleOps, "o"), nil)
	assert.Equal(t, http.StatusNotFound, a.Status)
}

// recordDeadLetter records an INGEST dead letter of tenant and returns its id.
func recordDeadLetter(t *testing.T, db *store.DB, tenant, platform, msgID string) string {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		return dlq.Record(ctx, tx, dlq.DeadLetter{Source: dlq.SourceIngest, Platform: platform, Subject: "ingest." + platform + "." + tenant,
			MessageID: msgID, Payload: []byte(`{"id":"` + msgID + `"}`), Headers: map[string]string{"X-Topic": "orders/create"},
			Error: "boom", Attempts: 5})
	}))
	list, err := dlq.List(ctx, db, dlq.Filter{Tenant: tenant, Limit: 1})
	require.NoError(t, err)
	require.NotEmpty(t, list)
	return list[0].ID
}

func TestDeadLettersAPI(t *testing.T) {
	e := newEnv(t)
	id := recordDeadLetter(t, e.db, "acme", "shopify", "m-1")
	recordDeadLetter(t, e.db, "acme", "woocommerce", "m-2")
	betaID := recordDeadLetter(t, e.db, "beta", "shopify", "m-9")
	svc := e.token("acme", auth.RoleService, "svc")

	a := e.call("GET", "/v1/dlq", svc, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Len(t, a.JSON["dead_letters"], 2)
	a = e.call("GET", "/v1/dlq?platform=shopify", svc, nil)
	require.Equal(t, http.StatusOK, a.Status)
	list := a.JSON["dead_letters"].([]any)
	require.Len(t, list, 1)
	d := list[0].(map[string]any)
	assert.Equal(t, id, d["id"])
	assert.Equal(t, map[string]any{"id": "m-1"}, d["payload"])
	assert.Equal(t, "boom", d["error"])
	now := time.Now().UTC()
	a = e.call("GET", "/v1/dlq?limit=1&from="+url.QueryEscape(now.Add(-time.Hour).Format(time.RFC3339))+"&to="+url.QueryEscape(now.Add(time.Hour).Format(time.RFC3339)), svc, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Len(t, a.JSON["dead_letters"], 1)

	for query, field := range map[string]string{
		"from=today": "from", "to=later": "to", "limit=0": "limit", "limit=1001": "limit", "platform=Shop%20ify": "platform",
		"tenant=Not_A_Tenant": "tenant", "from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z": "to",
	} {
		a := e.call("GET", "/v1/dlq?"+query, svc, nil)
		assert.Equal(t, http.StatusBadRequest, a.Status, "%s: %s", query, a.Raw)
		assert.Contains(t, a.fields(), field, query)
	}

	// Tenants: ops may name any; service only its own.
	a = e.call("GET", "/v1/dlq?tenant=beta", e.token("acme", auth.RoleOps, "ops"), nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	list = a.JSON["dead_letters"].([]any)
	require.Len(t, list, 1)
	assert.Equal(t, betaID, list[0].(map[string]any)["id"])
	a = e.call("GET", "/v1/dlq?tenant=beta", svc, nil)
	assert.Equal(t, http.StatusForbidden, a.Status)
	a = e.call("GET", "/v1/dlq?tenant=acme", svc, nil)
	assert.Equal(t, http.StatusOK, a.Status, "naming its own tenant is fine")
	a = e.call("POST", "/v1/dlq/"+betaID+"/replay", svc, nil)
	assert.Equal(t, http.StatusNotFound, a.Status, "another tenant's dead letter is not found")
	a = e.call("POST", "/v1/dlq/"+betaID+"/replay?tenant=beta", svc, nil)
	assert.Equal(t, http.StatusForbidden, a.Status)

	// Replay.
	a = e.call("POST", "/v1/dlq/"+id+"/replay", svc, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, true, a.JSON["replayed"])
	assert.Equal(t, "m-1/replay-1", a.JSON["message_id"])
	a = e.call("POST", "/v1/dlq/"+id+"/replay", e.token("beta", auth.RoleOps, "ops"), nil)
	assert.Equal(t, http.StatusNotFound, a.Status, "ops without ?tenant= act on their own tenant")
	a = e.call("POST", "/v1/dlq/"+id+"/replay?tenant=acme", e.token("beta", auth.RoleOps, "ops"), nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, "m-1/replay-2", a.JSON["message_id"])

	stream, err := e.bus.JetStream().Stream(context.Background(), bus.StreamIngest)
	require.NoError(t, err)
	m, err := stream.GetLastMsgForSubject(context.Background(), "ingest.shopify.acme")
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"m-1"}`, string(m.Data))
	assert.Equal(t, "orders/create", m.Header.Get("X-Topic"))
	assert.Equal(t, "m-1/replay-2", m.Header.Get(jetstream.MsgIDHeader))

	a = e.call("GET", "/v1/dlq?platform=shopify", svc, nil)
	d = a.JSON["dead_letters"].([]any)[0].(map[string]any)
	assert.Equal(t, float64(2), d["replay_count"])
	assert.NotEmpty(t, d["replayed_at"])

	for _, bad := range []string{"00000000-0000-0000-0000-000000000000", "nope"} {
		a = e.call("POST", "/v1/dlq/"+bad+"/replay", svc, nil)
		assert.Equal(t, http.StatusNotFound, a.Status, bad)
	}

	// Without a bus: 503, nothing marked.
	base := serve(t, e.db, nil)
	req, err := http.NewRequest("POST", base+"/v1/dlq/"+id+"/replay", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+svc)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	got, err := dlq.Get(context.Background(), e.db, "acme", id)
	require.NoError(t, err)
	assert.Equal(t, 2, got.ReplayCount)
}
