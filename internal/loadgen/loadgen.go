// Package loadgen drives an MQTT broker over WebSocket the way the hub's field does: N
// drivers, each with its own connection and JWT, publish location fixes at a fixed rate with
// their phases spread evenly over the period, and one dispatcher subscribed to the tenant's
// wildcard receives them and measures end-to-end latency, loss and duplicates. It speaks MQTT
// over plain TCP as well (a tcp:// URL), for brokers without a WebSocket listener.
//
// Run it in a process of its own so that the broker's CPU and memory can be measured alone:
// the broker benchmark re-executes its test binary as the load generator.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/pilotx/dispatchhub/internal/auth"
)

// Phases passed to Run's ready callback, in this order. Run waits for ready to return, so
// the caller can hold a phase (e.g. measure the broker with every driver idle).
const (
	PhaseConnected  = "connected"  // every driver connected and idle; publishing has not started
	PhasePublishing = "publishing" // the publishing phase starts
	PhasePublished  = "published"  // the publishing phase is over; then deliveries under way are awaited
	PhaseDone       = "done"       // every client disconnected; the result is final
)

// DispatcherSubject is the token subject of the measuring dispatcher; its client id is
// {tenant}.dispatcher-bench.
const DispatcherSubject = "dispatcher-bench"

// fdSlack is the file descriptors counted beyond one per connection.
const fdSlack = 64

// Config configures a run. Zero values of the optional fields take the defaults noted.
type Config struct {
	URL      string        // ws://host:port/mqtt (or wss://), or tcp://host:port for MQTT over TCP
	Tenant   string        // tenant of every client
	Drivers  int           // driver connections, each publishing on its own location topic
	Rate     float64       // fixes per second per driver, e.g. 0.5
	Duration time.Duration // publishing phase
	QoS      byte          // of the fixes and of the dispatcher's subscription: 0 or 1
	// Secret is the HS256 secret that signs each driver's token (role driver, subject its id)
	// and the dispatcher's (role dispatcher); empty sends no password (a broker without auth).
	Secret             []byte
	ConnectConcurrency int           // connections opened in parallel; default 200
	KeepAlive          time.Duration // MQTT keepalive of every client; default 60s
	ConnectTimeout     time.Duration // one TCP connect or WebSocket handshake plus CONNECT/CONNACK; default 10s
	Drain              time.Duration // after publishing, longest wait for outstanding deliveries; default 10s
	TokenTTL           time.Duration // lifetime of the tokens; default Duration + 1h
}

func (c Config) withDefaults() Config {
	if c.ConnectConcurrency == 0 {
		c.ConnectConcurrency = 200
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 60 * time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.Drain == 0 {
		c.Drain = 10 * time.Second
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = c.Duration + time.Hour
	}
	return c
}

// Validate checks c after defaults are applied; the error names each invalid field and
// what it accepts.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field, want string, got any) {
		errs = append(errs, fmt.Errorf("loadgen.%s: %s, got %v", field, want, got))
	}
	if !validURL(c.URL) {
		bad("URL", "must be a ws:// or wss:// URL, or tcp://host:port", fmt.Sprintf("%q", c.URL))
	}
	if c.Tenant == "" || strings.ContainsAny(c.Tenant, "/+#. ") {
		bad("Tenant", "must be a tenant id without / + # . or spaces", fmt.Sprintf("%q", c.Tenant))
	}
	if c.Drivers < 1 {
		bad("Drivers", "must be at least 1", c.Drivers)
	}
	if !(c.Rate > 0) || math.IsInf(c.Rate, 0) || c.Rate > 1000 {
		bad("Rate", "must be above 0 and at most 1000 fixes per second", c.Rate)
	}
	if c.Duration <= 0 {
		bad("Duration", "must be positive", c.Duration)
	}
	if c.QoS > 1 {
		bad("QoS", "must be 0 or 1", c.QoS)
	}
	if len(c.Secret) > 0 && len(c.Secret) < auth.MinHS256SecretLen {
		bad("Secret", fmt.Sprintf("must be empty or at least %d bytes", auth.MinHS256SecretLen), fmt.Sprintf("%d bytes", len(c.Secret)))
	}
	if c.ConnectConcurrency < 1 {
		bad("ConnectConcurrency", "must be at least 1", c.ConnectConcurrency)
	}
	if c.KeepAlive < time.Second || c.KeepAlive > math.MaxUint16*time.Second {
		bad("KeepAlive", "must be 1s to 18h12m15s", c.KeepAlive)
	}
	if c.ConnectTimeout < 0 || c.Drain < 0 {
		bad("ConnectTimeout/Drain", "must not be negative", fmt.Sprintf("%s/%s", c.ConnectTimeout, c.Drain))
	}
	if c.TokenTTL <= c.Duration {
		bad("TokenTTL", "must outlive the publishing phase (Duration "+c.Duration.String()+")", c.TokenTTL)
	}
	return errors.Join(errs...)
}

// validURL reports whether url is a ws:// or wss:// URL, or tcp:// followed by host:port.
func validURL(url string) bool {
	if addr, ok := strings.CutPrefix(url, "tcp://"); ok {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return false
		}
		_, err = strconv.ParseUint(port, 10, 16)
		return err == nil
	}
	return strings.HasPrefix(url, "ws://") || strings.HasPrefix(url, "wss://")
}

// Result is what a run measured.
type Result struct {
	Connected      int     // drivers connected
	ConnectFailed  int     // drivers that could not connect
	ConnectSeconds float64 // from the first driver's dial to the last driver's CONNACK
	// Disconnected counts drivers whose connection ended before the publishing phase did.
	Disconnected int
	Sent         int64 // fixes written to a driver's connection
	Delivered    int64 // distinct fixes the dispatcher received
	Lost         int64 // sent and never received by the dispatcher
	Duplicates   int64 // further copies of fixes already received
	// PublishFailed counts publishes that could not be written (a lost connection).
	PublishFailed int64
	// OtherMessages counts what the dispatcher received on the tenant's other topics
	// (e.g. the hub's retained presence messages).
	OtherMessages       int64
	P50Ms, P99Ms, MaxMs float64 // end-to-end latency, driver write to dispatcher receipt
	DeliveredPerSec     float64 // Delivered over the publishing phase
	PublishSeconds      float64 // length of the publishing phase
	// LateP99Ms is how far behind its schedule the generator published (p99): above a few
	// ms, the generator itself was short of CPU.
	LateP99Ms float64
	// CPUPercent is this process's CPU time during the publishing phase over its length
	// (100 = one core).
	CPUPercent float64
	// Errors counts failures by kind and message (at most 16 kinds).
	Errors map[string]int `json:",omitempty"`
}

// Run connects the dispatcher, then the drivers, publishes for cfg.Duration, waits for the
// deliveries still under way (cfg.Drain at most), disconnects everything and reports. ready
// is called with each phase (it may be nil). When ctx ends, Run stops, disconnects and
// returns what it measured with ctx's error.
func Run(ctx context.Context, cfg Config, ready func(phase string)) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	cfg = cfg.withDefaults()
	if ready == nil {
		ready = func(string) {}
	}
	if err := raiseOpenFiles(cfg.Drivers + 1 + fdSlack); err != nil {
		return Result{}, err
	}

	g := newGen(cfg)
	defer g.disconnectAll() // a no-op once Run has disconnected
	if err := g.connectDispatcher(ctx); err != nil {
		return Result{}, fmt.Errorf("dispatcher %s.%s: %w", cfg.Tenant, DispatcherSubject, err)
	}

	var res Result
	connectStart := time.Now()
	res.Connected = g.connectDrivers(ctx)
	res.ConnectSeconds = time.Since(connectStart).Seconds()
	res.ConnectFailed = cfg.Drivers - res.Connected
	if err := ctx.Err(); err != nil {
		return g.finish(res), err
	}
	if res.Connected == 0 {
		return g.finish(res), fmt.Errorf("no driver could connect: %v", g.errs.snapshot())
	}

	ready(PhaseConnected)
	if err := ctx.Err(); err != nil {
		return g.finish(res), err
	}
	ready(PhasePublishing)
	cpu0, start := cpuTime(), time.Now()
	g.publish(ctx, start)
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	res.Disconnected = int(g.disconnected.Load())
	ready(PhasePublished)

	res.PublishSeconds = elapsed.Seconds()
	res.CPUPercent = 100 * cpu.Seconds() / elapsed.Seconds()
	g.drain(ctx)
	res = g.finish(res)
	ready(PhaseDone)
	return res, ctx.Err()
}

// gen is the state of one run.
type gen struct {
	cfg    Config
	dialer *dialer
	signer *auth.Signer // nil: no password
	base   time.Time    // the clock of the probes: base's Unix time plus monotonic time since

	dispatcher *paho.Client
	parser     probeParser // used by the dispatcher's receive goroutine only
	track      *tracker
	other      atomic.Int64 // messages on other topics (retained presence, ...)

	drivers      []*driver // by index; nil when it could not connect
	sent, failed atomic.Int64
	disconnected atomic.Int64 // drivers lost before the end of publishing
	closing      atomic.Bool
	late         Histogram // how late the publishes were; written after the workers end
	errs         errorCounts
	closeOnce    sync.Once
}

func newGen(cfg Config) *gen {
	g := &gen{
		cfg:     cfg,
		dialer:  newDialer(cfg.ConnectTimeout),
		base:    time.Now(),
		track:   newTracker(cfg.Drivers),
		drivers: make([]*driver, cfg.Drivers),
	}
	if len(cfg.Secret) > 0 {
		g.signer = auth.NewHS256Signer(cfg.Secret)
	}
	return g
}

// now is the probes' clock in Unix ns: monotonic within the run.
func (g *gen) now() int64 { return g.base.UnixNano() + int64(time.Since(g.base)) }

// finish fills the delivery figures of res.
func (g *gen) finish(res Result) Result {
	g.disconnectAll()
	sent := g.sent.Load()
	t := g.track.tally(sent)
	res.Sent, res.Delivered, res.Lost, res.Duplicates = sent, t.Delivered, t.Lost, t.Duplicates
	res.PublishFailed = g.failed.Load()
	res.OtherMessages = g.other.Load()
	res.P50Ms = ms(t.Latency.Quantile(0.50))
	res.P99Ms = ms(t.Latency.Quantile(0.99))
	res.MaxMs = ms(t.Latency.Max())
	res.LateP99Ms = ms(g.late.Quantile(0.99))
	if res.PublishSeconds > 0 {
		res.DeliveredPerSec = float64(t.Delivered) / res.PublishSeconds
	}
	if t.Foreign > 0 {
		g.errs.add("dispatcher", fmt.Errorf("%d location messages without a valid probe", t.Foreign))
	}
	res.Errors = g.errs.snapshot()
	return res
}

// drain waits until every fix sent has been received, at most cfg.Drain.
func (g *gen) drain(ctx context.Context) {
	deadline := time.Now().Add(g.cfg.Drain)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for g.track.deliveries() < g.sent.Load() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// errorCounts counts failures by kind and message, keeping at most maxErrorKinds keys.
type errorCounts struct {
	mu sync.Mutex
	m  map[string]int
}

const maxErrorKinds = 16

func (e *errorCounts) add(kind string, err error) {
	msg := err.Error()
	if len(msg) > 160 {
		msg = msg[:160] + "…"
	}
	key := kind + ": " + msg
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = make(map[string]int)
	}
	if _, ok := e.m[key]; !ok && len(e.m) >= maxErrorKinds-1 {
		key = kind + ": other errors"
	}
	e.m[key]++
}

func (e *errorCounts) snapshot() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.m) == 0 {
		return nil
	}
	return maps.Clone(e.m)
}
