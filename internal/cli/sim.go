package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/config"
	"github.com/pilotx/dispatchhub/internal/sim"
	"github.com/pilotx/dispatchhub/internal/sim/roads"
	"github.com/pilotx/dispatchhub/internal/store"
)

// simFlags are the sim command's flags; a scenario's values apply unless a flag is given.
type simFlags struct {
	scenario  string
	drivers   int
	stores    int
	platforms []string
	rate      float64
	rampTo    float64
	lunch     bool
	duration  time.Duration
	warmup    time.Duration
	accept    float64
	city      string
	seed      uint64
	jsonFile  string
	tenant    string
	speed     float64
	dwell     time.Duration
	fixEvery  string
	drain     time.Duration
	dropout   float64
	noise     float64
}

func (e *env) simCmd() *cobra.Command {
	var f simFlags
	cmd := &cobra.Command{
		Use:   "sim [--scenario a|b|c|d] [--drivers 50] [--stores 5] [--rate 2] [--lunch] [--duration 2m] ...",
		Short: "Simulate a city against a running hub: drivers over MQTT, stores sending signed webhooks",
		Long: `Simulate a city against the hub this configuration describes (it must be running): drivers,
each an MQTT 5 client over WebSocket with its own JWT, driving the road network of the city with GPS
noise and dropouts, accepting offers (--accept) or declining them, dwelling at pickup and drop-off;
stores on several platforms sending correctly signed new-order webhooks at --rate per second, with
a lunch-hour peak when --lunch (the middle third of the run ramps to 3x); a dispatcher watching the
tenant. It prints a progress line each second on stderr and the report as a table on stdout, or
as JSON with --json FILE ("-": stdout instead of the table).

The tenant is created when missing; stores are added to it for each run (secrets in
{data_dir}/sim/secrets, referenced as file:); tokens are signed with the key of ` + "`dispatchhub token`" + `.
Orders the run leaves open are cancelled at its end, so that the next run starts clean.

Scenarios (flags given explicitly override them):
  a  50 drivers, 200 webhooks/s
  b  5,000 drivers at 0.5 Hz, 200 webhooks/s
  c  10,000 drivers, a 10 s burst of 1,000 webhooks/s (20 s in, 20/s otherwise)
  d  ingest alone: no drivers, a ramp from 200 to 6,000 webhooks/s
a, b and c start with a 5 s warm-up at their base rate (--warmup): its figures are reported apart,
so that the run measures the hub in its steady state; its orders count in every total and loss.`,
		Example: `  dispatchhub sim --drivers 50 --stores 5 --rate 2 --lunch --duration 2m
  dispatchhub sim --scenario a --duration 30s --json report.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			scfg, err := f.config(cmd)
			if err != nil {
				return err
			}
			cfg, err := e.load(cmd)
			if err != nil {
				return err
			}
			if scfg.HTTPBase, scfg.MQTTURL, err = simURLs(cfg); err != nil {
				return err
			}
			scfg.PublicURL = cfg.HTTP.PublicURL
			scfg.Progress = e.stderr
			if err := scfg.Validate(); err != nil {
				return configError{err}
			}
			signer, err := tokenSigner(cfg)
			if err != nil {
				return err
			}
			if len(cfg.Auth.Algorithms) > 0 && !slices.Contains(cfg.Auth.Algorithms, signer.Algorithm()) {
				return fmt.Errorf("auth.algorithms: the hub accepts %v, the configured key signs %s", cfg.Auth.Algorithms, signer.Algorithm())
			}
			db, err := store.Open(store.Config{URL: cfg.Postgres.URL, MaxConns: 2, ConnectTimeout: cfg.Postgres.ConnectTimeout, StatementTimeout: cfg.Postgres.StatementTimeout})
			if err != nil {
				return hint(err)
			}
			defer db.Close()
			p := &simProvisioner{db: db, signer: signer, cfg: cfg, dir: filepath.Join(cfg.DataDir, "sim", "secrets")}
			rep, runErr := sim.Run(cmd.Context(), scfg, p)
			if rep.Tenant == "" { // nothing ran
				return hint(runErr)
			}
			if err := e.writeReport(rep, f.jsonFile); err != nil {
				return err
			}
			if runErr != nil {
				return fmt.Errorf("sim: %w (the report holds what was measured)", runErr)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.scenario, "scenario", "", "a preset: a, b, c or d (see above)")
	fl.IntVar(&f.drivers, "drivers", 50, "driver connections (0: the stores alone)")
	fl.IntVar(&f.stores, "stores", 5, "stores, spread over --platforms")
	fl.StringSliceVar(&f.platforms, "platforms", sim.DefaultPlatforms, "platforms of the stores: "+strings.Join(sim.Platforms(), ", "))
	fl.Float64Var(&f.rate, "rate", 2, "new-order webhooks per second (before the lunch profile)")
	fl.Float64Var(&f.rampTo, "ramp-to", 0, "raise the rate linearly from --rate to this over the run (0: no ramp)")
	fl.BoolVar(&f.lunch, "lunch", false, "a lunch-hour peak: the middle third of the run ramps to 3x the rate")
	fl.DurationVar(&f.duration, "duration", 2*time.Minute, "how long the stores send webhooks (0: until interrupted)")
	fl.DurationVar(&f.warmup, "warmup", 0, "webhooks at --rate for this long first, reported apart from the figures (scenarios a-c: 5s)")
	fl.Float64Var(&f.accept, "accept", 0.9, "probability a driver accepts an offer, above 0 and at most 1")
	fl.StringVar(&f.city, "city", "andorra", "road network: andorra (OpenStreetMap extract) or grid")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of every random choice (0: from the clock)")
	fl.StringVar(&f.jsonFile, "json", "", `write the report as JSON to FILE ("-": stdout, instead of the table)`)
	fl.StringVar(&f.tenant, "tenant", "sim", "tenant of the run (created when missing)")
	fl.Float64Var(&f.speed, "speed", 9, "driving speed in m/s (each driver 80-120 % of it)")
	fl.DurationVar(&f.dwell, "dwell", 30*time.Second, "time at the pickup and at the drop-off")
	fl.StringVar(&f.fixEvery, "fix-every", "1s-3s", "location cadence: a duration or a range MIN-MAX")
	fl.DurationVar(&f.drain, "drain", 10*time.Second, "after the webhooks, longest wait for the orders under way to be delivered")
	fl.Float64Var(&f.dropout, "dropout", 0.02, "probability the GPS drops a fix")
	fl.Float64Var(&f.noise, "gps-noise", 5, "GPS noise, metres (standard deviation)")
	return cmd
}

// config builds the run's configuration: the scenario's, then every flag given (and every
// flag's default where the scenario has no value).
func (f *simFlags) config(cmd *cobra.Command) (sim.Config, error) {
	var c sim.Config
	if f.scenario != "" {
		var err error
		if c, err = sim.Scenario(f.scenario); err != nil {
			return c, configError{fmt.Errorf("scenario: %w", err)}
		}
	}
	set := func(name string) bool { return f.scenario == "" || cmd.Flags().Changed(name) }
	if set("drivers") {
		c.Drivers = f.drivers
	}
	if set("stores") {
		c.Stores = f.stores
	}
	if set("rate") {
		c.Rate = f.rate
	}
	if set("ramp-to") {
		c.RampTo = f.rampTo
	}
	if set("duration") {
		c.Duration = f.duration
	}
	if set("warmup") {
		c.Warmup = f.warmup
	}
	if set("lunch") {
		c.Lunch = f.lunch
	}
	c.Platforms = f.platforms
	c.AcceptP = f.accept
	c.City = f.city
	c.Seed = f.seed
	c.Tenant = f.tenant
	c.Speed = f.speed
	c.Dwell = f.dwell
	if c.Dwell == 0 {
		c.Dwell = time.Nanosecond // zero means the default; no dwell at all is asked for
	}
	c.Drain = f.drain
	if c.Drain == 0 {
		c.Drain = time.Nanosecond
	}
	c.GPSNoiseM = f.noise
	c.Dropout = f.dropout
	c.NoDropout = f.dropout == 0
	if c.FixEvery == [2]time.Duration{} || cmd.Flags().Changed("fix-every") {
		r, err := parseRange(f.fixEvery)
		if err != nil {
			return c, configError{err}
		}
		c.FixEvery = r
	}
	if f.accept <= 0 || f.accept > 1 {
		return c, configError{fmt.Errorf("accept: must be above 0 and at most 1, got %v", f.accept)}
	}
	return c, nil
}

// parseRange reads "2s" or "1s-3s".
func parseRange(s string) ([2]time.Duration, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err1 := time.ParseDuration(strings.TrimSpace(lo))
	b := a
	var err2 error
	if isRange {
		b, err2 = time.ParseDuration(strings.TrimSpace(hi))
	}
	if err1 != nil || err2 != nil || a < 100*time.Millisecond || b < a {
		return [2]time.Duration{}, fmt.Errorf("fix-every: must be a duration or a range MIN-MAX such as 1s-3s, at least 100ms, got %q", s)
	}
	return [2]time.Duration{a, b}, nil
}

// simURLs are where the simulator reaches the hub: its HTTP edge and its MQTT WebSocket
// listener, on loopback when they listen on every interface.
func simURLs(cfg config.Config) (httpBase, mqttURL string, err error) {
	if cfg.MQTT.WSAddr == "" {
		return "", "", configError{errors.New("mqtt.ws_addr: the simulator's drivers connect over WebSocket; the listener is off")}
	}
	host, port, err := net.SplitHostPort(cfg.MQTT.WSAddr)
	if err != nil {
		return "", "", configError{fmt.Errorf("mqtt.ws_addr: %w", err)}
	}
	path := cfg.MQTT.WSPath
	if path == "" {
		path = "/mqtt"
	}
	httpHost := cfg.HTTP.Host
	return "http://" + net.JoinHostPort(reachable(httpHost), fmt.Sprint(cfg.HTTP.Port)),
		"ws://" + net.JoinHostPort(reachable(host), port) + path, nil
}

// reachable is a host to dial for a listen host: loopback for every interface.
func reachable(host string) string {
	switch host {
	case "", "0.0.0.0", "::", "[::]":
		return "127.0.0.1"
	}
	return host
}

// writeReport prints the table on stdout and the JSON to file ("-": stdout, no table).
func (e *env) writeReport(rep sim.Report, file string) error {
	if file == "-" {
		return e.printJSON(rep)
	}
	if _, err := fmt.Fprint(e.stdout, rep.Table()); err != nil {
		return err
	}
	if file == "" {
		return nil
	}
	raw, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(file, append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	return nil
}

// simProvisioner creates the run's tenant and stores in the hub's database, as `tenant
// create` and `store add` do, and signs tokens as `dispatchhub token` does.
type simProvisioner struct {
	db     *store.DB
	signer *auth.Signer
	cfg    config.Config
	dir    string
}

var _ sim.Provisioner = (*simProvisioner)(nil)

func (p *simProvisioner) Tenant(ctx context.Context, id string) error {
	if !store.ValidTenantID(id) {
		return fmt.Errorf("tenant: must be 1-40 of a-z, 0-9 and '-', not starting or ending with '-', got %q", id)
	}
	_, err := p.db.GetTenant(ctx, id)
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, err = p.db.CreateTenant(ctx, id, "Simulation "+id)
	if errors.Is(err, store.ErrConflict) {
		return nil // created meanwhile
	}
	return err
}

func (p *simProvisioner) Store(ctx context.Context, tenant, platform, name, secretRef string, pickup roads.Point) (string, error) {
	s, err := p.db.AddStore(ctx, store.Store{TenantID: tenant, Platform: platform, Name: name,
		SecretRefs: []string{secretRef}, Pickup: &store.LatLng{Lat: pickup.Lat, Lng: pickup.Lng}})
	if err != nil {
		return "", err
	}
	return s.ID, nil
}

func (p *simProvisioner) Token(tenant, role, sub string, ttl time.Duration) (string, error) {
	id := auth.Identity{Tenant: tenant, Subject: sub, Role: auth.Role(role)}
	return p.signer.Sign(id, p.cfg.Auth.Audience, p.cfg.Auth.Issuer, ttl)
}

func (p *simProvisioner) SecretDir() string { return p.dir }
