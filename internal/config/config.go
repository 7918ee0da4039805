// Package config defines every setting of the hub, its default, how it is loaded
// (defaults < file < DISPATCHHUB_* environment < flags) and how it is validated.
//
// The file configs/dispatchhub.yaml documents each key with its default; a test keeps
// the two in step.
package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration of a dispatchhub process.
type Config struct {
	Log             Log           `koanf:"log"`
	DataDir         string        `koanf:"data_dir"`
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	Dev             bool          `koanf:"dev"`
	HTTP            HTTP          `koanf:"http"`
	Postgres        Postgres      `koanf:"postgres"`
	Redis           Redis         `koanf:"redis"`
	NATS            NATS          `koanf:"nats"`
	MQTT            MQTT          `koanf:"mqtt"`
	Auth            Auth          `koanf:"auth"`
	Presence        Presence      `koanf:"presence"`
	Location        Location      `koanf:"location"`
	Ingest          Ingest        `koanf:"ingest"`
	Intake          Intake        `koanf:"intake"`
	Dispatch        Dispatch      `koanf:"dispatch"`
	Outbox          Outbox        `koanf:"outbox"`
	Bridge          Bridge        `koanf:"bridge"`
	Connectors      Connectors    `koanf:"connectors"`
	Startup         Startup       `koanf:"startup"`
	Runtime         Runtime       `koanf:"runtime"`
}

// Ingest configures the webhook edge: limits, durable storage and the relay to INGEST.
type Ingest struct {
	BodyLimit          ByteSize      `koanf:"body_limit"`
	TimestampTolerance time.Duration `koanf:"timestamp_tolerance"`
	InlinePayloadMax   ByteSize      `koanf:"inline_payload_max"`
	ObjectDir          string        `koanf:"object_dir"`
	RateTenant         int           `koanf:"rate_tenant"`
	RateTenantBurst    int           `koanf:"rate_tenant_burst"`
	RateStore          int           `koanf:"rate_store"`
	RateStoreBurst     int           `koanf:"rate_store_burst"`
	Queue              int           `koanf:"queue"`
	BatchMax           int           `koanf:"batch_max"`
	StoreCacheTTL      time.Duration `koanf:"store_cache_ttl"`
	RelayPollInterval  time.Duration `koanf:"relay_poll_interval"`
	RejectionsKept     int           `koanf:"rejections_kept"`
}

// MQTT configures the embedded broker, its listeners and its per-client limits.
type MQTT struct {
	TCPAddr          string        `koanf:"tcp_addr"`
	WSAddr           string        `koanf:"ws_addr"`
	WSPath           string        `koanf:"ws_path"`
	TLSAddr          string        `koanf:"tls_addr"`
	WSSAddr          string        `koanf:"wss_addr"`
	TLSCertFile      string        `koanf:"tls_cert_file"`
	TLSKeyFile       string        `koanf:"tls_key_file"`
	WSAllowedOrigins []string      `koanf:"ws_allowed_origins"`
	WSReadLimit      ByteSize      `koanf:"ws_read_limit"`
	MaxPacketSize    ByteSize      `koanf:"max_packet_size"`
	ConnectTimeout   time.Duration `koanf:"connect_timeout"`
	KeepaliveMax     time.Duration `koanf:"keepalive_max"`
	MaxClients       int           `koanf:"max_clients"`
	MaxInflight      int           `koanf:"max_inflight"`
	MaxPendingWrites int           `koanf:"max_pending_writes"`
	SessionExpiryMax time.Duration `koanf:"session_expiry_max"`
	MessageExpiryMax time.Duration `koanf:"message_expiry_max"`
	SysInterval      time.Duration `koanf:"sys_interval"`
}

// Auth configures how JWTs (MQTT CONNECT passwords and HTTP bearer tokens) are verified and,
// for the token command, signed.
type Auth struct {
	Audience       string        `koanf:"audience"`
	Issuer         string        `koanf:"issuer"`
	HS256SecretRef string        `koanf:"hs256_secret_ref"`
	JWKSFile       string        `koanf:"jwks_file"`
	JWKSURL        string        `koanf:"jwks_url"`
	JWKSRefresh    time.Duration `koanf:"jwks_refresh"`
	Algorithms     []string      `koanf:"algorithms"`
	Leeway         time.Duration `koanf:"leeway"`
	PrivateKeyFile string        `koanf:"private_key_file"`
	PrivateKeyID   string        `koanf:"private_key_id"`
}

// Presence configures driver presence.
type Presence struct {
	Grace            time.Duration `koanf:"grace"`
	LastSeenInterval time.Duration `koanf:"last_seen_interval"`
}

// Location configures the hand-off of driver location fixes.
type Location struct {
	MaxFutureSkew      time.Duration `koanf:"max_future_skew"`
	Buffer             int           `koanf:"buffer"`
	RedisFlushInterval time.Duration `koanf:"redis_flush_interval"`
}

// Log configures the structured logger.
type Log struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"`
}

// HTTP configures the Fiber edge (webhooks, REST API, health and metrics).
type HTTP struct {
	Host           string        `koanf:"host"`
	Port           int           `koanf:"port"`
	PublicURL      string        `koanf:"public_url"`
	ReadTimeout    time.Duration `koanf:"read_timeout"`
	WriteTimeout   time.Duration `koanf:"write_timeout"`
	IdleTimeout    time.Duration `koanf:"idle_timeout"`
	BodyLimit      ByteSize      `koanf:"body_limit"`
	Concurrency    int           `koanf:"concurrency"`
	ReadyzTimeout  time.Duration `koanf:"readyz_timeout"`
	TrustedProxies []string      `koanf:"trusted_proxies"`
}

// Postgres configures the source of truth. URL is the service role (owns nothing,
// subject to RLS); MigrateURL is the role that owns the schema.
type Postgres struct {
	URL              string        `koanf:"url"`
	MigrateURL       string        `koanf:"migrate_url"`
	AutoMigrate      bool          `koanf:"auto_migrate"`
	MaxConns         int           `koanf:"max_conns"`
	MinConns         int           `koanf:"min_conns"`
	ConnectTimeout   time.Duration `koanf:"connect_timeout"`
	StatementTimeout time.Duration `koanf:"statement_timeout"`
}

// Redis configures presence, rate limits and hot snapshots.
type Redis struct {
	Addr        string        `koanf:"addr"`
	Password    string        `koanf:"password"`
	DB          int           `koanf:"db"`
	KeyPrefix   string        `koanf:"key_prefix"`
	PoolSize    int           `koanf:"pool_size"`
	DialTimeout time.Duration `koanf:"dial_timeout"`
}

// NATS configures the event backbone: embedded by default, an external cluster when URL is set.
type NATS struct {
	URL             string        `koanf:"url"`
	Host            string        `koanf:"host"`
	Port            int           `koanf:"port"`
	StoreDir        string        `koanf:"store_dir"`
	MaxStore        ByteSize      `koanf:"max_store"`
	Replicas        int           `koanf:"replicas"`
	DuplicateWindow time.Duration `koanf:"duplicate_window"`
	IngestMaxAge    time.Duration `koanf:"ingest_max_age"`
	EventsMaxAge    time.Duration `koanf:"events_max_age"`
	OutboundMaxAge  time.Duration `koanf:"outbound_max_age"`
}

// Startup configures how the hub waits for its dependencies.
type Startup struct {
	RetryInitial time.Duration `koanf:"retry_initial"`
	RetryMax     time.Duration `koanf:"retry_max"`
}

// Dispatch configures the dispatch engine. Strategy, OfferTimeout, MaxPickupDistance,
// BroadcastFanout and BatchWindow are the defaults of every tenant; a tenant's own settings
// (PUT /v1/dispatch/settings) override them.
type Dispatch struct {
	Strategy          string        `koanf:"strategy"`
	OfferTimeout      time.Duration `koanf:"offer_timeout"`
	MaxPickupDistance float64       `koanf:"max_pickup_distance_m"`
	BroadcastFanout   int           `koanf:"broadcast_fanout"`
	BatchWindow       time.Duration `koanf:"batch_window"`
	SilentAfter       time.Duration `koanf:"silent_after"`
	SweepInterval     time.Duration `koanf:"sweep_interval"`
	H3Resolution      int           `koanf:"h3_resolution"`
	MaxFixAge         time.Duration `koanf:"max_fix_age"`
	MaxSpeed          float64       `koanf:"max_speed"`
}

// Connectors configures the status pushes to the stores (connectors.Config), their circuit
// breakers (one per platform and store), and the flags every tenant starts with.
type Connectors struct {
	Enabled            bool          `koanf:"enabled"`
	Workers            int           `koanf:"workers"`
	Attempts           int           `koanf:"attempts"`
	RetryDelay         time.Duration `koanf:"retry_delay"`
	RetryDelayMax      time.Duration `koanf:"retry_delay_max"`
	Timeout            time.Duration `koanf:"timeout"`
	DelayedAfter       time.Duration `koanf:"delayed_after"`
	Retention          time.Duration `koanf:"retention"`
	BreakerFailureRate float64       `koanf:"breaker_failure_rate"`
	BreakerCalls       int           `koanf:"breaker_calls"`
	BreakerDelay       time.Duration `koanf:"breaker_delay"`
	BreakerProbes      int           `koanf:"breaker_probes"`
	SlowCall           time.Duration `koanf:"slow_call"`
	Carrier            string        `koanf:"carrier"`
	TrackingURL        string        `koanf:"tracking_url"`
	Off                []string      `koanf:"off"`    // platforms whose connector is off unless a tenant turns it on
	Canary             []string      `koanf:"canary"` // "platform=percent": the share of orders synced unless a tenant sets its own
}

// CanaryPercents parses Canary ("shopify=25") into percentages by platform.
func (c Connectors) CanaryPercents() (map[string]int, error) {
	out := map[string]int{}
	for _, item := range c.Canary {
		name, pct, ok := strings.Cut(item, "=")
		n, err := strconv.Atoi(strings.TrimSpace(pct))
		if !ok || err != nil || n < 0 || n > 100 || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("%q: must be platform=percent with a percent of 0-100", item)
		}
		out[strings.TrimSpace(name)] = n
	}
	return out, nil
}

// Intake configures order intake from INGEST: one durable consumer and worker pool per
// platform.
type Intake struct {
	Workers       int           `koanf:"workers"`
	Attempts      int           `koanf:"attempts"`
	RetryDelay    time.Duration `koanf:"retry_delay"`
	RetryDelayMax time.Duration `koanf:"retry_delay_max"`
	AckWait       time.Duration `koanf:"ack_wait"`
}

// Backoff is the wait before each redelivery: RetryDelay, then four times the previous
// wait, up to RetryDelayMax; the last wait repeats for later deliveries.
func (i Intake) Backoff() []time.Duration {
	var out []time.Duration
	for d := i.RetryDelay; len(out) < max(i.Attempts-1, 1); d *= 4 {
		if d >= i.RetryDelayMax {
			out = append(out, i.RetryDelayMax)
			break
		}
		out = append(out, d)
	}
	return out
}

// Outbox configures the relay of domain events to EVENTS.
type Outbox struct {
	PollInterval  time.Duration `koanf:"poll_interval"`
	BatchMax      int           `koanf:"batch_max"`
	Retention     time.Duration `koanf:"retention"`
	PruneInterval time.Duration `koanf:"prune_interval"`
}

// Bridge configures the consumer that publishes EVENTS into the MQTT broker.
type Bridge struct {
	Durable string        `koanf:"durable"`
	Batch   int           `koanf:"batch"`
	AckWait time.Duration `koanf:"ack_wait"`
}

// Runtime tunes the Go runtime of serve. The GOGC and GOMEMLIMIT environment variables, when
// set, win over these keys.
type Runtime struct {
	GCPercent   int      `koanf:"gc_percent"`
	MemoryLimit ByteSize `koanf:"memory_limit"`
}

// Default returns the configuration used when nothing overrides it.
func Default() Config {
	return Config{
		Log:             Log{Level: "info", Format: "json"},
		DataDir:         ".data/hub",
		ShutdownTimeout: 15 * time.Second,
		HTTP: HTTP{
			Host:          "127.0.0.1",
			Port:          8080,
			ReadTimeout:   10 * time.Second,
			WriteTimeout:  10 * time.Second,
			IdleTimeout:   60 * time.Second,
			BodyLimit:     4 * MiB,
			Concurrency:   8192,
			ReadyzTimeout: 2 * time.Second,
		},
		Postgres: Postgres{
			URL:              "postgres://dispatchhub_app:dispatchhub_app@127.0.0.1:55432/dispatchhub?sslmode=disable",
			MigrateURL:       "postgres://dispatchhub:dispatchhub@127.0.0.1:55432/dispatchhub?sslmode=disable",
			AutoMigrate:      true,
			MaxConns:         16,
			MinConns:         2,
			ConnectTimeout:   5 * time.Second,
			StatementTimeout: 15 * time.Second,
		},
		Redis: Redis{
			Addr:        "127.0.0.1:56379",
			KeyPrefix:   "dh:",
			PoolSize:    32,
			DialTimeout: 2 * time.Second,
		},
		NATS: NATS{
			Host:            "127.0.0.1",
			Port:            4222,
			MaxStore:        8 * GiB,
			Replicas:        1,
			DuplicateWindow: 15 * time.Minute,
			IngestMaxAge:    72 * time.Hour,
			EventsMaxAge:    72 * time.Hour,
			OutboundMaxAge:  7 * 24 * time.Hour,
		},
		MQTT: MQTT{
			TCPAddr:          "127.0.0.1:1883",
			WSAddr:           "127.0.0.1:8083",
			WSPath:           "/mqtt",
			WSReadLimit:      80 * KiB,
			MaxPacketSize:    64 * KiB,
			ConnectTimeout:   5 * time.Second,
			KeepaliveMax:     5 * time.Minute,
			MaxClients:       20000,
			MaxInflight:      8192,
			MaxPendingWrites: 512,
			SessionExpiryMax: time.Hour,
			MessageExpiryMax: time.Hour,
			SysInterval:      10 * time.Second,
		},
		Auth: Auth{
			Audience:    "dispatchhub",
			JWKSRefresh: 5 * time.Minute,
			Leeway:      30 * time.Second,
		},
		Presence: Presence{
			Grace:            20 * time.Second,
			LastSeenInterval: 10 * time.Second,
		},
		Location: Location{
			MaxFutureSkew:      30 * time.Second,
			Buffer:             8192,
			RedisFlushInterval: 100 * time.Millisecond,
		},
		Ingest: Ingest{
			BodyLimit:          MiB,
			TimestampTolerance: 5 * time.Minute,
			InlinePayloadMax:   256 * KiB,
			RateTenant:         2000,
			RateTenantBurst:    4000,
			RateStore:          500,
			RateStoreBurst:     1000,
			Queue:              16384,
			BatchMax:           256,
			StoreCacheTTL:      time.Minute,
			RelayPollInterval:  time.Second,
			RejectionsKept:     200,
		},
		Startup: Startup{
			RetryInitial: 250 * time.Millisecond,
			RetryMax:     10 * time.Second,
		},
		Intake: Intake{Workers: 4, Attempts: 5, RetryDelay: time.Second, RetryDelayMax: 30 * time.Second, AckWait: 30 * time.Second},
		Dispatch: Dispatch{Strategy: "nearest", OfferTimeout: 30 * time.Second, MaxPickupDistance: 15000, BroadcastFanout: 3,
			BatchWindow: 2 * time.Second, SilentAfter: time.Minute, SweepInterval: time.Second, H3Resolution: 9,
			MaxFixAge: 2 * time.Minute, MaxSpeed: 70},
		Outbox: Outbox{PollInterval: time.Second, BatchMax: 500, Retention: 24 * time.Hour, PruneInterval: time.Minute},
		Bridge: Bridge{Durable: "bridge-mqtt", Batch: 256, AckWait: 30 * time.Second},
		Connectors: Connectors{Enabled: true, Workers: 8, Attempts: 10, RetryDelay: time.Second, RetryDelayMax: 5 * time.Minute,
			Timeout: 10 * time.Second, DelayedAfter: time.Minute, Retention: 7 * 24 * time.Hour,
			BreakerFailureRate: 0.5, BreakerCalls: 10, BreakerDelay: 10 * time.Second,
			BreakerProbes: 2, SlowCall: 5 * time.Second, Carrier: "Pilot X"},
		Runtime: Runtime{GCPercent: 400},
	}
}

// HTTPAddr is the address the edge listens on.
func (c *Config) HTTPAddr() string { return fmt.Sprintf("%s:%d", c.HTTP.Host, c.HTTP.Port) }

// BaseURL is the public base URL of the HTTP edge (used in printed webhook URLs).
func (c *Config) BaseURL() string {
	if c.HTTP.PublicURL != "" {
		return c.HTTP.PublicURL
	}
	return "http://" + c.HTTPAddr()
}

// ObjectDir is where payloads above ingest.inline_payload_max are kept.
func (c *Config) ObjectDir() string {
	if c.Ingest.ObjectDir != "" {
		return c.Ingest.ObjectDir
	}
	return filepath.Join(c.DataDir, "objects")
}

// NATSStoreDir is the embedded NATS server's store directory; it keeps its streams in
// NATSStoreDir/jetstream.
func (c *Config) NATSStoreDir() string {
	if c.NATS.StoreDir != "" {
		return c.NATS.StoreDir
	}
	return filepath.Join(c.DataDir, "nats")
}
