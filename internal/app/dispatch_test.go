package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

// job is what a driver receives on its jobs topic.
type job struct {
	Type      string    `json:"type"`
	JobID     string    `json:"job_id"`
	ID        string    `json:"id"` // the order's id (the payload is the order's snapshot)
	OrderID   string    `json:"order_id"`
	DriverID  string    `json:"driver_id"`
	Reason    string    `json:"reason"`
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
	Status    string    `json:"status"`

	expiry *uint32 // MQTT 5 message expiry interval, when set
}

// driverApp is a driver's phone: an MQTT 5 client over a real socket that publishes fixes
// and replies and collects its jobs.
type driverApp struct {
	t        testing.TB
	id       string
	tenant   string
	c        *paho.Client
	conn     net.Conn
	mu       sync.Mutex
	jobs     []job
	lat, lng float64
	stop     chan struct{}
	stopped  sync.Once
	ctx      context.Context // ends when the driver leaves: nothing it publishes outlives it
	cancel   context.CancelFunc
	busy     sync.WaitGroup // its fix loop and job handlers
	onJob    func(d *driverApp, j job)
}

func (b *backbone) driver(tenant, id string, lat, lng float64, onJob func(*driverApp, job)) *driverApp {
	t := b.t
	d := &driverApp{t: t, id: id, tenant: tenant, lat: lat, lng: lng, stop: make(chan struct{}), onJob: onJob}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	conn, err := net.Dial("tcp", b.app.MQTTAddr("tcp"))
	require.NoError(t, err)
	d.conn = conn
	d.c = paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			var j job
			if json.Unmarshal(pr.Packet.Payload, &j) == nil {
				if pr.Packet.Properties != nil {
					j.expiry = pr.Packet.Properties.MessageExpiry
				}
				d.mu.Lock()
				d.jobs = append(d.jobs, j)
				d.mu.Unlock()
				if d.onJob != nil && d.ctx.Err() == nil {
					d.busy.Add(1)
					go func() {
						defer d.busy.Done()
						d.onJob(d, j)
					}()
				}
			}
			return true, nil
		},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = d.c.Connect(ctx, &paho.Connect{ClientID: tenant + "." + id, KeepAlive: 30, CleanStart: true,
		Password: []byte(b.token(tenant, id, auth.RoleDriver)), PasswordFlag: true})
	require.NoError(t, err)
	_, err = d.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "tenants/" + tenant + "/drivers/" + id + "/jobs", QoS: 1}}})
	require.NoError(t, err)
	d.fix()
	d.busy.Add(1)
	go func() { // a fix a second, as the app does
		defer d.busy.Done()
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-d.stop:
				return
			case <-tk.C:
				d.fix()
			}
		}
	}()
	t.Cleanup(d.leave)
	return d
}

func (d *driverApp) fix() {
	payload := fmt.Sprintf(`{"lat":%f,"lng":%f,"ts":%d}`, d.lat, d.lng, time.Now().UnixMilli())
	ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
	defer cancel()
	_, _ = d.c.Publish(ctx, &paho.Publish{Topic: "tenants/" + d.tenant + "/drivers/" + d.id + "/location", QoS: 1, Payload: []byte(payload)})
}

func (d *driverApp) reply(jobID, action string) {
	ctx, cancel := context.WithTimeout(d.ctx, 5*time.Second)
	defer cancel()
	_, err := d.c.Publish(ctx, &paho.Publish{Topic: "tenants/" + d.tenant + "/drivers/" + d.id + "/replies", QoS: 1,
		Payload: []byte(fmt.Sprintf(`{"job_id":%q,"action":%q,"ts":%d}`, jobID, action, time.Now().UnixMilli()))})
	if err != nil && d.ctx.Err() == nil {
		d.t.Logf("driver %s reply %s: %v", d.id, action, err)
	}
}

// mute stops the driver's fixes; the connection stays up (an app whose GPS died).
func (d *driverApp) mute() {
	d.stopped.Do(func() { close(d.stop) })
}

// drop loses the connection without DISCONNECT (a phone going into a tunnel).
func (d *driverApp) drop() {
	d.stopped.Do(func() { close(d.stop) })
	d.cancel()
	_ = d.conn.Close()
	d.busy.Wait()
}

func (d *driverApp) leave() {
	d.stopped.Do(func() { close(d.stop) })
	if d.ctx.Err() == nil {
		d.cancel()
		d.busy.Wait()
		_ = d.c.Disconnect(&paho.Disconnect{})
	}
}

// wait returns the first job of type typ (for order, when not "") once it has arrived.
func (d *driverApp) wait(typ, order string) job {
	var got job
	testenv.Eventually(d.t, 20*time.Second, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, j := range d.jobs {
			if j.Type == typ && (order == "" || j.ID == order) {
				got = j
				return true
			}
		}
		return false
	}, "driver %s gets %s", d.id, typ)
	return got
}

func (d *driverApp) count(typ string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, j := range d.jobs {
		if j.Type == typ {
			n++
		}
	}
	return n
}

func (d *driverApp) has(typ string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, j := range d.jobs {
		if j.Type == typ {
			return true
		}
	}
	return false
}

// startDispatch is a backbone whose engine sweeps fast, with its own Redis key prefix.
func startDispatch(t testing.TB, tweak func(*config.Config)) *backbone {
	return startBackbone(t, func(c *config.Config) {
		c.Redis.KeyPrefix = "dh-dispatch-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
		c.Dispatch.SweepInterval = 100 * time.Millisecond
		c.Dispatch.OfferTimeout = 5 * time.Second
		c.Presence.Grace = time.Second
		if tweak != nil {
			tweak(c)
		}
	})
}

// driversPlaceable waits until the engine can place n drivers: n online in presence and n
// whose first fix is in the index (from the hub's metrics).
func (b *backbone) driversPlaceable(n int) {
	testenv.Eventually(b.t, 10*time.Second, func() bool {
		resp, err := http.Get(b.base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var online, placed float64
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "dispatchhub_presence_drivers_online "); ok {
				online, _ = strconv.ParseFloat(v, 64)
			}
			if v, ok := strings.CutPrefix(line, `dispatchhub_dispatch_fixes_total{result="moved"} `); ok {
				placed, _ = strconv.ParseFloat(v, 64)
			}
		}
		return online >= float64(n) && placed >= float64(n)
	}, "%d drivers online and placed", n)
}

// orderIDOf waits for the order of Shopify order number n and returns its id.
func (b *backbone) orderIDOf(n int) string {
	var id string
	testenv.Eventually(b.t, 10*time.Second, func() bool {
		err := b.db.WithTenantTx(context.Background(), "acme", func(tx pgx.Tx) error {
			return tx.QueryRow(context.Background(), `SELECT id::text FROM orders WHERE external_ref = $1`, strconv.Itoa(n)).Scan(&id)
		})
		return err == nil
	}, "order stored")
	return id
}

// An order goes to the nearest driver; a decline goes to the next nearest, a timeout to the
// next; the driver who accepts picks up and delivers; a reply that breaks the state machine is
// refused on the driver's jobs topic; every decision is explained.
func TestDispatchOfferDeclineTimeoutAcceptDeliver(t *testing.T) {
	b := startDispatch(t, nil)
	// The store's pickup is 38.72,-9.14.
	near := b.driver("acme", "d-near", 38.7205, -9.1405, nil)
	mid := b.driver("acme", "d-mid", 38.7300, -9.1500, nil)
	far := b.driver("acme", "d-far", 38.7500, -9.1700, nil)
	events := b.watch("acme", "disp", auth.RoleDispatcher, "tenants/acme/events/#")
	b.driversPlaceable(3)

	status, _ := b.webhook("orders/create", "evt-d1", shopifyOrder(501, time.Now(), "Lisboa"))
	require.Equal(t, 200, status)
	orderID := b.orderIDOf(501)

	offer := near.wait("AssignmentOffered", orderID)
	assert.NotEmpty(t, offer.JobID)
	assert.Equal(t, "d-near", offer.DriverID)
	assert.Equal(t, orderID, offer.OrderID)
	assert.WithinDuration(t, time.Now().Add(5*time.Second), offer.ExpiresAt, 3*time.Second)
	require.NotNil(t, offer.expiry, "the offer carries an MQTT 5 message expiry")
	assert.LessOrEqual(t, *offer.expiry, uint32(5))

	near.reply(offer.JobID, "decline")
	assert.Equal(t, "declined", near.wait("AssignmentChanged", orderID).Reason)
	offer2 := mid.wait("AssignmentOffered", orderID)
	assert.NotEqual(t, offer.JobID, offer2.JobID)

	// mid lets it time out (5 s); far is next, never near again (it declined).
	assert.Equal(t, "expired", mid.wait("AssignmentChanged", orderID).Reason)
	offer3 := far.wait("AssignmentOffered", orderID)

	mid.reply(offer2.JobID, "accept") // too late
	assert.Equal(t, "offer_closed", mid.wait("ReplyRejected", "").Code)

	far.reply(offer3.JobID, "accept")
	far.wait("OrderAssigned", orderID)
	far.reply(offer3.JobID, "delivered") // not picked up yet: illegal
	assert.Equal(t, "illegal_transition", far.wait("ReplyRejected", "").Code)
	far.reply(offer3.JobID, "picked_up")
	far.reply(offer3.JobID, "delivered")
	testenv.Eventually(t, 10*time.Second, func() bool { return len(events.on("tenants/acme/events/DeliveryCompleted")) == 1 }, "DeliveryCompleted")
	assert.Len(t, events.on("tenants/acme/events/PickedUp"), 1)
	assert.False(t, near.has("OrderAssigned"))
	// Each offer reaches its driver once: the engine publishes it into this process's broker
	// right after its commit, and the bridge leaves it out of the jobs topic.
	for _, d := range []*driverApp{near, mid, far} {
		assert.Equal(t, 1, d.count("AssignmentOffered"), d.id)
	}

	var o orderView
	require.Equal(t, 200, b.api("GET", "/v1/orders/"+orderID, b.token("acme", "disp", auth.RoleDispatcher), nil, &o))
	assert.Equal(t, "delivered", o.Status)

	var ds struct {
		Decisions []struct {
			Outcome    string `json:"outcome"`
			DriverID   string `json:"driver_id"`
			Reason     string `json:"reason"`
			Candidates []struct {
				Driver string  `json:"driver_id"`
				Meters float64 `json:"distance_m"`
			} `json:"candidates"`
		} `json:"decisions"`
	}
	require.Equal(t, 200, b.api("GET", "/v1/orders/"+orderID+"/decisions", b.token("acme", "disp", auth.RoleDispatcher), nil, &ds))
	var outcomes []string
	for _, d := range ds.Decisions {
		if d.Outcome != "no_candidate" { // the order may come before the drivers' first fixes
			outcomes = append(outcomes, d.Outcome+":"+d.DriverID)
		}
	}
	assert.Equal(t, []string{"offered:d-near", "offered:d-mid", "expired:d-mid", "offered:d-far"}, outcomes)
	require.NotEmpty(t, ds.Decisions)
	first := ds.Decisions[0]
	require.Len(t, first.Candidates, 3, "the first offer weighed all three drivers")
	assert.Equal(t, "d-near", first.Candidates[0].Driver)
	assert.Less(t, first.Candidates[0].Meters, first.Candidates[1].Meters)
	assert.Contains(t, first.Reason, "nearest")
}

// assignedOrder connects a driver next to the store who accepts every offer, sends Shopify
// order n and returns the driver once it holds the order, with the order's id.
func (b *backbone) assignedOrder(driver string, n int) (*driverApp, string) {
	d := b.driver("acme", driver, 38.7201, -9.1401, func(d *driverApp, j job) {
		if j.Type == "AssignmentOffered" {
			d.reply(j.JobID, "accept")
		}
	})
	b.driversPlaceable(1)
	status, _ := b.webhook("orders/create", fmt.Sprintf("evt-assigned-%d", n), shopifyOrder(n, time.Now(), "Lisboa"))
	require.Equal(b.t, 200, status)
	orderID := b.orderIDOf(n)
	d.wait("OrderAssigned", orderID)
	return d, orderID
}

// A driver whose connection drops keeps its job through the presence grace period, then
// loses it: AssignmentChanged (offline) and the order goes to another driver.
func TestDispatchReassignsWhenDriverDropsOff(t *testing.T) {
	b := startDispatch(t, nil)
	first, orderID := b.assignedOrder("d-first", 601)

	second := b.driver("acme", "d-second", 38.7300, -9.1500, nil)
	first.drop()
	offer := second.wait("AssignmentOffered", orderID)
	assert.Equal(t, "d-second", offer.DriverID)
	assert.Equal(t, 1, b.count("acme", `SELECT count(*) FROM assignments WHERE driver_id = 'd-first' AND status = 'released' AND reason = 'offline'`))
	assert.Equal(t, 1, b.count("acme", `SELECT count(*) FROM dispatch_decisions WHERE outcome = 'released' AND driver_id = 'd-first'`))
}

// 1,000 orders and 200 drivers who accept, pick up and deliver everything they are offered:
// every order is delivered exactly once, and no driver ever holds more jobs than its capacity.
func TestDispatchThousandOrdersNeverOverCapacity(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 orders through the whole hub")
	}
	orders, drivers := 1000, 200
	if v, err := strconv.Atoi(os.Getenv("DH_TEST_ORDERS")); err == nil {
		orders, drivers = v, v/5
	}
	b := startDispatch(t, func(c *config.Config) { c.Dispatch.OfferTimeout = 30 * time.Second })
	var delivered atomic.Int64
	auto := func(d *driverApp, j job) {
		switch j.Type {
		case "AssignmentOffered":
			d.reply(j.JobID, "accept")
		case "OrderAssigned":
			d.reply(j.JobID, "picked_up")
			d.reply(j.JobID, "delivered")
			delivered.Add(1)
		}
	}
	for i := range drivers {
		// A 4 km square around the store.
		lat := 38.70 + float64(i%20)*0.002
		lng := -9.16 + float64(i/20)*0.004
		b.driver("acme", fmt.Sprintf("drv-%03d", i), lat, lng, auto)
	}

	// Watch for any driver over capacity (1) while the orders flow.
	var over atomic.Int64
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			n := 0
			_ = b.db.WithTenantTx(context.Background(), "acme", func(tx pgx.Tx) error {
				return tx.QueryRow(context.Background(), `SELECT count(*) FROM (SELECT driver_id FROM assignments
					WHERE status = 'accepted' GROUP BY driver_id HAVING count(*) > 1) x`).Scan(&n)
			})
			over.Add(int64(n))
		}
	}()
	for i := range orders {
		status, _ := b.webhook("orders/create", fmt.Sprintf("evt-k-%d", i), shopifyOrder(10000+i, time.Now(), "Lisboa"))
		require.Equal(t, 200, status)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for b.count("acme", `SELECT count(*) FROM orders WHERE status = 'delivered'`) != orders {
		if time.Now().After(deadline) {
			var report string
			_ = b.db.WithTenantTx(context.Background(), "acme", func(tx pgx.Tx) error {
				return tx.QueryRow(context.Background(), `SELECT (SELECT string_agg(status || '=' || n, ' ') FROM (SELECT status, count(*) n FROM orders GROUP BY status) o)
					|| ' | ' || (SELECT coalesce(string_agg(status || '=' || n, ' '), '') FROM (SELECT status, count(*) n FROM assignments GROUP BY status) a)`).Scan(&report)
			})
			t.Fatalf("not every order delivered within 3m: orders and assignments by status: %s", report)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	<-watched

	assert.Zero(t, over.Load(), "a driver held more accepted jobs than its capacity")
	assert.Equal(t, orders, b.count("acme", `SELECT count(*) FROM assignments WHERE status = 'completed'`), "one completed job per order")
	assert.Equal(t, 0, b.count("acme", `SELECT count(*) FROM (SELECT order_id FROM assignments WHERE status IN ('accepted', 'completed')
		GROUP BY order_id HAVING count(*) > 1) x`), "no order assigned twice")
	// Each driver's jobs, in the order it accepted them, never overlap.
	assert.Equal(t, 0, b.count("acme", `SELECT count(*) FROM (
		SELECT responded_at, lag(updated_at) OVER (PARTITION BY driver_id ORDER BY responded_at) AS prev_done
		FROM assignments WHERE status = 'completed') x WHERE responded_at < prev_done`), "a driver's jobs overlapped")
	assert.EqualValues(t, orders, delivered.Load())
}

// A driver still connected but sending no fixes for dispatch.silent_after loses its job not
// yet picked up, which goes to another driver.
func TestDispatchReassignsSilentDriver(t *testing.T) {
	b := startDispatch(t, func(c *config.Config) { c.Dispatch.SilentAfter = 5 * time.Second })
	quiet, orderID := b.assignedOrder("d-quiet", 701)
	other := b.driver("acme", "d-other", 38.7300, -9.1500, nil)
	quiet.mute()
	changed := quiet.wait("AssignmentChanged", orderID)
	assert.Equal(t, "silent", changed.Reason)
	assert.Equal(t, "d-other", other.wait("AssignmentOffered", orderID).DriverID)
}

// With the broadcast strategy (a tenant setting) the nearest drivers are offered the order at
// once; the first to accept gets it and the others' offers are withdrawn.
func TestDispatchBroadcastFirstAcceptWins(t *testing.T) {
	b := startDispatch(t, nil)
	disp := b.token("acme", "disp", auth.RoleDispatcher)
	require.Equal(t, 200, b.api("PUT", "/v1/dispatch/settings", disp, map[string]any{"strategy": "broadcast", "broadcast_fanout": 2}, nil))
	one := b.driver("acme", "d-one", 38.7201, -9.1401, nil)
	two := b.driver("acme", "d-two", 38.7210, -9.1410, nil)
	three := b.driver("acme", "d-three", 38.7600, -9.1900, nil)
	b.driversPlaceable(3)
	status, _ := b.webhook("orders/create", "evt-bc", shopifyOrder(801, time.Now(), "Lisboa"))
	require.Equal(t, 200, status)
	orderID := b.orderIDOf(801)
	o1, o2 := one.wait("AssignmentOffered", orderID), two.wait("AssignmentOffered", orderID)
	two.reply(o2.JobID, "accept")
	two.wait("OrderAssigned", orderID)
	assert.Equal(t, "taken", one.wait("AssignmentChanged", orderID).Reason)
	one.reply(o1.JobID, "accept")
	assert.Equal(t, "offer_closed", one.wait("ReplyRejected", "").Code)
	assert.False(t, three.has("AssignmentOffered"), "the fanout is 2")
}
