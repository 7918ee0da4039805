package ingest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pilotx/dispatchhub/ingest"
	"github.com/pilotx/dispatchhub/internal/bus"
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

const (
	shopSecret = "shpss_0123456789abcdef0123456789abcdef"
	shopNext   = "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"
)

type env struct {
	t      *testing.T
	base   string
	db     *store.DB
	info   testenv.Database
	rdb    *redis.Client
	prefix string
	bus    *bus.Bus
	store  store.Store
	cancel context.CancelFunc
	done   chan struct{}
	stopFn func()
	reg    *prometheus.Registry
}

type envOptions struct {
	pgHost    string
	rateStore int
	bus       *bus.Bus
	shared    *env // reuse its database, Redis prefix and store (a restarted hub)
	deadRedis bool // the edge's Redis client points at a port nobody listens on
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, done: make(chan struct{})}
	if o.shared != nil {
		e.info = o.shared.info
	} else {
		e.info = testenv.NewDatabase(t, true)
	}
	appURL := e.info.AppURL
	if o.pgHost != "" {
		appURL = testenv.WithHost(appURL, o.pgHost)
	}
	db, err := store.Open(store.Config{URL: appURL, MaxConns: 8, ConnectTimeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	e.db = db
	if o.shared != nil {
		e.rdb, e.prefix = o.shared.rdb, o.shared.prefix
	} else {
		e.rdb, e.prefix = testenv.Redis(t)
	}
	if o.bus != nil {
		e.bus = o.bus
	} else {
		b, err := bus.Start(context.Background(), bus.Config{Host: "127.0.0.1", Port: 0, StoreDir: t.TempDir(), MaxStore: 1 << 28, Replicas: 1,
			DuplicateWindow: time.Minute, IngestMaxAge: time.Hour, EventsMaxAge: time.Hour, OutboundMaxAge: time.Hour}, zerolog.Nop())
		require.NoError(t, err)
		t.Cleanup(b.Close)
		e.bus = b
	}
	ctx := context.Background()
	if o.shared != nil {
		e.store = o.shared.store
	} else {
		_, err = db.CreateTenant(ctx, "acme", "Acme")
		require.NoError(t, err)
		t.Setenv("DH_TEST_SHOP_SECRET", shopSecret)
		t.Setenv("DH_TEST_SHOP_NEXT", shopNext)
		e.store, err = db.AddStore(ctx, store.Store{TenantID: "acme", Platform: "shopify", Name: "Acme shop",
			SecretRefs: []string{"env:DH_TEST_SHOP_SECRET"}, Pickup: &store.LatLng{Lat: 38.72, Lng: -9.14},
			Settings: json.RawMessage(`{"body_limit":"512KiB"}`)})
		require.NoError(t, err)
	}

	rate := 10000
	if o.rateStore > 0 {
		rate = o.rateStore
	}
	reg := prometheus.NewRegistry()
	e.reg = reg
	edgeRedis := e.rdb
	if o.deadRedis {
		edgeRedis = redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), MaxRetries: -1, DialTimeout: 20 * time.Millisecond})
		t.Cleanup(func() { _ = edgeRedis.Close() })
	}
	srv := edge.New(edge.Config{Addr: "127.0.0.1:0", ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second,
		BodyLimit: 4 << 20, Concurrency: 1024, ReadyzTimeout: time.Second}, zerolog.Nop(), reg, health.NewRegistry())
	objects, err := ingest.NewDirStore(t.TempDir())
	require.NoError(t, err)
	ing := ingest.New(ingest.Config{
		BodyLimit: 1 << 20, TimestampTolerance: 5 * time.Minute, InlinePayloadMax: 64 << 10,
		RateTenant: 100000, RateTenantBurst: 100000, RateStore: rate, RateStoreBurst: rate,
		Queue: 4096, BatchMax: 128, StoreCacheTTL: time.Minute, RelayPollInterval: 100 * time.Millisecond,
		RejectionsKept: 50, KeyPrefix: e.prefix,
	}, db, edgeRedis, e.bus.JetStream(), objects, zerolog.Nop(), reg)
	ing.Mount(srv.App())
	require.NoError(t, srv.Listen())
	go func() { _ = srv.Serve() }()
	e.base = "http://" + srv.Addr()
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() {
		defer close(e.done)
		_ = ing.Run(runCtx)
	}()
	t.Cleanup(e.stop)
	e.stopFn = func() {
		http.DefaultClient.CloseIdleConnections()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		cancel()
		<-e.done
	}
	return e
}

// stop shuts the edge and its workers down (idempotent).
func (e *env) stop() {
	if e.stopFn != nil {
		e.stopFn()
		e.stopFn = nil
	}
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

type answer struct {
	Status string `json:"status"`
	ID     string `json:"id"`
	Error  struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (e *env) post(path string, body []byte, hdr map[string]string) (int, answer, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.base+path, bytes.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a answer
	_ = json.Unmarshal(raw, &a)
	return resp.StatusCode, a, resp.Header
}

func orderBody(n int) []byte {
	return []byte(fmt.Sprintf(`{"id":%d,"name":"#%d","updated_at":"2026-11-25T12:00:00Z","currency":"EUR","total_price":"21.50",`+
		`"shipping_address":{"first_name":"Ana","last_name":"Silva","address1":"Rua Augusta 1","city":"Lisboa","zip":"1100-053","country_code":"PT","latitude":38.71,"longitude":-9.137},`+
		`"line_items":[{"sku":"PZ-1","title":"Pizza","quantity":2,"price":"10.75"}]}`, 5000000+n, 1000+n))
}

func (e *env) shopify(body []byte, eventID, secret string) (int, answer) {
	code, a, _ := e.post("/v1/webhooks/shopify/"+e.store.ID, body, map[string]string{
		"X-Shopify-Hmac-Sha256": sign(secret, body), "X-Shopify-Event-Id": eventID, "X-Shopify-Topic": "orders/create",
		"X-Shopify-Shop-Domain": "acme.myshopify.com", "X-Shopify-Webhook-Id": "delivery-" + eventID,
	})
	return code, a
}

func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.db.WithTenantTx(context.Background(), "acme", func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), query, args...).Scan(&n)
	}))
	return n
}

func (e *env) ingestMessages(t *testing.T, want int) []jetstream.Msg {
	t.Helper()
	ctx := context.Background()
	cons, err := e.bus.JetStream().CreateOrUpdateConsumer(ctx, bus.StreamIngest, jetstream.ConsumerConfig{FilterSubject: "ingest.shopify.acme", AckPolicy: jetstream.AckNonePolicy, DeliverPolicy: jetstream.DeliverAllPolicy})
	require.NoError(t, err)
	var out []jetstream.Msg
	deadline := time.Now().Add(10 * time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		batch, err := cons.FetchNoWait(want - len(out))
		require.NoError(t, err)
		for m := range batch.Messages() {
			out = append(out, m)
		}
		if len(out) < want {
			time.Sleep(20 * time.Millisecond)
		}
	}
	// nothing more arrives
	time.Sleep(300 * time.Millisecond)
	batch, err := cons.FetchNoWait(10)
	require.NoError(t, err)
	for m := range batch.Messages() {
		out = append(out, m)
	}
	return out
}

func TestAcceptedWebhookIsStoredThenRelayed(t *testing.T) {
	e := newEnv(t, envOptions{})
	body := orderBody(1)
	code, a := e.shopify(body, "evt-1", shopSecret)
	require.Equal(t, 200, code, "%+v", a)
	assert.Equal(t, "accepted", a.Status)
	require.NotEmpty(t, a.ID)

	var checksum, payload []byte
	var eventID, eventType string
	var normalized *string
	require.NoError(t, e.db.WithTenantTx(context.Background(), "acme", func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT checksum, payload, event_id, event_type, normalized::text FROM inbound_events WHERE id = $1`, a.ID).
			Scan(&checksum, &payload, &eventID, &eventType, &normalized)
	}))
	sum := sha256.Sum256(body)
	assert.Equal(t, sum[:], checksum)
	assert.Equal(t, body, payload, "the raw bytes as received")
	assert.Equal(t, "evt-1", eventID)
	assert.Equal(t, "orders/create", eventType)
	require.NotNil(t, normalized)
	assert.Contains(t, *normalized, `"external_id": "5000001"`)

	msgs := e.ingestMessages(t, 1)
	require.Len(t, msgs, 1, "published exactly once")
	assert.Equal(t, a.ID, msgs[0].Headers().Get(jetstream.MsgIDHeader))
	var m ingest.Message
	require.NoError(t, json.Unmarshal(msgs[0].Data(), &m))
	assert.Equal(t, "acme", m.Tenant)
	assert.Equal(t, "evt-1", m.EventID)
	testenv.Eventually(t, 5*time.Second, func() bool {
		return e.count(`SELECT count(*) FROM inbound_events WHERE id NOT IN (SELECT id FROM inbound_unpublished)`) == 1
	}, "marked published")
}

func TestConcurrentIdenticalDeliveriesAreOneEvent(t *testing.T) {
	e := newEnv(t, envOptions{})
	body := orderBody(2)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[string]int{}
	ids := map[string]bool{}
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, a := e.shopify(body, "evt-same", shopSecret)
			mu.Lock()
			defer mu.Unlock()
			if code == 200 {
				statuses[a.Status]++
				ids[a.ID] = true
			} else {
				statuses[fmt.Sprint(code)]++
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, map[string]int{"accepted": 1, "duplicate": 99}, statuses)
	assert.Len(t, ids, 1, "every answer names the same event")
	assert.Equal(t, 1, e.count(`SELECT count(*) FROM inbound_events`))
	assert.Len(t, e.ingestMessages(t, 1), 1)
}

func TestRejections(t *testing.T) {
	e := newEnv(t, envOptions{})
	body := orderBody(3)
	cases := []struct {
		name   string
		path   string
		hdr    map[string]string
		body   []byte
		status int
	}{
		{"bad signature", "/v1/webhooks/shopify/" + e.store.ID, map[string]string{"X-Shopify-Hmac-Sha256": sign("wrong", body), "X-Shopify-Event-Id": "e"}, body, 401},
		{"tampered body", "/v1/webhooks/shopify/" + e.store.ID, map[string]string{"X-Shopify-Hmac-Sha256": sign(shopSecret, body), "X-Shopify-Event-Id": "e"}, append(bytes.Clone(body), ' '), 401},
		{"missing signature", "/v1/webhooks/shopify/" + e.store.ID, map[string]string{"X-Shopify-Event-Id": "e"}, body, 401},
		{"unknown store", "/v1/webhooks/shopify/6f1c8f2e-0000-4000-8000-000000000000", map[string]string{"X-Shopify-Hmac-Sha256": sign(shopSecret, body)}, body, 404},
		{"not a store id", "/v1/webhooks/shopify/../../etc", nil, body, 404},
		{"wrong platform", "/v1/webhooks/woocommerce/" + e.store.ID, nil, body, 404},
		{"too large for the store", "/v1/webhooks/shopify/" + e.store.ID, nil, bytes.Repeat([]byte("x"), 600<<10), 413},
		{"unsupported type", "/v1/webhooks/shopify/" + e.store.ID, map[string]string{"Content-Type": "application/xml"}, []byte("<a/>"), 415},
	}
	for _, c := range cases {
		code, a, _ := e.post(c.path, c.body, c.hdr)
		assert.Equal(t, c.status, code, c.name)
		assert.NotEmpty(t, a.Error.Code, "%s: JSON error", c.name)
		assert.NotContains(t, a.Error.Message, shopSecret)
	}
	assert.Zero(t, e.count(`SELECT count(*) FROM inbound_events`), "nothing refused is stored")

	testenv.Eventually(t, 5*time.Second, func() bool {
		list, err := ingest.ListRejections(context.Background(), e.rdb, e.prefix, 50)
		return err == nil && len(list) >= 6
	}, "rejections are kept for debugging")
	list, err := ingest.ListRejections(context.Background(), e.rdb, e.prefix, 50)
	require.NoError(t, err)
	for _, r := range list {
		for k := range r.Headers {
			assert.NotEqual(t, "Authorization", k)
		}
		assert.LessOrEqual(t, len(r.BodyExcerpt), 600)
	}
}

func TestSecretRotationAndCacheInvalidation(t *testing.T) {
	e := newEnv(t, envOptions{})
	code, _ := e.shopify(orderBody(4), "evt-4", shopNext)
	assert.Equal(t, 401, code, "the next secret is not active yet")

	// Rotation: both secrets active. The store change is announced, the cache drops the store.
	require.NoError(t, e.db.WithTenantTx(context.Background(), "acme", func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `UPDATE stores SET secret_refs = ARRAY['env:DH_TEST_SHOP_NEXT', 'env:DH_TEST_SHOP_SECRET'] WHERE id = $1`, e.store.ID)
		return err
	}))
	testenv.Eventually(t, 5*time.Second, func() bool {
		code, _ := e.shopify(orderBody(5), "evt-5", shopNext)
		return code == 200
	}, "the new secret is accepted after the change")
	code, _ = e.shopify(orderBody(6), "evt-6", shopSecret)
	assert.Equal(t, 200, code, "the old secret still works during rotation")
}

func TestGzipIsVerifiedOverTheRawBytes(t *testing.T) {
	e := newEnv(t, envOptions{})
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(orderBody(7))
	require.NoError(t, zw.Close())
	gz := buf.Bytes()
	code, a, _ := e.post("/v1/webhooks/shopify/"+e.store.ID, gz, map[string]string{
		"Content-Encoding": "gzip", "X-Shopify-Hmac-Sha256": sign(shopSecret, gz), "X-Shopify-Event-Id": "evt-gz", "X-Shopify-Topic": "orders/create",
	})
	require.Equal(t, 200, code, "%+v", a)
	var payload []byte
	var normalized *string
	require.NoError(t, e.db.WithTenantTx(context.Background(), "acme", func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT payload, normalized::text FROM inbound_events WHERE id = $1`, a.ID).Scan(&payload, &normalized)
	}))
	assert.Equal(t, gz, payload, "stored compressed, as received")
	require.NotNil(t, normalized, "normalised from the inflated body")
}

func TestLargePayloadGoesToTheObjectStore(t *testing.T) {
	e := newEnv(t, envOptions{})
	big := []byte(strings.Replace(string(orderBody(8)), `"currency"`, `"note":"`+strings.Repeat("n", 100<<10)+`","currency"`, 1))
	code, a := e.shopify(big, "evt-big", shopSecret)
	require.Equal(t, 200, code, "%+v", a)
	var ref *string
	var size int
	require.NoError(t, e.db.WithTenantTx(context.Background(), "acme", func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT payload_ref, payload_size FROM inbound_events WHERE id = $1`, a.ID).Scan(&ref, &size)
	}))
	require.NotNil(t, ref)
	assert.True(t, strings.HasPrefix(*ref, "dir:"))
	assert.Equal(t, len(big), size)
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, envOptions{rateStore: 2})
	codes := map[int]int{}
	var retryAfter string
	for i := range 6 {
		body := orderBody(100 + i)
		code, _, h := e.post("/v1/webhooks/shopify/"+e.store.ID, body, map[string]string{
			"X-Shopify-Hmac-Sha256": sign(shopSecret, body), "X-Shopify-Event-Id": fmt.Sprint("rl-", i),
		})
		codes[code]++
		if code == 429 {
			retryAfter = h.Get("Retry-After")
		}
	}
	assert.Positive(t, codes[429])
	assert.NotEmpty(t, retryAfter)
}

func TestPostgresDownIsNever200(t *testing.T) {
	proxy := testenv.NewProxy(t, testenv.PostgresAddr())
	e := newEnv(t, envOptions{pgHost: proxy.Addr()})
	code, _ := e.shopify(orderBody(9), "evt-9", shopSecret) // warms the store cache
	require.Equal(t, 200, code)
	proxy.Stop()
	for i := range 5 {
		code, a := e.shopify(orderBody(10+i), fmt.Sprint("evt-down-", i), shopSecret)
		assert.Equal(t, 503, code, "%+v", a)
	}
	proxy.Start()
	testenv.Eventually(t, 10*time.Second, func() bool {
		code, _ := e.shopify(orderBody(20), "evt-back", shopSecret)
		return code == 200
	}, "accepted again once PostgreSQL is back")
}

// TestCommittedButUnpublishedIsRelayedOnceAfterRestart: the first hub stores webhooks but dies
// before it can publish them (its NATS connection is gone); the restarted hub publishes each
// exactly once, and a second poller racing it changes nothing.
func TestCommittedButUnpublishedIsRelayedOnceAfterRestart(t *testing.T) {
	deadBus, err := bus.Start(context.Background(), bus.Config{Host: "127.0.0.1", Port: 0, StoreDir: t.TempDir(), MaxStore: 1 << 28, Replicas: 1,
		DuplicateWindow: time.Minute, IngestMaxAge: time.Hour, EventsMaxAge: time.Hour, OutboundMaxAge: time.Hour}, zerolog.Nop())
	require.NoError(t, err)
	first := newEnv(t, envOptions{bus: deadBus})
	deadBus.Close() // NATS is gone: commits still succeed, publishes fail
	const n = 20
	for i := range n {
		code, a := first.shopify(orderBody(200+i), fmt.Sprint("evt-r-", i), shopSecret)
		require.Equal(t, 200, code, "%+v", a)
	}
	first.stop() // the process dies
	assert.Equal(t, n, first.count(`SELECT count(*) FROM inbound_unpublished`))

	second := newEnv(t, envOptions{shared: first})
	third := newEnv(t, envOptions{shared: first, bus: second.bus}) // another replica, same NATS
	_ = third
	testenv.Eventually(t, 10*time.Second, func() bool {
		return second.count(`SELECT count(*) FROM inbound_unpublished`) == 0
	}, "every committed event is published after the restart")
	msgs := second.ingestMessages(t, n)
	assert.Len(t, msgs, n, "each exactly once")
	seen := map[string]bool{}
	for _, m := range msgs {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		assert.False(t, seen[id], "duplicate %s", id)
		seen[id] = true
	}
}

func (e *env) addStore(platform string, refs []string, settings string) store.Store {
	e.t.Helper()
	s, err := e.db.AddStore(context.Background(), store.Store{TenantID: "acme", Platform: platform, SecretRefs: refs,
		Pickup: &store.LatLng{Lat: 38.7, Lng: -9.1}, Settings: json.RawMessage(settings)})
	require.NoError(e.t, err)
	return s
}

func TestHandshakes(t *testing.T) {
	e := newEnv(t, envOptions{})
	woo := e.addStore("woocommerce", []string{"env:DH_TEST_SHOP_SECRET"}, `{}`)
	code, _, _ := e.post("/v1/webhooks/woocommerce/"+woo.ID, []byte("webhook_id=42"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	assert.Equal(t, 200, code, "WooCommerce's ping is answered")

	t.Setenv("DH_TEST_EBAY_TOKEN", "ebay-verification-token-0123456789abcdef")
	ebay := e.addStore("ebay", []string{"env:DH_TEST_EBAY_TOKEN"}, `{"token_ref":"env:DH_TEST_EBAY_TOKEN"}`)
	endpoint := e.base + "/v1/webhooks/ebay/" + ebay.ID
	resp, err := http.Get(endpoint + "?challenge_code=abc123")
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(raw))
	sum := sha256.Sum256([]byte("abc123" + "ebay-verification-token-0123456789abcdef" + endpoint))
	assert.JSONEq(t, fmt.Sprintf(`{"challengeResponse":"%x"}`, sum), string(raw))
	assert.Zero(t, e.count(`SELECT count(*) FROM inbound_events`), "handshakes are not stored")
}

func TestIPAllowList(t *testing.T) {
	e := newEnv(t, envOptions{})
	s := e.addStore("shopify", []string{"env:DH_TEST_SHOP_SECRET"}, `{"ip_allowlist":["203.0.113.0/24"]}`)
	body := orderBody(30)
	code, a, _ := e.post("/v1/webhooks/shopify/"+s.ID, body, map[string]string{"X-Shopify-Hmac-Sha256": sign(shopSecret, body), "X-Shopify-Event-Id": "ip-1"})
	assert.Equal(t, 403, code, "%+v", a)
	assert.Zero(t, e.count(`SELECT count(*) FROM inbound_events`))
}

func TestRedisDownFallsBackToTheLocalLimiter(t *testing.T) {
	e := newEnv(t, envOptions{deadRedis: true, rateStore: 3})
	codes := map[int]int{}
	for i := range 8 {
		code, _ := e.shopify(orderBody(300+i), fmt.Sprint("rd-", i), shopSecret)
		codes[code]++
	}
	// Burst 3 plus what refills at 3/s while the requests run.
	assert.GreaterOrEqual(t, codes[200], 3, "the local limiter admits the store's burst: %v", codes)
	assert.Positive(t, codes[429], "and limits the rest: %v", codes)
	assert.Equal(t, 8, codes[200]+codes[429], "nothing else: %v", codes)
	mfs, err := e.reg.Gather()
	require.NoError(t, err)
	var fallbacks float64
	for _, mf := range mfs {
		if mf.GetName() == "dispatchhub_ingest_rate_limit_local_fallback_total" {
			fallbacks = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	assert.Positive(t, fallbacks, "counted")
}

// Several stores of one tenant and platform, each with its own secret, receive webhooks at
// once: every request is verified against its own store (the store cache once kept an id
// that aliased a request buffer Fiber reuses, and served one store's secret for another).
func TestConcurrentStoresAreNotConfused(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	stores := []store.Store{e.store}
	secrets := []string{shopSecret}
	for i := range 5 {
		name := fmt.Sprintf("DH_TEST_SHOP_%d", i)
		secret := fmt.Sprintf("secret-of-shop-%d", i)
		t.Setenv(name, secret)
		s, err := e.db.AddStore(ctx, store.Store{TenantID: "acme", Platform: "shopify", Name: name, SecretRefs: []string{"env:" + name}})
		require.NoError(t, err)
		stores, secrets = append(stores, s), append(secrets, secret)
	}
	send := func(i, round int) int {
		body := orderBody(round*100 + i)
		code, _, _ := e.post("/v1/webhooks/shopify/"+stores[i].ID, body, map[string]string{
			"X-Shopify-Hmac-Sha256": sign(secrets[i], body), "X-Shopify-Event-Id": fmt.Sprintf("evt-%d-%d", i, round),
			"X-Shopify-Topic": "orders/create",
		})
		return code
	}
	codes := map[int]int{}
	// One after another, on the client's kept-alive connections (the server reuses their
	// buffers from one request to the next) ...
	for round := range 10 {
		for i := range stores {
			codes[send(i, round)]++
		}
	}
	// ... and all at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	for round := 10; round < 20; round++ {
		for i := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code := send(i, round)
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	assert.Equal(t, map[int]int{200: 20 * len(stores)}, codes)
	for _, s := range stores {
		assert.Equal(t, 20, e.count(`SELECT count(*) FROM inbound_events WHERE store_id = $1`, s.ID), "store %s", s.Name)
	}
}
