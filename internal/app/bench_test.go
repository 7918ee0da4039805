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
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/config"
)

// BenchmarkWebhookToMQTT measures the whole backbone: a signed Shopify webhook is accepted
// (durably stored), relayed to INGEST, turned into an order by intake, its OrderCreated goes
// through the outbox to EVENTS and the bridge publishes it into the broker, where a
// dispatcher subscribed over MQTT (TCP) receives it. An open-loop sender offers webhooks at a
// fixed rate; latency is from each webhook's scheduled send time to the receipt of its
// OrderCreated. The webhook's own ack latency, measured in the same run, is the baseline: the
// difference is what the backbone adds after the 200. Target (DESIGN.md): p99 ≤ 50 ms at 200
// RPS on this 2-core machine. Run with
//
//	go test -run '^$' -bench BenchmarkWebhookToMQTT -benchtime 1x ./internal/app/
func BenchmarkWebhookToMQTT(b *testing.B) {
	secs := benchSeconds(b)
	defer debug.SetGCPercent(debug.SetGCPercent(config.Default().Runtime.GCPercent))
	bb := startBenchBackbone(b)
	for _, rate := range benchRates(b) {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			r := bb.run(b, rate, secs)
			b.ReportMetric(r.ack.p(50), "ack-p50-ms")
			b.ReportMetric(r.ack.p(99), "ack-p99-ms")
			b.ReportMetric(r.e2e.p(50), "e2e-p50-ms")
			b.ReportMetric(r.e2e.p(99), "e2e-p99-ms")
			b.ReportMetric(float64(r.lost), "lost")
			b.Logf("stages (mean s): %s; machine: %s", bb.stages(), r.cpu)
			b.Logf("rate=%d for %ds: %d webhooks, %d OrderCreated received, %d lost, %d duplicates; ack (baseline) p50 %.2f p99 %.2f ms; "+
				"webhook -> OrderCreated on MQTT p50 %.2f p95 %.2f p99 %.2f max %.2f ms (p99 ×%.1f the ack's)",
				rate, secs, r.sent, r.received, r.lost, r.dups, r.ack.p(50), r.ack.p(99), r.e2e.p(50), r.e2e.p(95), r.e2e.p(99), r.e2e.p(100),
				r.e2e.p(99)/max(r.ack.p(99), 0.001))
		})
	}
}

type benchBackbone struct {
	base, storeID string
	mu            sync.Mutex
	sentAt        map[string]time.Time // external ref -> scheduled send time
	got           map[string]time.Duration
	dups          int
}

// benchSeconds is how long each rate runs: DH_BENCH_SECONDS, default 10.
func benchSeconds(b *testing.B) int {
	v := os.Getenv("DH_BENCH_SECONDS")
	if v == "" {
		return 10
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("DH_BENCH_SECONDS: whole seconds ≥ 1, got %q", v)
	}
	return n
}

type latencies []float64 // ms

func (l latencies) p(q float64) float64 {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(float64(len(s)-1) * q / 100)
	return s[i]
}

type benchResult struct {
	cpu                  cpuShare
	ack, e2e             latencies
	sent, received, lost int
	dups                 int
}

// startBenchBackbone starts a hub as the tests do (tenant acme, its Shopify store), quiet
// logs and no rate limit, and a dispatcher subscribed to the tenant's OrderCreated events.
func startBenchBackbone(b *testing.B) *benchBackbone {
	h := startBackbone(b, func(c *config.Config) {
		c.Log.Level = "warn"
		c.Ingest.RateStore, c.Ingest.RateStoreBurst = 100000, 100000 // not under test
	})
	bb := &benchBackbone{base: h.base, storeID: h.store.ID, sentAt: map[string]time.Time{}, got: map[string]time.Duration{}}
	tok := h.token("acme", "disp-bench", auth.RoleDispatcher)
	conn, err := net.Dial("tcp", h.app.MQTTAddr("tcp"))
	if err != nil {
		b.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			now := time.Now()
			var ev struct {
				Payload struct {
					ExternalRef string `json:"external_ref"`
				} `json:"payload"`
			}
			if json.Unmarshal(pr.Packet.Payload, &ev) == nil {
				bb.mu.Lock()
				if at, ok := bb.sentAt[ev.Payload.ExternalRef]; ok {
					if _, seen := bb.got[ev.Payload.ExternalRef]; seen {
						bb.dups++
					} else {
						bb.got[ev.Payload.ExternalRef] = now.Sub(at)
					}
				}
				bb.mu.Unlock()
			}
			return true, nil
		},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "acme.disp-bench", KeepAlive: 30, CleanStart: true, Password: []byte(tok), PasswordFlag: true}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "tenants/acme/events/OrderCreated", QoS: 1}}}); err != nil {
		b.Fatal(err)
	}
	return bb
}

func (bb *benchBackbone) run(b *testing.B, rate, secs int) benchResult {
	n := rate * secs
	prefix := fmt.Sprintf("r%d-", rate)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 512}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var res benchResult
	cpu0 := readCPU()
	interval := time.Second / time.Duration(rate)
	start := time.Now().Add(50 * time.Millisecond)
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		ref := prefix + strconv.Itoa(i)
		bb.mu.Lock()
		bb.sentAt[ref] = at // the order's external ref is the id sent
		bb.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := []byte(fmt.Sprintf(`{"id":%q,"name":"#%s","updated_at":"2026-11-25T12:00:00Z","currency":"EUR","total_price":"9.90",`+
				`"shipping_address":{"address1":"Rua 1","city":"Lisboa","country_code":"PT","latitude":38.71,"longitude":-9.13},"line_items":[{"title":"x","quantity":1,"price":"9.90"}]}`, ref, ref))
			mac := hmac.New(sha256.New, []byte(shopSecret))
			mac.Write(body)
			req, _ := http.NewRequest("POST", bb.base+"/v1/webhooks/shopify/"+bb.storeID, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Shopify-Topic", "orders/create")
			req.Header.Set("X-Shopify-Event-Id", "bench-"+ref)
			req.Header.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			mu.Lock()
			if resp.StatusCode == 200 {
				res.sent++
				res.ack = append(res.ack, float64(time.Since(at).Microseconds())/1000)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.cpu = readCPU().since(cpu0) // the sending window
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		bb.mu.Lock()
		done := 0
		for i := range n {
			if _, ok := bb.got[prefix+strconv.Itoa(i)]; ok {
				done++
			}
		}
		bb.mu.Unlock()
		if done >= res.sent {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	bb.mu.Lock()
	defer bb.mu.Unlock()
	for i := range n {
		if d, ok := bb.got[prefix+strconv.Itoa(i)]; ok {
			res.e2e = append(res.e2e, float64(d.Microseconds())/1000)
		}
	}
	res.received = len(res.e2e)
	res.lost = res.sent - res.received
	res.dups = bb.dups
	return res
}

// stages reads the mean of each stage's lag histogram from the hub's /metrics.
func (bb *benchBackbone) stages() string {
	return meanStages(bb.base, "dispatchhub_ingest_relay_lag_seconds", "dispatchhub_intake_lag_seconds", "dispatchhub_intake_apply_seconds",
		"dispatchhub_outbox_lag_seconds", "dispatchhub_bridge_lag_seconds")
}

// meanStages reads the hub's histograms names from /metrics and formats their means.
func meanStages(base string, names ...string) string {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	sums, counts := map[string]float64{}, map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		for _, name := range names {
			for suffix, m := range map[string]map[string]float64{"_sum ": sums, "_count ": counts} {
				if v, ok := strings.CutPrefix(line, name+suffix); ok {
					f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
					m[name] = f
				}
			}
		}
	}
	var out []string
	for name, n := range counts {
		if n > 0 {
			out = append(out, fmt.Sprintf("%s %.4f (n=%.0f)", strings.TrimPrefix(name, "dispatchhub_"), sums[name]/n, n))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

// benchRates are the offered rates: DH_BENCH_RATES (comma-separated), default 200 and 1000.
func benchRates(b *testing.B) []int { return benchRatesOr(b, []int{200, 1000}) }

// benchRatesOr is DH_BENCH_RATES, or def when it is not set.
func benchRatesOr(b *testing.B, def []int) []int {
	v := os.Getenv("DH_BENCH_RATES")
	if v == "" {
		return def
	}
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("DH_BENCH_RATES: rates such as 200,1000, got %q", v)
		}
		out = append(out, n)
	}
	return out
}

// cpuTicks are the machine's CPU counters of /proc/stat (Linux; zero elsewhere).
type cpuTicks struct{ busy, idle, steal float64 }

func readCPU() cpuTicks {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTicks{}
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTicks{}
	}
	var v [8]float64
	for i := range v {
		v[i], _ = strconv.ParseFloat(f[i+1], 64)
	}
	return cpuTicks{busy: v[0] + v[1] + v[2] + v[5] + v[6], idle: v[3] + v[4], steal: v[7]}
}

// cpuShare is how the machine's CPU time went during a run: busy, idle and stolen by the
// hypervisor for other guests (a run with much steal says more about the host than the hub).
type cpuShare struct{ busy, idle, steal float64 }

func (a cpuTicks) since(b cpuTicks) cpuShare {
	total := (a.busy - b.busy) + (a.idle - b.idle) + (a.steal - b.steal)
	if total <= 0 {
		return cpuShare{}
	}
	return cpuShare{busy: (a.busy - b.busy) / total * 100, idle: (a.idle - b.idle) / total * 100, steal: (a.steal - b.steal) / total * 100}
}

func (c cpuShare) String() string {
	return fmt.Sprintf("CPU busy %.0f%%, idle %.0f%%, stolen %.1f%%", c.busy, c.idle, c.steal)
}
