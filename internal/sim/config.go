package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pilotx/dispatchhub/internal/sim/roads"
)

// Config configures a run. Zero values of the optional fields take the defaults noted.
type Config struct {
	HTTPBase string // the hub's HTTP edge, e.g. http://127.0.0.1:8080; webhooks are POSTed there
	MQTTURL  string // the hub's MQTT WebSocket listener, e.g. ws://127.0.0.1:8083/mqtt
	// PublicURL is the base URL the hub verifies URL-signing webhooks (Square) against: its
	// http.public_url. Default HTTPBase (the hub without a public URL takes the one the
	// request arrived on).
	PublicURL string
	Tenant    string   // created when missing; default "sim"
	Drivers   int      // driver connections; 0 runs the stores alone
	Stores    int      // stores, spread over Platforms in turn; default 5
	Platforms []string // default shopify, woocommerce, bigcommerce, squarespace, square
	Rate      float64  // new-order webhooks per second before the profile; default 2
	// Lunch compresses a lunch hour into the run: the middle third of Duration is the lunch
	// peak, where the rate ramps from 1x to 3x over its first quarter, holds 3x for its middle
	// half and ramps back to 1x over its last quarter (see Profile). Without a Duration the
	// profile repeats every LunchPeriod (6 minutes).
	Lunch bool
	// Burst, when its Rate is set, replaces the rate by Burst.Rate from Burst.At for Burst.For.
	Burst Burst
	// RampTo, when above Rate, raises the rate linearly from Rate at the start to RampTo at
	// the end of Duration: a search for the highest sustained ingest rate. Needs a Duration.
	RampTo   float64
	Duration time.Duration // of the webhook phase; 0: until ctx ends
	// Warmup, when set, sends webhooks at Rate (flat) for this long before the webhook phase,
	// so that the phase measures a hub in its steady state: pools grown, caches and the new
	// tenant's paths warm. Its latencies are reported apart (Report.Warmup); its webhooks and
	// orders count in every total, loss and duplicate.
	Warmup   time.Duration
	FixEvery [2]time.Duration // location cadence range, each interval uniform in it; default 1s-3s
	AcceptP  float64          // probability a driver accepts an offer (else declines); default 0.9, set NoDecline for 1
	// NoDecline makes every driver accept every offer (AcceptP 1; AcceptP cannot say so since
	// its zero value is the default).
	NoDecline bool
	Speed     float64       // m/s; default 9 (each driver drives at 80-120 % of it)
	Dwell     time.Duration // at pickup and at drop-off; default 30s
	City      string        // "andorra" (default) or "grid"
	GPSNoiseM float64       // Gaussian noise sigma of the fixes, metres; default 5
	// Dropout is the probability a fix is not sent; default 0.02. NoDropout sends every fix.
	Dropout   float64
	NoDropout bool
	Seed      uint64    // of every random choice of the run; 0 picks one from the clock
	Progress  io.Writer // a live progress line each second; nil: none
	// Drain bounds the wait after the webhook phase for the orders under way to be delivered;
	// default 10s. Settle bounds the wait after it for the messages still in flight; default 5s.
	Drain, Settle time.Duration
	// ConnectConcurrency is how many drivers dial at once; default 100.
	ConnectConcurrency int
	// MaxInFlight bounds the webhooks awaiting their answer; default 1024. When it is
	// reached the scheduler waits, and the lateness shows in the report.
	MaxInFlight int
	// Graph is the road network; nil picks it by City.
	Graph *roads.Graph
}

// Burst is a period of a different webhook rate within the run.
type Burst struct {
	Rate float64       // webhooks per second during the burst; 0: no burst
	At   time.Duration // from the start of the webhook phase
	For  time.Duration // its length
}

// DefaultPlatforms are the platforms of the stores unless Config.Platforms says otherwise.
var DefaultPlatforms = []string{"shopify", "woocommerce", "bigcommerce", "squarespace", "square"}

// Provisioner creates what a run needs in the hub; the CLI implements it with the hub's
// configuration, the tests with their hub's.
type Provisioner interface {
	// Tenant creates the tenant id when it does not exist.
	Tenant(ctx context.Context, id string) error
	// Store adds a store of platform to tenant, its webhook secret at secretRef (file:...),
	// its orders collected at pickup, and returns its id.
	Store(ctx context.Context, tenant, platform, name, secretRef string, pickup roads.Point) (storeID string, err error)
	// Token signs a JWT of role (driver, dispatcher) for sub in tenant.
	Token(tenant, role, sub string, ttl time.Duration) (string, error)
	// SecretDir is a directory the hub can read: webhook secrets are written there and
	// referenced as file:.
	SecretDir() string
}

func (c Config) withDefaults() Config {
	if c.Tenant == "" {
		c.Tenant = "sim"
	}
	if c.Stores == 0 {
		c.Stores = 5
	}
	if len(c.Platforms) == 0 {
		c.Platforms = slices.Clone(DefaultPlatforms)
	}
	if c.Rate == 0 {
		c.Rate = 2
	}
	if c.FixEvery == [2]time.Duration{} {
		c.FixEvery = [2]time.Duration{time.Second, 3 * time.Second}
	}
	if c.AcceptP == 0 {
		c.AcceptP = 0.9
	}
	if c.NoDecline {
		c.AcceptP = 1
	}
	if c.Speed == 0 {
		c.Speed = 9
	}
	if c.Dwell == 0 {
		c.Dwell = 30 * time.Second
	}
	if c.City == "" {
		c.City = "andorra"
	}
	if c.GPSNoiseM == 0 {
		c.GPSNoiseM = 5
	}
	if c.Dropout == 0 {
		c.Dropout = 0.02
	}
	if c.NoDropout {
		c.Dropout = 0
	}
	if c.PublicURL == "" {
		c.PublicURL = c.HTTPBase
	}
	if c.Drain == 0 {
		c.Drain = 10 * time.Second
	}
	if c.Settle == 0 {
		c.Settle = 5 * time.Second
	}
	if c.ConnectConcurrency == 0 {
		c.ConnectConcurrency = 100
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 1024
	}
	c.HTTPBase = strings.TrimRight(c.HTTPBase, "/")
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return c
}

// Validate checks c after defaults are applied; the error names each invalid field and what
// it accepts.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field, want string, got any) {
		errs = append(errs, fmt.Errorf("sim.%s: %s, got %v", field, want, got))
	}
	if !strings.HasPrefix(c.HTTPBase, "http://") && !strings.HasPrefix(c.HTTPBase, "https://") {
		bad("HTTPBase", "must be an http:// or https:// URL", fmt.Sprintf("%q", c.HTTPBase))
	}
	if !strings.HasPrefix(c.MQTTURL, "ws://") && !strings.HasPrefix(c.MQTTURL, "wss://") {
		bad("MQTTURL", "must be a ws:// or wss:// URL", fmt.Sprintf("%q", c.MQTTURL))
	}
	if c.Tenant == "" || strings.ContainsAny(c.Tenant, "/+#. ") {
		bad("Tenant", "must be a tenant id without / + # . or spaces", fmt.Sprintf("%q", c.Tenant))
	}
	if c.Drivers < 0 || c.Drivers > 100000 {
		bad("Drivers", "must be 0-100000", c.Drivers)
	}
	if c.Stores < 1 || c.Stores > 1000 {
		bad("Stores", "must be 1-1000", c.Stores)
	}
	for _, p := range c.Platforms {
		if _, ok := platformSpecs[p]; !ok {
			bad("Platforms", "must each be one of "+strings.Join(Platforms(), ", "), fmt.Sprintf("%q", p))
		}
	}
	if !(c.Rate > 0) || math.IsInf(c.Rate, 0) || c.Rate > 100000 {
		bad("Rate", "must be above 0 and at most 100000 webhooks per second", c.Rate)
	}
	if c.RampTo != 0 && (c.Duration <= 0 || !(c.RampTo > c.Rate) || c.RampTo > 100000) {
		bad("RampTo", "must be above Rate, at most 100000, with a Duration", c.RampTo)
	}
	if c.Burst.Rate != 0 && (!(c.Burst.Rate > 0) || c.Burst.Rate > 100000 || c.Burst.At < 0 || c.Burst.For <= 0) {
		bad("Burst", "must have a Rate of 0-100000, At >= 0 and For > 0", fmt.Sprintf("%+v", c.Burst))
	}
	if c.Duration < 0 {
		bad("Duration", "must not be negative", c.Duration)
	}
	if c.Warmup < 0 || c.Warmup > 10*time.Minute {
		bad("Warmup", "must be 0-10m", c.Warmup)
	}
	if c.FixEvery[0] < 100*time.Millisecond || c.FixEvery[1] < c.FixEvery[0] {
		bad("FixEvery", "must be a range [a, b] with 100ms <= a <= b", fmt.Sprintf("%s-%s", c.FixEvery[0], c.FixEvery[1]))
	}
	if !(c.AcceptP > 0 && c.AcceptP <= 1) {
		bad("AcceptP", "must be above 0 and at most 1", c.AcceptP)
	}
	if !(c.Speed > 0 && c.Speed <= 250) { // each driver up to 120 %: within the 340 m/s a fix may report
		bad("Speed", "must be above 0 and at most 250 m/s", c.Speed)
	}
	if c.Dwell < 0 {
		bad("Dwell", "must not be negative", c.Dwell)
	}
	if c.City != "andorra" && c.City != "grid" {
		bad("City", "must be andorra or grid", fmt.Sprintf("%q", c.City))
	}
	if !(c.GPSNoiseM >= 0 && c.GPSNoiseM <= 1000) {
		bad("GPSNoiseM", "must be 0-1000", c.GPSNoiseM)
	}
	if !(c.Dropout >= 0 && c.Dropout < 1) {
		bad("Dropout", "must be at least 0 and below 1", c.Dropout)
	}
	if c.Drain < 0 || c.Settle < 0 {
		bad("Drain/Settle", "must not be negative", fmt.Sprintf("%s/%s", c.Drain, c.Settle))
	}
	if c.ConnectConcurrency < 1 {
		bad("ConnectConcurrency", "must be at least 1", c.ConnectConcurrency)
	}
	if c.MaxInFlight < 1 {
		bad("MaxInFlight", "must be at least 1", c.MaxInFlight)
	}
	return errors.Join(errs...)
}

// Platforms lists the platforms the simulator has stores for, sorted: each has a
// verification preset and a normaliser in the hub.
func Platforms() []string {
	out := make([]string, 0, len(platformSpecs))
	for name := range platformSpecs {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// ErrUnknownScenario is a scenario name that is not a, b, c or d.
var ErrUnknownScenario = errors.New("scenario must be a, b, c or d")

// Scenario returns the preset of a named scenario (the load cases):
//
//	a: 50 drivers, 200 webhooks/s, lunch profile off — the design pack's load
//	b: 5,000 drivers publishing at 0.5 Hz (every 2 s), 200 webhooks/s
//	c: 10,000 drivers, 20 webhooks/s with a 10 s burst of 1,000 webhooks/s at 20 s
//	d: ingest alone, no drivers: a ramp from 200 to 6,000 webhooks/s over the run
//
// Each gives a Duration (2 minutes) that flags may override, and a, b and c a 5 s Warmup at
// their base rate (d starts at its lowest rate anyway, and measures throughput).
func Scenario(name string) (Config, error) {
	c := Config{Duration: 2 * time.Minute, Stores: 5, Warmup: 5 * time.Second}
	switch name {
	case "a":
		c.Drivers, c.Rate = 50, 200
	case "b":
		c.Drivers, c.Rate = 5000, 200
		c.FixEvery = [2]time.Duration{2 * time.Second, 2 * time.Second}
	case "c":
		c.Drivers, c.Rate = 10000, 20
		c.FixEvery = [2]time.Duration{2 * time.Second, 2 * time.Second}
		c.Burst = Burst{Rate: 1000, At: 20 * time.Second, For: 10 * time.Second}
	case "d":
		c.Drivers, c.Rate, c.RampTo, c.Warmup = 0, 200, 6000, 0
	default:
		return c, fmt.Errorf("%w, got %q", ErrUnknownScenario, name)
	}
	return c, nil
}
