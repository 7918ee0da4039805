package dlq_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/dlq"
	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type env struct {
	db  *store.DB
	bus *bus.Bus
}

func newEnv(t *testing.T) env {
	t.Helper()
	info := testenv.NewDatabase(t, true)
	db, err := store.Open(store.Config{URL: info.AppURL, MaxConns: 8, ConnectTimeout: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	for _, id := range []string{"acme", "beta"} {
		_, err := db.CreateTenant(context.Background(), id, id)
		require.NoError(t, err)
	}
	b, err := bus.Start(context.Background(), bus.Config{Host: "127.0.0.1", Port: 0, StoreDir: t.TempDir(), MaxStore: 1 << 28, Replicas: 1,
		DuplicateWindow: time.Minute, IngestMaxAge: time.Hour, EventsMaxAge: time.Hour, OutboundMaxAge: time.Hour}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return env{db: db, bus: b}
}

func record(t *testing.T, db *store.DB, tenant string, d dlq.DeadLetter) error {
	t.Helper()
	return db.WithTenantTx(context.Background(), tenant, func(tx pgx.Tx) error {
		return dlq.Record(context.Background(), tx, d)
	})
}

func ingestLetter(platform, tenant, msgID string, at time.Time) dlq.DeadLetter {
	return dlq.DeadLetter{
		Source: dlq.SourceIngest, Platform: platform, Subject: "ingest." + platform + "." + tenant, MessageID: msgID,
		Payload: []byte(`{"id":"` + msgID + `","kind":"order.created"}`),
		Headers: map[string]string{"X-Shopify-Topic": "orders/create", "Nats-Msg-Id": msgID, "Nats-Batch-Id": "b1"},
		Error:   "store not found", Attempts: 5, FirstFailedAt: at.Add(-time.Minute), LastFailedAt: at,
	}
}

func TestRecordListReplay(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	require.NoError(t, record(t, e.db, "acme", ingestLetter("shopify", "acme", "m-1", now)))
	require.NoError(t, record(t, e.db, "acme", ingestLetter("woocommerce", "acme", "m-2", now)))
	require.NoError(t, record(t, e.db, "acme", dlq.DeadLetter{
		Source: dlq.SourceOutbound, Platform: "shopify", Subject: "outbound.shopify.acme", MessageID: "job-1",
		Payload: []byte{0xff, 0x00, 0x01}, Error: "HTTP 500", Attempts: 8, LastStatus: 500, ResponseExcerpt: "internal error",
	}))
	require.NoError(t, record(t, e.db, "beta", ingestLetter("shopify", "beta", "m-9", now)))

	all, err := dlq.List(ctx, e.db, dlq.Filter{Tenant: "acme"})
	require.NoError(t, err)
	require.Len(t, all, 3)
	assert.Equal(t, "job-1", all[0].MessageID, "newest first")
	for _, d := range all {
		assert.Equal(t, "acme", d.Tenant)
		assert.Len(t, d.ID, 36)
		assert.Zero(t, d.ReplayCount)
		assert.Nil(t, d.ReplayedAt)
	}
	out := all[0]
	assert.Equal(t, dlq.SourceOutbound, out.Source)
	assert.Equal(t, 500, out.LastStatus)
	assert.Equal(t, "internal error", out.ResponseExcerpt)
	assert.Equal(t, []byte{0xff, 0x00, 0x01}, out.Payload)
	assert.Equal(t, map[string]string{}, out.Headers)
	assert.False(t, out.FirstFailedAt.IsZero(), "a zero failure time is now")

	shop, err := dlq.List(ctx, e.db, dlq.Filter{Tenant: "acme", Platform: "shopify"})
	require.NoError(t, err)
	require.Len(t, shop, 2)
	woo, err := dlq.List(ctx, e.db, dlq.Filter{Tenant: "acme", Platform: "woocommerce"})
	require.NoError(t, err)
	require.Len(t, woo, 1)
	d := woo[0]
	assert.Equal(t, "m-2", d.MessageID)
	assert.Equal(t, "ingest.woocommerce.acme", d.Subject)
	assert.Equal(t, 5, d.Attempts)
	assert.Equal(t, "store not found", d.Error)
	assert.WithinDuration(t, now.Add(-time.Minute), d.FirstFailedAt, time.Millisecond)
	assert.WithinDuration(t, now, d.LastFailedAt, time.Millisecond)

	one, err := dlq.List(ctx, e.db, dlq.Filter{Tenant: "acme", Limit: 1})
	require.NoError(t, err)
	assert.Len(t, one, 1)
	future, err := dlq.List(ctx, e.db, dlq.Filter{Tenant: "acme", From: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	assert.Empty(t, future)
	past, err := dlq.List(ctx, e.db, dlq.Filter{Tenant: "acme", To: time.Now().Add(-time.Hour)})
	require.NoError(t, err)
	assert.Empty(t, past)
	window, err := dlq.List(ctx, e.db, dlq.Filter{Tenant: "acme", From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	assert.Len(t, window, 3)
	_, err = dlq.List(ctx, e.db, dlq.Filter{Tenant: "acme", From: time.Now(), To: time.Now().Add(-time.Hour)})
	assert.ErrorContains(t, err, "must be before")
	_, err = dlq.List(ctx, e.db, dlq.Filter{Tenant: "acme", Platform: "Bad Platform"})
	assert.ErrorContains(t, err, "platform")

	beta, err := dlq.List(ctx, e.db, dlq.Filter{Tenant: "beta"})
	require.NoError(t, err)
	require.Len(t, beta, 1, "each tenant sees its own")
	assert.Equal(t, "m-9", beta[0].MessageID)

	// Replay: the payload and the headers on the subject, with a new message id.
	js := e.bus.JetStream()
	r1, err := dlq.Replay(ctx, e.db, js, "acme", d.ID)
	require.NoError(t, err)
	assert.Equal(t, d.ID, r1.ID)
	assert.Equal(t, "m-2/replay-1", r1.MessageID)
	assert.Equal(t, bus.StreamIngest, r1.Stream)
	assert.Equal(t, 1, r1.ReplayCount)
	assert.False(t, r1.Duplicate)
	r2, err := dlq.Replay(ctx, e.db, js, "acme", d.ID)
	require.NoError(t, err)
	assert.Equal(t, "m-2/replay-2", r2.MessageID)
	assert.Equal(t, 2, r2.ReplayCount)
	assert.Greater(t, r2.Sequence, r1.Sequence, "two messages: the de-duplication window keeps both")

	stream, err := js.Stream(ctx, bus.StreamIngest)
	require.NoError(t, err)
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), info.State.Msgs)
	for i, r := range []dlq.Replayed{r1, r2} {
		m, err := stream.GetMsg(ctx, r.Sequence)
		require.NoError(t, err)
		assert.Equal(t, "ingest.woocommerce.acme", m.Subject)
		assert.JSONEq(t, `{"id":"m-2","kind":"order.created"}`, string(m.Data))
		assert.Equal(t, "orders/create", m.Header.Get("X-Shopify-Topic"), "stored headers travel")
		assert.Equal(t, r.MessageID, m.Header.Get(jetstream.MsgIDHeader), "replay %d", i+1)
		assert.Equal(t, d.ID, m.Header.Get(dlq.ReplayOfHeader))
		assert.Empty(t, m.Header.Get("Nats-Batch-Id"), "JetStream control headers are dropped")
	}

	after, err := dlq.Get(ctx, e.db, "acme", d.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, after.ReplayCount)
	require.NotNil(t, after.ReplayedAt)
	assert.WithinDuration(t, time.Now(), *after.ReplayedAt, time.Minute)

	// The outbound one goes back to OUTBOUND, payload untouched.
	r3, err := dlq.Replay(ctx, e.db, js, "acme", out.ID)
	require.NoError(t, err)
	assert.Equal(t, bus.StreamOutbound, r3.Stream)
	ob, err := js.Stream(ctx, bus.StreamOutbound)
	require.NoError(t, err)
	m, err := ob.GetMsg(ctx, r3.Sequence)
	require.NoError(t, err)
	assert.Equal(t, []byte{0xff, 0x00, 0x01}, m.Data)

	// Another tenant's, an unknown or a malformed id: not found.
	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "nope"} {
		_, err = dlq.Replay(ctx, e.db, js, "acme", id)
		assert.ErrorIs(t, err, dlq.ErrNotFound, id)
	}
	_, err = dlq.Replay(ctx, e.db, js, "beta", d.ID)
	assert.ErrorIs(t, err, dlq.ErrNotFound)
	_, err = dlq.Get(ctx, e.db, "beta", d.ID)
	assert.ErrorIs(t, err, dlq.ErrNotFound)
	info, err = stream.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), info.State.Msgs, "nothing published for refused replays")
}

func TestReplayWithoutBusMarksNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, record(t, e.db, "acme", ingestLetter("shopify", "acme", "m-1", time.Now())))
	list, err := dlq.List(ctx, e.db, dlq.Filter{Tenant: "acme"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	e.bus.Close()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = dlq.Replay(cctx, e.db, e.bus.JetStream(), "acme", list[0].ID)
	require.Error(t, err)
	d, err := dlq.Get(ctx, e.db, "acme", list[0].ID)
	require.NoError(t, err)
	assert.Zero(t, d.ReplayCount, "a failed publish is not marked as a replay")
	assert.Nil(t, d.ReplayedAt)
}

func TestRecordRefuses(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	cases := map[string]func(*dlq.DeadLetter){
		"source":         func(d *dlq.DeadLetter) { d.Source = "webhook" },
		"platform":       func(d *dlq.DeadLetter) { d.Platform = "Shop ify" },
		"subject":        func(d *dlq.DeadLetter) { d.Subject = "ingest.shopify.*" },
		"subject source": func(d *dlq.DeadLetter) { d.Subject = "outbound.shopify.acme" },
		"message id":     func(d *dlq.DeadLetter) { d.MessageID = "" },
		"other tenant":   func(d *dlq.DeadLetter) { d.Subject = "ingest.shopify.beta" },
	}
	for name, change := range cases {
		d := ingestLetter("shopify", "acme", "m-1", now)
		change(&d)
		err := record(t, e.db, "acme", d)
		assert.ErrorIs(t, err, dlq.ErrInvalid, name)
	}
	list, err := dlq.List(context.Background(), e.db, dlq.Filter{Tenant: "acme"})
	require.NoError(t, err)
	assert.Empty(t, list, "a refused dead letter leaves nothing")
	list, err = dlq.List(context.Background(), e.db, dlq.Filter{Tenant: "beta"})
	require.NoError(t, err)
	assert.Empty(t, list)

	long := make([]byte, 10000)
	for i := range long {
		long[i] = 'e'
	}
	d := ingestLetter("shopify", "acme", "m-long", now)
	d.Error = string(long)
	d.Headers = nil
	require.NoError(t, record(t, e.db, "acme", d))
	list, err = dlq.List(context.Background(), e.db, dlq.Filter{Tenant: "acme"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Len(t, list[0].Error, 4096, "errors are clipped")
}

func TestDeadLetterJSON(t *testing.T) {
	d := dlq.DeadLetter{ID: "x", Payload: []byte(`{"a":1}`), Headers: map[string]string{"k": "v"}}
	b, err := json.Marshal(d)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Equal(t, map[string]any{"a": float64(1)}, m["payload"], "JSON payloads are shown as JSON")
	assert.NotContains(t, m, "payload_base64")
	assert.Equal(t, float64(7), m["payload_size"])
	var back dlq.DeadLetter
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, d.Payload, back.Payload)

	d.Payload = []byte{0xff, 0xfe}
	b, err = json.Marshal(d)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Equal(t, "//4=", m["payload_base64"])
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, d.Payload, back.Payload)
}
