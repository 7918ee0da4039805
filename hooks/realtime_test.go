package hooks_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pilotx/dispatchhub/broker"
	"github.com/pilotx/dispatchhub/hooks"
	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/loadgen"
	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// realtime is a broker with the production hooks on real Redis, NATS and PostgreSQL.
type realtime struct {
	t        *testing.T
	b        *broker.Broker
	reg      *prometheus.Registry
	rdb      *redis.Client
	prefix   string
	db       *store.DB
	nc       *nats.Conn
	hs       []byte
	ecSigner *auth.Signer
	jwksPath string
}

type rtOptions struct {
	grace time.Duration
}

func newRealtime(t *testing.T, o rtOptions) *realtime {
	t.Helper()
	r := &realtime{t: t, reg: prometheus.NewRegistry(), hs: []byte("test-hs256-secret-of-at-least-32-bytes!")}
	r.rdb, r.prefix = testenv.Redis(t)
	info := testenv.NewDatabase(t, true)
	db, err := store.Open(store.Config{URL: info.AppURL, MaxConns: 4})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	r.db = db
	for _, tn := range []string{"acme", "beta"} {
		_, err := db.CreateTenant(context.Background(), tn, tn)
		require.NoError(t, err)
	}
	nb, err := bus.Start(context.Background(), bus.Config{Host: "127.0.0.1", Port: 0, StoreDir: t.TempDir(), MaxStore: 1 << 28, Replicas: 1,
		DuplicateWindow: time.Minute, IngestMaxAge: time.Hour, EventsMaxAge: time.Hour, OutboundMaxAge: time.Hour}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(nb.Close)
	r.nc = nb.Conn()

	// Keys: the HS256 secret and an EC key published in a JWKS file.
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(ecKey)
	require.NoError(t, err)
	r.ecSigner, err = auth.NewSignerFromPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), "ec-1")
	require.NoError(t, err)
	jwks, err := r.ecSigner.PublicJWKS()
	require.NoError(t, err)
	r.jwksPath = filepath.Join(t.TempDir(), "jwks.json")
	require.NoError(t, os.WriteFile(r.jwksPath, jwks, 0o600))
	verifier, err := auth.NewVerifier(auth.Config{
		Audience: "dispatchhub", HS256Secret: r.hs, JWKSFile: r.jwksPath,
		JWKSRefresh: time.Hour, UnknownKIDRefreshInterval: 10 * time.Millisecond,
	}, zerolog.Nop())
	require.NoError(t, err)

	b, err := broker.New(broker.Config{
		TCPAddr: "127.0.0.1:0", WSAddr: "127.0.0.1:0", WSPath: "/mqtt", WSReadLimit: 80 << 10,
		MaxPacketSize: 64 << 10, ConnectTimeout: 2 * time.Second, KeepaliveMax: time.Minute,
		MaxClients: 1000, MaxInflight: 64, MaxPendingWrites: 64,
		SessionExpiryMax: time.Hour, MessageExpiryMax: time.Hour, SysInterval: time.Second,
	}, zerolog.Nop(), r.reg)
	require.NoError(t, err)
	r.b = b
	sessions := &hooks.Sessions{}
	presence := hooks.NewPresence(hooks.PresenceConfig{Grace: o.grace, LastSeenInterval: time.Second, KeyPrefix: r.prefix}, sessions, db, r.rdb, b.Server(), zerolog.Nop(), r.reg)
	location := hooks.NewLocation(hooks.LocationConfig{MaxFutureSkew: 30 * time.Second, Buffer: 64, RedisFlushInterval: 50 * time.Millisecond, KeyPrefix: r.prefix}, sessions, r.nc, r.rdb, presence, zerolog.Nop(), r.reg)
	require.NoError(t, b.AddHook(hooks.NewAccess(verifier, sessions, b.Server(), zerolog.Nop(), r.reg), nil))
	require.NoError(t, b.AddHook(presence, nil))
	require.NoError(t, b.AddHook(location, nil))
	require.NoError(t, b.AddHook(hooks.NewDrops(zerolog.Nop(), r.reg), nil))
	require.NoError(t, b.Start())

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{verifier.Run, presence.Run, location.Run} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(ctx) }()
	}
	t.Cleanup(func() {
		require.NoError(t, b.Close())
		cancel()
		wg.Wait()
	})
	return r
}

func (r *realtime) token(tenant string, role auth.Role, sub string, ttl time.Duration) string {
	tok, err := auth.NewHS256Signer(r.hs).Sign(auth.Identity{Tenant: tenant, Subject: sub, Role: role}, "dispatchhub", "", ttl)
	require.NoError(r.t, err)
	return tok
}

// client is a paho MQTT 5 client with its received messages.
type client struct {
	*paho.Client
	conn         net.Conn
	msgs         chan *paho.Publish
	disconnected chan *paho.Disconnect
	closed       chan struct{}
}

type connectOpts struct {
	transport  string // "tcp" (default) or "ws"
	cleanStart bool
	expiry     uint32
	keepAlive  uint16
}

func (r *realtime) dial(transport string) net.Conn {
	if transport == "ws" {
		c, err := loadgen.DialWS(context.Background(), "ws://"+r.b.Addr("ws")+"/mqtt")
		require.NoError(r.t, err)
		return c
	}
	c, err := net.Dial("tcp", r.b.Addr("tcp"))
	require.NoError(r.t, err)
	return c
}

func (r *realtime) connect(clientID, token string, o connectOpts) (*client, *paho.Connack, error) {
	c := &client{msgs: make(chan *paho.Publish, 256), disconnected: make(chan *paho.Disconnect, 1), closed: make(chan struct{})}
	var once sync.Once
	c.conn = r.dial(o.transport)
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: c.conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { c.disconnected <- d },
		OnClientError:      func(error) { once.Do(func() { close(c.closed) }) },
	})
	keep := o.keepAlive
	if keep == 0 {
		keep = 30
	}
	cp := &paho.Connect{ClientID: clientID, KeepAlive: keep, CleanStart: !o.cleanStartFalse(), Password: []byte(token), PasswordFlag: token != ""}
	if o.expiry > 0 {
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &o.expiry}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		return nil, ack, err
	}
	r.t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{ReasonCode: 0}) })
	return c, ack, nil
}

func (o connectOpts) cleanStartFalse() bool { return o.expiry > 0 && !o.cleanStart }

func (r *realtime) mustConnect(clientID, token string, o connectOpts) *client {
	r.t.Helper()
	c, ack, err := r.connect(clientID, token, o)
	require.NoError(r.t, err, "connect %s: %v", clientID, ack)
	return c
}

func (c *client) subscribe(t *testing.T, filter string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if err != nil && sa == nil {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
	return sa.Reasons[0]
}

func (c *client) publish(t *testing.T, topic string, payload []byte, qos byte) (*paho.PublishResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: payload})
}

// expect waits for a message on topic; expectNone asserts none arrives within a short window.
func (c *client) expect(t *testing.T, topic string) *paho.Publish {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			if m.Topic == topic {
				return m
			}
		case <-deadline:
			t.Fatalf("no message on %s", topic)
		}
	}
}

func (c *client) expectNone(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case m := <-c.msgs:
		t.Fatalf("unexpected message on %s: %s", m.Topic, m.Payload)
	case <-time.After(within):
	}
}

func fix(lat, lng float64) []byte {
	return []byte(fmt.Sprintf(`{"lat":%v,"lng":%v,"ts":%d,"speed":5,"heading":90,"accuracy":4}`, lat, lng, time.Now().UnixMilli()))
}

func hand(header, claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(claims)) + "."
}

func TestAuthentication(t *testing.T) {
	r := newRealtime(t, rtOptions{grace: time.Second})
	exp := time.Now().Add(time.Hour).Unix()

	ok := r.token("acme", auth.RoleDriver, "d1", time.Hour)
	for _, transport := range []string{"tcp", "ws"} {
		_, ack, err := r.connect("acme.d1", ok, connectOpts{transport: transport})
		require.NoError(t, err, "%s: %v", transport, ack)
		assert.Zero(t, ack.ReasonCode)
	}

	other := auth.NewHS256Signer([]byte("some-other-secret-of-32-bytes-length!!"))
	badSig, err := other.Sign(auth.Identity{Tenant: "acme", Subject: "d1", Role: auth.RoleDriver}, "dispatchhub", "", time.Hour)
	require.NoError(t, err)
	wrongAud, err := auth.NewHS256Signer(r.hs).Sign(auth.Identity{Tenant: "acme", Subject: "d1", Role: auth.RoleDriver}, "someone-else", "", time.Hour)
	require.NoError(t, err)

	refused := map[string]string{
		"expired":       r.token("acme", auth.RoleDriver, "d1", -time.Minute),
		"bad_signature": badSig,
		"algorithm":     hand(`{"alg":"none","typ":"JWT"}`, fmt.Sprintf(`{"sub":"d1","tenant":"acme","role":"driver","aud":"dispatchhub","exp":%d}`, exp)),
		"audience":      wrongAud,
		"missing":       "",
		"malformed":     "not-a-jwt",
	}
	for reason, tok := range refused {
		_, ack, err := r.connect("acme.d1", tok, connectOpts{})
		require.Error(t, err, reason)
		if ack != nil {
			assert.Equal(t, byte(0x86), ack.ReasonCode, "%s: bad user name or password", reason)
		}
	}
	// missing exp: hand-built HS256 token without exp
	noExp, err := signRaw(r.hs, `{"sub":"d1","tenant":"acme","role":"driver","aud":"dispatchhub"}`)
	require.NoError(t, err)
	_, _, err = r.connect("acme.d1", noExp, connectOpts{})
	assert.Error(t, err, "a token without exp is refused")

	failures := testutil.ToFloat64(counterOf(t, r.reg, "dispatchhub_mqtt_auth_failures_total", "reason", "expired"))
	assert.Equal(t, 1.0, failures)
}

func TestClientIDMustBelongToTheToken(t *testing.T) {
	r := newRealtime(t, rtOptions{})
	tok := r.token("acme", auth.RoleDriver, "d1", time.Hour)
	for _, id := range []string{"acme.d2", "acme.d10", "beta.d1", "acme.d1x", "d1", "", "acme"} {
		_, _, err := r.connect(id, tok, connectOpts{})
		assert.Error(t, err, "client id %q", id)
	}
	for _, id := range []string{"acme.d1", "acme.d1.phone"} {
		_, _, err := r.connect(id, tok, connectOpts{})
		assert.NoError(t, err, "client id %q", id)
	}
}

func TestRotatedJWKS(t *testing.T) {
	r := newRealtime(t, rtOptions{})
	tok, err := r.ecSigner.Sign(auth.Identity{Tenant: "acme", Subject: "d1", Role: auth.RoleDriver}, "dispatchhub", "", time.Hour)
	require.NoError(t, err)
	r.mustConnect("acme.d1", tok, connectOpts{})

	// A new key, signed tokens arrive before the JWKS file has it.
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(ecKey)
	require.NoError(t, err)
	next, err := auth.NewSignerFromPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), "ec-2")
	require.NoError(t, err)
	tok2, err := next.Sign(auth.Identity{Tenant: "acme", Subject: "d2", Role: auth.RoleDriver}, "dispatchhub", "", time.Hour)
	require.NoError(t, err)
	_, _, err = r.connect("acme.d2", tok2, connectOpts{})
	require.Error(t, err, "unknown kid")

	jwks, err := next.PublicJWKS()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(r.jwksPath, jwks, 0o600))
	testenv.Eventually(t, 5*time.Second, func() bool {
		c, _, err := r.connect("acme.d2", tok2, connectOpts{})
		if c != nil {
			_ = c.Disconnect(&paho.Disconnect{})
		}
		return err == nil
	}, "the rotated key is picked up after the unknown kid")
}

func TestTokenExpiryDisconnects(t *testing.T) {
	r := newRealtime(t, rtOptions{})
	c := r.mustConnect("acme.d1", r.token("acme", auth.RoleDriver, "d1", 1500*time.Millisecond), connectOpts{})
	select {
	case d := <-c.disconnected:
		assert.Equal(t, byte(0xA0), d.ReasonCode, "maximum connect time")
	case <-time.After(10 * time.Second):
		t.Fatal("the client was not disconnected when its token expired")
	}
}

func TestDriverACL(t *testing.T) {
	r := newRealtime(t, rtOptions{})
	d1 := r.mustConnect("acme.d1", r.token("acme", auth.RoleDriver, "d1", time.Hour), connectOpts{transport: "ws"})
	disp := r.mustConnect("acme.u1", r.token("acme", auth.RoleDispatcher, "u1", time.Hour), connectOpts{})
	// Locations only: presence messages arrive asynchronously and are not under test here.
	require.Equal(t, byte(1), disp.subscribe(t, "tenants/acme/drivers/+/location"))

	for _, filter := range []string{"tenants/+/#", "tenants/acme/#", "#", "tenants/acme/drivers/d2/jobs", "tenants/acme/drivers/+/location", "$SYS/#"} {
		assert.Equal(t, byte(0x87), d1.subscribe(t, filter), "driver subscribe %s", filter)
	}
	assert.Equal(t, byte(1), d1.subscribe(t, "tenants/acme/drivers/d1/jobs"))

	resp, err := d1.publish(t, "tenants/acme/drivers/d2/location", fix(38.7, -9.1), 1)
	if err == nil {
		assert.Equal(t, byte(0x87), resp.ReasonCode, "another driver's location is refused")
	}
	_, err = d1.publish(t, "tenants/acme/drivers/d1/location", fix(38.7, -9.1), 1)
	require.NoError(t, err)
	m := disp.expect(t, "tenants/acme/drivers/d1/location")
	assert.Contains(t, string(m.Payload), `"lat":38.7`, "normal delivery is unchanged")
	disp.expectNone(t, 200*time.Millisecond)
}

func TestDispatcherSeesOnlyItsTenant(t *testing.T) {
	r := newRealtime(t, rtOptions{})
	a := r.mustConnect("acme.u1", r.token("acme", auth.RoleDispatcher, "u1", time.Hour), connectOpts{})
	for _, filter := range []string{"#", "+/#", "tenants/+/drivers/+/location", "tenants/beta/#", "$SYS/#", "$share/g/#"} {
		assert.Equal(t, byte(0x87), a.subscribe(t, filter), "dispatcher subscribe %s", filter)
	}
	require.Equal(t, byte(1), a.subscribe(t, "tenants/acme/#"))

	ops := r.mustConnect("acme.ops1", r.token("acme", auth.RoleOps, "ops1", time.Hour), connectOpts{})
	require.Equal(t, byte(1), ops.subscribe(t, "#"))
	require.Equal(t, byte(1), ops.subscribe(t, "$SYS/#"))
	ops.expect(t, "$SYS/broker/uptime") // ops see $SYS

	b := r.mustConnect("beta.d9", r.token("beta", auth.RoleDriver, "d9", time.Hour), connectOpts{})
	_, err := b.publish(t, "tenants/beta/drivers/d9/location", fix(1, 2), 1)
	require.NoError(t, err)
	ops.expect(t, "tenants/beta/drivers/d9/location")
	a.expectNone(t, 300*time.Millisecond)

	// ops are read-only
	resp, err := ops.publish(t, "tenants/acme/drivers/d1/jobs", []byte(`{}`), 1)
	if err == nil {
		assert.Equal(t, byte(0x87), resp.ReasonCode)
	}
	// dispatchers publish nothing
	resp, err = a.publish(t, "tenants/acme/drivers/d1/jobs", []byte(`{}`), 1)
	if err == nil {
		assert.Equal(t, byte(0x87), resp.ReasonCode)
	}
	assert.Positive(t, testutil.ToFloat64(counterOf(t, r.reg, "dispatchhub_mqtt_acl_denied_total", "role", "dispatcher")))
}

func TestInvalidLocationIsCountedAndConnectionStays(t *testing.T) {
	r := newRealtime(t, rtOptions{})
	sub, err := r.nc.SubscribeSync("loc.acme.d1")
	require.NoError(t, err)
	d1 := r.mustConnect("acme.d1", r.token("acme", auth.RoleDriver, "d1", time.Hour), connectOpts{})
	disp := r.mustConnect("acme.u1", r.token("acme", auth.RoleDispatcher, "u1", time.Hour), connectOpts{})
	require.Equal(t, byte(1), disp.subscribe(t, "tenants/acme/drivers/+/location"))

	for _, bad := range []string{`nope`, `{"lat":91,"lng":0,"ts":1764072000000}`, `{"lat":1,"lng":1}`, fmt.Sprintf(`{"lat":1,"lng":1,"ts":%d}`, time.Now().Add(time.Hour).UnixMilli())} {
		// MQTT 5 QoS1: PUBACK 0x99 "payload format invalid", which paho reports as an error.
		resp, err := d1.publish(t, "tenants/acme/drivers/d1/location", []byte(bad), 1)
		if err == nil {
			assert.Equal(t, byte(0x99), resp.ReasonCode, bad)
		} else {
			assert.Contains(t, err.Error(), "Payload Format", bad)
		}
	}
	_, err = d1.publish(t, "tenants/acme/drivers/d1/location", []byte(`also bad`), 0)
	require.NoError(t, err)
	disp.expectNone(t, 200*time.Millisecond)

	_, err = d1.publish(t, "tenants/acme/drivers/d1/location", fix(38.7223, -9.1393), 1)
	require.NoError(t, err)
	disp.expect(t, "tenants/acme/drivers/d1/location")
	msg, err := sub.NextMsg(5 * time.Second)
	require.NoError(t, err, "the good fix reached NATS")
	var got map[string]float64
	require.NoError(t, json.Unmarshal(msg.Data, &got))
	assert.Equal(t, 38.7223, got["lat"])

	testenv.Eventually(t, 5*time.Second, func() bool {
		v, err := r.rdb.Get(context.Background(), r.prefix+"loc:acme:d1").Result()
		return err == nil && strings.Contains(v, `"lat":38.7223`)
	}, "the latest fix is in Redis")
	assert.Equal(t, 1.0, testutil.ToFloat64(counterOf(t, r.reg, "dispatchhub_location_invalid_total", "reason", "lat")))
	assert.Equal(t, 2.0, testutil.ToFloat64(counterOf(t, r.reg, "dispatchhub_location_invalid_total", "reason", "json")), "nope (QoS1) and also bad (QoS0)")
}

func TestPresenceRetainedAndGrace(t *testing.T) {
	r := newRealtime(t, rtOptions{grace: 700 * time.Millisecond})
	disp := r.mustConnect("acme.u1", r.token("acme", auth.RoleDispatcher, "u1", time.Hour), connectOpts{})
	require.Equal(t, byte(1), disp.subscribe(t, "tenants/acme/drivers/+/presence"))
	tok := r.token("acme", auth.RoleDriver, "d1", time.Hour)

	d1 := r.mustConnect("acme.d1", tok, connectOpts{})
	m := disp.expect(t, "tenants/acme/drivers/d1/presence")
	assert.Contains(t, string(m.Payload), `"online":true`)

	// A late subscriber gets the retained state.
	late := r.mustConnect("acme.u2", r.token("acme", auth.RoleDispatcher, "u2", time.Hour), connectOpts{})
	late.subscribe(t, "tenants/acme/drivers/d1/presence")
	m = late.expect(t, "tenants/acme/drivers/d1/presence")
	assert.Contains(t, string(m.Payload), `"online":true`)
	assert.True(t, m.Retain)

	// A connection lost and back within the grace period: no offline at all.
	dropConn(t, d1)
	d1 = r.mustConnect("acme.d1", tok, connectOpts{})
	disp.expectNone(t, 1200*time.Millisecond)

	// Lost and not back: offline after the grace period.
	dropConn(t, d1)
	m = disp.expect(t, "tenants/acme/drivers/d1/presence")
	assert.Contains(t, string(m.Payload), `"online":false`)
	assert.Contains(t, string(m.Payload), `"cause":"lost"`)

	// A clean disconnect: offline at once.
	d1 = r.mustConnect("acme.d1", tok, connectOpts{})
	disp.expect(t, "tenants/acme/drivers/d1/presence")
	require.NoError(t, d1.Disconnect(&paho.Disconnect{}))
	m = disp.expect(t, "tenants/acme/drivers/d1/presence")
	assert.Contains(t, string(m.Payload), `"cause":"disconnect"`)

	// Redis and PostgreSQL agree: DriverOnline/DriverOffline went through the outbox in order.
	h, err := r.rdb.HGetAll(context.Background(), r.prefix+"presence:acme:d1").Result()
	require.NoError(t, err)
	assert.Equal(t, "0", h["online"])
	var types []string
	outboxTypes := func() []string {
		var out []string
		require.NoError(t, r.db.WithTenantTx(context.Background(), "acme", func(tx pgx.Tx) error {
			rows, err := tx.Query(context.Background(), `SELECT event_type FROM outbox WHERE aggregate_id = 'd1' ORDER BY seq`)
			if err != nil {
				return err
			}
			out, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		}))
		return out
	}
	// The retained message is published before the database write: wait for the outbox.
	testenv.Eventually(t, 5*time.Second, func() bool { types = outboxTypes(); return len(types) >= 4 }, "four presence events")
	assert.Equal(t, []string{"DriverOnline", "DriverOffline", "DriverOnline", "DriverOffline"}, types)
	var lastSeen *time.Time
	require.NoError(t, r.db.WithTenantTx(context.Background(), "acme", func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT last_seen_at FROM drivers WHERE id = 'd1'`).Scan(&lastSeen)
	}))
	require.NotNil(t, lastSeen, "drivers.last_seen_at is written")
}

// dropConn kills the client's socket without a DISCONNECT (a lost connection).
func dropConn(t *testing.T, c *client) {
	t.Helper()
	// paho owns the conn; closing it from outside simulates a network loss.
	require.NoError(t, c.conn.Close())
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
	}
}

func TestOfflineJobArrivesOnReconnect(t *testing.T) {
	r := newRealtime(t, rtOptions{grace: time.Minute})
	tok := r.token("acme", auth.RoleDriver, "d1", time.Hour)
	d1 := r.mustConnect("acme.d1", tok, connectOpts{transport: "ws", expiry: 600})
	require.Equal(t, byte(1), d1.subscribe(t, "tenants/acme/drivers/d1/jobs"))
	require.NoError(t, d1.Disconnect(&paho.Disconnect{}))
	time.Sleep(50 * time.Millisecond) // let the broker record the disconnect before publishing

	require.NoError(t, r.b.Server().Publish("tenants/acme/drivers/d1/jobs", []byte(`{"type":"AssignmentOffered","job_id":"j1"}`), false, 1))

	d1 = r.mustConnect("acme.d1", tok, connectOpts{transport: "ws", expiry: 600})
	m := d1.expect(t, "tenants/acme/drivers/d1/jobs")
	assert.Contains(t, string(m.Payload), `"job_id":"j1"`)
}

func TestInheritedSessionIsFilteredByTheNewACL(t *testing.T) {
	r := newRealtime(t, rtOptions{})
	// u1 connects as a dispatcher with a persistent session and leaves messages queued...
	disp := r.mustConnect("acme.u1", r.token("acme", auth.RoleDispatcher, "u1", time.Hour), connectOpts{expiry: 600})
	require.Equal(t, byte(1), disp.subscribe(t, "tenants/acme/#"))
	require.NoError(t, disp.Disconnect(&paho.Disconnect{}))
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, r.b.Server().Publish("tenants/acme/orders/o1", []byte(`{"secret":"dispatcher-only"}`), false, 1))
	// ...then the same subject reconnects with a driver token: the queued order is not resent.
	drv := r.mustConnect("acme.u1", r.token("acme", auth.RoleDriver, "u1", time.Hour), connectOpts{expiry: 600})
	drv.expectNone(t, 500*time.Millisecond)
}

// signRaw signs arbitrary claims with HS256 (for tokens the Signer would never produce).
func signRaw(secret []byte, claims string) (string, error) {
	var mc jwt.MapClaims
	if err := json.Unmarshal([]byte(claims), &mc); err != nil {
		return "", err
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, mc).SignedString(secret)
}

func counterOf(t *testing.T, reg *prometheus.Registry, name, label, value string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	c.Add(total)
	return c
}
