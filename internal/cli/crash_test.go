package cli_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

// crashHub runs the real binary with one data directory and fixed ports, so that it can be
// killed and started again as the same hub.
type crashHub struct {
	t       *testing.T
	bin     string
	args    []string
	env     []string
	cmd     *exec.Cmd
	exited  chan error
	logs    *bytes.Buffer
	readyz  string
	natsURL string
}

func (h *crashHub) start() {
	h.t.Helper()
	h.logs = &bytes.Buffer{}
	h.cmd = exec.Command(h.bin, h.args...)
	h.cmd.Env = h.env
	h.cmd.Stderr = h.logs
	require.NoError(h.t, h.cmd.Start())
	h.exited = make(chan error, 1)
	go func(cmd *exec.Cmd, ch chan error) { ch <- cmd.Wait() }(h.cmd, h.exited)
	testenv.Eventually(h.t, 60*time.Second, func() bool {
		resp, err := http.Get(h.readyz)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "the hub becomes ready")
}

func (h *crashHub) kill() {
	_ = h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.exited
}

// TestSIGKILLDuringWebhooksLosesAndDuplicatesNothing sends 2,000 webhooks while the hub is
// killed with SIGKILL at random moments (after a random few hundred accepted webhooks) and
// started again; the senders retry as platforms do
// until they get a 200. In the end every accepted webhook has exactly one order, exactly one
// OrderCreated in the outbox and exactly one on the EVENTS stream.
func TestSIGKILLDuringWebhooksLosesAndDuplicatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the binary several times")
	}
	db := testenv.NewDatabase(t, true)
	ctx := context.Background()
	sdb, err := store.Open(store.Config{URL: db.AppURL, MaxConns: 2})
	require.NoError(t, err)
	defer sdb.Close()
	_, err = sdb.CreateTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	const secret = "crash-test-shop-secret"
	shop, err := sdb.AddStore(ctx, store.Store{TenantID: "acme", Platform: "shopify", SecretRefs: []string{"env:DH_CRASH_SHOP_SECRET"},
		Pickup: &store.LatLng{Lat: 38.72, Lng: -9.14}})
	require.NoError(t, err)

	bin := filepath.Join(t.TempDir(), "dispatchhub")
	build := exec.Command("go", "build", "-o", bin, "../..")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	httpPort, natsPort := testenv.FreePort(t), testenv.FreePort(t)
	h := &crashHub{
		t: t, bin: bin,
		args: []string{"serve", "--http.port=" + strconv.Itoa(httpPort), "--nats.port=" + strconv.Itoa(natsPort),
			"--mqtt.tcp_addr=127.0.0.1:0", "--mqtt.ws_addr=127.0.0.1:0", "--auth.hs256_secret_ref=env:DH_TEST_JWT_SECRET",
			"--data_dir=" + t.TempDir(), "--shutdown_timeout=10s", "--log.level=warn",
			"--outbox.poll_interval=200ms", "--ingest.relay_poll_interval=200ms"},
		env: append(os.Environ(),
			"DISPATCHHUB_POSTGRES_URL="+db.AppURL, "DISPATCHHUB_POSTGRES_MIGRATE_URL="+db.OwnerURL,
			"DISPATCHHUB_REDIS_ADDR="+testenv.RedisAddr(), "DH_TEST_JWT_SECRET=cli-test-hs256-secret-at-least-32-bytes",
			"DH_CRASH_SHOP_SECRET="+secret),
		readyz:  "http://127.0.0.1:" + strconv.Itoa(httpPort) + "/readyz",
		natsURL: "nats://127.0.0.1:" + strconv.Itoa(natsPort),
	}
	h.start()
	t.Cleanup(func() {
		if h.cmd.ProcessState == nil {
			h.kill()
		}
	})

	const webhooks = 2000
	url := "http://127.0.0.1:" + strconv.Itoa(httpPort) + "/v1/webhooks/shopify/" + shop.ID
	client := &http.Client{Timeout: 5 * time.Second}
	var sent atomic.Int64
	var accepted sync.Map // order id -> inbound id
	send := func(n int) {
		body := []byte(fmt.Sprintf(`{"id":%d,"name":"#%d","updated_at":"2026-11-25T12:00:00Z","currency":"EUR","total_price":"9.90",`+
			`"shipping_address":{"address1":"Rua %d","city":"Lisboa","country_code":"PT","latitude":38.71,"longitude":-9.13},"line_items":[{"title":"x","quantity":1,"price":"9.90"}]}`, n, n, n))
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		sig := base64.StdEncoding.EncodeToString(mac.Sum(nil))
		for {
			req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Shopify-Topic", "orders/create")
			req.Header.Set("X-Shopify-Event-Id", "crash-"+strconv.Itoa(n))
			req.Header.Set("X-Shopify-Hmac-Sha256", sig)
			resp, err := client.Do(req)
			if err == nil {
				var a struct{ Status, ID string }
				_ = json.NewDecoder(resp.Body).Decode(&a)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					accepted.Store(n, a.ID)
					sent.Add(1)
					return
				}
			}
			time.Sleep(50 * time.Millisecond) // the platform retries
		}
	}

	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				send(n)
			}
		}()
	}
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for n := 1; n <= webhooks; n++ {
			work <- 100000 + n
		}
		close(work)
	}()
	// Kill the hub after every few hundred accepted webhooks (a random count), so that the
	// kills fall inside the run however fast it goes.
	kills := 0
	allSent := make(chan struct{})
	go func() { wg.Wait(); close(allSent) }()
	next := int64(100 + rand.IntN(300))
killing:
	for {
		select {
		case <-allSent:
			break killing
		case <-time.After(10 * time.Millisecond):
			if sent.Load() < next {
				continue
			}
			time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond) // mid-request, mid-commit, mid-publish
			h.kill()
			kills++
			h.start()
			next = sent.Load() + int64(200+rand.IntN(400))
		}
	}
	<-fed
	t.Logf("%d webhooks accepted across %d SIGKILLs", sent.Load(), kills)
	require.GreaterOrEqual(t, kills, 2, "the hub was killed during the run")

	count := func(query string) int {
		var n int
		require.NoError(t, sdb.WithTenantTx(ctx, "acme", func(tx pgx.Tx) error { return tx.QueryRow(ctx, query).Scan(&n) }))
		return n
	}
	testenv.Eventually(t, 60*time.Second, func() bool {
		return count(`SELECT count(*) FROM outbox WHERE event_type = 'OrderCreated' AND published_at IS NOT NULL`) >= webhooks
	}, "every order created and its event published")
	assert.Equal(t, webhooks, count(`SELECT count(*) FROM inbound_events`), "one stored event per webhook")
	assert.Equal(t, webhooks, count(`SELECT count(*) FROM orders`), "one order per webhook")
	assert.Equal(t, webhooks, count(`SELECT count(DISTINCT external_ref) FROM orders`))
	assert.Equal(t, webhooks, count(`SELECT count(*) FROM outbox WHERE event_type = 'OrderCreated'`), "one OrderCreated per order")
	accepted.Range(func(k, v any) bool {
		assert.NotEmpty(t, v, "order %v: the 200 named its stored event", k)
		return true
	})

	// The EVENTS stream holds exactly one OrderCreated per order.
	nc, err := nats.Connect(h.natsURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	cons, err := js.OrderedConsumer(ctx, "EVENTS", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"events.acme.OrderCreated"}})
	require.NoError(t, err)
	perOrder := map[string]int{}
	for len(perOrder) < webhooks {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		require.NoError(t, err)
		got := 0
		for m := range batch.Messages() {
			var ev struct {
				AggregateID string `json:"aggregate_id"`
			}
			require.NoError(t, json.Unmarshal(m.Data(), &ev))
			perOrder[ev.AggregateID]++
			got++
		}
		if got == 0 {
			break
		}
	}
	assert.Len(t, perOrder, webhooks, "every order's OrderCreated is on EVENTS")
	for id, n := range perOrder {
		if n != 1 {
			t.Errorf("order %s: %d OrderCreated on EVENTS", id, n)
		}
	}
}
