package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pilotx/dispatchhub/internal/cli"
	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/sim"
	"github.com/pilotx/dispatchhub/internal/store"
)

// simChildEnv, set, makes this test binary run `dispatchhub` with the JSON list of arguments
// it holds instead of the tests: BenchmarkScenario runs the simulator in a process of its own.
const simChildEnv = "DH_SIM_CHILD_ARGS"

func TestMain(m *testing.M) {
	if raw := os.Getenv(simChildEnv); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			os.Stderr.WriteString(simChildEnv + ": " + err.Error() + "\n")
			os.Exit(2)
		}
		os.Exit(cli.Run(context.Background(), args, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// BenchmarkScenario runs the simulator's scenarios, `dispatchhub sim --scenario X`, in a
// process of its own against a hub in this process; both share the machine's 2 cores, as
// they would on one machine in production. Each runs for DH_BENCH_SECONDS (default 30), a,
// b and c after the scenario's 5 s warm-up, whose p99s are reported as warmup-*:
//
//   - a: the design pack's load, 50 drivers on the Andorra roads and 200 new-order webhooks a
//     second from 5 stores on 5 platforms. Its baseline is the pack's own service levels:
//     webhook ack p95 < 100 ms and internal propagation (webhook → OrderCreated at a
//     dispatcher) p99 < 500 ms; "margin" is the level over the measure.
//   - b: 5,000 drivers sending a fix every 2 s (0.5 Hz) and 200 webhooks a second.
//   - c: 10,000 drivers at 0.5 Hz, 20 webhooks a second with a burst of 1,000 a second from
//     20 s to 30 s.
//   - d: ingest alone, no drivers, webhooks ramping from 200 to 6,000 a second: the highest
//     rate accepted over any 5 s. It waits for intake to catch up, so that an order not
//     created is one lost, not one late.
//
// The broker's own baseline (a bare mochi broker under the same drivers) is BenchmarkRealtimeWS.
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
	// The hub in this process runs with serve's runtime policy (runtime.gc_percent), as
	// `dispatchhub serve` applies it at start; the simulator's process keeps Go's default.
	defer debug.SetGCPercent(debug.SetGCPercent(config.Default().Runtime.GCPercent))
	for _, sc := range []string{"a", "b", "c", "d"} {
		b.Run(sc, func(b *testing.B) {
			hub := simHub(b)
			report := filepath.Join(b.TempDir(), "report.json")
			drain := map[string]string{"a": "5s", "b": "5s", "c": "5s", "d": "5m"}[sc]
			args, err := json.Marshal(append([]string{"sim", "--scenario", sc, "--duration", strconv.Itoa(secs) + "s",
				"--drain", drain, "--tenant", "bench" + sc, "--json", report}, hub...))
			if err != nil {
				b.Fatal(err)
			}
			child := exec.Command(os.Args[0], "-test.run=^$")
			child.Env = append(os.Environ(), simChildEnv+"="+string(args))
			if out, err := child.CombinedOutput(); err != nil {
				b.Fatalf("sim: %v\n%s", err, tail(out, 4096))
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
			// What the hub stored, whatever the watcher's MQTT client saw: an order the
			// watcher missed but PostgreSQL has is a message dropped, not an order lost.
			b.ReportMetric(float64(storedOrders(b, hub, "bench"+sc)), "orders-stored")
			b.ReportMetric(w.PerSec, "webhooks/s")
			b.ReportMetric(w.PeakPerSec, "peak-webhooks/s")
			b.ReportMetric(w.AckP95, "ack-p95-ms")
			b.ReportMetric(w.AckP99, "ack-p99-ms")
			b.ReportMetric(float64(w.Failed), "webhooks-failed")
			b.ReportMetric(float64(r.LostMessages), "lost")
			b.ReportMetric(float64(r.Duplicates), "duplicates")
			if sc != "d" {
				b.ReportMetric(float64(r.DriversConnected), "drivers")
				b.ReportMetric(l.WebhookToCreatedP99, "propagation-p99-ms")
				b.ReportMetric(l.LocationP99, "location-p99-ms")
				if l.AcceptsMeasured > 0 { // none when every driver's order came in the warm-up
					b.ReportMetric(l.AcceptToAssignedP99, "accept-p99-ms")
				}
				b.ReportMetric(r.MeanPickupM, "pickup-m")
			}
			if wu := r.Warmup; wu != nil { // reported apart: the figures above are after it
				b.ReportMetric(wu.AckP99, "warmup-ack-p99-ms")
				if sc != "d" {
					b.ReportMetric(wu.WebhookToCreatedP99, "warmup-propagation-p99-ms")
					b.ReportMetric(wu.AcceptToAssignedP99, "warmup-accept-p99-ms")
				}
			}
			if sc == "a" {
				if w.AckP95 > 0 {
					b.ReportMetric(100/w.AckP95, "ack-margin-x")
				}
				if l.WebhookToCreatedP99 > 0 {
					b.ReportMetric(500/l.WebhookToCreatedP99, "propagation-margin-x")
				}
			}
			b.Logf("scenario %s for %ds:\n%s\nthe hub's pipeline (its histograms, whole run):\n%s", sc, secs, r.Table(), stageReport(b, hub))
		})
	}
}

// tail is the end of out, at most n bytes.
func tail(out []byte, n int) []byte {
	if len(out) > n {
		return out[len(out)-n:]
	}
	return out
}

// storedOrders counts tenant's orders in the database the hub of hubFlags uses.
func storedOrders(b *testing.B, hubFlags []string, tenant string) int {
	var url string
	for _, f := range hubFlags {
		if v, ok := strings.CutPrefix(f, "--postgres.url="); ok {
			url = v
		}
	}
	db, err := store.Open(store.Config{URL: url, MaxConns: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.WithTenantTx(context.Background(), tenant, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT count(*) FROM orders`).Scan(&n)
	}); err != nil {
		b.Fatal(err)
	}
	return n
}
