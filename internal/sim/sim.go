// Package sim is a realistic city for the hub: drivers with their own JWTs on MQTT over
// WebSocket, driving a road network (internal/sim/roads) with GPS noise and dropouts, who
// accept or decline offers, pick up and deliver; stores on several commerce platforms sending
// correctly signed new-order webhooks at a target rate, with a lunch-hour profile; a
// dispatcher watching the tenant. Run measures it end to end and returns a Report.
package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pilotx/dispatchhub/internal/loadgen"
	"github.com/pilotx/dispatchhub/internal/sim/roads"
)

// andorraLaVella is the centre of the grid city (laid out where the Andorra one is).
var andorraLaVella = roads.Point{Lat: 42.5078, Lng: 1.5211}

// Graph returns the road network of a city: "andorra" (the embedded OpenStreetMap extract)
// or "grid" (20 × 20 blocks of 120 m around Andorra la Vella).
func Graph(city string) (*roads.Graph, error) {
	switch city {
	case "", "andorra":
		return roads.Andorra()
	case "grid":
		return roads.Grid(andorraLaVella, 20, 120), nil
	}
	return nil, fmt.Errorf("city: must be andorra or grid, got %q", city)
}

// Run provisions the tenant, the stores and the tokens, connects the dispatcher and then the
// drivers, sends webhooks for cfg.Duration (until ctx ends when 0), lets the orders under way
// finish (cfg.Drain at most), stops the drivers, waits for the messages still in flight
// (cfg.Settle at most), disconnects everything, cancels this run's orders still open, and
// reports. When ctx ends everything stops at once; the report holds what was measured and
// the error is ctx's (none when Duration is 0: then ctx is how a run ends).
func Run(ctx context.Context, cfg Config, p Provisioner) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	cfg = cfg.withDefaults()
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	g := cfg.Graph
	if g == nil {
		var err error
		if g, err = Graph(cfg.City); err != nil {
			return Report{}, err
		}
	}
	r := &run{cfg: cfg, p: p, g: g, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), stop: make(chan struct{})}
	rep := Report{
		Tenant: cfg.Tenant, City: cfg.City, Seed: cfg.Seed, Stores: cfg.Stores, Platforms: cfg.Platforms,
		Rate: cfg.Rate, Profile: profileName(cfg), Drivers: cfg.Drivers,
	}
	if cfg.Graph != nil {
		rep.City = "custom"
	}
	err := r.run(ctx, &rep)
	if err != nil && errors.Is(err, ctx.Err()) && cfg.Duration == 0 {
		err = nil // the normal end of an open-ended run
	}
	return rep, err
}

func profileName(c Config) string {
	var parts []string
	switch {
	case c.RampTo > 0:
		parts = append(parts, fmt.Sprintf("ramp to %.0f/s", c.RampTo))
	case c.Lunch:
		parts = append(parts, fmt.Sprintf("lunch peak %.0fx", LunchPeak))
	}
	if c.Burst.Rate > 0 {
		parts = append(parts, fmt.Sprintf("burst %.0f/s for %s at %s", c.Burst.Rate, c.Burst.For, c.Burst.At))
	}
	if len(parts) == 0 {
		return "flat"
	}
	return strings.Join(parts, ", ")
}

// run is one run's state.
type run struct {
	cfg  Config
	p    Provisioner
	g    *roads.Graph
	rng  *rand.Rand // the provisioning's and the scheduler's, one goroutine at a time
	led  *ledger
	errs errorLog

	stores  []*simStore
	watcher *watcher
	drivers []*driver
	closing atomic.Bool
	stop    chan struct{} // closed: the drivers stop driving
	loops   sync.WaitGroup
}

func (r *run) run(ctx context.Context, rep *Report) error {
	cfg := &r.cfg
	if err := r.p.Tenant(ctx, cfg.Tenant); err != nil {
		return fmt.Errorf("tenant %s: %w", cfg.Tenant, err)
	}
	runID := strconv.FormatInt(time.Now().Unix()%(36*36*36*36*36), 36)
	for i := range cfg.Stores {
		s, err := provisionStore(ctx, cfg, r.p, r.g, r.rng, runID, i, cfg.Platforms[i%len(cfg.Platforms)])
		if err != nil {
			return err
		}
		r.stores = append(r.stores, s)
	}
	r.led = newLedger(time.Now(), cfg.Drivers)
	defer r.disconnect()
	ttl := cfg.Duration + cfg.Drain + cfg.Settle + 2*time.Hour
	if cfg.Duration == 0 {
		ttl = 7 * 24 * time.Hour
	}
	tok, err := r.p.Token(cfg.Tenant, "dispatcher", WatcherSubject, ttl)
	if err != nil {
		return fmt.Errorf("dispatcher token: %w", err)
	}
	r.watcher = newWatcher(cfg.Tenant, cfg.Drivers, r.led, &r.errs)
	if err := r.watcher.connect(ctx, cfg.MQTTURL, cfg.Tenant, tok, &r.closing); err != nil {
		return fmt.Errorf("dispatcher %s.%s: %w", cfg.Tenant, WatcherSubject, err)
	}
	if cfg.Drivers > 0 {
		if err := r.connectDrivers(ctx, ttl); err != nil {
			return err
		}
	}
	rep.DriversConnected = len(r.drivers)
	for _, d := range r.drivers {
		r.loops.Add(1)
		go func() {
			defer r.loops.Done()
			d.run(ctx, r.stop)
		}()
	}

	if cfg.Warmup > 0 {
		warm := *cfg
		warm.Duration, warm.Lunch, warm.RampTo, warm.Burst = cfg.Warmup, false, 0, Burst{}
		r.led.warmup(true)
		r.sendWebhooks(ctx, warm, time.Now())
		r.led.warmup(false) // ctx ended: the run below ends at once and reports
	}

	start := time.Now()
	r.led.mu.Lock()
	r.led.start = start
	r.led.mu.Unlock()
	progressDone := make(chan struct{})
	progressCtx, stopProgress := context.WithCancel(ctx)
	go func() {
		defer close(progressDone)
		r.progress(progressCtx, start)
	}()
	defer func() {
		stopProgress()
		<-progressDone
	}()

	r.sendWebhooks(ctx, r.cfg, start)
	phase := time.Since(start)
	if cfg.Duration > 0 {
		phase = min(phase, cfg.Duration)
	}
	if ctx.Err() == nil {
		r.waitFor(ctx, cfg.Drain, func() bool { return r.led.allDelivered(cfg.Drivers > 0) })
	}
	r.stopDrivers()
	if ctx.Err() == nil {
		r.waitFor(ctx, cfg.Settle, func() bool { return r.led.missing().Total() == 0 })
	}
	stopProgress()
	<-progressDone
	r.led.fill(rep, phase, cfg.Warmup)
	for _, d := range r.drivers {
		if d.lost.Load() {
			rep.DriversLost++
		}
	}
	r.disconnect()
	// Also after Ctrl-C: the orders this run leaves open would be offered to the next run's
	// drivers (cancelOpen bounds itself to 30 s).
	rep.Orders.CancelledAtEnd = r.cancelOpen(context.WithoutCancel(ctx), ttl)
	rep.Errors = r.errs.snapshot()
	return ctx.Err()
}

// connectDrivers connects every driver, ConnectConcurrency at a time. A driver that cannot
// connect is left out and its error counted; none connecting at all is an error.
func (r *run) connectDrivers(ctx context.Context, ttl time.Duration) error {
	cfg := &r.cfg
	all := make([]*driver, cfg.Drivers)
	for i := range all {
		all[i] = newDriver(i, cfg, r.g, r.rng.Uint64(), r.led, &r.errs)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	ok := make([]bool, len(all))
	for range min(cfg.ConnectConcurrency, len(all)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(all) {
					return
				}
				d := all[i]
				tok, err := r.p.Token(cfg.Tenant, "driver", d.id, ttl)
				if err == nil {
					err = d.connect(ctx, cfg.MQTTURL, cfg.Tenant, tok, &r.closing)
				}
				if err != nil {
					if ctx.Err() == nil {
						r.errs.add("driver connect", err)
					}
					continue
				}
				ok[i] = true
			}
		}()
	}
	wg.Wait()
	for i, d := range all {
		if ok[i] {
			r.drivers = append(r.drivers, d)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(r.drivers) == 0 {
		return fmt.Errorf("no driver could connect: %v", r.errs.snapshot())
	}
	return nil
}

// sendWebhooks runs a webhook phase of cfg (the run's, or its warm-up): the stores in turn,
// open loop at the profile's rate, at most MaxInFlight awaiting their answer. It returns when
// every answer is in.
func (r *run) sendWebhooks(ctx context.Context, cfg Config, start time.Time) {
	client := newHTTPClient(cfg.MaxInFlight)
	defer client.CloseIdleConnections()
	slots := make(chan struct{}, cfg.MaxInFlight)
	var wg sync.WaitGroup
	schedule(ctx, cfg, start, func(n int, due time.Time) {
		s := r.stores[n%len(r.stores)]
		dropoff := jitter(r.g.Point(r.g.Random(r.rng)), 15, r.rng)
		now := time.Now()
		wh := s.next(now, dropoff)
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		rec := r.led.webhookSending(s.platform, s.id, wh.ExternalID, time.Now(), due)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			t0 := time.Now()
			code, status, err := post(ctx, client, s.url, &wh)
			took := time.Since(t0)
			if err != nil && ctx.Err() == nil {
				r.errs.add("webhook "+s.platform, err)
			}
			if code != 0 && code != http.StatusOK {
				r.errs.add("webhook "+s.platform, fmt.Errorf("HTTP %d", code))
			}
			r.led.webhookAnswered(rec, code, status, took)
		}()
	})
	wg.Wait()
}

// jitter moves p by up to m metres in a random direction (a door off the street).
func jitter(p roads.Point, m float64, rng *rand.Rand) roads.Point {
	d, a := m*rng.Float64(), 2*math.Pi*rng.Float64()
	const perDegree = 111_320.0
	return roads.Point{
		Lat: p.Lat + d*math.Cos(a)/perDegree,
		Lng: p.Lng + d*math.Sin(a)/(perDegree*math.Cos(p.Lat*math.Pi/180)),
	}
}

// waitFor polls done every 100 ms until it holds, within has passed or ctx ends.
func (r *run) waitFor(ctx context.Context, within time.Duration, done func() bool) {
	deadline := time.Now().Add(within)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for !done() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// stopDrivers stops every driver's loop (no more fixes or replies); their connections stay
// up, so what is in flight to them still arrives. Later calls do nothing.
func (r *run) stopDrivers() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.loops.Wait()
}

// disconnect stops the drivers and ends every connection (drivers first, the dispatcher
// last); later calls do nothing.
func (r *run) disconnect() {
	r.stopDrivers()
	if r.closing.Swap(true) {
		return
	}
	clients := make(chan *driver)
	var wg sync.WaitGroup
	for range min(r.cfg.ConnectConcurrency, max(len(r.drivers), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range clients {
				loadgen.Disconnect(d.client)
			}
		}()
	}
	for _, d := range r.drivers {
		clients <- d
	}
	close(clients)
	wg.Wait()
	if r.watcher != nil && r.watcher.client != nil {
		loadgen.Disconnect(r.watcher.client)
	}
}

// progress writes a line each second to cfg.Progress until ctx ends.
func (r *run) progress(ctx context.Context, start time.Time) {
	if r.cfg.Progress == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s := r.led.snapshot()
			connected := 0
			for _, d := range r.drivers {
				if !d.lost.Load() {
					connected++
				}
			}
			rate := float64(s.sent) / now.Sub(last).Seconds()
			last = now
			p99 := func(d time.Duration, ok bool) string {
				if !ok {
					return "-"
				}
				return fmtDuration(d)
			}
			_, _ = fmt.Fprintf(r.cfg.Progress, "t=%ds webhooks %.1f/s drivers %d/%d open %d p99 ack %s offer %s loc %s\n",
				int(now.Sub(start).Round(time.Second)/time.Second), rate, connected, r.cfg.Drivers, s.open,
				p99(s.ackP99, s.hasAck), p99(s.offerP99, s.hasOffer), p99(s.locP99, s.hasLoc))
		}
	}
}

// fmtDuration writes d briefly: 850µs, 5ms, 1.2s.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + "µs"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
}

// cancelOpen cancels, through the REST API as the dispatcher, this run's orders that are
// still open and not picked up, so that a next run on the tenant starts clean; within 30 s.
func (r *run) cancelOpen(ctx context.Context, ttl time.Duration) int64 {
	ids := r.led.openOrders()
	if len(ids) == 0 {
		return 0
	}
	tok, err := r.p.Token(r.cfg.Tenant, "dispatcher", WatcherSubject, ttl)
	if err != nil {
		r.errs.add("cancel open orders", err)
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := newHTTPClient(16)
	defer client.CloseIdleConnections()
	var done atomic.Int64
	work := make(chan string)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				if cancelOrder(ctx, client, r.cfg.HTTPBase, tok, id) == nil {
					done.Add(1)
				}
			}
		}()
	}
	for _, id := range ids {
		select {
		case work <- id:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	return done.Load()
}

func cancelOrder(ctx context.Context, c *http.Client, base, token, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/orders/"+id+"/cancel",
		strings.NewReader(`{"reason":"simulation ended"}`))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
