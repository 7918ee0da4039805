package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pilotx/dispatchhub/internal/cli"
	"github.com/pilotx/dispatchhub/internal/sim"
)

// BenchmarkScenario runs the simulator's scenarios through `dispatchhub sim` against a hub in
// this process (both on the same 2 cores, as in production on one machine):
//
//   - a: the design pack's load, 50 drivers on the Andorra roads and 200 new-order webhooks a
//     second from 5 stores on 5 platforms, for DH_BENCH_SECONDS (default 30). Its baseline is
//     the pack's own service levels: webhook ack p95 < 100 ms and internal propagation (webhook
//     → OrderCreated at a dispatcher) p99 < 500 ms; "margin" is the level over the measure.
//   - d: ingest alone, no drivers, webhooks ramping from 200 to 6,000 a second over
//     DH_BENCH_SECONDS: the highest rate accepted over any 5 s.
//
// Scenarios b (5,000 drivers) and c (10,000 drivers and a burst of 1,000 webhooks/s) run with
// `dispatchhub sim --scenario b|c` against a hub of its own (see README, Simulator and demo).
//
//	go test -run '^$' -bench BenchmarkScenario -benchtime 1x ./internal/cli/
func BenchmarkScenario(b *testing.B) {
	secs := 30
	if v := os.Getenv("DH_BENCH_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("DH_BENCH_SECONDS: want a positive integer, got %q", v)
		}
		secs = n
	}
	for _, sc := range []string{"a", "d"} {
		b.Run(sc, func(b *testing.B) {
			hub := simHub(b)
			report := filepath.Join(b.TempDir(), "report.json")
			// Scenario d waits for intake to catch up with what the edge accepted, so that an
			// order not created is one lost, not one late.
			drain := map[string]string{"a": "5s", "d": "5m"}[sc]
			args := append([]string{"sim", "--scenario", sc, "--duration", strconv.Itoa(secs) + "s", "--drain", drain,
				"--tenant", "bench" + sc, "--json", report}, hub...)
			var out, errb bytes.Buffer
			if code := cli.Run(context.Background(), args, &out, &errb); code != cli.ExitOK {
				b.Fatalf("sim exited %d: %s", code, errb.String())
			}
			raw, err := os.ReadFile(report)
			if err != nil {
				b.Fatal(err)
			}
			var r sim.Report
			if err := json.Unmarshal(raw, &r); err != nil {
				b.Fatal(err)
			}
			w, l := r.Webhooks, r.Latency
			b.ReportMetric(w.PerSec, "webhooks/s")
			b.ReportMetric(w.PeakPerSec, "peak-webhooks/s")
			b.ReportMetric(w.AckP95, "ack-p95-ms")
			b.ReportMetric(w.AckP99, "ack-p99-ms")
			b.ReportMetric(float64(r.LostMessages), "lost")
			b.ReportMetric(float64(r.Duplicates), "duplicates")
			if sc == "a" {
				b.ReportMetric(l.WebhookToCreatedP99, "propagation-p99-ms")
				b.ReportMetric(l.LocationP99, "location-p99-ms")
				b.ReportMetric(l.AcceptToAssignedP99, "accept-p99-ms")
				b.ReportMetric(r.MeanPickupM, "pickup-m")
				if w.AckP95 > 0 {
					b.ReportMetric(100/w.AckP95, "ack-margin-x")
				}
				if l.WebhookToCreatedP99 > 0 {
					b.ReportMetric(500/l.WebhookToCreatedP99, "propagation-margin-x")
				}
			}
			b.Logf("scenario %s for %ds:\n%s", sc, secs, r.Table())
		})
	}
}
