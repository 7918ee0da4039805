package app_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

const shopSecret = "backbone-test-shop-secret"

// backbone is a started hub with a tenant "acme", its Shopify store, and helpers to send
// webhooks, watch MQTT and call the REST API.
type backbone struct {
	*hub
	t      testing.TB
	db     *store.DB
	dbInfo testenv.Database
	store  store.Store
	signer *auth.Signer
}

func startBackbone(t testing.TB, tweak func(*config.Config)) *backbone {
	t.Helper()
	info := testenv.NewDatabase(t, true)
	cfg := testConfig(t, info, "")
	cfg.Outbox.PollInterval = 100 * time.Millisecond
	cfg.NATS.Port = testenv.FreePort(t) // tests tap the embedded server's streams
	if tweak != nil {
		tweak(&cfg)
	}
	db, err := store.Open(store.Config{URL: info.AppURL, MaxConns: 4})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	ctx := context.Background()
	for _, tenant := range []string{"acme", "other"} {
		_, err = db.CreateTenant(ctx, tenant, tenant)
		require.NoError(t, err)
	}
	t.Setenv("DH_BACKBONE_SHOP_SECRET", shopSecret) // testing.B has Setenv too
	s, err := db.AddStore(ctx, store.Store{TenantID: "acme", Platform: "shopify", Name: "Acme", SecretRefs: []string{"env:DH_BACKBONE_SHOP_SECRET"},
		Pickup: &store.LatLng{Lat: 38.72, Lng: -9.14}})
	require.NoError(t, err)
	h := start(t, cfg)
	h.waitStarted(t)
	return &backbone{hub: h, t: t, db: db, dbInfo: info, store: s, signer: auth.NewHS256Signer([]byte(testSecret))}
}

func (b *backbone) token(tenant, sub string, role auth.Role) string {
	tok, err := b.signer.Sign(auth.Identity{Tenant: tenant, Subject: sub, Role: role}, b.cfg.Auth.Audience, b.cfg.Auth.Issuer, time.Hour)
	require.NoError(b.t, err)
	return tok
}

func shopifyOrder(id int, updatedAt time.Time, city string) []byte {
	return []byte(fmt.Sprintf(`{"id":%d,"name":"#%d","updated_at":%q,"currency":"EUR","total_price":"21.50",`+
		`"shipping_address":{"first_name":"Ana","last_name":"Silva","address1":"Rua Augusta 1","city":%q,"zip":"1100-053","country_code":"PT","latitude":38.71,"longitude":-9.137},`+
		`"line_items":[{"sku":"PZ-1","title":"Pizza","quantity":2,"price":"10.75"}]}`, id, id, updatedAt.Format(time.RFC3339), city))
}

// webhook sends a signed Shopify webhook and returns the status and the answer's id.
func (b *backbone) webhook(topic, eventID string, body []byte) (int, string) {
	mac := hmac.New(sha256.New, []byte(shopSecret))
	mac.Write(body)
	req, err := http.NewRequest("POST", b.base+"/v1/webhooks/shopify/"+b.store.ID, bytes.NewReader(body))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", topic)
	req.Header.Set("X-Shopify-Event-Id", eventID)
	req.Header.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	var a struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode, a.ID
}

// api calls the REST API with a bearer token and decodes the JSON answer into out.
func (b *backbone) api(method, path, token string, body any, out any) int {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(b.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.base+path, rd)
	require.NoError(b.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(raw, out)
	}
	return resp.StatusCode
}

// mqttWatcher collects what an MQTT client receives.
type mqttWatcher struct {
	mu    sync.Mutex
	msgs  map[string][][]byte    // topic -> payloads
	times map[string][]time.Time // topic -> when each payload arrived
}

func (w *mqttWatcher) on(topic string) [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]byte(nil), w.msgs[topic]...)
}

func (w *mqttWatcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.msgs {
		n += len(m)
	}
	return n
}

func (b *backbone) watch(tenant, sub string, role auth.Role, filter string) *mqttWatcher {
	t := b.t
	w := &mqttWatcher{msgs: map[string][][]byte{}, times: map[string][]time.Time{}}
	conn, err := net.Dial("tcp", b.app.MQTTAddr("tcp"))
	require.NoError(t, err)
	c := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			w.mu.Lock()
			w.msgs[pr.Packet.Topic] = append(w.msgs[pr.Packet.Topic], pr.Packet.Payload)
			w.times[pr.Packet.Topic] = append(w.times[pr.Packet.Topic], time.Now())
			w.mu.Unlock()
			return true, nil
		},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Connect(ctx, &paho.Connect{ClientID: tenant + "." + sub, KeepAlive: 30, CleanStart: true,
		Password: []byte(b.token(tenant, sub, role)), PasswordFlag: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	_, err = c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	require.NoError(t, err)
	return w
}

type eventEnvelope struct {
	ID            string          `json:"id"`
	Tenant        string          `json:"tenant"`
	Type          string          `json:"type"`
	AggregateType string          `json:"aggregate_type"`
	AggregateID   string          `json:"aggregate_id"`
	Version       int64           `json:"version"`
	Payload       json.RawMessage `json:"payload"`
}

type orderView struct {
	ID          string `json:"id"`
	Tenant      string `json:"tenant"`
	Status      string `json:"status"`
	Source      string `json:"source"`
	ExternalRef string `json:"external_ref"`
	Version     int64  `json:"version"`
	Dropoff     *struct {
		City string `json:"city"`
	} `json:"dropoff"`
	Pickup *struct {
		Point *struct{ Lat, Lng float64 } `json:"point"`
	} `json:"pickup"`
	History []struct {
		Type string `json:"type"`
	} `json:"history"`
}

func (b *backbone) count(tenant, query string, args ...any) int {
	var n int
	require.NoError(b.t, b.db.WithTenantTx(context.Background(), tenant, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), query, args...).Scan(&n)
	}))
	return n
}

// A signed webhook becomes an order, and OrderCreated reaches a dispatcher over MQTT on the
// events topic and the order's topic; the REST API shows the order with its history; another
// tenant sees nothing of it.
func TestWebhookBecomesOrderOnMQTTAndAPI(t *testing.T) {
	b := startBackbone(t, nil)
	disp := b.watch("acme", "disp-1", auth.RoleDispatcher, "tenants/acme/#")
	stranger := b.watch("other", "disp-9", auth.RoleDispatcher, "tenants/other/#")

	code, _ := b.webhook("orders/create", "evt-1", shopifyOrder(1001, time.Now().Add(-time.Minute), "Lisboa"))
	require.Equal(t, 200, code)

	var created eventEnvelope
	testenv.Eventually(t, 10*time.Second, func() bool {
		msgs := disp.on("tenants/acme/events/OrderCreated")
		if len(msgs) == 0 {
			return false
		}
		require.NoError(t, json.Unmarshal(msgs[0], &created))
		return true
	}, "OrderCreated on tenants/acme/events/OrderCreated")
	assert.Equal(t, "acme", created.Tenant)
	assert.Equal(t, "order", created.AggregateType)
	testenv.Eventually(t, 5*time.Second, func() bool {
		return len(disp.on("tenants/acme/orders/"+created.AggregateID)) == 1
	}, "the order's state on tenants/acme/orders/{id}")
	var snapshot orderView
	require.NoError(t, json.Unmarshal(disp.on("tenants/acme/orders/" + created.AggregateID)[0], &snapshot))
	assert.Equal(t, "pending", snapshot.Status)
	assert.Equal(t, "1001", snapshot.ExternalRef)
	require.NotNil(t, snapshot.Pickup)
	require.NotNil(t, snapshot.Pickup.Point, "the store's pickup point")
	assert.InDelta(t, 38.72, snapshot.Pickup.Point.Lat, 1e-9)

	var got orderView
	require.Equal(t, 200, b.api("GET", "/v1/orders/"+created.AggregateID, b.token("acme", "disp-1", auth.RoleDispatcher), nil, &got))
	var fromAPI, fromEvent map[string]any
	require.Equal(t, 200, b.api("GET", "/v1/orders/"+created.AggregateID, b.token("acme", "disp-1", auth.RoleDispatcher), nil, &fromAPI))
	require.NoError(t, json.Unmarshal(created.Payload, &fromEvent))
	delete(fromAPI, "history")
	assert.Equal(t, fromAPI, fromEvent, "the event's snapshot is the order as stored")
	assert.Equal(t, created.AggregateID, got.ID)
	require.NotEmpty(t, got.History)
	assert.Equal(t, "OrderCreated", got.History[0].Type)
	assert.Equal(t, 404, b.api("GET", "/v1/orders/"+created.AggregateID, b.token("other", "disp-9", auth.RoleDispatcher), nil, nil),
		"another tenant's order does not exist for it")
	assert.Equal(t, 401, b.api("GET", "/v1/orders/"+created.AggregateID, "not-a-token", nil, nil))

	time.Sleep(200 * time.Millisecond) // what would leak would have arrived by now
	assert.Zero(t, stranger.count(), "tenant other sees nothing")
}

// Updates out of order: the newer state wins, whatever the order of arrival; a redelivered
// or repeated event changes nothing.
func TestOutOfOrderUpdatesAndDuplicates(t *testing.T) {
	b := startBackbone(t, nil)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	// The update (t0+2m, Porto) arrives before the creation (t0, Lisboa) and a first update (t0+1m, Faro).
	code, _ := b.webhook("orders/updated", "evt-u2", shopifyOrder(2002, t0.Add(2*time.Minute), "Porto"))
	require.Equal(t, 200, code)
	code, _ = b.webhook("orders/create", "evt-c", shopifyOrder(2002, t0, "Lisboa"))
	require.Equal(t, 200, code)
	code, _ = b.webhook("orders/updated", "evt-u1", shopifyOrder(2002, t0.Add(time.Minute), "Faro"))
	require.Equal(t, 200, code)

	testenv.Eventually(t, 10*time.Second, func() bool {
		return b.count("acme", `SELECT count(*) FROM inbox`) == 3
	}, "the three events applied")
	var city string
	var version int64
	require.NoError(t, b.db.WithTenantTx(context.Background(), "acme", func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT dropoff_address->>'city', version FROM orders WHERE external_ref = '2002'`).Scan(&city, &version)
	}))
	// INGEST does not promise the webhooks' arrival order (a publish retried by the relay's
	// poller comes later), so which events were stale depends on the order they were applied
	// in; what holds in every order is that the newest state wins and each event counts once.
	assert.Equal(t, "Porto", city, "the newest state wins")
	assert.Equal(t, 1, b.count("acme", `SELECT count(*) FROM orders`))
	assert.Equal(t, 1, b.count("acme", `SELECT count(*) FROM outbox WHERE event_type = 'OrderCreated'`))
	updated := b.count("acme", `SELECT count(*) FROM outbox WHERE event_type = 'OrderUpdated'`)
	assert.Equal(t, 2, updated+b.count("acme", `SELECT count(*) FROM events WHERE type = 'StaleUpdateIgnored'`), "every later event applied or ignored once")
	assert.Equal(t, int64(1+updated), version)

	// A newer update applies; the same webhook delivered again is a duplicate at the edge.
	code, _ = b.webhook("orders/updated", "evt-u3", shopifyOrder(2002, t0.Add(3*time.Minute), "Braga"))
	require.Equal(t, 200, code)
	testenv.Eventually(t, 10*time.Second, func() bool {
		return b.count("acme", `SELECT count(*) FROM outbox WHERE event_type = 'OrderUpdated'`) == updated+1
	}, "OrderUpdated for the newer update")
	code, _ = b.webhook("orders/updated", "evt-u3", shopifyOrder(2002, t0.Add(3*time.Minute), "Braga"))
	require.Equal(t, 200, code)

	// Cancelled by the store.
	code, _ = b.webhook("orders/cancelled", "evt-x", shopifyOrder(2002, t0.Add(4*time.Minute), "Braga"))
	require.Equal(t, 200, code)
	testenv.Eventually(t, 10*time.Second, func() bool {
		return b.count("acme", `SELECT count(*) FROM orders WHERE status = 'cancelled'`) == 1
	}, "cancelled")
	assert.Equal(t, updated+1, b.count("acme", `SELECT count(*) FROM outbox WHERE event_type = 'OrderUpdated'`), "the duplicate changed nothing")
	assert.Equal(t, 1, b.count("acme", `SELECT count(*) FROM outbox WHERE event_type = 'OrderCancelled'`))
}

// A message that keeps failing goes to dead letters; once the cause is gone, ops replay it
// through the API and the order appears.
func TestPoisonMessageDeadLetterAndReplay(t *testing.T) {
	b := startBackbone(t, func(c *config.Config) {
		c.Intake.Attempts = 2
		c.Intake.RetryDelay, c.Intake.RetryDelayMax = 50*time.Millisecond, 100*time.Millisecond
	})
	ctx := context.Background()
	owner, err := pgx.Connect(ctx, b.dbInfo.OwnerURL)
	require.NoError(t, err)
	defer owner.Close(ctx)
	// The cause: a rule in the database that refuses this order (as a broken migration might).
	_, err = owner.Exec(ctx, `CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.external_ref = '666' THEN RAISE EXCEPTION 'poison order refused'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse_poison BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION refuse_poison();`)
	require.NoError(t, err)

	code, _ := b.webhook("orders/create", "evt-poison", shopifyOrder(666, time.Now(), "Lisboa"))
	require.Equal(t, 200, code)
	code, _ = b.webhook("orders/create", "evt-fine", shopifyOrder(667, time.Now(), "Lisboa"))
	require.Equal(t, 200, code)

	ops := b.token("acme", "ops-1", auth.RoleOps)
	var list struct {
		DeadLetters []struct {
			ID       string `json:"id"`
			Error    string `json:"error"`
			Attempts int    `json:"attempts"`
		} `json:"dead_letters"`
	}
	testenv.Eventually(t, 15*time.Second, func() bool {
		return b.api("GET", "/v1/dlq?platform=shopify", ops, nil, &list) == 200 && len(list.DeadLetters) == 1
	}, "the poison message is a dead letter")
	assert.Contains(t, list.DeadLetters[0].Error, "poison order refused")
	assert.Equal(t, 2, list.DeadLetters[0].Attempts)
	testenv.Eventually(t, 5*time.Second, func() bool {
		return b.count("acme", `SELECT count(*) FROM orders WHERE external_ref = '667'`) == 1
	}, "the other order is not held up")
	assert.Zero(t, b.count("acme", `SELECT count(*) FROM orders WHERE external_ref = '666'`))

	_, err = owner.Exec(ctx, `DROP TRIGGER refuse_poison ON orders`)
	require.NoError(t, err)
	assert.Equal(t, 403, b.api("POST", "/v1/dlq/"+list.DeadLetters[0].ID+"/replay", b.token("acme", "disp-1", auth.RoleDispatcher), nil, nil),
		"dispatchers do not replay")
	require.Equal(t, 200, b.api("POST", "/v1/dlq/"+list.DeadLetters[0].ID+"/replay", ops, nil, nil))
	testenv.Eventually(t, 10*time.Second, func() bool {
		return b.count("acme", `SELECT count(*) FROM orders WHERE external_ref = '666'`) == 1
	}, "replayed after the fix")
	assert.Equal(t, 1, b.count("acme", `SELECT count(*) FROM outbox WHERE event_type = 'OrderCreated' AND aggregate_id = (SELECT id::text FROM orders WHERE external_ref = '666')`))
}

// A message JetStream delivers again (here: the same INGEST message published a second time
// under another Nats-Msg-Id, as a replay or a crashed relay would) has one effect.
func TestRedeliveredIngestMessageHasOneEffect(t *testing.T) {
	b := startBackbone(t, nil)
	code, _ := b.webhook("orders/create", "evt-once", shopifyOrder(3003, time.Now(), "Lisboa"))
	require.Equal(t, 200, code)
	testenv.Eventually(t, 10*time.Second, func() bool {
		return b.count("acme", `SELECT count(*) FROM outbox WHERE event_type = 'OrderCreated'`) == 1
	}, "the order")

	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", b.cfg.NATS.Port))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	st, err := js.Stream(ctx, "INGEST")
	require.NoError(t, err)
	raw, err := st.GetLastMsgForSubject(ctx, "ingest.shopify.acme")
	require.NoError(t, err)
	for i := range 3 {
		_, err = js.PublishMsg(ctx, &nats.Msg{Subject: raw.Subject, Data: raw.Data,
			Header: nats.Header{jetstream.MsgIDHeader: []string{fmt.Sprintf("again-%d", i)}}})
		require.NoError(t, err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		info, err := js.Consumer(ctx, "INGEST", "intake-shopify")
		if err != nil {
			return false
		}
		ci, err := info.Info(ctx)
		return err == nil && ci.NumPending == 0 && ci.NumAckPending == 0
	}, "the copies consumed")
	assert.Equal(t, 1, b.count("acme", `SELECT count(*) FROM orders`))
	assert.Equal(t, 1, b.count("acme", `SELECT count(*) FROM outbox`))
	assert.Equal(t, 1, b.count("acme", `SELECT count(*) FROM events`))
	assert.Equal(t, 1, b.count("acme", `SELECT count(*) FROM inbox`))
}
