package api_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/dlq"
	"github.com/pilotx/dispatchhub/internal/store"
)

// recordOutbound records an OUTBOUND dead letter of tenant and returns its id.
func recordOutbound(t *testing.T, db *store.DB, tenant, platform, msgID string) string {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		return dlq.Record(ctx, tx, dlq.DeadLetter{Source: dlq.SourceOutbound, Platform: platform, Subject: "outbound." + platform + "." + tenant,
			MessageID: msgID, Payload: []byte(`{"job":"` + msgID + `"}`), Error: "HTTP 500", Attempts: 8, LastStatus: 500})
	}))
	list, err := dlq.List(ctx, db, dlq.Filter{Tenant: tenant, Limit: 1})
	require.NoError(t, err)
	require.NotEmpty(t, list)
	return list[0].ID
}

// ids are the ids of the objects of a JSON list.
func ids(list any) []string {
	out := []string{}
	for _, v := range list.([]any) {
		out = append(out, v.(map[string]any)["id"].(string))
	}
	return out
}

// refusingJS is a bus that does not take the replays of some dead letters.
type refusingJS struct {
	jetstream.JetStream
	refuse map[string]bool
}

func (r refusingJS) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if r.refuse[msg.Header.Get(dlq.ReplayOfHeader)] {
		return nil, nats.ErrNoResponders
	}
	return r.JetStream.PublishMsg(ctx, msg, opts...)
}

func TestDeadLetterFilters(t *testing.T) {
	e := newEnv(t)
	in := recordDeadLetter(t, e.db, "acme", "shopify", "m-1")
	out := recordOutbound(t, e.db, "acme", "shopify", "job-1")
	svc := e.token("acme", auth.RoleService, "svc")

	a := e.call("GET", "/v1/dlq?source=ingest", svc, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, []string{in}, ids(a.JSON["dead_letters"]))
	a = e.call("GET", "/v1/dlq?source=outbound&platform=shopify", svc, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, []string{out}, ids(a.JSON["dead_letters"]))

	a = e.call("POST", "/v1/dlq/"+in+"/replay", svc, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	a = e.call("GET", "/v1/dlq?replayed=true", svc, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, []string{in}, ids(a.JSON["dead_letters"]))
	a = e.call("GET", "/v1/dlq?replayed=false", svc, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, []string{out}, ids(a.JSON["dead_letters"]))
	a = e.call("GET", "/v1/dlq?replayed=false&source=ingest", svc, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Empty(t, ids(a.JSON["dead_letters"]))

	for query, field := range map[string]string{"source=webhook": "source", "replayed=yes": "replayed", "replayed=1": "replayed"} {
		a := e.call("GET", "/v1/dlq?"+query, svc, nil)
		assert.Equal(t, http.StatusBadRequest, a.Status, "%s: %s", query, a.Raw)
		assert.Equal(t, "invalid", a.errorCode(), query)
		assert.Contains(t, a.fields(), field, query)
	}
}

func TestReplayDeadLettersAPI(t *testing.T) {
	e := newEnv(t)
	shop1 := recordDeadLetter(t, e.db, "acme", "shopify", "m-1")
	shop2 := recordDeadLetter(t, e.db, "acme", "shopify", "m-2")
	woo := recordDeadLetter(t, e.db, "acme", "woocommerce", "m-3")
	out := recordOutbound(t, e.db, "acme", "shopify", "job-1")
	beta := recordDeadLetter(t, e.db, "beta", "shopify", "m-9")
	svc := e.token("acme", auth.RoleService, "svc")

	// The filters select what is replayed.
	a := e.call("POST", "/v1/dlq/replay?source=ingest&platform=shopify&concurrency=2", svc, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, float64(2), a.JSON["matched"], a.Raw)
	assert.Equal(t, float64(2), a.JSON["replayed"], a.Raw)
	assert.Equal(t, float64(0), a.JSON["failed"], a.Raw)
	results := a.JSON["results"].([]any)
	require.Len(t, results, 2)
	assert.Equal(t, map[string]any{"id": shop2, "message_id": "m-2/replay-1"}, results[0], "newest first")
	assert.Equal(t, map[string]any{"id": shop1, "message_id": "m-1/replay-1"}, results[1])

	// Only what was not replayed yet; the limit holds.
	a = e.call("POST", "/v1/dlq/replay?replayed=false&limit=1", svc, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, float64(1), a.JSON["matched"])
	assert.Equal(t, []string{out}, ids(a.JSON["results"]), "the newest not replayed: %s", a.Raw)
	a = e.call("POST", "/v1/dlq/replay?replayed=false", svc, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, []string{woo}, ids(a.JSON["results"]), a.Raw)
	a = e.call("POST", "/v1/dlq/replay?replayed=false", svc, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.JSONEq(t, `{"matched":0,"replayed":0,"failed":0,"results":[]}`, a.Raw, "drained")

	ingest, err := e.bus.JetStream().Stream(context.Background(), bus.StreamIngest)
	require.NoError(t, err)
	info, err := ingest.Info(context.Background())
	require.NoError(t, err)
	assert.Equal(t, uint64(3), info.State.Msgs, "shopify twice, woocommerce once")
	m, err := ingest.GetLastMsgForSubject(context.Background(), "ingest.shopify.beta")
	assert.ErrorIs(t, err, jetstream.ErrMsgNotFound, "nothing of beta: %v", m)

	// Tenants as GET /v1/dlq: ops may name any; service only its own.
	a = e.call("POST", "/v1/dlq/replay?tenant=beta", svc, nil)
	assert.Equal(t, http.StatusForbidden, a.Status, a.Raw)
	assert.Equal(t, "forbidden", a.errorCode())
	a = e.call("POST", "/v1/dlq/replay?tenant=Not_A_Tenant", svc, nil)
	assert.Equal(t, http.StatusBadRequest, a.Status, a.Raw)
	assert.Contains(t, a.fields(), "tenant")
	a = e.call("POST", "/v1/dlq/replay?tenant=beta", e.token("acme", auth.RoleOps, "ops"), nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, []string{beta}, ids(a.JSON["results"]))
	got, err := dlq.Get(context.Background(), e.db, "beta", beta)
	require.NoError(t, err)
	assert.Equal(t, 1, got.ReplayCount)

	// Roles.
	for _, role := range []auth.Role{auth.RoleDriver, auth.RoleDispatcher} {
		a = e.call("POST", "/v1/dlq/replay", e.token("acme", role, "u"), nil)
		assert.Equal(t, http.StatusForbidden, a.Status, "%s: %s", role, a.Raw)
		assert.Equal(t, "forbidden", a.errorCode())
	}
	a = e.call("POST", "/v1/dlq/replay", "", nil)
	assert.Equal(t, http.StatusUnauthorized, a.Status)

	// Bad filters: 400 in the edge's format, nothing replayed.
	info, err = ingest.Info(context.Background())
	require.NoError(t, err)
	before := info.State.Msgs
	now := url.QueryEscape(time.Now().UTC().Format(time.RFC3339))
	for query, field := range map[string]string{
		"source=webhook": "source", "replayed=maybe": "replayed", "from=today": "from", "to=later": "to",
		"from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z": "to", "from=" + now + "&to=" + now: "to",
		"concurrency=0": "concurrency", "concurrency=33": "concurrency", "concurrency=four": "concurrency",
		"limit=0": "limit", "limit=1001": "limit", "platform=Shop%20ify": "platform",
	} {
		a := e.call("POST", "/v1/dlq/replay?"+query, svc, nil)
		assert.Equal(t, http.StatusBadRequest, a.Status, "%s: %s", query, a.Raw)
		assert.Equal(t, "invalid", a.errorCode(), query)
		assert.NotEmpty(t, a.errorMessage(), query)
		assert.Contains(t, a.fields(), field, query)
	}
	info, err = ingest.Info(context.Background())
	require.NoError(t, err)
	assert.Equal(t, before, info.State.Msgs, "refused requests replay nothing")

	// Without a bus: 503, nothing marked.
	base := serve(t, e.db, nil)
	req, err := http.NewRequest("POST", base+"/v1/dlq/replay", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+svc)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	got, err = dlq.Get(context.Background(), e.db, "acme", woo)
	require.NoError(t, err)
	assert.Equal(t, 1, got.ReplayCount)
}

func TestReplayDeadLettersPartialFailure(t *testing.T) {
	e := newEnv(t)
	first := recordDeadLetter(t, e.db, "acme", "shopify", "m-1")
	refused := recordDeadLetter(t, e.db, "acme", "shopify", "m-2")
	last := recordDeadLetter(t, e.db, "acme", "shopify", "m-3")
	e.base = serve(t, e.db, refusingJS{JetStream: e.bus.JetStream(), refuse: map[string]bool{refused: true}})
	svc := e.token("acme", auth.RoleService, "svc")

	a := e.call("POST", "/v1/dlq/replay", svc, nil)
	require.Equal(t, http.StatusOK, a.Status, "a failed dead letter does not fail the others: %s", a.Raw)
	assert.JSONEq(t, `{"matched":3,"replayed":2,"failed":1,"results":[
		{"id":"`+last+`","message_id":"m-3/replay-1"},
		{"id":"`+refused+`","error":"the bus did not take the message; retry"},
		{"id":"`+first+`","message_id":"m-1/replay-1"}]}`, a.Raw)
	got, err := dlq.Get(context.Background(), e.db, "acme", refused)
	require.NoError(t, err)
	assert.Zero(t, got.ReplayCount, "not marked")

	a = e.call("GET", "/v1/dlq?replayed=false", svc, nil)
	require.Equal(t, http.StatusOK, a.Status, a.Raw)
	assert.Equal(t, []string{refused}, ids(a.JSON["dead_letters"]), "left to drain")
}
