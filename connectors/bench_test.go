package connectors_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/connectors/fakeplatform"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

// BenchmarkOutbound measures the connectors end to end on real PostgreSQL and NATS against
// the fake platforms over HTTP: from a domain event on EVENTS to its status on the platform.
//
//   - throughput: DH_BENCH_JOBS (default 400) statuses of distinct orders published at once
//     per platform; jobs/s until the last is on the platform, with the default 8 workers.
//
//   - isolation: WooCommerce and Shopify statuses, each at DH_BENCH_RATE (default 20/s) for
//     DH_BENCH_SECONDS (default 30): first with both platforms up (the baseline), then while
//     Shopify answers 503 to every call; the p99 of event → status on WooCommerce in both, and
//     their ratio (target ≤ 1.2). The load is the same in both phases; only the outage differs.
//
//     go test -run '^$' -bench BenchmarkOutbound -benchtime 1x ./connectors/
func BenchmarkOutbound(b *testing.B) {
	jobs := envInt(b, "DH_BENCH_JOBS", 400)
	b.Run("throughput", func(b *testing.B) {
		for _, p := range []struct {
			platform string
			fake     func(testing.TB) *fakeplatform.Server
			event    string
		}{
			{"shopify", fakeplatform.NewShopify, "DeliveryCompleted"},
			{"woocommerce", fakeplatform.NewWooCommerce, "DeliveryCompleted"},
			{"bigcommerce", fakeplatform.NewBigCommerce, "DeliveryCompleted"},
			{"squarespace", fakeplatform.NewSquarespace, "PickedUp"},
			{"tiendanube", fakeplatform.NewWebhook, "DeliveryCompleted"}, // the generic signed webhook
		} {
			b.Run(p.platform, func(b *testing.B) {
				r := newBenchRig(b)
				fake := p.fake(b)
				s := r.store(p.platform, fake)
				testenv.Eventually(b, 10*time.Second, func() bool { return r.poolRunning(p.platform) }, "the pool runs")
				start := time.Now()
				for range jobs {
					r.event(p.event, r.order(s), time.Now(), nil)
				}
				testenv.Eventually(b, 5*time.Minute, func() bool { return r.jobStates()["done"] == jobs }, "every job done")
				took := time.Since(start)
				rate := float64(jobs) / took.Seconds()
				direct := directRate(b, r, p.platform, p.event, jobs)
				b.ReportMetric(rate, "jobs/s")
				b.ReportMetric(direct, "direct-jobs/s")
				b.ReportMetric(rate/direct, "ratio")
				b.ReportMetric(float64(fake.Requests())/float64(jobs), "calls/job")
				b.Logf("%s: %d statuses in %s: %.0f jobs/s through EVENTS, OUTBOUND and the ledger; the connector alone, 8 at a time: %.0f jobs/s (ratio %.2f); %.1f calls per job, %d duplicates",
					p.platform, jobs, took.Round(time.Millisecond), rate, direct, rate/direct, float64(fake.Requests())/float64(jobs), fake.Duplicates())
			})
		}
	})
	b.Run("isolation", func(b *testing.B) {
		rate := envInt(b, "DH_BENCH_RATE", 20)
		secs := envInt(b, "DH_BENCH_SECONDS", 30)
		r := newBenchRig(b)
		shop, woo := fakeplatform.NewShopify(b), fakeplatform.NewWooCommerce(b)
		shopStore, wooStore := r.store("shopify", shop), r.store("woocommerce", woo)
		testenv.Eventually(b, 10*time.Second, func() bool { return r.poolRunning("shopify") && r.poolRunning("woocommerce") }, "the pools run")
		run := func() []float64 {
			sent := map[string]time.Time{} // external ref -> event time
			interval := time.Second / time.Duration(rate)
			start := time.Now()
			for i := 0; i < rate*secs; i++ {
				time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
				o := r.order(wooStore)
				at := time.Now()
				sent[o.Ref] = at
				r.event("DeliveryCompleted", o, at, nil)
				r.event("DeliveryCompleted", r.order(shopStore), time.Now(), nil)
			}
			var lat []float64
			testenv.Eventually(b, time.Minute, func() bool {
				lat = lat[:0]
				for _, e := range woo.Effects() {
					if at, ok := sent[e.Order]; ok && e.What == "status:completed" {
						lat = append(lat, float64(e.At.Sub(at).Microseconds())/1000)
					}
				}
				return len(lat) == len(sent)
			}, "every WooCommerce status applied")
			slices.Sort(lat)
			return lat
		}
		alone := run()
		shopCalls := shop.Requests()
		shop.Fail(fakeplatform.Failure{Status: 503, Body: `{"errors":"Service Unavailable"}`})
		during := run()
		pa, pd := percentile(alone, 99), percentile(during, 99)
		b.ReportMetric(pa, "woo-baseline-p99-ms")
		b.ReportMetric(pd, "woo-outage-p99-ms")
		b.ReportMetric(pd/pa, "p99-ratio")
		sh := r.health("shopify")
		b.Logf("WooCommerce and Shopify at %d/s each for %ds: WooCommerce with Shopify up p50 %.1f p99 %.1f ms; during a Shopify outage p50 %.1f p99 %.1f ms; ratio %.2f (target <= 1.2); "+
			"Shopify during the outage: %s, breaker %s, %d pending, %d calls made for %d jobs",
			rate, secs, percentile(alone, 50), pa, percentile(during, 50), pd, pd/pa, sh.State, sh.Breaker, sh.Pending, shop.Requests()-shopCalls, rate*secs)
	})
}

// directRate is the baseline: the platform's connector alone pushing n statuses of new orders
// to a fresh fake, 8 at a time (the pool's default workers), without bus or ledger.
func directRate(b *testing.B, r *rig, platform, event string, n int) float64 {
	fake := map[string]func(testing.TB) *fakeplatform.Server{"shopify": fakeplatform.NewShopify, "woocommerce": fakeplatform.NewWooCommerce,
		"bigcommerce": fakeplatform.NewBigCommerce, "squarespace": fakeplatform.NewSquarespace}[platform]
	if fake == nil {
		fake = fakeplatform.NewWebhook
	}
	srv := fake(b)
	c, err := r.reg.For(platform)
	if err != nil {
		b.Fatal(err)
	}
	status := map[string]string{"DeliveryCompleted": connectors.StatusDelivered, "PickedUp": connectors.StatusPickedUp}[event]
	t := connectors.Target{StoreID: "s", ExternalID: "shop", APIBase: srv.URL(), Credential: []byte(srv.Credential())}
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				j := connectors.Job{ID: fmt.Sprintf("direct-%d", i), Tenant: tenant, Platform: platform, StoreID: "s", OrderID: fmt.Sprintf("o-%d", i),
					ExternalRef: strconv.Itoa(900000 + i), Status: status, Event: event, OccurredAt: time.Now(),
					Tracking: connectors.Tracking{Company: "Pilot X", Number: fmt.Sprintf("job-%d", i)}}
				if err := c.Push(context.Background(), t, j); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// newBenchRig is a rig with the production defaults, a registry of every connector and a
// health evaluation each second.
func newBenchRig(b *testing.B) *rig {
	return newRig(b, connectors.Config{HealthInterval: time.Second, PlatformRefresh: time.Second})
}

// poolRunning reports whether the platform's pool consumes.
func (r *rig) poolRunning(platform string) bool {
	_, err := r.js.Consumer(context.Background(), "OUTBOUND", connectors.PoolDurable(platform))
	return err == nil
}

func percentile(sorted []float64, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s: want a positive integer, got %q", name, v)
	}
	return n
}
