package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/dispatch"
	"github.com/pilotx/dispatchhub/internal/api"
	"github.com/pilotx/dispatchhub/internal/auth"
)

// addDrivers inserts drivers of tenant: id → capacity; a capacity below 0 is a driver off duty
// (capacity 1).
func (e *env) addDrivers(tenant string, drivers map[string]int) {
	e.t.Helper()
	ctx := context.Background()
	require.NoError(e.t, e.db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		for id, capacity := range drivers {
			onDuty := capacity >= 0
			if _, err := tx.Exec(ctx, `INSERT INTO drivers (id, name, on_duty, capacity) VALUES ($1, $1, $2, $3)`, id, onDuty, max(capacity, 1)); err != nil {
				return err
			}
		}
		return nil
	}))
}

// setStatus forces an order's status, as a driver's replies would.
func (e *env) setStatus(tenant, id string, s dispatch.Status) {
	e.t.Helper()
	require.NoError(e.t, e.db.WithTenantTx(context.Background(), tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `UPDATE orders SET status = $2 WHERE id = $1::uuid`, id, string(s))
		return err
	}))
}

// decisions lists an order's decisions through the API.
func (e *env) decisions(tenant, id string) []map[string]any {
	e.t.Helper()
	a := e.call("GET", "/v1/orders/"+id+"/decisions", e.token(tenant, auth.RoleOps, "o"), nil)
	require.Equal(e.t, http.StatusOK, a.Status, a.Raw)
	list, ok := a.JSON["decisions"].([]any)
	require.True(e.t, ok, "decisions is a list: %s", a.Raw)
	out := make([]map[string]any, len(list))
	for i, d := range list {
		out[i] = d.(map[string]any)
	}
	return out
}

func outcomes(ds []map[string]any) []any {
	out := make([]any, len(ds))
	for i, d := range ds {
		out[i] = d["outcome"]
	}
	return out
}

func TestAssignByHandAPI(t *testing.T) {
	e := newEnv(t)
	e.addDrivers("acme", map[string]int{"d-1": 1, "d-2": 2, "d-off": -1})
	o := e.createOrder("acme", "A-1")
	tok := e.token("acme", auth.RoleDispatcher, "u1")

	assert.Empty(t, e.decisions("acme", o.ID), "no decision yet")

	a := e.call("POST", "/v1/orders/"+o.ID+"/assign", tok, map[string]any{"driver_id": "d-1"})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, o.ID, a.JSON["id"])
	assert.Equal(t, "assigned", a.JSON["status"])

	ds := e.decisions("acme", o.ID)
	require.Len(t, ds, 1)
	assert.Equal(t, "assigned", ds[0]["outcome"])
	assert.Equal(t, "manual", ds[0]["strategy"])
	assert.Equal(t, "d-1", ds[0]["driver_id"])
	assert.Equal(t, "dispatcher:u1", ds[0]["actor"])
	assert.NotEmpty(t, ds[0]["assignment_id"])

	jobs := e.call("GET", "/v1/drivers/d-1/jobs", e.token("acme", auth.RoleDriver, "d-1"), nil)
	require.Equal(t, http.StatusOK, jobs.Status, jobs.Raw)
	require.Len(t, jobs.JSON["jobs"], 1)
	assert.Equal(t, "accepted", jobs.JSON["jobs"].([]any)[0].(map[string]any)["status"], "the driver has the job, no offer to accept")

	again := e.call("POST", "/v1/orders/"+o.ID+"/assign", e.token("acme", auth.RoleService, "svc"), map[string]any{"driver_id": "d-1"})
	require.Equal(t, http.StatusOK, again.Status, again.Raw)
	assert.Equal(t, "assigned", again.JSON["status"])
	assert.Len(t, e.decisions("acme", o.ID), 1, "the same driver again changes nothing")

	// Drivers who cannot take it: 409, and the order stays with d-1.
	other := e.createOrder("acme", "A-2")
	for driver, why := range map[string]string{"ghost": "unknown", "d-off": "off duty", "d-1": "at capacity"} {
		a := e.call("POST", "/v1/orders/"+other.ID+"/assign", tok, map[string]any{"driver_id": driver})
		assert.Equal(t, http.StatusConflict, a.Status, "%s: %s", why, a.Raw)
		assert.Equal(t, "conflict", a.errorCode(), why)
		assert.Contains(t, a.errorMessage(), "driver cannot take the order", why)
		assert.Contains(t, a.errorMessage(), why, why)
		assert.NotContains(t, a.errorMessage(), other.ID, why)
	}
	a = e.call("POST", "/v1/orders/"+o.ID+"/assign", tok, map[string]any{"driver_id": "ghost"})
	assert.Equal(t, http.StatusConflict, a.Status, a.Raw)
	got, err := dispatch.GetOrder(context.Background(), e.db, "acme", o.ID)
	require.NoError(t, err)
	assert.Equal(t, dispatch.StatusAssigned, got.Status, "a refused reassignment is rolled back")
	assert.Len(t, e.decisions("acme", o.ID), 1)
	assert.Empty(t, e.decisions("acme", other.ID))

	// Reassignment: d-2 gets it, d-1 loses it.
	a = e.call("POST", "/v1/orders/"+o.ID+"/assign", tok, map[string]any{"driver_id": "d-2"})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, "assigned", a.JSON["status"])
	ds = e.decisions("acme", o.ID)
	require.Len(t, ds, 2)
	assert.Equal(t, "d-2", ds[1]["driver_id"])
	jobs = e.call("GET", "/v1/drivers/d-1/jobs", e.token("acme", auth.RoleDriver, "d-1"), nil)
	require.Equal(t, http.StatusOK, jobs.Status)
	assert.Empty(t, jobs.JSON["jobs"], "d-1's job was released")

	// Orders that cannot be assigned, or are not there.
	e.setStatus("acme", other.ID, dispatch.StatusPickedUp)
	a = e.call("POST", "/v1/orders/"+other.ID+"/assign", tok, map[string]any{"driver_id": "d-2"})
	assert.Equal(t, http.StatusConflict, a.Status, a.Raw)
	assert.Equal(t, "conflict", a.errorCode())
	assert.Contains(t, a.errorMessage(), "picked_up")
	assert.NotContains(t, a.errorMessage(), other.ID)
	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "nope"} {
		a = e.call("POST", "/v1/orders/"+id+"/assign", tok, map[string]any{"driver_id": "d-2"})
		assert.Equal(t, http.StatusNotFound, a.Status, "%s: %s", id, a.Raw)
		assert.Equal(t, "not_found", a.errorCode(), id)
	}
}

func TestAssignByHandValidation(t *testing.T) {
	e := newEnv(t)
	e.addDrivers("acme", map[string]int{"d-1": 1})
	o := e.createOrder("acme", "V-1")
	tok := e.token("acme", auth.RoleDispatcher, "u1")
	cases := []struct {
		name   string
		body   any
		fields map[string]any
	}{
		{"missing", map[string]any{}, map[string]any{"driver_id": "required"}},
		{"no body", nil, map[string]any{"driver_id": "required"}},
		{"empty", map[string]any{"driver_id": ""}, map[string]any{"driver_id": "required"}},
		{"slash", map[string]any{"driver_id": "d/1"}, map[string]any{"driver_id": "must be 1-64 of A-Z, a-z, 0-9, '_' and '-'"}},
		{"space", map[string]any{"driver_id": "d 1"}, map[string]any{"driver_id": "must be 1-64 of A-Z, a-z, 0-9, '_' and '-'"}},
		{"too long", map[string]any{"driver_id": strings.Repeat("d", 65)}, map[string]any{"driver_id": "must be 1-64 of A-Z, a-z, 0-9, '_' and '-'"}},
		{"not a string", map[string]any{"driver_id": 7}, map[string]any{"driver_id": "must be a string"}},
		{"unknown field", map[string]any{"driver_id": "d-1", "urgent": true}, map[string]any{"urgent": "unknown field"}},
		{"malformed", `{"driver_id": "d-1"`, map[string]any{"body": "malformed JSON: unexpected end"}},
	}
	for _, c := range cases {
		a := e.call("POST", "/v1/orders/"+o.ID+"/assign", tok, c.body)
		assert.Equal(t, http.StatusBadRequest, a.Status, "%s: %s", c.name, a.Raw)
		assert.Equal(t, "invalid", a.errorCode(), c.name)
		assert.Equal(t, c.fields, a.fields(), c.name)
		for k := range c.fields {
			assert.Contains(t, a.errorMessage(), k, c.name)
		}
	}
	a := e.call("POST", "/v1/orders/"+o.ID+"/assign", tok, `driver_id=d-1`, "Content-Type", "application/x-www-form-urlencoded")
	assert.Equal(t, http.StatusUnsupportedMediaType, a.Status, a.Raw)
	// A valid 64-character id passes validation: the driver is unknown, 409.
	a = e.call("POST", "/v1/orders/"+o.ID+"/assign", tok, map[string]any{"driver_id": strings.Repeat("d", 64)})
	assert.Equal(t, http.StatusConflict, a.Status, a.Raw)

	got, err := dispatch.GetOrder(context.Background(), e.db, "acme", o.ID)
	require.NoError(t, err)
	assert.Equal(t, dispatch.StatusPending, got.Status, "nothing was assigned")
	assert.Empty(t, e.decisions("acme", o.ID))
}

func TestUnassignAPI(t *testing.T) {
	e := newEnv(t)
	e.addDrivers("acme", map[string]int{"d-1": 1})
	o := e.createOrder("acme", "U-1")
	tok := e.token("acme", auth.RoleDispatcher, "u1")

	a := e.call("POST", "/v1/orders/"+o.ID+"/unassign", tok, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, "pending", a.JSON["status"], "a pending order stays pending")
	assert.Empty(t, e.decisions("acme", o.ID))

	a = e.call("POST", "/v1/orders/"+o.ID+"/assign", tok, map[string]any{"driver_id": "d-1"})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	a = e.call("POST", "/v1/orders/"+o.ID+"/unassign", tok, map[string]any{"note": "x"})
	assert.Equal(t, http.StatusBadRequest, a.Status, a.Raw)
	assert.Equal(t, map[string]any{"note": "unknown field"}, a.fields())

	a = e.call("POST", "/v1/orders/"+o.ID+"/unassign", e.token("acme", auth.RoleService, "svc"), map[string]any{})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, o.ID, a.JSON["id"])
	assert.Equal(t, "pending", a.JSON["status"])
	ds := e.decisions("acme", o.ID)
	assert.Equal(t, []any{"assigned", "unassigned"}, outcomes(ds))
	assert.Equal(t, "service:svc", ds[1]["actor"])
	jobs := e.call("GET", "/v1/drivers/d-1/jobs", e.token("acme", auth.RoleDriver, "d-1"), nil)
	require.Equal(t, http.StatusOK, jobs.Status)
	assert.Empty(t, jobs.JSON["jobs"], "the driver's job was released")

	// The driver is free again: the order can go back to it.
	a = e.call("POST", "/v1/orders/"+o.ID+"/assign", tok, map[string]any{"driver_id": "d-1"})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	e.setStatus("acme", o.ID, dispatch.StatusDelivered)
	a = e.call("POST", "/v1/orders/"+o.ID+"/unassign", tok, nil)
	assert.Equal(t, http.StatusConflict, a.Status, a.Raw)
	assert.Equal(t, "conflict", a.errorCode())
	assert.Contains(t, a.errorMessage(), "taken back")
	assert.Contains(t, a.errorMessage(), "delivered")

	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "nope"} {
		a = e.call("POST", "/v1/orders/"+id+"/unassign", tok, nil)
		assert.Equal(t, http.StatusNotFound, a.Status, "%s: %s", id, a.Raw)
		a = e.call("GET", "/v1/orders/"+id+"/decisions", tok, nil)
		assert.Equal(t, http.StatusNotFound, a.Status, "%s: %s", id, a.Raw)
		assert.Equal(t, "not_found", a.errorCode(), id)
	}
}

// TestDispatchRoutesOtherTenant: a token of tenant beta gets 404 for tenant acme's order on
// every dispatch route, and changes nothing.
func TestDispatchRoutesOtherTenant(t *testing.T) {
	e := newEnv(t)
	e.addDrivers("acme", map[string]int{"d-1": 2})
	e.addDrivers("beta", map[string]int{"d-1": 2})
	o := e.createOrder("acme", "T-1")
	a := e.call("POST", "/v1/orders/"+o.ID+"/assign", e.token("acme", auth.RoleDispatcher, "u1"), map[string]any{"driver_id": "d-1"})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	before, err := dispatch.GetOrder(context.Background(), e.db, "acme", o.ID)
	require.NoError(t, err)

	for _, role := range []auth.Role{auth.RoleDispatcher, auth.RoleOps, auth.RoleService} {
		tok := e.token("beta", role, "intruder")
		a := e.call("GET", "/v1/orders/"+o.ID+"/decisions", tok, nil)
		assert.Equal(t, http.StatusNotFound, a.Status, "%s: %s", role, a.Raw)
		assert.Equal(t, "not_found", a.errorCode(), role)
		if role == auth.RoleOps {
			continue // not a writer
		}
		a = e.call("POST", "/v1/orders/"+o.ID+"/assign", tok, map[string]any{"driver_id": "d-1"})
		assert.Equal(t, http.StatusNotFound, a.Status, "%s: %s", role, a.Raw)
		assert.Equal(t, "not_found", a.errorCode(), role)
		a = e.call("POST", "/v1/orders/"+o.ID+"/unassign", tok, nil)
		assert.Equal(t, http.StatusNotFound, a.Status, "%s: %s", role, a.Raw)
		assert.Equal(t, "not_found", a.errorCode(), role)
	}
	after, err := dispatch.GetOrder(context.Background(), e.db, "acme", o.ID)
	require.NoError(t, err)
	assert.Equal(t, before, after, "untouched")
	assert.Equal(t, []any{"assigned"}, outcomes(e.decisions("acme", o.ID)))
}

func TestDispatchRoles(t *testing.T) {
	e := newEnv(t)
	e.addDrivers("acme", map[string]int{"d-1": 100})
	o := e.createOrder("acme", "R-1")
	settings := map[string]any{"strategy": "nearest"}
	cases := []struct {
		method, path string
		body         any
		refused      []auth.Role
	}{
		{"POST", "/v1/orders/" + o.ID + "/assign", map[string]any{"driver_id": "d-1"}, []auth.Role{auth.RoleDriver, auth.RoleOps}},
		{"POST", "/v1/orders/" + o.ID + "/unassign", nil, []auth.Role{auth.RoleDriver, auth.RoleOps}},
		{"GET", "/v1/orders/" + o.ID + "/decisions", nil, []auth.Role{auth.RoleDriver}},
		{"GET", "/v1/dispatch/settings", nil, []auth.Role{auth.RoleDriver}},
		{"PUT", "/v1/dispatch/settings", settings, []auth.Role{auth.RoleDriver, auth.RoleOps}},
	}
	for _, c := range cases {
		a := e.call(c.method, c.path, "", c.body)
		assert.Equal(t, http.StatusUnauthorized, a.Status, "%s %s without a token: %s", c.method, c.path, a.Raw)
		for _, role := range []auth.Role{auth.RoleDriver, auth.RoleDispatcher, auth.RoleOps, auth.RoleService} {
			a := e.call(c.method, c.path, e.token("acme", role, "d-1"), c.body)
			refused := false
			for _, r := range c.refused {
				refused = refused || r == role
			}
			if refused {
				assert.Equal(t, http.StatusForbidden, a.Status, "%s %s as %s: %s", c.method, c.path, role, a.Raw)
				assert.Equal(t, "forbidden", a.errorCode())
			} else {
				assert.Equal(t, http.StatusOK, a.Status, "%s %s as %s: %s", c.method, c.path, role, a.Raw)
			}
		}
	}
	// A driver's refused assignment changed nothing: the last writer's unassign left it pending.
	got, err := dispatch.GetOrder(context.Background(), e.db, "acme", o.ID)
	require.NoError(t, err)
	assert.Equal(t, dispatch.StatusPending, got.Status)
	for _, d := range e.decisions("acme", o.ID) {
		assert.NotEqual(t, "driver:d-1", d["actor"])
	}
}

func TestDispatchSettingsAPI(t *testing.T) {
	e := newEnv(t)
	defaultSettings := dispatch.Settings{Strategy: dispatch.StrategyNearest, OfferTimeout: 30 * time.Second,
		MaxPickupMeters: 15000, BroadcastFanout: 3, BatchWindow: 2 * time.Second}
	e.base = serve(t, e.db, e.bus.JetStream(), func(a *api.API) { a.SetDispatchDefaults(defaultSettings) })
	tok := e.token("acme", auth.RoleDispatcher, "u1")
	defaults := map[string]any{"strategy": "nearest", "offer_timeout": "30s", "max_pickup_distance_m": float64(15000),
		"broadcast_fanout": float64(3), "batch_window": "2s"}

	a := e.call("GET", "/v1/dispatch/settings", e.token("acme", auth.RoleOps, "o"), nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, map[string]any{}, a.JSON["settings"], "no settings of its own")
	assert.Equal(t, defaults, a.JSON["effective"])

	put := map[string]any{"strategy": "batch", "offer_timeout": "20s", "max_pickup_distance_m": 8000, "batch_window": "1500ms"}
	a = e.call("PUT", "/v1/dispatch/settings", tok, put)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	own := map[string]any{"strategy": "batch", "offer_timeout": "20s", "max_pickup_distance_m": float64(8000), "batch_window": "1.5s"}
	effective := map[string]any{"strategy": "batch", "offer_timeout": "20s", "max_pickup_distance_m": float64(8000),
		"broadcast_fanout": float64(3), "batch_window": "1.5s"}
	assert.Equal(t, own, a.JSON["settings"])
	assert.Equal(t, effective, a.JSON["effective"], "the fanout left out is the default's")
	putRaw := a.Raw

	a = e.call("GET", "/v1/dispatch/settings", tok, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.JSONEq(t, putRaw, a.Raw, "GET answers what PUT did")
	s, err := dispatch.TenantSettings(context.Background(), e.db, "acme")
	require.NoError(t, err)
	assert.Equal(t, dispatch.Settings{Strategy: dispatch.StrategyBatch, OfferTimeout: 20 * time.Second, MaxPickupMeters: 8000, BatchWindow: 1500 * time.Millisecond}, s)

	b := e.call("GET", "/v1/dispatch/settings", e.token("beta", auth.RoleDispatcher, "u"), nil)
	require.Equal(t, http.StatusOK, b.Status, b.Raw)
	assert.Equal(t, map[string]any{}, b.JSON["settings"], "another tenant's settings are its own")

	cases := []struct {
		name   string
		body   any
		fields []string
	}{
		{"strategy", map[string]any{"strategy": "fastest"}, []string{"strategy"}},
		{"unknown field", map[string]any{"strategy": "batch", "priority": 1}, []string{"priority"}},
		{"duration", map[string]any{"offer_timeout": "soon"}, []string{"offer_timeout"}},
		{"too short", map[string]any{"offer_timeout": "1s"}, []string{"offer_timeout"}},
		{"window", map[string]any{"batch_window": "5m"}, []string{"batch_window"}},
		{"distance", map[string]any{"max_pickup_distance_m": 10}, []string{"max_pickup_distance_m"}},
		{"distance type", map[string]any{"max_pickup_distance_m": "far"}, []string{"max_pickup_distance_m"}},
		{"fanout", map[string]any{"broadcast_fanout": 51}, []string{"broadcast_fanout"}},
		{"fanout type", map[string]any{"broadcast_fanout": 2.5}, []string{"broadcast_fanout"}},
		{"several", map[string]any{"strategy": "x", "broadcast_fanout": -1, "offer_timeout": "11m"}, []string{"strategy", "broadcast_fanout", "offer_timeout"}},
		{"not an object", "[]", []string{"body"}},
		{"empty", "", []string{"body"}},
	}
	for _, c := range cases {
		a := e.call("PUT", "/v1/dispatch/settings", tok, c.body)
		assert.Equal(t, http.StatusBadRequest, a.Status, "%s: %s", c.name, a.Raw)
		assert.Equal(t, "invalid", a.errorCode(), c.name)
		got := make([]string, 0, len(a.fields()))
		for k, v := range a.fields() {
			got = append(got, k)
			assert.NotEmpty(t, v, "%s: %s", c.name, k)
		}
		assert.ElementsMatch(t, c.fields, got, "%s: %s", c.name, a.Raw)
	}
	a = e.call("PUT", "/v1/dispatch/settings", tok, map[string]any{"strategy": "fastest"})
	assert.Contains(t, a.errorMessage(), "strategy")
	assert.Contains(t, a.fields()["strategy"], "nearest, batch, broadcast or manual")

	a = e.call("GET", "/v1/dispatch/settings", tok, nil)
	assert.JSONEq(t, putRaw, a.Raw, "refused PUTs changed nothing")

	// {} clears the tenant's own settings: the defaults apply.
	a = e.call("PUT", "/v1/dispatch/settings", tok, map[string]any{})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, map[string]any{}, a.JSON["settings"])
	assert.Equal(t, defaults, a.JSON["effective"])
	a = e.call("GET", "/v1/dispatch/settings", tok, nil)
	assert.Equal(t, map[string]any{}, a.JSON["settings"])
}

// TestDispatchSettingsWithoutDefaults: an API whose dispatch defaults were never set answers
// a tenant's own settings as the effective ones.
func TestDispatchSettingsWithoutDefaults(t *testing.T) {
	e := newEnv(t)
	tok := e.token("acme", auth.RoleService, "svc")
	a := e.call("PUT", "/v1/dispatch/settings", tok, map[string]any{"strategy": "manual"})
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	a = e.call("GET", "/v1/dispatch/settings", tok, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, map[string]any{"strategy": "manual"}, a.JSON["settings"])
	assert.Equal(t, map[string]any{"strategy": "manual"}, a.JSON["effective"])
}
