package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pilotx/dispatchhub/broker"
	"github.com/pilotx/dispatchhub/hooks"
	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/outbox"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is an embedded NATS with the contract's streams and a broker with the production Access
// hook, listening on TCP.
type env struct {
	t      testing.TB
	bus    *bus.Bus
	js     jetstream.JetStream
	b      *broker.Broker
	reg    *prometheus.Registry
	signer *auth.Signer
}

func newEnv(t testing.TB, tune func(*broker.Config)) *env {
	t.Helper()
	e := &env{t: t, reg: prometheus.NewRegistry()}
	nb, err := bus.Start(context.Background(), bus.Config{Host: "127.0.0.1", Port: 0, StoreDir: t.TempDir(), MaxStore: 1 << 28, Replicas: 1,
		DuplicateWindow: time.Minute, IngestMaxAge: time.Hour, EventsMaxAge: time.Hour, OutboundMaxAge: time.Hour}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(nb.Close)
	e.bus, e.js = nb, nb.JetStream()

	secret, _, err := auth.DevSecret(t.TempDir())
	require.NoError(t, err)
	e.signer = auth.NewHS256Signer(secret)
	verifier, err := auth.NewVerifier(auth.Config{Audience: "dispatchhub", HS256Secret: secret}, zerolog.Nop())
	require.NoError(t, err)

	cfg := broker.ConfigFrom(config.Default().MQTT)
	cfg.TCPAddr, cfg.WSAddr = "127.0.0.1:0", ""
	if tune != nil {
		tune(&cfg)
	}
	b, err := broker.New(cfg, zerolog.Nop(), e.reg)
	require.NoError(t, err)
	e.b = b
	require.NoError(t, b.AddHook(hooks.NewAccess(verifier, &hooks.Sessions{}, b.Server(), zerolog.Nop(), e.reg), nil))
	require.NoError(t, b.Start())
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return e
}

// startBridge runs a bridge until the returned stop (or the test's cleanup) ends it.
func (e *env) startBridge(cfg Config, pub Publisher) (stop func()) {
	if pub == nil {
		pub = e.b.Server()
	}
	br := New(e.js, pub, cfg, zerolog.Nop(), e.reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(e.t, err, "Run")
			case <-time.After(10 * time.Second):
				e.t.Error("Run did not return within 10s of its context ending")
			}
		})
	}
	e.t.Cleanup(stop)
	return stop
}

func (e *env) token(tenant string, role auth.Role, sub string) string {
	tok, err := e.signer.Sign(auth.Identity{Tenant: tenant, Subject: sub, Role: role}, "dispatchhub", "", time.Hour)
	require.NoError(e.t, err)
	return tok
}

// publish puts ev on EVENTS as the outbox relay does.
func (e *env) publish(ev outbox.Event) []byte {
	e.t.Helper()
	data, err := json.Marshal(ev)
	require.NoError(e.t, err)
	e.publishRaw("events."+ev.Tenant+"."+ev.Type, ev.ID, data)
	return data
}

func (e *env) publishRaw(subject, id string, data []byte) {
	e.t.Helper()
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(jetstream.MsgIDHeader, id)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := e.js.PublishMsg(ctx, msg)
	require.NoError(e.t, err)
}

func (e *env) consumerInfo(durable string) *jetstream.ConsumerInfo {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := e.js.Consumer(ctx, bus.StreamEvents, durable)
	require.NoError(e.t, err)
	info, err := c.Info(ctx)
	require.NoError(e.t, err)
	return info
}

// metric sums the samples of a counter, or the sample count of a histogram, whose label has
// the value ("" label: all of them).
func (e *env) metric(name, label, value string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	require.NoError(e.t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					match = true
				}
			}
			if !match {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				total += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				total += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return total
}

// client is a paho MQTT 5 client over TCP with its received messages.
type client struct {
	*paho.Client
	msgs chan *paho.Publish
}

type connectOpts struct {
	expiry uint32 // > 0: clean start false with this session expiry
	buffer int
	onMsg  func(*paho.Publish) // instead of the msgs channel
}

func (e *env) connect(clientID, token string, o connectOpts) *client {
	e.t.Helper()
	if o.buffer == 0 {
		o.buffer = 1024
	}
	c := &client{msgs: make(chan *paho.Publish, o.buffer)}
	conn, err := net.Dial("tcp", e.b.Addr(broker.ListenerTCP))
	require.NoError(e.t, err)
	onMsg := o.onMsg
	if onMsg == nil {
		onMsg = func(p *paho.Publish) { c.msgs <- p }
	}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			onMsg(pr.Packet)
			return true, nil
		}},
	})
	cp := &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: o.expiry == 0, Password: []byte(token), PasswordFlag: true}
	if o.expiry > 0 {
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &o.expiry}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	require.NoError(e.t, err, "connect %s: %v", clientID, ack)
	e.t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

func (c *client) subscribe(t testing.TB, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	require.NoError(t, err, "subscribe %s", filter)
	require.Equal(t, []byte{1}, sa.Reasons, "subscribe %s", filter)
}

// expect waits for the next message on topic, skipping others.
func (c *client) expect(t testing.TB, topic string) *paho.Publish {
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

func (c *client) expectNone(t testing.TB, within time.Duration) {
	t.Helper()
	select {
	case m := <-c.msgs:
		t.Fatalf("unexpected message on %s: %s", m.Topic, m.Payload)
	case <-time.After(within):
	}
}

// collect gathers n messages on topic (others are skipped).
func (c *client) collect(t testing.TB, topic string, n int) []*paho.Publish {
	t.Helper()
	var got []*paho.Publish
	deadline := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case m := <-c.msgs:
			if m.Topic == topic {
				got = append(got, m)
			}
		case <-deadline:
			t.Fatalf("%d of %d messages on %s", len(got), n, topic)
		}
	}
	return got
}

func eventually(t testing.TB, within time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// snapshot is an order as dispatch.Order marshals it.
func snapshot(tenant, id string, version int64) json.RawMessage {
	now := time.Now().UTC()
	o := map[string]any{
		"id": id, "tenant": tenant, "store_id": "s1", "source": "shopify", "external_ref": "#1001",
		"status":  "pending",
		"pickup":  map[string]any{"line1": "Rua A 1", "city": "Lisboa", "lat": 38.7223, "lng": -9.1393},
		"dropoff": map[string]any{"line1": "Rua B 2", "city": "Lisboa", "lat": 38.7369, "lng": -9.1427},
		"items":   []map[string]any{{"sku": "A1", "name": "Pastel de nata & café <x>", "quantity": 2}},
		"version": version, "created_at": now, "updated_at": now,
	}
	b, _ := json.Marshal(o)
	return b
}

func orderEvent(tenant, typ, orderID string, version int64) outbox.Event {
	return outbox.Event{
		ID: uuid.NewString(), Tenant: tenant, Type: typ, AggregateType: "order", AggregateID: orderID,
		Version: version, OccurredAt: time.Now().UTC(), Payload: snapshot(tenant, orderID, version),
	}
}

func jobEventOf(tenant, typ, driver string) outbox.Event {
	p := map[string]any{
		"job_id": "j-" + uuid.NewString(), "order_id": "o1", "expires_at": time.Now().Add(30 * time.Second).UTC(),
		"pickup":  map[string]any{"lat": 38.7223, "lng": -9.1393},
		"dropoff": map[string]any{"lat": 38.7369, "lng": -9.1427},
		"note":    "ring <twice> & wait",
	}
	if driver != "" {
		p["driver_id"] = driver
	}
	b, _ := json.Marshal(p)
	return outbox.Event{
		ID: uuid.NewString(), Tenant: tenant, Type: typ, AggregateType: "assignment", AggregateID: "a1",
		Version: 1, OccurredAt: time.Now().UTC(), Payload: b,
	}
}

func TestOrderEventReachesItsTenantOnly(t *testing.T) {
	e := newEnv(t, nil)
	acme := e.connect("acme.u1", e.token("acme", auth.RoleDispatcher, "u1"), connectOpts{})
	acme.subscribe(t, "tenants/acme/#")
	other := e.connect("other.u1", e.token("other", auth.RoleDispatcher, "u1"), connectOpts{})
	other.subscribe(t, "tenants/other/#")
	e.startBridge(Config{}, nil)

	ev := orderEvent("acme", "OrderCreated", "o-1", 1)
	envelope := e.publish(ev)

	m := acme.expect(t, "tenants/acme/events/OrderCreated")
	assert.Equal(t, string(envelope), string(m.Payload), "the envelope as received")
	assert.Equal(t, byte(1), m.QoS)
	assert.False(t, m.Retain)
	m = acme.expect(t, "tenants/acme/orders/o-1")
	assert.JSONEq(t, string(ev.Payload), string(m.Payload), "the order snapshot")
	assert.Equal(t, byte(1), m.QoS)
	other.expectNone(t, 300*time.Millisecond)
	acme.expectNone(t, 0)

	assert.Equal(t, 1.0, e.metric("dispatchhub_bridge_messages_total", "outcome", "published"))
	assert.Equal(t, 1.0, e.metric("dispatchhub_bridge_mqtt_publishes_total", "topic_kind", "events"))
	assert.Equal(t, 1.0, e.metric("dispatchhub_bridge_mqtt_publishes_total", "topic_kind", "orders"))
	assert.Equal(t, 0.0, e.metric("dispatchhub_bridge_mqtt_publishes_total", "topic_kind", "jobs"))
	assert.Equal(t, 1.0, e.metric("dispatchhub_bridge_lag_seconds", "", ""))
	info := e.consumerInfo(DefaultDurable)
	assert.Equal(t, 256, info.Config.MaxAckPending)
	assert.Equal(t, jetstream.AckExplicitPolicy, info.Config.AckPolicy)
	assert.Equal(t, jetstream.DeliverAllPolicy, info.Config.DeliverPolicy)
	assert.Equal(t, "events.>", info.Config.FilterSubject)
}

// A connector's health event is published on the events topic and kept retained on
// tenants/{t}/connectors/{platform}, so a console that subscribes later gets the banner.
func TestConnectorHealthIsRetained(t *testing.T) {
	e := newEnv(t, nil)
	e.startBridge(Config{}, nil)
	health := outbox.Event{ID: uuid.NewString(), Tenant: "acme", Type: "ConnectorDegraded", AggregateType: "connector", AggregateID: "shopify",
		Version: 1, OccurredAt: time.Now().UTC(), Payload: json.RawMessage(`{"platform":"shopify","state":"degraded","message":"Shopify sync delayed since 2026-11-26T10:00:00Z"}`)}
	e.publish(health)
	eventually(t, 10*time.Second, func() bool {
		return e.metric("dispatchhub_bridge_mqtt_publishes_total", "topic_kind", "connectors") == 1
	}, "published")

	late := e.connect("acme.late", e.token("acme", auth.RoleDispatcher, "late"), connectOpts{})
	late.subscribe(t, "tenants/acme/connectors/#")
	m := late.expect(t, "tenants/acme/connectors/shopify")
	assert.True(t, m.Retain)
	assert.JSONEq(t, string(health.Payload), string(m.Payload))
	late.expectNone(t, 200*time.Millisecond)
}

func TestJobGoesToItsDriverOnly(t *testing.T) {
	e := newEnv(t, nil)
	d1 := e.connect("acme.d1", e.token("acme", auth.RoleDriver, "d1"), connectOpts{})
	d1.subscribe(t, "tenants/acme/drivers/d1/jobs")
	d2 := e.connect("acme.d2", e.token("acme", auth.RoleDriver, "d2"), connectOpts{})
	d2.subscribe(t, "tenants/acme/drivers/d2/jobs")
	e.startBridge(Config{}, nil)

	ev := jobEventOf("acme", "AssignmentOffered", "d1")
	e.publish(ev)
	m := d1.expect(t, "tenants/acme/drivers/d1/jobs")
	assert.Equal(t, byte(1), m.QoS)
	var got, want map[string]any
	require.NoError(t, json.Unmarshal(m.Payload, &got))
	require.NoError(t, json.Unmarshal(ev.Payload, &want))
	want["type"], want["event_id"] = "AssignmentOffered", ev.ID
	assert.Equal(t, want, got, "the payload with type and event_id, every other field kept")
	d2.expectNone(t, 300*time.Millisecond)

	// An order cancelled before any driver had it goes to no driver; one a driver had goes to it.
	cancelled := orderEvent("acme", "OrderCancelled", "o-2", 3)
	e.publish(cancelled)
	var withDriver map[string]any
	require.NoError(t, json.Unmarshal(orderEvent("acme", "OrderCancelled", "o-3", 4).Payload, &withDriver))
	withDriver["driver_id"] = "d1"
	payload, err := json.Marshal(withDriver)
	require.NoError(t, err)
	cancelled2 := orderEvent("acme", "OrderCancelled", "o-3", 4)
	cancelled2.Payload = payload
	e.publish(cancelled2)
	m = d1.expect(t, "tenants/acme/drivers/d1/jobs")
	assert.Contains(t, string(m.Payload), `"type":"OrderCancelled"`)
	assert.Contains(t, string(m.Payload), `"event_id":"`+cancelled2.ID+`"`)
	assert.Contains(t, string(m.Payload), `"id":"o-3"`)
	assert.Contains(t, string(m.Payload), `"order_id":"o-3"`, "an order's job event names the order as DESIGN.md's jobs payload does")
	d1.expectNone(t, 200*time.Millisecond)
	d2.expectNone(t, 0)

	// Not a job event: no jobs topic even with a driver_id.
	picked := jobEventOf("acme", "PickedUp", "d1")
	e.publish(picked)
	eventually(t, 5*time.Second, func() bool {
		return e.metric("dispatchhub_bridge_messages_total", "outcome", "published") == 4
	}, "4 events published")
	d1.expectNone(t, 200*time.Millisecond)
	assert.Equal(t, 2.0, e.metric("dispatchhub_bridge_mqtt_publishes_total", "topic_kind", "jobs"))
}

func TestOrderIsKept(t *testing.T) {
	e := newEnv(t, nil)
	disp := e.connect("acme.u1", e.token("acme", auth.RoleDispatcher, "u1"), connectOpts{buffer: 1024})
	disp.subscribe(t, "tenants/acme/orders/o-1")
	const n = 200
	publish := func(from, to int) {
		for v := from; v <= to; v++ {
			e.publish(orderEvent("acme", "OrderUpdated", "o-1", int64(v)))
		}
	}
	publish(1, n/2) // a backlog, then live events
	e.startBridge(Config{Batch: 16}, nil)
	publish(n/2+1, n)

	got := disp.collect(t, "tenants/acme/orders/o-1", n)
	for i, m := range got {
		var o struct{ Version int }
		require.NoError(t, json.Unmarshal(m.Payload, &o))
		require.Equal(t, i+1, o.Version, "message %d", i)
	}
	disp.expectNone(t, 200*time.Millisecond)
}

func TestRestartLosesNothing(t *testing.T) {
	e := newEnv(t, nil)
	disp := e.connect("acme.u1", e.token("acme", auth.RoleDispatcher, "u1"), connectOpts{})
	disp.subscribe(t, "tenants/acme/events/#")
	cfg := Config{Durable: "restart", Batch: 8}
	stop := e.startBridge(cfg, nil)

	first := orderEvent("acme", "OrderCreated", "o-1", 1)
	e.publish(first)
	disp.expect(t, "tenants/acme/events/OrderCreated")
	stop()

	var want []string
	for v := 2; v <= 51; v++ {
		ev := orderEvent("acme", "OrderUpdated", "o-1", int64(v))
		want = append(want, ev.ID)
		e.publish(ev)
	}
	disp.expectNone(t, 200*time.Millisecond)
	assert.Equal(t, uint64(50), e.consumerInfo("restart").NumPending, "waiting in the stream")

	cfg.Batch = 4 // the consumer is updated, and keeps its place
	e.startBridge(cfg, nil)
	var got []string
	for _, m := range disp.collect(t, "tenants/acme/events/OrderUpdated", len(want)) {
		var ev outbox.Event
		require.NoError(t, json.Unmarshal(m.Payload, &ev))
		got = append(got, ev.ID)
	}
	assert.Equal(t, want, got, "all of them, in order")
	eventually(t, 5*time.Second, func() bool {
		info := e.consumerInfo("restart")
		return info.NumAckPending == 0 && info.NumPending == 0
	}, "everything acknowledged")
	assert.Equal(t, 4, e.consumerInfo("restart").Config.MaxAckPending)
	disp.expectNone(t, 200*time.Millisecond)
}

func TestInvalidMessagesAreTerminated(t *testing.T) {
	e := newEnv(t, nil)
	ops := e.connect("acme.ops1", e.token("acme", auth.RoleOps, "ops1"), connectOpts{})
	ops.subscribe(t, "#")
	d1 := e.connect("acme.d1", e.token("acme", auth.RoleDriver, "d1"), connectOpts{})
	d1.subscribe(t, "tenants/acme/drivers/d1/jobs")
	e.startBridge(Config{}, nil)

	e.publishRaw("events.acme.OrderCreated", "bad-1", []byte("not json"))
	for _, ev := range []outbox.Event{
		orderEvent("ac/me", "OrderCreated", "o-1", 1), // tenant with a level separator
		orderEvent("+", "OrderCreated", "o-1", 1),
		orderEvent("acme\x00", "OrderCreated", "o-1", 1),
		orderEvent("acme", "Order#Created", "o-1", 1),
		orderEvent("acme", "OrderCreated", "o/1", 1),
		orderEvent("", "OrderCreated", "o-1", 1),
		jobEventOf("acme", "AssignmentOffered", "d1/../d2"),
		jobEventOf("acme", "AssignmentOffered", "+"),
	} {
		data, err := json.Marshal(ev)
		require.NoError(t, err)
		e.publishRaw("events.x.OrderCreated", ev.ID, data)
	}
	noType := orderEvent("acme", "", "o-1", 1)
	data, err := json.Marshal(noType)
	require.NoError(t, err)
	e.publishRaw("events.acme.Unknown", noType.ID, data)

	valid := orderEvent("acme", "OrderCreated", "o-9", 1)
	e.publish(valid)
	ops.expect(t, "tenants/acme/events/OrderCreated")
	ops.expect(t, "tenants/acme/orders/o-9")
	ops.expectNone(t, 300*time.Millisecond)
	d1.expectNone(t, 0)

	assert.Equal(t, 10.0, e.metric("dispatchhub_bridge_messages_total", "outcome", "invalid"))
	assert.Equal(t, 1.0, e.metric("dispatchhub_bridge_messages_total", "outcome", "published"))
	assert.Equal(t, 0.0, e.metric("dispatchhub_bridge_messages_total", "outcome", "failed"))
	eventually(t, 5*time.Second, func() bool {
		info := e.consumerInfo(DefaultDurable)
		return info.NumAckPending == 0 && info.NumPending == 0 && info.NumRedelivered == 0
	}, "terminated, not redelivered")
}

func TestOfflineDriverGetsTheJobOnReconnect(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.token("acme", auth.RoleDriver, "d1")
	d1 := e.connect("acme.d1", tok, connectOpts{expiry: 600})
	d1.subscribe(t, "tenants/acme/drivers/d1/jobs")
	require.NoError(t, d1.Disconnect(&paho.Disconnect{}))
	eventually(t, 5*time.Second, func() bool {
		cl, ok := e.b.Server().Clients.Get("acme.d1")
		return ok && cl.Closed()
	}, "the session waits offline")

	e.startBridge(Config{}, nil)
	ev := jobEventOf("acme", "OrderAssigned", "d1")
	e.publish(ev)
	eventually(t, 5*time.Second, func() bool {
		return e.metric("dispatchhub_bridge_mqtt_publishes_total", "topic_kind", "jobs") == 1
	}, "the job published")

	d1 = e.connect("acme.d1", tok, connectOpts{expiry: 600})
	m := d1.expect(t, "tenants/acme/drivers/d1/jobs")
	assert.Equal(t, byte(1), m.QoS)
	assert.Contains(t, string(m.Payload), `"type":"OrderAssigned"`)
	assert.Contains(t, string(m.Payload), `"event_id":"`+ev.ID+`"`)
}

// flaky fails the publishes numbered from..from+count-1 (1-based).
type flaky struct {
	pub         Publisher
	calls       atomic.Int64
	from, count int64
}

func (f *flaky) Publish(topic string, payload []byte, retain bool, qos byte) error {
	n := f.calls.Add(1)
	if n >= f.from && n < f.from+f.count {
		return errors.New("mqtt: server shutting down")
	}
	return f.pub.Publish(topic, payload, retain, qos)
}

func TestPublishFailureIsRetriedInOrder(t *testing.T) {
	e := newEnv(t, nil)
	disp := e.connect("acme.u1", e.token("acme", auth.RoleDispatcher, "u1"), connectOpts{})
	disp.subscribe(t, "tenants/acme/#")
	const n = 10
	for v := 1; v <= n; v++ {
		e.publish(orderEvent("acme", "OrderUpdated", "o-1", int64(v)))
	}
	// The orders publish of event 3 (call 6) fails, then its retry's events publish (call 7).
	e.startBridge(Config{}, &flaky{pub: e.b.Server(), from: 6, count: 2})

	var versions []int
	for _, m := range disp.collect(t, "tenants/acme/orders/o-1", n) {
		var o struct{ Version int }
		require.NoError(t, json.Unmarshal(m.Payload, &o))
		versions = append(versions, o.Version)
	}
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, versions, "nothing lost, order kept")
	assert.Equal(t, 2.0, e.metric("dispatchhub_bridge_messages_total", "outcome", "failed"))
	assert.Equal(t, float64(n), e.metric("dispatchhub_bridge_messages_total", "outcome", "published"))
	eventually(t, 5*time.Second, func() bool {
		info := e.consumerInfo(DefaultDurable)
		return info.NumAckPending == 0 && info.NumPending == 0
	}, "everything acknowledged")
}

func TestExistingConsumer(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// One made elsewhere keeps where it starts; the rest is set to the bridge's.
	_, err := e.js.CreateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable: "kept", DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy,
		FilterSubject: "events.acme.>", MaxAckPending: 1000,
	})
	require.NoError(t, err)
	disp := e.connect("acme.u1", e.token("acme", auth.RoleDispatcher, "u1"), connectOpts{})
	disp.subscribe(t, "tenants/acme/events/#")
	e.startBridge(Config{Durable: "kept"}, nil)
	eventually(t, 5*time.Second, func() bool { return e.consumerInfo("kept").Config.MaxAckPending == DefaultBatch }, "updated")
	info := e.consumerInfo("kept")
	assert.Equal(t, jetstream.DeliverNewPolicy, info.Config.DeliverPolicy)
	assert.Equal(t, "events.>", info.Config.FilterSubject)
	e.publish(orderEvent("acme", "OrderCreated", "o-1", 1))
	disp.expect(t, "tenants/acme/events/OrderCreated")

	// A push consumer of that name cannot be used: Run says so.
	_, err = e.js.CreateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable: "push", DeliverSubject: "somewhere", AckPolicy: jetstream.AckExplicitPolicy,
	})
	require.NoError(t, err)
	err = New(e.js, e.b.Server(), Config{Durable: "push"}, zerolog.Nop(), e.reg).Run(ctx)
	assert.ErrorIs(t, err, jetstream.ErrNotPullConsumer)
}

func TestConfig(t *testing.T) {
	assert.NoError(t, Config{}.Validate())
	err := Config{Durable: "a.b", AckWait: time.Millisecond, Batch: -1}.Validate()
	require.Error(t, err)
	for _, key := range []string{"bridge.durable", "bridge.ack_wait", "bridge.batch"} {
		assert.Contains(t, err.Error(), key)
	}
	br := New(nil, nil, Config{Batch: maxBatch + 1}, zerolog.Nop(), nil)
	assert.ErrorContains(t, br.Run(context.Background()), "bridge.batch")
}

// fakeMsg is a JetStream message for plan; other methods panic.
type fakeMsg struct {
	jetstream.Msg
	data []byte
	hdr  nats.Header
}

func (m fakeMsg) Data() []byte         { return m.data }
func (m fakeMsg) Headers() nats.Header { return m.hdr }

func FuzzPlan(f *testing.F) {
	for _, ev := range []outbox.Event{
		orderEvent("acme", "OrderCreated", "o-1", 1),
		jobEventOf("acme", "AssignmentOffered", "d1"),
		jobEventOf("acme", "ReplyRejected", "d/1"),
		orderEvent("a+b", "OrderCancelled", "o#1", 2),
	} {
		data, _ := json.Marshal(ev)
		f.Add(data)
	}
	f.Add([]byte(`{"id":"1","tenant":"t","type":"OrderAssigned","aggregate_type":"order","aggregate_id":"o","payload":{"driver_id":"d\u0000"}}`))
	f.Add([]byte(`{"tenant":"t","type":"AssignmentChanged","payload":{"driver_id":7}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"id":"1","tenant":"t","type":"ConnectorDegraded","aggregate_type":"connector","aggregate_id":"shopify","payload":{"state":"degraded"}}`))
	f.Add([]byte(`{"id":"1","tenant":"t","type":"ConnectorDegraded","aggregate_type":"connector","aggregate_id":"shop/+","payload":{}}`))
	b := New(nil, nil, Config{}, zerolog.Nop(), nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		hdr := nats.Header{}
		hdr.Set(jetstream.MsgIDHeader, "msg-id")
		ev, pubs, err := b.plan(fakeMsg{data: data, hdr: hdr})
		if err != nil {
			return
		}
		require.NotEmpty(t, pubs)
		require.NotEmpty(t, ev.ID)
		for _, p := range pubs {
			levels := strings.Split(p.topic, "/")
			require.GreaterOrEqual(t, len(levels), 4, p.topic)
			require.Equal(t, "tenants", levels[0])
			require.Equal(t, ev.Tenant, levels[1], "never another tenant's topic")
			require.True(t, slices.Contains([]string{"events", "orders", "drivers", "connectors"}, levels[2]), p.topic)
			require.Equal(t, levels[2] == "connectors", p.retain, "only a connector's health is retained: %s", p.topic)
			require.False(t, strings.ContainsAny(p.topic, "+#\x00"), p.topic)
			if levels[2] == "drivers" {
				require.Len(t, levels, 5, p.topic)
				require.Equal(t, "jobs", levels[4])
				require.True(t, json.Valid(p.payload))
			}
		}
	})
}

// BenchmarkBridge measures n events from EVENTS publish to MQTT subscriber receipt, and as a
// baseline the same MQTT messages published straight into the broker (srv.Publish) in the same
// run:
//   - burst: n events published as fast as they can be (EVENTS: async, one fsync each, as
//     sync always makes it; the relay's atomic batches would need fewer): throughput and
//     latency under queueing; "ingest" is the EVENTS publishing alone;
//   - drain: the bridge alone, starting with n events waiting in the stream;
//   - paced: paced events at pacedRate/s (the propagation SLO's rate): per-event latency.
//
// The subscriber is one dispatcher on tenants/acme/# (events and order snapshots). Run with
// -benchtime=2x.
func BenchmarkBridge(b *testing.B) {
	const (
		n         = 2000
		paced     = 400
		pacedRate = 200
	)
	// A burst of n events is 2n messages to one subscriber: its socket queue holds them all,
	// for ours and the baseline alike (with the default 512 the broker drops some of both).
	e := newEnv(b, func(c *broker.Config) { c.MaxPendingWrites = 2 * n })
	srv := e.b.Server()
	var (
		mu      sync.Mutex
		recv    []time.Time
		want    atomic.Int64
		got     atomic.Int64
		allDone = make(chan struct{}, 1)
		futures []jetstream.PubAckFuture // EVENTS publishes of the current measure
	)
	onMsg := func(p *paho.Publish) {
		now := time.Now()
		if !strings.HasPrefix(p.Topic, "tenants/acme/events/") {
			return
		}
		var ev struct{ Version int }
		if json.Unmarshal(p.Payload, &ev) != nil || ev.Version < 0 || ev.Version >= n {
			return
		}
		mu.Lock()
		recv[ev.Version] = now
		mu.Unlock()
		if got.Add(1) == want.Load() {
			allDone <- struct{}{}
		}
	}
	disp := e.connect("acme.u1", e.token("acme", auth.RoleDispatcher, "u1"), connectOpts{onMsg: onMsg})
	disp.subscribe(b, "tenants/acme/#")

	events := func() ([]outbox.Event, [][]byte) {
		evs := make([]outbox.Event, n)
		data := make([][]byte, n)
		for i := range evs {
			evs[i] = orderEvent("acme", "OrderUpdated", fmt.Sprintf("o-%d", i%50), int64(i))
			data[i], _ = json.Marshal(evs[i])
		}
		return evs, data
	}
	type result struct {
		count   int
		elapsed time.Duration   // first publish to last receipt
		lat     []time.Duration // publish to receipt, per event
	}
	// measure publishes count events with publish(i), rate a second (0: at once), and waits
	// for all of them at the subscriber.
	measure := func(what string, count, rate int, publish func(i int)) result {
		mu.Lock()
		recv = make([]time.Time, n)
		mu.Unlock()
		got.Store(0)
		want.Store(int64(count))
		futures = futures[:0]
		sent := make([]time.Time, count)
		start := time.Now()
		for i := range count {
			if rate > 0 {
				time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
			}
			sent[i] = time.Now()
			publish(i)
		}
		select {
		case <-allDone:
		case <-time.After(20 * time.Second):
			failed := 0
			for _, f := range futures {
				select {
				case <-f.Err():
					failed++
				default:
				}
			}
			ci := e.consumerInfo("bench")
			b.Fatalf("%s: %d of %d events received; broker dropped %d; bridge published %v; EVENTS publishes failed %d; consumer pending %d, ack pending %d",
				what, got.Load(), count, srv.Info.MessagesDropped, e.metric("dispatchhub_bridge_messages_total", "outcome", "published"),
				failed, ci.NumPending, ci.NumAckPending)
		}
		mu.Lock()
		defer mu.Unlock()
		r := result{count: count, lat: make([]time.Duration, count)}
		for i := range count {
			r.lat[i] = recv[i].Sub(sent[i])
			r.elapsed = max(r.elapsed, recv[i].Sub(sent[0]))
		}
		return r
	}
	jsPublish := func(evs []outbox.Event, data [][]byte) func(int) {
		return func(i int) {
			msg := nats.NewMsg("events.acme." + evs[i].Type)
			msg.Data = data[i]
			msg.Header.Set(jetstream.MsgIDHeader, evs[i].ID)
			f, err := e.js.PublishMsgAsync(msg)
			if err != nil {
				b.Fatal(err)
			}
			futures = append(futures, f)
		}
	}
	direct := func(evs []outbox.Event, data [][]byte) func(int) {
		return func(i int) {
			if err := srv.Publish("tenants/acme/events/"+evs[i].Type, data[i], false, 1); err != nil {
				b.Fatal(err)
			}
			if err := srv.Publish("tenants/acme/orders/"+evs[i].AggregateID, evs[i].Payload, false, 1); err != nil {
				b.Fatal(err)
			}
		}
	}

	var ours, base, drain, oursPaced, basePaced []result
	var ingest time.Duration
	stop := e.startBridge(Config{Durable: "bench"}, nil)
	for b.Loop() {
		evs, data := events()
		ours = append(ours, measure("bridge", n, 0, jsPublish(evs, data)))
		base = append(base, measure("baseline", n, 0, direct(evs, data)))

		evs, data = events()
		oursPaced = append(oursPaced, measure("bridge paced", paced, pacedRate, jsPublish(evs, data)))
		basePaced = append(basePaced, measure("baseline paced", paced, pacedRate, direct(evs, data)))

		// drain: the bridge starts with n events waiting in the stream
		stop()
		evs, data = events()
		start := time.Now()
		for i := range n {
			jsPublish(evs, data)(i)
		}
		select {
		case <-e.js.PublishAsyncComplete():
		case <-time.After(20 * time.Second):
			b.Fatal("EVENTS publishes not acknowledged")
		}
		ingest += time.Since(start)
		drain = append(drain, measure("drain", n, 0, func(i int) {
			if i == 0 {
				stop = e.startBridge(Config{Durable: "bench"}, nil)
			}
		}))
	}
	stop()
	require.Zero(b, srv.Info.MessagesDropped, "messages dropped by the broker")

	rate := func(rs []result) float64 {
		var d time.Duration
		var count int
		for _, r := range rs {
			d += r.elapsed
			count += r.count
		}
		return float64(count) / d.Seconds()
	}
	pct := func(rs []result, p float64) float64 {
		var all []time.Duration
		for _, r := range rs {
			all = append(all, r.lat...)
		}
		slices.Sort(all)
		return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(rate(ours), "events/s")
	b.ReportMetric(rate(drain), "drain-events/s")
	b.ReportMetric(float64(len(drain)*n)/ingest.Seconds(), "ingest-events/s")
	b.ReportMetric(rate(base), "baseline-events/s")
	b.ReportMetric(rate(drain)/rate(base), "drain-x-baseline")
	b.ReportMetric(pct(ours, 0.5), "burst-p50-ms")
	b.ReportMetric(pct(base, 0.5), "baseline-burst-p50-ms")
	b.ReportMetric(pct(oursPaced, 0.5), "paced-p50-ms")
	b.ReportMetric(pct(oursPaced, 0.99), "paced-p99-ms")
	b.ReportMetric(pct(basePaced, 0.5), "baseline-paced-p50-ms")
	b.ReportMetric(pct(basePaced, 0.99), "baseline-paced-p99-ms")
	b.ReportMetric(0, "ns/op")
}

// expiringRecorder records publications, with the expiry of those that have one.
type expiringRecorder struct {
	mu   sync.Mutex
	pubs []string // "topic" or "topic expiry=Ns"
}

func (r *expiringRecorder) Publish(topic string, _ []byte, _ bool, _ byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pubs = append(r.pubs, topic)
	return nil
}

func (r *expiringRecorder) PublishExpiring(topic string, _ []byte, _ byte, expiry time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pubs = append(r.pubs, fmt.Sprintf("%s expiry=%ds", topic, int(expiry.Round(10*time.Second)/time.Second)))
	return nil
}

func (r *expiringRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pubs)
}

// An offer goes to its driver with the time it has left as message expiry; an offer that has
// ended already reaches the tenant's topics but not the driver, who could not take it.
func TestOfferExpiresWithItsTime(t *testing.T) {
	e := newEnv(t, nil)
	rec := &expiringRecorder{}
	e.startBridge(Config{Durable: "expiry"}, rec)
	offer := func(id string, expires time.Time) outbox.Event {
		payload, _ := json.Marshal(map[string]any{"id": "o1", "job_id": "j-" + id, "driver_id": "d1", "expires_at": expires})
		return outbox.Event{ID: id, Tenant: "acme", Type: "AssignmentOffered", AggregateType: "order", AggregateID: "o1",
			OccurredAt: time.Now(), Payload: payload}
	}
	e.publish(offer(uuid.NewString(), time.Now().Add(30*time.Second)))
	e.publish(offer(uuid.NewString(), time.Now().Add(-time.Second)))
	require.Eventually(t, func() bool { return len(rec.all()) == 5 }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, []string{
		"tenants/acme/events/AssignmentOffered", "tenants/acme/orders/o1", "tenants/acme/drivers/d1/jobs expiry=30s",
		"tenants/acme/events/AssignmentOffered", "tenants/acme/orders/o1",
	}, rec.all())
}
