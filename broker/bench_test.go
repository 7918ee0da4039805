package broker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pilotx/dispatchhub/hooks"
	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/bus"
	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/loadgen"
	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

// The realtime benchmarks: N drivers publish location fixes at 0.5 Hz with QoS 1 and one
// dispatcher subscribed to the tenant's wildcard receives them, against a bare mochi broker
// and against the hub's broker with its hooks, in one run: over WebSocket (BenchmarkRealtimeWS)
// and over plain TCP, where Mosquitto runs too when it is installed (BenchmarkRealtimeTCP).
// The load generator is this test binary re-executed (DH_LOADGEN holds its loadgen.Config as
// JSON; see TestMain), so the CPU and memory measured here are the broker's alone.
const (
	loadgenEnv      = "DH_LOADGEN"
	benchSecondsEnv = "DH_BENCH_SECONDS" // publishing phase of each scenario; default 20
	benchDriversEnv = "DH_BENCH_DRIVERS" // comma-separated driver counts; default 5000,10000

	benchTenant = "bench"
	benchRate   = 0.5 // fixes per second per driver
)

// benchSecret signs the drivers' and the dispatcher's tokens in the dispatchhub scenarios.
var benchSecret = []byte("realtime-benchmark-hs256-secret-0123456789")

// runLoadgenChild is the load-generator process: it runs loadgen with the configuration in
// spec and reports on stdout, one line each, "phase <name>" as the run goes and
// "result <json>" at the end. It holds the connected and published phases until a line
// arrives on stdin, so that the parent measures the broker with every driver connected and
// idle, and closes its CPU window before the generator drains and disconnects.
func runLoadgenChild(spec string) int {
	var cfg loadgen.Config
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", loadgenEnv, err)
		return 2
	}
	// The generator's own collections would add to the latencies it measures; it trades
	// memory, which nobody measures in this process, for fewer of them.
	debug.SetGCPercent(400)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	in := bufio.NewReader(os.Stdin)
	res, err := loadgen.Run(ctx, cfg, func(phase string) {
		fmt.Printf("phase %s\n", phase)
		if phase == loadgen.PhaseConnected || phase == loadgen.PhasePublished {
			_, _ = in.ReadString('\n')
		}
	})
	out, _ := json.Marshal(res)
	fmt.Printf("result %s\n", out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		return 1
	}
	return 0
}

func BenchmarkRealtimeWS(b *testing.B) {
	publish, drivers := realtimeLoad(b)
	bare := runScenarios(b, "bare", drivers, publish, func(b *testing.B, _ int) target { return startBareTarget(b, ListenerWS) })
	runScenarios(b, "dispatchhub", drivers, publish, func(b *testing.B, _ int) target { return startHubTarget(b, ListenerWS) },
		baseline{name: "bare", scenarios: bare})
}

// BenchmarkRealtimeTCP is BenchmarkRealtimeWS over MQTT/TCP, with Mosquitto as a second
// baseline when it is installed (Debian's build has no WebSocket listener, hence TCP). The
// ratios of mosquitto and dispatchhub are to the bare mochi broker; dispatchhub's are to
// Mosquitto as well (ratio-*-mosquitto).
func BenchmarkRealtimeTCP(b *testing.B) {
	publish, drivers := realtimeLoad(b)
	bare := runScenarios(b, "bare", drivers, publish, func(b *testing.B, _ int) target { return startBareTarget(b, ListenerTCP) })
	mosquitto := runScenarios(b, "mosquitto", drivers, publish, startMosquittoTarget,
		baseline{name: "bare", scenarios: bare})
	runScenarios(b, "dispatchhub", drivers, publish, func(b *testing.B, _ int) target { return startHubTarget(b, ListenerTCP) },
		baseline{name: "bare", scenarios: bare}, baseline{name: "mosquitto", suffix: "-mosquitto", scenarios: mosquitto})
}

// realtimeLoad reads the publishing phase and the driver counts of the realtime benchmarks
// (DH_BENCH_SECONDS, DH_BENCH_DRIVERS), and sets serve's runtime policy for them.
func realtimeLoad(b *testing.B) (publish time.Duration, drivers []int) {
	publish = 20 * time.Second
	if v := os.Getenv(benchSecondsEnv); v != "" {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil || s <= 0 {
			b.Fatalf("%s: must be a positive number of seconds, got %q", benchSecondsEnv, v)
		}
		publish = time.Duration(s * float64(time.Second))
	}
	drivers = []int{5000, 10000}
	if v := os.Getenv(benchDriversEnv); v != "" {
		drivers = drivers[:0]
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("%s: must be positive driver counts separated by commas, got %q", benchDriversEnv, v)
			}
			drivers = append(drivers, n)
		}
	}
	// The broker process runs with serve's runtime policy (config runtime.gc_percent), the
	// bare broker as well as the hub, so that the baseline gets the same collector.
	prev := debug.SetGCPercent(config.Default().Runtime.GCPercent)
	b.Cleanup(func() { debug.SetGCPercent(prev) })
	return publish, drivers
}

// baseline is a broker that another is compared with under the same load in the same run.
type baseline struct {
	name string // in the log line
	// suffix is appended to the names of the ratio metrics: "" for the bare broker
	// (ratio-p99), which the benchmark report pairs by name, "-mosquitto" for Mosquitto.
	suffix    string
	scenarios map[int]*scenarioResult // by driver count; missing where it failed or was skipped
}

// runScenarios runs sub-benchmark name with a sub-benchmark drivers=N for each driver count,
// each against a broker of its own that start starts, and returns what they measured.
func runScenarios(b *testing.B, name string, drivers []int, publish time.Duration,
	start func(b *testing.B, drivers int) target, bases ...baseline) map[int]*scenarioResult {
	results := map[int]*scenarioResult{}
	b.Run(name, func(b *testing.B) {
		for _, n := range drivers {
			b.Run(fmt.Sprintf("drivers=%d", n), func(b *testing.B) {
				results[n] = runScenario(b, name, start(b, n), n, publish, bases)
			})
		}
	})
	return results
}

// target is a broker under test.
type target struct {
	url    string
	secret []byte // signs the clients' tokens; nil: no password
	// server is the broker when it runs in this process (for its client and drop
	// counters); nil for one in a process of its own.
	server *mqtt.Server
	// pid is the broker's process when it is not this one (Mosquitto): its CPU time and
	// RSS are the broker's. 0: this process.
	pid int
	// settle waits until the broker has done the work that connecting n drivers gave it
	// (presence writes), so that the idle and publishing measurements do not include it;
	// nil: there is none.
	settle func(ctx context.Context, n int) (time.Duration, error)
	// stats describes hook-side losses for the summary line; nil or "" when there are none.
	stats func() string
}

// startBareTarget is mochi with its defaults, mochi's own WebSocket or TCP listener
// (listener is ListenerWS or ListenerTCP) and an allow-all hook (allowAll answers exactly as
// mochi's hooks/auth.AllowHook, which would bring gopkg.in/yaml.v3 into the module): the
// baseline without authentication, ACL, presence or location hand-off.
func startBareTarget(b *testing.B, listener string) target {
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		b.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(b)))
	lc := listeners.Config{ID: listener, Address: addr}
	var l listeners.Listener = listeners.NewWebsocket(lc)
	if listener == ListenerTCP {
		l = listeners.NewTCP(lc)
	}
	if err := srv.AddListener(l); err != nil {
		b.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	awaitListening(b, addr, nil)
	return target{url: brokerURL(listener, addr, "/mqtt"), server: srv}
}

// brokerURL is the load generator's URL of a broker's listener (ListenerWS: its WebSocket
// at path, ListenerTCP: MQTT over TCP) at addr.
func brokerURL(listener, addr, path string) string {
	if listener == ListenerTCP {
		return "tcp://" + addr
	}
	return "ws://" + addr + path
}

// awaitListening waits until addr accepts connections; exited, when not nil, reports the
// end of the broker's process, which ends the wait.
func awaitListening(b *testing.B, addr string, exited func() error) {
	b.Helper()
	testenv.Eventually(b, 10*time.Second, func() bool {
		if exited != nil {
			if err := exited(); err != nil {
				b.Fatal(err)
			}
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, "a listener on %s", addr)
}

// startHubTarget is the hub's broker wired as internal/app wires it: the documented
// configuration, the Access, Presence, Location and Drops hooks and their workers, on real
// Redis, PostgreSQL and embedded NATS; its one listener is listener (ListenerWS or
// ListenerTCP).
func startHubTarget(b *testing.B, listener string) target {
	ctx := context.Background()
	def := config.Default()
	rdb, prefix := testenv.Redis(b)
	dbInfo := testenv.NewDatabase(b, true)
	db, err := store.Open(store.Config{
		URL: dbInfo.AppURL, MaxConns: def.Postgres.MaxConns, MinConns: def.Postgres.MinConns,
		ConnectTimeout: def.Postgres.ConnectTimeout, StatementTimeout: def.Postgres.StatementTimeout,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	if _, err := db.CreateTenant(ctx, benchTenant, benchTenant); err != nil {
		b.Fatal(err)
	}
	nb, err := bus.Start(ctx, bus.Config{
		Host: "127.0.0.1", Port: 0, StoreDir: b.TempDir(), MaxStore: int64(def.NATS.MaxStore), Replicas: def.NATS.Replicas,
		DuplicateWindow: def.NATS.DuplicateWindow, IngestMaxAge: def.NATS.IngestMaxAge,
		EventsMaxAge: def.NATS.EventsMaxAge, OutboundMaxAge: def.NATS.OutboundMaxAge,
	}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nb.Close)
	verifier, err := auth.NewVerifier(auth.Config{
		Audience: def.Auth.Audience, Issuer: def.Auth.Issuer, HS256Secret: benchSecret,
		Algorithms: def.Auth.Algorithms, Leeway: def.Auth.Leeway,
	}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}

	cfg := ConfigFrom(def.MQTT)
	cfg.TCPAddr, cfg.WSAddr = "", "127.0.0.1:0"
	if listener == ListenerTCP {
		cfg.TCPAddr, cfg.WSAddr = "127.0.0.1:0", ""
	}
	reg := prometheus.NewRegistry()
	brk, err := New(cfg, zerolog.Nop(), reg)
	if err != nil {
		b.Fatal(err)
	}
	sessions := &hooks.Sessions{}
	presence := hooks.NewPresence(hooks.PresenceConfig{
		Grace: def.Presence.Grace, LastSeenInterval: def.Presence.LastSeenInterval, KeyPrefix: prefix,
	}, sessions, db, rdb, brk.Server(), zerolog.Nop(), reg)
	location := hooks.NewLocation(hooks.LocationConfig{
		MaxFutureSkew: def.Location.MaxFutureSkew, Buffer: def.Location.Buffer,
		RedisFlushInterval: def.Location.RedisFlushInterval, KeyPrefix: prefix,
	}, sessions, nb.Conn(), rdb, presence, zerolog.Nop(), reg)
	for _, h := range []mqtt.Hook{hooks.NewAccess(verifier, sessions, brk.Server(), zerolog.Nop(), reg), presence, location, hooks.NewDrops(zerolog.Nop(), reg)} {
		if err := brk.AddHook(h, nil); err != nil {
			b.Fatal(err)
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{verifier.Run, presence.Run, location.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = run(wctx)
		}()
	}
	if err := brk.Start(); err != nil {
		cancel()
		wg.Wait()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := brk.Close(); err != nil {
			b.Error(err)
		}
		cancel()
		wg.Wait()
	})

	return target{
		url:    brokerURL(listener, brk.Addr(listener), cfg.WSPath),
		secret: benchSecret,
		server: brk.Server(),
		settle: func(ctx context.Context, n int) (time.Duration, error) {
			start := time.Now()
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				online := gathered(reg, "dispatchhub_presence_transitions_total", "state", "online")
				if online >= float64(n) {
					return time.Since(start), nil
				}
				select {
				case <-ctx.Done():
					return time.Since(start), fmt.Errorf("presence: %.0f of %d drivers online: %w", online, n, ctx.Err())
				case <-t.C:
				}
			}
		},
		stats: func() string {
			return fmt.Sprintf("location accepted %.0f invalid %.0f hand-off dropped %.0f; presence queue dropped %.0f write failures %.0f",
				gathered(reg, "dispatchhub_location_accepted_total"), gathered(reg, "dispatchhub_location_invalid_total"),
				gathered(reg, "dispatchhub_location_handoff_dropped_total"), gathered(reg, "dispatchhub_presence_queue_dropped_total"),
				gathered(reg, "dispatchhub_presence_write_failures_total"))
		},
	}
}

// gathered sums the samples of metric name whose labels include the given name=value pairs.
func gathered(reg prometheus.Gatherer, name string, labels ...string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return -1
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// scenarioResult is what one scenario measured.
type scenarioResult struct {
	lg                   loadgen.Result
	cpu                  cpuUsage // during the publishing phase
	gcs                  uint32   // garbage collections of the broker process during the publishing phase
	gcPause              time.Duration
	idleRSS, heap, stack float64 // KiB per connection
	goroutines           float64 // per connection
	settle               time.Duration
}

// runScenario runs the load generator with n drivers against t and reports the metrics,
// with the ratios to each baseline's scenario of n drivers where it ran.
func runScenario(b *testing.B, name string, t target, n int, publish time.Duration, bases []baseline) *scenarioResult {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute+publish)
	defer cancel()
	cfg := loadgen.Config{
		URL: t.url, Tenant: benchTenant, Drivers: n, Rate: benchRate, Duration: publish, QoS: 1,
		Secret: t.secret, ConnectConcurrency: 200, Drain: 5 * time.Second,
	}
	r := &scenarioResult{}
	b.Logf("machine: %s", machineFacts())
	awaitQuietMachine(b)

	inProcess := t.pid == 0 // else heap, stacks, goroutines and GC are not the broker's
	before := measureMemory(t.pid)
	lg := startLoadgen(b, ctx, cfg)
	lg.await(b, loadgen.PhaseConnected)
	if t.settle != nil {
		settle, err := t.settle(ctx, n)
		if err != nil {
			b.Fatal(err)
		}
		r.settle = settle
	}
	idle := measureMemory(t.pid)
	conns := float64(n + 1) // the drivers and the dispatcher
	r.idleRSS = float64(idle.rss-before.rss) / 1024 / conns
	r.heap = float64(int64(idle.heap)-int64(before.heap)) / 1024 / conns
	r.stack = float64(int64(idle.stack)-int64(before.stack)) / 1024 / conns
	r.goroutines = float64(idle.goroutines-before.goroutines) / conns
	lg.proceed(b)

	lg.await(b, loadgen.PhasePublishing)
	var gc0, gc1 runtime.MemStats
	runtime.ReadMemStats(&gc0)
	cpu0 := sampleCPU(lg.cmd.Process.Pid, t.pid)
	lg.await(b, loadgen.PhasePublished)
	r.cpu = sampleCPU(lg.cmd.Process.Pid, t.pid).since(cpu0)
	brokerClients, brokerDropped := "n/a", "n/a"
	if t.server != nil {
		brokerClients = strconv.FormatInt(atomic.LoadInt64(&t.server.Info.ClientsConnected), 10)
	}
	runtime.ReadMemStats(&gc1)
	r.gcs, r.gcPause = gc1.NumGC-gc0.NumGC, time.Duration(gc1.PauseTotalNs-gc0.PauseTotalNs)
	lg.proceed(b)
	r.lg = lg.result(b)

	res := r.lg
	held := res.Connected - res.Disconnected
	b.ReportMetric(float64(held), "held")
	b.ReportMetric(res.DeliveredPerSec, "delivered/s")
	b.ReportMetric(res.P50Ms, "p50-ms")
	b.ReportMetric(res.P99Ms, "p99-ms")
	b.ReportMetric(float64(res.Lost), "lost")
	b.ReportMetric(float64(res.Duplicates), "dup")
	b.ReportMetric(r.cpu.broker, "broker-cpu-%")
	b.ReportMetric(r.cpu.other, "other-cpu-%") // not ours: above ~15 the run was disturbed
	b.ReportMetric(r.idleRSS, "idle-rss-KiB/conn")
	brokerGC, idleMem := "n/a", fmt.Sprintf("RSS %.1f KiB", r.idleRSS)
	if inProcess {
		b.ReportMetric(r.heap, "heap-KiB/conn")
		brokerGC = fmt.Sprintf("%d cycles, %.1f ms stopped", r.gcs, float64(r.gcPause)/1e6)
		idleMem += fmt.Sprintf(", heap %.1f KiB, stacks %.1f KiB, %.2f goroutines", r.heap, r.stack, r.goroutines)
	}
	ratios := ""
	for _, bl := range bases {
		base := bl.scenarios[n]
		if base == nil {
			continue
		}
		rd, rp, rc := ratio(res.DeliveredPerSec, base.lg.DeliveredPerSec), ratio(res.P99Ms, base.lg.P99Ms), ratio(r.cpu.broker, base.cpu.broker)
		b.ReportMetric(rd, "ratio-delivered"+bl.suffix)
		b.ReportMetric(rp, "ratio-p99"+bl.suffix)
		b.ReportMetric(rc, "ratio-cpu"+bl.suffix)
		ratios += fmt.Sprintf("; vs %s: delivered ×%.3f, p99 ×%.2f, broker CPU ×%.2f", bl.name, rd, rp, rc)
	}
	if r.cpu.other > disturbed {
		b.Logf("DISTURBED: other processes used %.0f%% of a core while publishing; latencies and ratios of this run are not representative", r.cpu.other)
	}
	if t.server != nil {
		brokerDropped = fmt.Sprintf("%d (queue full) %d (inflight quota)",
			atomic.LoadInt64(&t.server.Info.MessagesDropped), atomic.LoadInt64(&t.server.Info.InflightDropped))
	}
	if t.stats != nil {
		if s := t.stats(); s != "" {
			brokerDropped += "; " + s
		}
	}
	b.Logf("%s drivers=%d: held %d/%d (broker: %s clients; connected in %.1fs, %d failed, %d lost during the run), presence settled in %.1fs; "+
		"%.0fs publishing: sent %d delivered %d (%.0f/s) lost %d dup %d publish-failed %d (dispatcher also got %d on other topics); latency p50 %.2f ms p99 %.2f ms max %.1f ms; "+
		"CPU (%% of one core): broker %.0f, load generator %.0f (schedule lag p99 %.1f ms), PostgreSQL+Redis %.0f, other processes %.0f, steal %.0f; "+
		"broker GC %s; idle per connection: %s; broker dropped %s%s; errors %v",
		name, n, held, n, brokerClients, res.ConnectSeconds, res.ConnectFailed, res.Disconnected, r.settle.Seconds(),
		res.PublishSeconds, res.Sent, res.Delivered, res.DeliveredPerSec, res.Lost, res.Duplicates, res.PublishFailed, res.OtherMessages,
		res.P50Ms, res.P99Ms, res.MaxMs,
		r.cpu.broker, r.cpu.loadgen, res.LateP99Ms, r.cpu.services, r.cpu.other, r.cpu.steal,
		brokerGC, idleMem, brokerDropped, ratios, res.Errors)
	return r
}

// disturbed is the CPU use of other processes (% of one core) above which a scenario's
// numbers say more about them than about the broker.
const disturbed = 15.0

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// loadgenProc is the load-generator process.
type loadgenProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string   // its stdout, closed at EOF
	read   chan struct{} // closed when stdout is read to its end
	stderr *lockedBuffer
	exited bool
}

// startLoadgen re-executes this test binary as the load generator with cfg; it is stopped
// (and waited for) when the benchmark ends.
func startLoadgen(b *testing.B, ctx context.Context, cfg loadgen.Config) *loadgenProc {
	spec, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	p := &loadgenProc{lines: make(chan string), read: make(chan struct{}), stderr: &lockedBuffer{}}
	p.cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), loadgenEnv+"="+string(spec))
	p.cmd.Stderr = p.stderr
	p.cmd.WaitDelay = 10 * time.Second
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		b.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		defer close(p.read)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	b.Cleanup(func() {
		if !p.exited { // the benchmark failed: stop it (it disconnects its clients)
			_ = p.cmd.Process.Signal(os.Interrupt)
			_ = p.wait()
		}
	})
	return p
}

// wait closes the generator's stdin, reads its output to the end and waits for it to exit.
func (p *loadgenProc) wait() error {
	p.exited = true
	_ = p.stdin.Close()
	for range p.lines {
	}
	<-p.read
	return p.cmd.Wait()
}

// await reads the generator's output until it reports phase.
func (p *loadgenProc) await(b *testing.B, phase string) {
	b.Helper()
	for line := range p.lines {
		if got, ok := strings.CutPrefix(line, "phase "); ok && got == phase {
			return
		}
		if res, ok := strings.CutPrefix(line, "result "); ok {
			b.Fatalf("load generator ended before phase %s: %s\n%s", phase, res, p.stderr.tail())
		}
	}
	b.Fatalf("load generator exited before phase %s: %s", phase, p.stderr.tail())
}

// proceed lets the generator go on from the phase it holds.
func (p *loadgenProc) proceed(b *testing.B) {
	if _, err := io.WriteString(p.stdin, "go\n"); err != nil {
		b.Fatalf("load generator: %v\n%s", err, p.stderr.tail())
	}
}

// result waits for the generator's result.
func (p *loadgenProc) result(b *testing.B) loadgen.Result {
	b.Helper()
	for line := range p.lines {
		if js, ok := strings.CutPrefix(line, "result "); ok {
			var res loadgen.Result
			if err := json.Unmarshal([]byte(js), &res); err != nil {
				b.Fatalf("load generator result %q: %v", js, err)
			}
			if err := p.wait(); err != nil {
				b.Errorf("load generator: %v\n%s", err, p.stderr.tail())
			}
			return res
		}
	}
	b.Fatalf("load generator exited without a result: %s", p.stderr.tail())
	return loadgen.Result{}
}

// lockedBuffer keeps what a process writes to stderr.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// tail is the last 4 KiB written.
func (l *lockedBuffer) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.buf.String()
	return s[max(0, len(s)-4096):]
}

// memory is the broker's memory: this process's after a full collection with the freed
// pages returned, or only the RSS of a broker in a process of its own.
type memory struct {
	rss         int64 // bytes
	heap, stack uint64
	goroutines  int
}

// measureMemory measures this process, or process pid when it is not 0.
func measureMemory(pid int) memory {
	if pid != 0 {
		return memory{rss: vmRSS(strconv.Itoa(pid))}
	}
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memory{rss: vmRSS("self"), heap: ms.HeapAlloc, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// vmRSS is VmRSS of /proc/<pid>/status in bytes (pid "self": this process); 0 when
// unavailable.
func vmRSS(pid string) int64 {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// clockTicks is USER_HZ, the unit of /proc/stat and /proc/[pid]/stat (100 on Linux).
const clockTicks = 100

// cpuSample is the CPU time used so far by this process, a broker in a process of its own,
// the load generator, the project's PostgreSQL and Redis and the whole machine.
type cpuSample struct {
	at                             time.Time
	self                           time.Duration
	external                       bool   // the broker is process brokerPid, not this one
	broker, loadgen, services      uint64 // clock ticks; broker only when external
	machineBusy, machineSteal, all uint64 // clock ticks, summed over the CPUs
}

// cpuUsage is CPU use over an interval in % of one core.
type cpuUsage struct {
	broker, loadgen, services, other, steal float64
}

// sampleCPU samples the CPU times with the load generator's process and the broker's
// (brokerPid 0: this process).
func sampleCPU(loadgenPid, brokerPid int) cpuSample {
	s := cpuSample{at: time.Now(), self: processCPU(), loadgen: procTicks(loadgenPid), external: brokerPid != 0}
	if s.external {
		s.broker = procTicks(brokerPid)
	}
	if dirs, err := os.ReadDir("/proc"); err == nil {
		for _, d := range dirs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil {
				continue
			}
			comm, _ := os.ReadFile("/proc/" + d.Name() + "/comm")
			if c := strings.TrimSpace(string(comm)); c == "postgres" || c == "redis-server" {
				s.services += procTicks(pid)
			}
		}
	}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		// cpu user nice system idle iowait irq softirq steal guest guest_nice
		for i, f := range strings.Fields(line)[1:] {
			v, _ := strconv.ParseUint(f, 10, 64)
			switch {
			case i >= 8: // guest time is part of user time
			case i == 3 || i == 4: // idle, iowait
				s.all += v
			case i == 7:
				s.machineSteal += v
				s.all += v
			default:
				s.machineBusy += v
				s.all += v
			}
		}
	}
	return s
}

// since is the use between prev and s. The broker is this process, or the broker's process
// when it is external. "other" is what the machine spent on neither this process, nor an
// external broker, nor the load generator, nor PostgreSQL and Redis: other processes and the
// kernel.
func (s cpuSample) since(prev cpuSample) cpuUsage {
	wall := s.at.Sub(prev.at).Seconds()
	if wall <= 0 {
		return cpuUsage{}
	}
	pct := func(ticks uint64) float64 { return 100 * float64(ticks) / clockTicks / wall }
	var u cpuUsage
	self := 100 * (s.self - prev.self).Seconds() / wall
	external := pct(max(s.broker, prev.broker) - prev.broker) // 0 when there is none
	u.broker = self
	if s.external {
		u.broker = external
	}
	u.loadgen = pct(s.loadgen - prev.loadgen)
	u.services = pct(max(s.services, prev.services) - prev.services) // backends may have exited
	if all := s.all - prev.all; all > 0 {
		cores := float64(runtime.NumCPU())
		busy := 100 * cores * float64(s.machineBusy-prev.machineBusy) / float64(all)
		u.steal = 100 * cores * float64(s.machineSteal-prev.machineSteal) / float64(all)
		u.other = max(busy-self-external-u.loadgen-u.services, 0)
	}
	return u
}

// procTicks is the user and system time of process pid in clock ticks; 0 when it is gone.
func procTicks(pid int) uint64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// the command may contain spaces: the fields that follow start after its ")"
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	return utime + stime
}

// processCPU is the user and system CPU time of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// awaitQuietMachine waits (a minute at most) until the machine's CPUs have been nearly idle
// for two seconds, so that a scenario does not start in the wake of the previous one or
// alongside other work; it logs when they never were.
func awaitQuietMachine(b *testing.B) {
	const quiet = 15.0 // % of one core
	deadline := time.Now().Add(time.Minute)
	var u cpuUsage
	for time.Now().Before(deadline) {
		s0 := sampleCPU(0, 0)
		time.Sleep(2 * time.Second)
		u = sampleCPU(0, 0).since(s0)
		if u.broker+u.services+u.other < quiet {
			return
		}
	}
	b.Logf("the machine was not quiet before the scenario: CPU %% of one core: this process %.0f, PostgreSQL+Redis %.0f, other processes %.0f",
		u.broker, u.services, u.other)
}

// machineFacts describes the processor, memory and limits the numbers were measured on.
func machineFacts() string {
	model := "unknown"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	var mem int64
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		if f := strings.Fields(line); len(f) >= 2 {
			mem, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	var nofile syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile)
	return fmt.Sprintf("%d CPUs (%s), %.1f GiB, GOMAXPROCS %d, %s, RLIMIT_NOFILE %d",
		runtime.NumCPU(), model, float64(mem)/(1<<20), runtime.GOMAXPROCS(0), runtime.Version(), nofile.Cur)
}
