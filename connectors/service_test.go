package connectors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/connectors/bigcommerce"
	"github.com/pilotx/dispatchhub/connectors/fakeplatform"
	"github.com/pilotx/dispatchhub/connectors/shopify"
	"github.com/pilotx/dispatchhub/connectors/squarespace"
	"github.com/pilotx/dispatchhub/connectors/webhook"
	"github.com/pilotx/dispatchhub/connectors/woocommerce"
	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/dlq"
	"github.com/pilotx/dispatchhub/internal/outbox"
	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

const tenant = "acme"

// rig is a running connector service on real PostgreSQL and NATS, fed with domain events the
// way the outbox relay publishes them, pushing to fake platforms over HTTP.
type rig struct {
	t    testing.TB
	db   *store.DB
	js   jetstream.JetStream
	svc  *connectors.Service
	reg  *connectors.Registry
	prom *prometheus.Registry
	seq  atomic.Int64
}

// testConfig makes retries and breakers quick enough for tests.
func testConfig() connectors.Config {
	return connectors.Config{
		Workers: 4, Attempts: 10, RetryDelay: 100 * time.Millisecond, RetryDelayMax: time.Second,
		Timeout: 2 * time.Second, DelayedAfter: 10 * time.Second, HealthInterval: 200 * time.Millisecond,
		PlatformRefresh: time.Second,
		Breaker:         connectors.BreakerConfig{FailureRate: 0.5, Calls: 6, Delay: 2 * time.Second, Probes: 1},
		TrackingURL:     "https://track.example/{job}",
	}
}

func newRig(t testing.TB, cfg connectors.Config) *rig {
	t.Helper()
	info := testenv.NewDatabase(t, true)
	db, err := store.Open(store.Config{URL: info.AppURL, MaxConns: 16})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	_, err = db.CreateTenant(context.Background(), tenant, "Acme")
	require.NoError(t, err)
	b, err := bus.Start(context.Background(), bus.Config{Host: "127.0.0.1", Port: 0, StoreDir: t.TempDir(), MaxStore: 1 << 28, Replicas: 1,
		DuplicateWindow: time.Minute, IngestMaxAge: time.Hour, EventsMaxAge: time.Hour, OutboundMaxAge: time.Hour}, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(b.Close)
	r := &rig{t: t, db: db, js: b.JetStream(), prom: prometheus.NewRegistry()}
	reg := connectors.NewRegistry(shopify.New(shopify.Config{}), woocommerce.New(woocommerce.Config{}), bigcommerce.New(bigcommerce.Config{}),
		squarespace.New(squarespace.Config{}))
	reg.SetFallback(webhook.New(webhook.Config{}))
	r.reg = reg
	r.svc = connectors.New(db, r.js, reg, connectors.NewFlags(db, nil), cfg, zerolog.Nop(), r.prom)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Error("the connector service did not stop")
		}
	})
	testenv.Eventually(t, 10*time.Second, func() bool {
		_, err := r.js.Consumer(context.Background(), bus.StreamEvents, connectors.RouterDurable)
		return err == nil
	}, "the router's consumer exists")
	return r
}

// store registers a store of platform whose API is the fake's.
func (r *rig) store(platform string, fake *fakeplatform.Server) store.Store {
	r.t.Helper()
	n := r.seq.Add(1)
	env := fmt.Sprintf("DH_TEST_CONNECTOR_CRED_%d", n)
	r.t.Setenv(env, fake.Credential())
	s, err := r.db.AddStore(context.Background(), store.Store{TenantID: tenant, Platform: platform, Name: fmt.Sprintf("%s %d", platform, n),
		ExternalID: fmt.Sprintf("shop-%d", n), APIBase: fake.URL(), APICredentialRef: "env:" + env, Enabled: true})
	require.NoError(r.t, err)
	return s
}

// order is one order of a store, as the events speak of it.
type order struct {
	ID, Ref string
	Store   store.Store
}

func (r *rig) order(s store.Store) order {
	n := r.seq.Add(1)
	return order{ID: uuid.NewString(), Ref: fmt.Sprintf("%d", 5000+n), Store: s}
}

// event publishes a domain event about o on EVENTS as the outbox relay does and returns its id.
func (r *rig) event(typ string, o order, at time.Time, extra map[string]any) string {
	r.t.Helper()
	payload := map[string]any{"id": o.ID, "tenant": tenant, "store_id": o.Store.ID, "source": o.Store.Platform,
		"external_ref": o.Ref, "status": "assigned", "job_id": "job-" + o.ID[:8], "driver_id": "drv-1"}
	for k, v := range extra {
		payload[k] = v
	}
	raw, err := json.Marshal(payload)
	require.NoError(r.t, err)
	ev := outbox.Event{ID: uuid.NewString(), Tenant: tenant, Type: typ, AggregateType: "order", AggregateID: o.ID,
		Version: r.seq.Add(1), OccurredAt: at.UTC(), Payload: raw}
	data, err := json.Marshal(ev)
	require.NoError(r.t, err)
	_, err = r.js.Publish(context.Background(), "events."+tenant+"."+typ, data, jetstream.WithMsgID(ev.ID))
	require.NoError(r.t, err)
	return ev.ID
}

// lifecycle publishes assigned, picked up and delivered for o, a second apart in event time,
// and returns their ids.
func (r *rig) lifecycle(o order) []string {
	at := time.Now().Add(-3 * time.Second)
	return []string{
		r.event("OrderAssigned", o, at, nil),
		r.event("PickedUp", o, at.Add(time.Second), nil),
		r.event("DeliveryCompleted", o, at.Add(2*time.Second), nil),
	}
}

// jobStates counts the tenant's connector jobs by state.
func (r *rig) jobStates() map[string]int {
	r.t.Helper()
	out := map[string]int{}
	require.NoError(r.t, r.db.WithTenantTx(context.Background(), tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT state, count(*) FROM connector_jobs GROUP BY state`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			var n int
			if err := rows.Scan(&s, &n); err != nil {
				return err
			}
			out[s] = n
		}
		return rows.Err()
	}))
	return out
}

// healthEvents lists the connector health events in the outbox, oldest first, as "Type platform".
func (r *rig) healthEvents() []string {
	r.t.Helper()
	var out []string
	require.NoError(r.t, r.db.WithTenantTx(context.Background(), tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT event_type, aggregate_id FROM outbox WHERE aggregate_type = 'connector' ORDER BY seq`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var typ, p string
			if err := rows.Scan(&typ, &p); err != nil {
				return err
			}
			out = append(out, typ+" "+p)
		}
		return rows.Err()
	}))
	return out
}

func (r *rig) health(platform string) connectors.Status {
	r.t.Helper()
	list, err := r.svc.Health(context.Background(), tenant)
	require.NoError(r.t, err)
	for _, s := range list {
		if s.Platform == platform {
			return s
		}
	}
	return connectors.Status{}
}

func TestStatusesReachTheStoreOnceInOrder(t *testing.T) {
	r := newRig(t, testConfig())
	woo := fakeplatform.NewWooCommerce(t)
	s := r.store("woocommerce", woo)
	o := r.order(s)
	ids := r.lifecycle(o)
	testenv.Eventually(t, 20*time.Second, func() bool { return r.jobStates()["done"] == 3 }, "three jobs done")
	applied := woo.Applied(o.Ref)
	assert.Equal(t, "status:completed", lastStatus(applied), "the order ends completed: %v", applied)
	assert.Equal(t, 3, count(applied, "note:"), "one note per status: %v", applied)
	assert.Zero(t, woo.Duplicates())

	// The same job again, as a redelivery or an operator's re-publication: no second effect.
	before := len(woo.Effects())
	data, err := json.Marshal(connectors.Job{ID: ids[2], Tenant: tenant, Platform: "woocommerce", StoreID: s.ID, OrderID: o.ID,
		ExternalRef: o.Ref, Status: connectors.StatusDelivered, Event: "DeliveryCompleted", OccurredAt: time.Now()})
	require.NoError(t, err)
	_, err = r.js.Publish(context.Background(), "outbound.woocommerce."+tenant, data, jetstream.WithMsgID("again-"+ids[2]))
	require.NoError(t, err)
	testenv.Eventually(t, 10*time.Second, func() bool { return r.jobs("woocommerce", "duplicate") == 1 }, "the repeated job is recognised")
	assert.Equal(t, before, len(woo.Effects()))
	assert.Zero(t, woo.Duplicates())
}

func TestOlderStatusIsSupersededByANewerOne(t *testing.T) {
	r := newRig(t, testConfig())
	woo := fakeplatform.NewWooCommerce(t)
	s := r.store("woocommerce", woo)
	o := r.order(s)
	now := time.Now()
	r.event("DeliveryCompleted", o, now, nil)
	testenv.Eventually(t, 20*time.Second, func() bool { return r.jobStates()["done"] == 1 }, "delivered pushed")
	r.event("OrderAssigned", o, now.Add(-time.Minute), nil) // arrives late
	testenv.Eventually(t, 20*time.Second, func() bool {
		return r.jobs("woocommerce", "superseded") == 1
	}, "the late assignment is superseded")
	assert.Equal(t, "status:completed", lastStatus(woo.Applied(o.Ref)), "a late status never moves the order back")
}

func TestStoreCancellationIsNotPushedBackAndFlagsGate(t *testing.T) {
	r := newRig(t, testConfig())
	woo := fakeplatform.NewWooCommerce(t)
	s := r.store("woocommerce", woo)
	o := r.order(s)
	r.event("OrderCancelled", o, time.Now(), map[string]any{"origin": connectors.OriginStore, "cancel_reason": "cancelled by the store"})

	// Off for this tenant: nothing is queued.
	_, err := r.svc.Flags().Set(context.Background(), tenant, "woocommerce", connectors.Flag{Enabled: false, CanaryPercent: 100}, "test")
	require.NoError(t, err)
	off := r.order(s)
	r.event("OrderAssigned", off, time.Now(), nil)
	testenv.Eventually(t, 10*time.Second, func() bool {
		return r.jobs("woocommerce", "skipped") == 1
	}, "the job of a switched-off connector is skipped")

	// A hub cancellation is pushed once the connector is on again.
	_, err = r.svc.Flags().Set(context.Background(), tenant, "woocommerce", connectors.Flag{Enabled: true, CanaryPercent: 100}, "test")
	require.NoError(t, err)
	hub := r.order(s)
	r.event("OrderCancelled", hub, time.Now(), map[string]any{"cancel_reason": "customer not home"})
	testenv.Eventually(t, 20*time.Second, func() bool { return lastStatus(woo.Applied(hub.Ref)) == "status:cancelled" }, "hub cancellation pushed")
	assert.Empty(t, woo.Applied(o.Ref), "the store's own cancellation is not sent back to it")
	assert.Empty(t, woo.Applied(off.Ref), "nothing while the connector was off")
}

func TestPoisonJobGoesToDeadLettersAndReplaysAfterTheFix(t *testing.T) {
	r := newRig(t, testConfig())
	woo := fakeplatform.NewWooCommerce(t)
	s := r.store("woocommerce", woo)
	bad, good := r.order(s), r.order(s)
	woo.FailOrder(bad.Ref, fakeplatform.Failure{Status: 422,
		Body: `{"code":"woocommerce_rest_invalid_order_status","message":"Invalid order status.","data":{"status":422}}`})
	r.event("DeliveryCompleted", bad, time.Now(), nil)
	r.event("DeliveryCompleted", good, time.Now(), nil)

	var letters []dlq.DeadLetter
	testenv.Eventually(t, 20*time.Second, func() bool {
		var err error
		letters, err = dlq.List(context.Background(), r.db, dlq.Filter{Tenant: tenant, Platform: "woocommerce"})
		require.NoError(t, err)
		return len(letters) == 1
	}, "the poison job is a dead letter")
	testenv.Eventually(t, 20*time.Second, func() bool { return lastStatus(woo.Applied(good.Ref)) == "status:completed" }, "the other order syncs")
	d := letters[0]
	assert.Equal(t, dlq.SourceOutbound, d.Source)
	assert.Equal(t, "outbound.woocommerce."+tenant, d.Subject)
	assert.Equal(t, 422, d.LastStatus)
	assert.Contains(t, d.ResponseExcerpt, "Invalid order status")
	assert.Equal(t, 1, d.Attempts, "a 4xx is not retried")
	assert.Empty(t, woo.Applied(bad.Ref))
	assert.Equal(t, "closed", r.health("woocommerce").Breaker, "a job's own 4xx does not trip the store's breaker")

	woo.Recover() // the store's data is fixed
	_, err := dlq.Replay(context.Background(), r.db, r.js, tenant, d.ID)
	require.NoError(t, err)
	testenv.Eventually(t, 20*time.Second, func() bool { return lastStatus(woo.Applied(bad.Ref)) == "status:completed" }, "the replay is pushed")

	// Replaying what is applied already has no second effect.
	effects := len(woo.Effects())
	_, err = dlq.Replay(context.Background(), r.db, r.js, tenant, d.ID)
	require.NoError(t, err)
	testenv.Eventually(t, 10*time.Second, func() bool {
		return r.jobs("woocommerce", "duplicate") >= 1
	}, "the second replay is recognised")
	assert.Equal(t, effects, len(woo.Effects()))
	assert.Zero(t, woo.Duplicates())
}

// TestShopifyOutage: Shopify answers 503 for 30 s while WooCommerce stores keep syncing. Only
// Shopify's breakers open; the tenant's Shopify sync is degraded with its banner, and
// recovered after the backlog drains, with every status pushed once.
func TestShopifyOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s outage")
	}
	r := newRig(t, testConfig())
	shop, woo := fakeplatform.NewShopify(t), fakeplatform.NewWooCommerce(t)
	shops := []store.Store{r.store("shopify", shop), r.store("shopify", shop)}
	woos := []store.Store{r.store("woocommerce", woo), r.store("woocommerce", woo)}

	shop.Fail(fakeplatform.Failure{Status: 503, Body: `{"errors":"Service Unavailable"}`})
	outageStart := time.Now()
	var shopOrders, wooOrders []order
	for time.Since(outageStart) < 30*time.Second {
		for _, s := range shops {
			o := r.order(s)
			shopOrders = append(shopOrders, o)
			r.lifecycle(o)
		}
		for _, s := range woos {
			o := r.order(s)
			wooOrders = append(wooOrders, o)
			r.lifecycle(o)
		}
		time.Sleep(time.Second)
	}
	// During the outage: WooCommerce is in sync, Shopify is degraded behind open breakers.
	testenv.Eventually(t, 20*time.Second, func() bool {
		for _, o := range wooOrders {
			if lastStatus(woo.Applied(o.Ref)) != "status:completed" {
				return false
			}
		}
		return true
	}, "every WooCommerce order completed during the outage")
	sh := r.health("shopify")
	assert.Equal(t, connectors.StateDegraded, sh.State)
	require.NotNil(t, sh.DelayedSince)
	assert.Contains(t, sh.Message, "Shopify sync delayed since ")
	assert.Positive(t, sh.Pending)
	assert.NotEqual(t, "closed", sh.Breaker)
	wh := r.health("woocommerce")
	assert.Equal(t, connectors.StateHealthy, wh.State)
	assert.Equal(t, "closed", wh.Breaker)
	assert.Zero(t, wh.BreakersOpen)
	for _, b := range sh.Breakers {
		assert.Equal(t, "shopify", b.Platform)
	}
	letters, err := dlq.List(context.Background(), r.db, dlq.Filter{Tenant: tenant})
	require.NoError(t, err)
	assert.Empty(t, letters, "an outage is waited out, not dead-lettered")

	shop.Recover()
	testenv.Eventually(t, 90*time.Second, func() bool {
		for _, o := range shopOrders {
			a := shop.Applied(o.Ref)
			if count(a, "event:DELIVERED") != 1 {
				return false
			}
		}
		return true
	}, "the Shopify backlog drains")
	testenv.Eventually(t, 20*time.Second, func() bool { return r.health("shopify").State == connectors.StateHealthy }, "Shopify recovered")
	for _, o := range shopOrders {
		a := shop.Applied(o.Ref)
		assert.Equal(t, 1, count(a, "fulfillment:create"), "one fulfillment for %s: %v", o.Ref, a)
		assert.Equal(t, 1, count(a, "event:IN_TRANSIT"), "picked up once for %s: %v", o.Ref, a)
		assert.Equal(t, 1, count(a, "event:DELIVERED"), "delivered once for %s: %v", o.Ref, a)
	}
	assert.Zero(t, shop.Duplicates(), "no status pushed twice")
	assert.Zero(t, woo.Duplicates())
	states := r.jobStates()
	assert.Equal(t, 3*(len(shopOrders)+len(wooOrders)), states["done"], "every job done: %v", states)
	assert.Zero(t, states["pending"]+states["dead"], "none lost: %v", states)
	events := r.healthEvents()
	assert.Equal(t, []string{"ConnectorDegraded shopify", "ConnectorRecovered shopify"}, events, "only Shopify degraded, once")
}

func lastStatus(applied []string) string {
	for i := len(applied) - 1; i >= 0; i-- {
		if strings.HasPrefix(applied[i], "status:") {
			return applied[i]
		}
	}
	return ""
}

func count(applied []string, prefix string) int {
	n := 0
	for _, a := range applied {
		if strings.HasPrefix(a, prefix) {
			n++
		}
	}
	return n
}

// jobs reads dispatchhub_connector_jobs_total of platform and outcome.
func (r *rig) jobs(platform, outcome string) float64 {
	r.t.Helper()
	families, err := r.prom.Gather()
	require.NoError(r.t, err)
	for _, f := range families {
		if f.GetName() != "dispatchhub_connector_jobs_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["platform"] == platform && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
