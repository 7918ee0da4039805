package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pilotx/dispatchhub/internal/app"
	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp keeps one process-wide goroutine refreshing the Date header, by design.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// fasthttp's worker-pool cleaner notices Stop only after its idle sleep (10 s) ends.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testSecret = "app-test-hs256-secret-at-least-32-bytes"

type hub struct {
	app    *app.App
	cfg    config.Config
	logs   *syncBuffer
	stdout *syncBuffer
	cancel context.CancelFunc
	done   chan error
	base   string
}

// testConfig points a hub at a fresh database (optionally through pgHost), the test Redis and
// an embedded NATS server on a random port.
func testConfig(t testing.TB, db testenv.Database, pgHost string) config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Port = testenv.FreePort(t)
	cfg.Postgres.URL, cfg.Postgres.MigrateURL = db.AppURL, db.OwnerURL
	if pgHost != "" {
		cfg.Postgres.URL, cfg.Postgres.MigrateURL = testenv.WithHost(db.AppURL, pgHost), testenv.WithHost(db.OwnerURL, pgHost)
	}
	cfg.Postgres.ConnectTimeout = time.Second
	cfg.Redis.Addr = testenv.RedisAddr()
	cfg.NATS.Port = -1
	cfg.Startup.RetryInitial = 20 * time.Millisecond
	cfg.Startup.RetryMax = 200 * time.Millisecond
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.HTTP.ReadyzTimeout = time.Second
	cfg.MQTT.TCPAddr, cfg.MQTT.WSAddr = "127.0.0.1:0", "127.0.0.1:0"
	secretFile := filepath.Join(cfg.DataDir, "jwt.secret")
	require.NoError(t, os.WriteFile(secretFile, []byte(testSecret), 0o600))
	cfg.Auth.HS256SecretRef = "file:" + secretFile
	require.NoError(t, cfg.Validate())
	return cfg
}

func start(t testing.TB, cfg config.Config) *hub {
	t.Helper()
	h := &hub{cfg: cfg, logs: &syncBuffer{}, stdout: &syncBuffer{}, done: make(chan error, 1)}
	log := zerolog.New(h.logs).With().Timestamp().Logger()
	h.app = app.New(cfg, log, h.stdout)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.app.Run(ctx) }()
	h.base = "http://" + cfg.HTTPAddr()
	testenv.Eventually(t, 10*time.Second, func() bool {
		resp, err := http.Get(h.base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	}, "/healthz answers")
	t.Cleanup(func() { h.stop(t) })
	return h
}

func (h *hub) stop(t testing.TB) {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		assert.NoError(t, err, "a signalled hub stops cleanly")
	case <-time.After(h.cfg.ShutdownTimeout + 5*time.Second):
		t.Fatal("the hub did not stop within its shutdown timeout")
	}
	http.DefaultClient.CloseIdleConnections()
}

func (h *hub) waitStarted(t testing.TB) {
	t.Helper()
	select {
	case <-h.app.Started():
	case err := <-h.done:
		t.Fatalf("hub stopped: %v\nlogs:\n%s", err, h.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("hub not started\nlogs:\n%s", h.logs.String())
	}
}

type readyz struct {
	Status  string            `json:"status"`
	Failing []string          `json:"failing"`
	Checks  map[string]string `json:"checks"`
	Error   struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (h *hub) readyz(t *testing.T) (int, readyz) {
	t.Helper()
	resp, err := http.Get(h.base + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	var r readyz
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	return resp.StatusCode, r
}

func TestReadyzFollowsPostgresWithoutRestart(t *testing.T) {
	db := testenv.NewDatabase(t, false)
	proxy := testenv.NewProxy(t, testenv.PostgresAddr())
	h := start(t, testConfig(t, db, proxy.Addr()))
	h.waitStarted(t)

	code, r := h.readyz(t)
	require.Equal(t, 200, code, "%+v", r)
	assert.Equal(t, map[string]string{"postgres": "ok", "redis": "ok", "nats": "ok", "mqtt": "ok", "auth": "ok"}, r.Checks)

	proxy.Stop()
	testenv.Eventually(t, 10*time.Second, func() bool {
		code, r = h.readyz(t)
		return code == 503
	}, "/readyz turns 503 when PostgreSQL stops")
	assert.Equal(t, []string{"postgres"}, r.Failing)
	assert.Equal(t, "not_ready", r.Error.Code)
	assert.Contains(t, r.Error.Message, "postgres")
	assert.Equal(t, "ok", r.Checks["redis"])

	proxy.Start()
	testenv.Eventually(t, 10*time.Second, func() bool {
		code, _ = h.readyz(t)
		return code == 200
	}, "/readyz turns 200 again when PostgreSQL is back")
}

func TestStartupWaitsForPostgresWithBackoff(t *testing.T) {
	db := testenv.NewDatabase(t, false)
	proxy := testenv.NewProxy(t, testenv.PostgresAddr())
	proxy.Stop()
	h := start(t, testConfig(t, db, proxy.Addr()))

	testenv.Eventually(t, 10*time.Second, func() bool {
		return strings.Count(h.logs.String(), "postgres unavailable, retrying") >= 3
	}, "clear retry log lines")
	code, r := h.readyz(t)
	assert.Equal(t, 503, code)
	assert.Contains(t, r.Failing, "postgres")
	select {
	case err := <-h.done:
		t.Fatalf("the hub gave up instead of waiting: %v", err)
	default:
	}
	var line map[string]any
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(l, "postgres unavailable") {
			require.NoError(t, json.Unmarshal([]byte(l), &line))
			break
		}
	}
	assert.Equal(t, "postgres", line["component"])
	assert.Contains(t, line, "retry_in")
	assert.Contains(t, line, "attempt")
	assert.NotContains(t, h.logs.String(), "dispatchhub_app:dispatchhub_app", "no DSN with its password in logs")

	proxy.Start()
	h.waitStarted(t)
	code, _ = h.readyz(t)
	assert.Equal(t, 200, code)
	assert.Contains(t, h.logs.String(), "schema migrated", "migrated once PostgreSQL came up")
}

func TestMetricsAndErrors(t *testing.T) {
	db := testenv.NewDatabase(t, false)
	h := start(t, testConfig(t, db, ""))
	h.waitStarted(t)
	h.readyz(t)

	resp, err := http.Get(h.base + "/no/such/route")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 404, resp.StatusCode)
	assert.JSONEq(t, `{"error":{"code":"not_found","message":"Cannot GET /no/such/route"}}`, string(body))

	resp, err = http.Get(h.base + "/metrics")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	m := string(body)
	for _, want := range []string{
		`dispatchhub_build_info{commit="none",goversion="go`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
		`dispatchhub_http_requests_total{code="200",method="GET",route="/readyz"} 1`,
		`dispatchhub_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`dispatchhub_http_request_duration_seconds_bucket{method="GET",route="/readyz",le="0.005"}`,
	} {
		assert.Contains(t, m, want)
	}
}

func TestDevSeedIsIdempotent(t *testing.T) {
	db := testenv.NewDatabase(t, false)
	cfg := testConfig(t, db, "")
	cfg.Dev = true
	for run := 1; run <= 2; run++ {
		h := start(t, cfg)
		h.waitStarted(t)
		out := h.stdout.String()
		assert.Contains(t, out, "tenant: demo")
		assert.Contains(t, out, "/v1/webhooks/shopify/")
		assert.Contains(t, out, "/v1/webhooks/woocommerce/")
		assert.Contains(t, out, "curl -s "+h.base+"/readyz")
		h.stop(t)
	}
	sdb, err := store.Open(store.Config{URL: db.AppURL})
	require.NoError(t, err)
	defer sdb.Close()
	stores, err := sdb.ListStores(context.Background(), app.DevTenant)
	require.NoError(t, err)
	assert.Len(t, stores, 2, "a second --dev start adds nothing")
	for _, s := range stores {
		require.Len(t, s.SecretRefs, 1)
		assert.True(t, strings.HasPrefix(s.SecretRefs[0], "file:"+cfg.DataDir), "dev secrets live under the data dir")
	}
}

func TestTakenHTTPPortIsAnError(t *testing.T) {
	db := testenv.NewDatabase(t, false)
	cfg := testConfig(t, db, "")
	h := start(t, cfg)
	h.waitStarted(t)
	second := app.New(cfg, zerolog.Nop(), io.Discard)
	err := second.Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listen on "+cfg.HTTPAddr())
}

func TestNoTokenKeyIsAnError(t *testing.T) {
	db := testenv.NewDatabase(t, false)
	cfg := testConfig(t, db, "")
	cfg.Auth.HS256SecretRef = ""
	err := app.New(cfg, zerolog.Nop(), io.Discard).Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no token key configured")
}

// TestDevBannerTokensWork follows the printed instructions: the dispatcher token connects to
// the printed MQTT address and may watch its tenant; the driver token publishes a fix.
func TestDevBannerTokensWork(t *testing.T) {
	db := testenv.NewDatabase(t, false)
	cfg := testConfig(t, db, "")
	cfg.Dev = true
	cfg.Auth.HS256SecretRef = "" // dev mode: the generated development key
	h := start(t, cfg)
	h.waitStarted(t)
	out := h.stdout.String()

	field := func(prefix string) string {
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, prefix) {
				return strings.Fields(strings.TrimPrefix(line, prefix))[0]
			}
		}
		t.Fatalf("banner has no %q line:\n%s", prefix, out)
		return ""
	}
	addr := field("mqtt: tcp ")
	dispTok := field("dispatcher token (dispatcher-1, 12h):")
	driverTok := field("driver token (driver-1, 12h):")
	assert.Contains(t, out, "mosquitto_sub -h ")

	connect := func(id, tok string) *paho.Client {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		c := paho.NewClient(paho.ClientConfig{Conn: conn})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true, Password: []byte(tok), PasswordFlag: true})
		require.NoError(t, err, id)
		t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
		return c
	}
	disp := connect("demo.dispatcher-1", dispTok)
	sa, err := disp.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "tenants/demo/#", QoS: 1}}})
	require.NoError(t, err)
	assert.Equal(t, byte(1), sa.Reasons[0])
	drv := connect("demo.driver-1", driverTok)
	_, err = drv.Publish(context.Background(), &paho.Publish{Topic: "tenants/demo/drivers/driver-1/location", QoS: 1,
		Payload: []byte(`{"lat":38.7223,"lng":-9.1393,"ts":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `}`)})
	require.NoError(t, err)
}

// TestDevWebhookCurlWorks sends the printed signed webhook: accepted, then a duplicate.
func TestDevWebhookCurlWorks(t *testing.T) {
	db := testenv.NewDatabase(t, false)
	cfg := testConfig(t, db, "")
	cfg.Dev = true
	h := start(t, cfg)
	h.waitStarted(t)
	out := h.stdout.String()
	i := strings.Index(out, "curl -s "+h.base+"/v1/webhooks/shopify/")
	require.GreaterOrEqual(t, i, 0, out)
	cmd := out[i:]
	url := strings.Fields(cmd)[2]
	sig := between(cmd, "X-Shopify-Hmac-Sha256: ", "'")
	body := between(cmd, "-d '", "'")
	for _, want := range []string{"accepted", "duplicate"} {
		req, err := http.NewRequest("POST", url, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Shopify-Topic", "orders/create")
		req.Header.Set("X-Shopify-Event-Id", "dev-banner-1")
		req.Header.Set("X-Shopify-Hmac-Sha256", sig)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, string(raw))
		assert.Contains(t, string(raw), `"status":"`+want+`"`)
	}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	j := strings.Index(s, to)
	if j < 0 {
		return ""
	}
	return s[:j]
}
