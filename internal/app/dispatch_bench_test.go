package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/config"
)

// BenchmarkOrderToOffer measures the dispatch engine end to end with the nearest strategy:
// from an order's commit (orders.created_at, written by intake) to its AssignmentOffered
// received by the chosen driver's app over MQTT. Drivers accept, pick up and deliver at once,
// so they stay available. The baseline, measured in the same run, is the same order's
// OrderCreated received by a dispatcher over MQTT: the backbone's own latency from the same
// commit, without the engine. Target (issue): created → offer p99 ≤ 20 ms. Env:
// DH_BENCH_RATES (orders per second, default 20,100), DH_BENCH_SECONDS (default 10).
//
//	go test -run '^$' -bench BenchmarkOrderToOffer -benchtime 1x ./internal/app/
func BenchmarkOrderToOffer(b *testing.B) {
	secs := benchSeconds(b)
	bb := startDispatch(b, func(c *config.Config) {
		c.Log.Level = "warn"
		c.Ingest.RateStore, c.Ingest.RateStoreBurst = 100000, 100000
		c.Dispatch.OfferTimeout = 30 * time.Second
	})
	const drivers = 100
	var mu sync.Mutex
	offered := map[string]time.Time{} // order -> offer received
	for i := range drivers {
		lat := 38.70 + float64(i%10)*0.004
		lng := -9.16 + float64(i/10)*0.004
		bb.driver("acme", fmt.Sprintf("bench-%03d", i), lat, lng, func(d *driverApp, j job) {
			switch j.Type {
			case "AssignmentOffered":
				mu.Lock()
				if _, ok := offered[j.ID]; !ok {
					offered[j.ID] = time.Now()
				}
				mu.Unlock()
				d.reply(j.JobID, "accept")
			case "OrderAssigned":
				d.reply(j.JobID, "picked_up")
				d.reply(j.JobID, "delivered")
			}
		})
	}
	created := bb.watch("acme", "bench-disp", auth.RoleDispatcher, "tenants/acme/events/OrderCreated")
	time.Sleep(2 * time.Second) // every driver's first fix and presence are in

	n := 0
	for _, rate := range benchRatesOr(b, []int{20, 100}) {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			first := n
			interval := time.Second / time.Duration(rate)
			start := time.Now()
			for i := 0; i < rate*secs; i++ {
				time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
				go bb.webhook("orders/create", fmt.Sprintf("bench-offer-%d", n+i), shopifyOrder(900000+n+i, time.Now(), "Lisboa"))
			}
			n += rate * secs
			time.Sleep(3 * time.Second)

			commits := map[string]time.Time{}
			_ = bb.db.WithTenantTx(context.Background(), "acme", func(tx pgx.Tx) error {
				rows, err := tx.Query(context.Background(), `SELECT id::text, created_at FROM orders WHERE external_ref::bigint >= $1 AND external_ref::bigint < $2`,
					900000+first, 900000+n)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var id string
					var at time.Time
					if err := rows.Scan(&id, &at); err != nil {
						return err
					}
					commits[id] = at
				}
				return rows.Err()
			})
			var toOffer, toCreated latencies
			missing := 0
			seen := arrivals(created, "tenants/acme/events/OrderCreated")
			mu.Lock()
			for id, at := range commits {
				if t, ok := offered[id]; ok {
					toOffer = append(toOffer, float64(t.Sub(at).Microseconds())/1000)
				} else {
					missing++
				}
				if t, ok := seen[id]; ok {
					toCreated = append(toCreated, float64(t.Sub(at).Microseconds())/1000)
				}
			}
			mu.Unlock()
			b.ReportMetric(toCreated.p(50), "created-mqtt-p50-ms")
			b.ReportMetric(toCreated.p(99), "created-mqtt-p99-ms")
			b.ReportMetric(toOffer.p(50), "offer-p50-ms")
			b.ReportMetric(toOffer.p(99), "offer-p99-ms")
			b.ReportMetric(float64(missing), "not-offered")
			b.Logf("stages (mean s, whole run): %s", meanStages(bb.base, "dispatchhub_dispatch_round_seconds", "dispatchhub_dispatch_offer_wait_seconds",
				"dispatchhub_dispatch_reply_apply_seconds", "dispatchhub_intake_apply_seconds", "dispatchhub_outbox_lag_seconds"))
			b.Logf("rate=%d orders/s for %ds: %d orders, %d offered; commit -> OrderCreated at a dispatcher (baseline) p50 %.2f p99 %.2f ms; "+
				"commit -> AssignmentOffered at the driver p50 %.2f p95 %.2f p99 %.2f max %.2f ms",
				rate, secs, len(commits), len(toOffer), toCreated.p(50), toCreated.p(99), toOffer.p(50), toOffer.p(95), toOffer.p(99), toOffer.p(100))
		})
	}
}

// arrivals returns when each order's event reached w's client on topic, by order id.
func arrivals(w *mqttWatcher, topic string) map[string]time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]time.Time{}
	for i, m := range w.msgs[topic] {
		var ev eventEnvelope
		if json.Unmarshal(m, &ev) == nil {
			if _, ok := out[ev.AggregateID]; !ok {
				out[ev.AggregateID] = w.times[topic][i]
			}
		}
	}
	return out
}
