package ingest_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/pilotx/dispatchhub/ingest"
	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/edge"
	"github.com/pilotx/dispatchhub/internal/health"
	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

// BenchmarkIngest measures the webhook edge as platforms meet it: the real HTTP server on a
// real port, with its group commit to PostgreSQL (fsync on), Redis rate limiting and the relay
// to embedded NATS, answering signed deliveries of Shopify, WooCommerce and Stripe stores of
// one tenant and Square and Standard Webhooks stores of another, round-robin, every delivery a
// new event of about 1.5 KB.
//
// An open-loop generator in this same process (see runOpenLoop) offers fixed rates for
// DH_BENCH_SECONDS each (default 10):
//
//	rate=200, rate=1000   p50/p95/p99 of the ack, achieved rate, errors, non-200 answers
//	max-sustained         steps DH_BENCH_STEPS (default 1000,2000,3000,4000,5000,6000,8000)
//	                      and reports the highest whose p95 < 100 ms with no error, no non-200,
//	                      at least 95% of the offered rate achieved and every 200 stored; it
//	                      stops at the first saturated step (p95, errors or achieved rate)
//	baseline-fiber/...    the same rates against a trivial handler on the same server (no
//	                      verification, no storage): the bare HTTP stack and generator
//
// After every edge run each "accepted" answer's id is looked up in inbound_events through its
// tenant's transaction, and the tenants' row counts must have grown by exactly the number of
// accepted answers. Service levels (shared/DESIGN.md): ≥ 5,000 RPS sustained, p95 ≤ 20 ms at
// 1,000 RPS. The whole table is printed after the runs. Run with
//
//	go test -run '^$' -bench BenchmarkIngest -benchtime 1x ./ingest/
//
// Load from other processes pollutes the figures: check the load average first.
func BenchmarkIngest(b *testing.B) {
	secs := benchSeconds(b)
	steps := benchSteps(b)
	load := benchLoadAvg()
	// The process runs with serve's runtime policy (config runtime.gc_percent); the bare
	// Fiber baseline and the generator share the process, and so the collector.
	defer debug.SetGCPercent(debug.SetGCPercent(config.Default().Runtime.GCPercent))
	h := newBenchHub(b)
	h.setup = fmt.Sprintf("load average at start %s; GOMAXPROCS=%d, NumCPU=%d\n"+
		"generator: open-loop, in this process (same machine as the hub, PostgreSQL, Redis and NATS), fasthttp client, "+
		"one goroutine per request, latency from the scheduled send time; %ds per rate\nplatforms: %s",
		load, runtime.GOMAXPROCS(0), runtime.NumCPU(), secs, h.platformNames())

	// After every run, so that the whole table is printed (a benchmark's log keeps 10 lines).
	b.Cleanup(func() { h.printReport(os.Stdout) })

	edgeRun := func(rate int) func(*testing.B) {
		return func(b *testing.B) { h.report(b, h.run(b, "edge", rate, secs, true)) }
	}
	b.Run("rate=200", edgeRun(200))
	b.Run("rate=1000", edgeRun(1000))
	b.Run("max-sustained", func(b *testing.B) { h.maxSustained(b, "edge", steps, secs, true) })
	b.Run("baseline-fiber", func(b *testing.B) {
		baseRun := func(rate int) func(*testing.B) {
			return func(b *testing.B) { h.report(b, h.run(b, "baseline-fiber", rate, secs, false)) }
		}
		b.Run("rate=200", baseRun(200))
		b.Run("rate=1000", baseRun(1000))
		b.Run("max-sustained", func(b *testing.B) { h.maxSustained(b, "baseline-fiber", steps, secs, false) })
	})
	b.Run("summary", h.summary)
}

// benchPublicURL is the edge's http.public_url: Square signs the URL as registered.
const benchPublicURL = "https://hooks.dispatchhub.example"

type benchHub struct {
	addr      string
	db        *store.DB
	reg       *prometheus.Registry
	tenants   []string
	platforms []*benchPlatform
	seq       int64
	hc        *fasthttp.HostClient
	rows      []benchRow
	setup     string
	rdb       *redis.Client
	pgPid     int // the postmaster, when PostgreSQL runs on this machine
}

// benchRow is one line of the summary table.
type benchRow struct {
	target    string
	step      *benchStep
	edge      *benchEdge // nil for the baseline
	pass      bool       // p95 < 100 ms, no error, no non-200, ≥ 95% achieved, every 200 accepted and stored
	saturated bool       // p95 ≥ 100 ms, errors or < 95% achieved
	details   []string
}

// benchEdge is what the hub did during an edge run.
type benchEdge struct {
	stored, rowsDelta, lost int
	batches                 float64
	batchMean               float64
	commitMean              time.Duration
	relayed                 float64
	relayDrain              time.Duration
	walMB                   float64
	walSyncs                float64
	rejections              string
}

// benchCPU samples CPU time; since turns two samples into cores used in between.
type benchCPU struct {
	at                    time.Time
	proc, host, pg, redis time.Duration
	ok, pgOK, redisOK     bool
	procCores             float64 // this process: hub (NATS embedded) and generator
	hostCores             float64 // the whole machine: also PostgreSQL, Redis, anything else
	pgCores, redisCores   float64 // PostgreSQL's postmaster and children; Redis (INFO cpu)
}

func (c benchCPU) since(a benchCPU) benchCPU {
	wall := c.at.Sub(a.at).Seconds()
	if !c.ok || !a.ok || wall <= 0 {
		return benchCPU{}
	}
	out := benchCPU{ok: true, procCores: (c.proc - a.proc).Seconds() / wall, hostCores: (c.host - a.host).Seconds() / wall}
	if c.pgOK && a.pgOK {
		out.pgOK, out.pgCores = true, (c.pg-a.pg).Seconds()/wall
	}
	if c.redisOK && a.redisOK {
		out.redisOK, out.redisCores = true, (c.redis-a.redis).Seconds()/wall
	}
	return out
}

func (c benchCPU) String() string {
	if !c.ok {
		return "not measured"
	}
	s := fmt.Sprintf("this process (hub, NATS, generator) %.2f cores", c.procCores)
	if c.pgOK {
		s += fmt.Sprintf(", PostgreSQL %.2f", c.pgCores)
	}
	if c.redisOK {
		s += fmt.Sprintf(", Redis %.2f", c.redisCores)
	}
	return s + fmt.Sprintf("; whole machine %.2f of %d", c.hostCores, runtime.NumCPU())
}

// sampleCPU reads this process's, PostgreSQL's and Redis's CPU time.
func (h *benchHub) sampleCPU() benchCPU {
	c := readBenchCPU()
	c.pg, c.pgOK = procTreeCPU(h.pgPid)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if info, err := h.rdb.Info(ctx, "cpu").Result(); err == nil {
		var total float64
		for line := range strings.SplitSeq(info, "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
			if k == "used_cpu_sys" || k == "used_cpu_user" {
				f, _ := strconv.ParseFloat(v, 64)
				total += f
				c.redisOK = true
			}
		}
		c.redis = time.Duration(total * float64(time.Second))
	}
	return c
}

func benchSeconds(b *testing.B) int {
	v := os.Getenv("DH_BENCH_SECONDS")
	if v == "" {
		return 10
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v, "s"))
	if err != nil || n < 1 {
		b.Fatalf("DH_BENCH_SECONDS: want whole seconds ≥ 1, got %q", v)
	}
	return n
}

func benchSteps(b *testing.B) []int {
	v := os.Getenv("DH_BENCH_STEPS")
	if v == "" {
		return []int{1000, 2000, 3000, 4000, 5000, 6000, 8000}
	}
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("DH_BENCH_STEPS: want rates such as 1000,2000,4000, got %q", v)
		}
		out = append(out, n)
	}
	return out
}

// newBenchHub starts the edge as `dispatchhub serve` does, with the configuration defaults
// (configs/dispatchhub.yaml) except the rate limits, which are not under test.
func newBenchHub(b *testing.B) *benchHub {
	b.Helper()
	ctx := context.Background()
	h := &benchHub{tenants: []string{"acme", "globex"}, platforms: benchPlatforms()}

	info := testenv.NewDatabase(b, true)
	db, err := store.Open(store.Config{URL: info.AppURL, MaxConns: 16, MinConns: 2, ConnectTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	h.db = db
	rdb, prefix := testenv.Redis(b)
	h.rdb = rdb
	var backend int
	if err := db.WithTenantTx(ctx, h.tenants[0], func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend)
	}); err == nil {
		h.pgPid = parentOf(backend)
	}
	nb, err := bus.Start(ctx, bus.Config{Host: "127.0.0.1", Port: 0, StoreDir: b.TempDir(), MaxStore: 8 << 30, Replicas: 1,
		DuplicateWindow: 2 * time.Minute, IngestMaxAge: time.Hour, EventsMaxAge: time.Hour, OutboundMaxAge: time.Hour}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nb.Close)

	for _, t := range h.tenants {
		if _, err := db.CreateTenant(ctx, t, strings.ToUpper(t[:1])+t[1:]); err != nil {
			b.Fatal(err)
		}
	}
	for _, p := range h.platforms {
		env := "DH_BENCH_SECRET_" + strings.ToUpper(p.name)
		b.Setenv(env, p.secret)
		s, err := db.AddStore(ctx, store.Store{TenantID: h.tenants[p.tenant], Platform: p.name, Name: p.name + " store",
			SecretRefs: []string{"env:" + env}, Pickup: &store.LatLng{Lat: 38.7139, Lng: -9.1394}})
		if err != nil {
			b.Fatal(err)
		}
		p.storeID = s.ID
	}

	h.reg = prometheus.NewRegistry()
	srv := edge.New(edge.Config{Addr: "127.0.0.1:0", ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		IdleTimeout: time.Minute, BodyLimit: 4 << 20, Concurrency: 8192, ReadyzTimeout: 2 * time.Second},
		zerolog.Nop(), h.reg, health.NewRegistry())
	objects, err := ingest.NewDirStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ing := ingest.New(ingest.Config{
		BodyLimit: 1 << 20, TimestampTolerance: 5 * time.Minute, InlinePayloadMax: 256 << 10,
		RateTenant: 1_000_000, RateTenantBurst: 1_000_000, RateStore: 1_000_000, RateStoreBurst: 1_000_000,
		Queue: 16384, BatchMax: 256, StoreCacheTTL: time.Minute, RelayPollInterval: time.Second,
		RejectionsKept: 200, KeyPrefix: prefix, PublicURL: benchPublicURL,
	}, db, rdb, nb.JetStream(), objects, zerolog.Nop(), h.reg)
	ing.Mount(srv.App())
	// The baseline: the same server and middleware, a handler that only answers.
	srv.App().Post("/bench/baseline/:platform/:store_id", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.SendString(`{"status":"ok"}`)
	})
	if err := srv.Listen(); err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	h.addr = srv.Addr()
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ing.Run(runCtx)
	}()
	h.hc = newBenchClient(h.addr)
	b.Cleanup(func() {
		h.hc.CloseIdleConnections()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		cancel()
		<-done
		// The client's connection cleaner exits once it wakes and finds no connection.
		time.Sleep(h.hc.MaxIdleConnDuration + 500*time.Millisecond)
	})

	// Every platform is accepted before anything is measured (a wrong signature fails here).
	for _, p := range h.platforms {
		r := p.build(p, h.next(), time.Now())
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.Header.SetMethod("POST")
		req.SetRequestURI("http://" + h.addr + r.path)
		for _, kv := range r.header {
			req.Header.Set(kv[0], kv[1])
		}
		req.SetBody(r.body)
		err := h.hc.DoTimeout(req, resp, 5*time.Second)
		if err != nil || resp.StatusCode() != 200 || !strings.Contains(string(resp.Body()), `"accepted"`) {
			b.Fatalf("%s delivery (%d bytes) not accepted: %v %d %s", p.name, len(r.body), err, resp.StatusCode(), resp.Body())
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	// Warm-up (not measured): pools, store cache, connections, JIT-free but page cache and GC.
	// Failures are not fatal here: the runs count and show them.
	warm := runOpenLoop(h.hc, h.requests(1000), 500, func(p string) string { return p }, h.sampleCPU)
	if warm.errors+warm.non200 > 0 {
		b.Logf("warm-up: %s %v", warm, warm.failures)
	}
	if _, err := h.waitRelayed(30 * time.Second); err != nil {
		b.Fatal(err)
	}
	return h
}

func (h *benchHub) next() int64 {
	h.seq++
	return h.seq
}

func (h *benchHub) platformNames() string {
	var names []string
	for _, p := range h.platforms {
		r := p.build(p, 1, time.Now())
		names = append(names, fmt.Sprintf("%s@%s (%d B body)", p.name, h.tenants[p.tenant], len(r.body)))
	}
	return strings.Join(names, ", ")
}

// requests signs n new deliveries, round-robin over the platforms, signed now.
func (h *benchHub) requests(n int) []benchReq {
	out := make([]benchReq, n)
	now := time.Now()
	for i := range out {
		p := h.platforms[i%len(h.platforms)]
		out[i] = p.build(p, h.next(), now)
	}
	return out
}

// run offers rate for secs seconds to the edge, or to the baseline handler.
func (h *benchHub) run(b *testing.B, target string, rate, secs int, isEdge bool) benchRow {
	b.Helper()
	rewrite := func(p string) string { return p }
	if !isEdge {
		rewrite = func(p string) string { return "/bench/baseline/" + strings.TrimPrefix(p, "/v1/webhooks/") }
	}
	reqs := h.requests(rate * secs)
	runtime.GC() // the previous run's garbage is not this run's cost
	load := benchLoadAvg()
	row := benchRow{target: target}
	var before benchSnapshot
	if isEdge {
		before = h.snapshot(b)
	}
	row.step = runOpenLoop(h.hc, reqs, rate, rewrite, h.sampleCPU)
	if isEdge {
		row.edge = h.check(b, before, row.step)
	}
	s := row.step
	row.saturated = s.errors > 0 || s.p95 >= 100*time.Millisecond || s.achieved() < 0.95*float64(rate)
	row.pass = !row.saturated && s.non200 == 0 &&
		(row.edge == nil || (row.edge.lost == 0 && row.edge.rowsDelta == s.accepted && s.accepted == s.offered))
	row.details = append(row.details, fmt.Sprintf("%s %s (load average before %s, after %s)", target, s, load, benchLoadAvg()))
	if row.edge != nil {
		e := row.edge
		row.details = append(row.details, fmt.Sprintf("  accepted=%d stored=%d rows+%d lost=%d | group commit: %.0f commits, "+
			"mean batch %.1f, mean commit %s | WAL %.1f MB, %.0f fsyncs | relayed %.0f, relay drained %s after | rejections %s",
			s.accepted, e.stored, e.rowsDelta, e.lost, e.batches, e.batchMean, ms(e.commitMean), e.walMB, e.walSyncs,
			e.relayed, e.relayDrain.Round(time.Millisecond), e.rejections))
	}
	for detail, n := range s.failures {
		if len(detail) > 160 {
			detail = detail[:160] + "..."
		}
		row.details = append(row.details, fmt.Sprintf("  failure x%d: %s", n, detail))
	}
	row.details = append(row.details, fmt.Sprintf("  CPU: %s; generator lag at the last send %s", s.cpu, ms(s.lateStart)))
	h.rows = append(h.rows, row)
	return row
}

func (r benchRow) compact() string {
	s := r.step
	stored := ""
	if r.edge != nil {
		stored = fmt.Sprintf(" stored=%d/%d", r.edge.stored, s.accepted)
	}
	return fmt.Sprintf("rate=%d achieved=%.0f p50/p95/p99=%.2f/%.2f/%.2f ms errors=%d non200=%d%s holds=%v",
		s.rate, s.achieved(), float64(s.p50)/1e6, float64(s.p95)/1e6, float64(s.p99)/1e6, s.errors, s.non200, stored, r.pass)
}

func (h *benchHub) report(b *testing.B, row benchRow) {
	for _, l := range row.details {
		b.Log(l)
	}
	s := row.step
	b.ReportMetric(0, "ns/op") // one open-loop run is not an operation
	b.ReportMetric(float64(s.p50)/1e6, "p50-ms")
	b.ReportMetric(float64(s.p95)/1e6, "p95-ms")
	b.ReportMetric(float64(s.p99)/1e6, "p99-ms")
	b.ReportMetric(s.achieved(), "rps")
	b.ReportMetric(float64(s.errors), "errors")
	b.ReportMetric(float64(s.non200), "non200")
}

// maxSustained steps the rate up and reports the highest step that held. Stepping stops at
// the first saturated step (p95, errors or achieved rate); a step that only fails on non-200
// answers or durability does not hold but does not stop it.
func (h *benchHub) maxSustained(b *testing.B, target string, steps []int, secs int, isEdge bool) {
	var best *benchRow
	for _, rate := range steps {
		row := h.run(b, target+"/max-sustained", rate, secs, isEdge)
		b.Log(row.compact())
		if row.pass {
			best = &row
		}
		if row.saturated {
			b.Logf("stepping stops: %d RPS saturates", rate)
			break
		}
	}
	b.ReportMetric(0, "ns/op")
	if best == nil {
		b.ReportMetric(0, "sustained-rps")
		return
	}
	b.ReportMetric(float64(best.step.rate), "sustained-rps")
	b.ReportMetric(best.step.achieved(), "rps")
	b.ReportMetric(float64(best.step.p50)/1e6, "p50-ms")
	b.ReportMetric(float64(best.step.p95)/1e6, "p95-ms")
	b.ReportMetric(float64(best.step.p99)/1e6, "p99-ms")
	b.ReportMetric(float64(best.step.errors), "errors")
}

// benchSnapshot is the hub's counters before a run.
type benchSnapshot struct {
	rows    map[string]int
	metrics map[string]float64
	wal     [2]float64 // bytes, syncs
}

func (h *benchHub) snapshot(b *testing.B) benchSnapshot {
	b.Helper()
	s := benchSnapshot{rows: map[string]int{}, metrics: h.metrics(b)}
	for _, t := range h.tenants {
		s.rows[t] = h.count(b, t, `SELECT count(*) FROM inbound_events`)
	}
	s.wal = h.wal()
	return s
}

// check verifies that every accepted webhook is stored and reads what the hub did.
func (h *benchHub) check(b *testing.B, before benchSnapshot, s *benchStep) *benchEdge {
	b.Helper()
	e := &benchEdge{}
	ids := make([][]string, len(h.tenants))
	for i, r := range s.results {
		if r.accepted {
			t := h.platforms[i%len(h.platforms)].tenant // requests() is round-robin
			ids[t] = append(ids[t], r.id)
		}
	}
	for ti, t := range h.tenants {
		var found int
		err := h.db.WithTenantTx(context.Background(), t, func(tx pgx.Tx) error {
			return tx.QueryRow(context.Background(), `SELECT count(*) FROM inbound_events WHERE id = ANY($1::uuid[])`, ids[ti]).Scan(&found)
		})
		if err != nil {
			b.Fatalf("durability check: %v", err)
		}
		e.stored += found
		e.lost += len(ids[ti]) - found
		e.rowsDelta += h.count(b, t, `SELECT count(*) FROM inbound_events`) - before.rows[t]
	}
	drain, err := h.waitRelayed(60 * time.Second)
	if err != nil {
		b.Logf("  %v", err)
	}
	e.relayDrain = drain
	after := h.metrics(b)
	d := func(k string) float64 { return after[k] - before.metrics[k] }
	e.batches = d("dispatchhub_ingest_commit_batch_size_count")
	if e.batches > 0 {
		e.batchMean = d("dispatchhub_ingest_commit_batch_size_sum") / e.batches
		e.commitMean = time.Duration(d("dispatchhub_ingest_commit_seconds_sum") / e.batches * 1e9)
	}
	e.relayed = d("dispatchhub_ingest_relayed_total")
	var rej []string
	for k, v := range after {
		if strings.HasPrefix(k, "dispatchhub_ingest_rejections_total|") && v-before.metrics[k] > 0 {
			rej = append(rej, fmt.Sprintf("%s=%.0f", strings.TrimPrefix(k, "dispatchhub_ingest_rejections_total|"), v-before.metrics[k]))
		}
	}
	slices.Sort(rej)
	e.rejections = "none"
	if len(rej) > 0 {
		e.rejections = strings.Join(rej, ",")
	}
	w := h.wal()
	e.walMB, e.walSyncs = (w[0]-before.wal[0])/1e6, w[1]-before.wal[1]
	return e
}

func (h *benchHub) count(b *testing.B, tenant, query string) int {
	b.Helper()
	var n int
	err := h.db.WithTenantTx(context.Background(), tenant, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), query).Scan(&n)
	})
	if err != nil {
		b.Fatalf("count %s: %v", tenant, err)
	}
	return n
}

// waitRelayed waits until the relay has published every stored event, so that a run does
// not pay for the previous one's backlog.
func (h *benchHub) waitRelayed(within time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		pending := 0
		for _, t := range h.tenants {
			var n int
			err := h.db.WithTenantTx(context.Background(), t, func(tx pgx.Tx) error {
				return tx.QueryRow(context.Background(), `SELECT count(*) FROM inbound_unpublished`).Scan(&n)
			})
			if err != nil {
				return time.Since(start), err
			}
			pending += n
		}
		if pending == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > within {
			return time.Since(start), fmt.Errorf("relay: %d events still unpublished after %s", pending, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wal reads the cluster's WAL bytes and syncs (pg_stat_wal); zeros when it cannot.
func (h *benchHub) wal() [2]float64 {
	var bytes, syncs float64
	err := h.db.WithTenantTx(context.Background(), h.tenants[0], func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT wal_bytes::float8, wal_sync::float8 FROM pg_stat_wal`).Scan(&bytes, &syncs)
	})
	if err != nil {
		return [2]float64{}
	}
	return [2]float64{bytes, syncs}
}

// metrics flattens the hub's registry: counters and gauges by name (summed over labels, and
// by name|label values), histograms as name_sum and name_count.
func (h *benchHub) metrics(b *testing.B) map[string]float64 {
	b.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		name := mf.GetName()
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			key := name + "|" + strings.Join(labels, ",")
			switch {
			case m.GetCounter() != nil:
				out[name] += m.GetCounter().GetValue()
				out[key] += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[name] += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[name+"_sum"] += m.GetHistogram().GetSampleSum()
				out[name+"_count"] += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// verdicts compares the runs with the service levels and the edge with the bare stack.
func (h *benchHub) verdicts() (lines []string, edgeBest, baseBest int) {
	best := map[string]int{}
	at := map[string]*benchStep{}
	for _, r := range h.rows {
		if strings.HasSuffix(r.target, "/max-sustained") && r.pass {
			best[r.target] = max(best[r.target], r.step.rate)
		}
		if !strings.HasSuffix(r.target, "/max-sustained") {
			at[fmt.Sprint(r.target, r.step.rate)] = r.step
		}
	}
	edgeBest, baseBest = best["edge/max-sustained"], best["baseline-fiber/max-sustained"]
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	for _, r := range h.rows {
		if r.target != "edge" {
			continue
		}
		switch r.step.rate {
		case 200:
			lines = append(lines, fmt.Sprintf("seed: p95 < 100 ms at 200 RPS, every 200 stored: %s (%s)", verdict(r.pass), r.compact()))
		case 1000:
			lines = append(lines, fmt.Sprintf("ours: p95 ≤ 20 ms at 1,000 RPS: %s (%s)", verdict(r.pass && r.step.p95 <= 20*time.Millisecond), r.compact()))
		}
	}
	lines = append(lines, fmt.Sprintf("ours: ≥ 5,000 RPS sustained, every 200 durably stored: %s (edge holds %d RPS; bare Fiber on the same server %d RPS)",
		verdict(edgeBest >= 5000), edgeBest, baseBest))
	for _, rate := range []int{200, 1000} {
		e, f := at[fmt.Sprint("edge", rate)], at[fmt.Sprint("baseline-fiber", rate)]
		if e != nil && f != nil && f.p50 > 0 && f.p95 > 0 {
			lines = append(lines, fmt.Sprintf("edge vs bare Fiber at %d RPS: p50 %.2f vs %.2f ms (%.1fx), p95 %.2f vs %.2f ms (%.1fx), CPU %.2f vs %.2f cores",
				rate, float64(e.p50)/1e6, float64(f.p50)/1e6, float64(e.p50)/float64(f.p50), float64(e.p95)/1e6, float64(f.p95)/1e6,
				float64(e.p95)/float64(f.p95), e.cpu.hostCores, f.cpu.hostCores))
		}
	}
	return lines, edgeBest, baseBest
}

// summary logs the verdicts (the testing package keeps 10 lines of a benchmark's log; the
// full table is printed after the runs by printReport).
func (h *benchHub) summary(b *testing.B) {
	lines, edgeBest, baseBest := h.verdicts()
	for _, l := range lines {
		b.Log(l)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(edgeBest), "edge-sustained-rps")
	b.ReportMetric(float64(baseBest), "fiber-sustained-rps")
}

// printReport writes every run side by side, with the details of each.
func (h *benchHub) printReport(w io.Writer) {
	if len(h.rows) == 0 {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n--- BenchmarkIngest report\n%s\nload average at the end %s\n", h.setup, benchLoadAvg())
	fmt.Fprintf(&sb, "%-28s %5s %8s %7s %7s %7s %7s %6s %6s %8s %8s %5s %7s %5s %5s %5s %5s %s\n",
		"run", "rate", "achieved", "p50ms", "p95ms", "p99ms", "maxms", "errors", "non200", "accepted", "stored", "batch", "commit",
		"proc", "pg", "redis", "host", "holds")
	for _, r := range h.rows {
		s := r.step
		stored, accepted, batch, commit := "-", "-", "-", "-"
		if r.edge != nil {
			stored, accepted = strconv.Itoa(r.edge.stored), strconv.Itoa(s.accepted)
			batch, commit = fmt.Sprintf("%.1f", r.edge.batchMean), fmt.Sprintf("%.1fms", float64(r.edge.commitMean)/1e6)
		}
		fmt.Fprintf(&sb, "%-28s %5d %8.0f %7.2f %7.2f %7.2f %7.2f %6d %6d %8s %8s %5s %7s %5.2f %5.2f %5.2f %5.2f %v\n",
			r.target, s.rate, s.achieved(), float64(s.p50)/1e6, float64(s.p95)/1e6, float64(s.p99)/1e6, float64(s.max)/1e6,
			s.errors, s.non200, accepted, stored, batch, commit, s.cpu.procCores, s.cpu.pgCores, s.cpu.redisCores, s.cpu.hostCores, r.pass)
	}
	sb.WriteString("(cores used: proc by this process, hub with embedded NATS and the generator; pg by PostgreSQL; redis by Redis; " +
		"host by the whole machine, anything else running included)\n")
	lines, _, _ := h.verdicts()
	for _, l := range lines {
		sb.WriteString(l + "\n")
	}
	sb.WriteString("details:\n")
	for _, r := range h.rows {
		for _, l := range r.details {
			sb.WriteString("  " + l + "\n")
		}
	}
	_, _ = io.WriteString(w, sb.String())
}
