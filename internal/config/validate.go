package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pilotx/dispatchhub/internal/store"
)

// Validate checks every key and returns an Errors with one line per invalid key.
func (c *Config) Validate() error {
	var v validator
	v.oneOf("log.level", c.Log.Level, "trace", "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "json", "console")
	v.nonEmpty("data_dir", c.DataDir)
	v.durationIn("shutdown_timeout", c.ShutdownTimeout, time.Second, 5*time.Minute)

	v.nonEmpty("http.host", c.HTTP.Host)
	v.port("http.port", c.HTTP.Port, false)
	if c.HTTP.PublicURL != "" {
		u, err := url.Parse(c.HTTP.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("http.public_url", "must be an http:// or https:// URL", strconv.Quote(c.HTTP.PublicURL))
		}
	}
	v.durationIn("http.read_timeout", c.HTTP.ReadTimeout, 100*time.Millisecond, 10*time.Minute)
	v.durationIn("http.write_timeout", c.HTTP.WriteTimeout, 100*time.Millisecond, 10*time.Minute)
	v.durationIn("http.idle_timeout", c.HTTP.IdleTimeout, time.Second, time.Hour)
	v.sizeIn("http.body_limit", c.HTTP.BodyLimit, KiB, GiB)
	v.intIn("http.concurrency", c.HTTP.Concurrency, 1, 1_000_000)
	v.durationIn("http.readyz_timeout", c.HTTP.ReadyzTimeout, 10*time.Millisecond, time.Minute)
	for _, p := range c.HTTP.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				v.add("http.trusted_proxies", "must be IP addresses or CIDR ranges", strconv.Quote(p))
			}
		}
	}

	v.postgresURL("postgres.url", c.Postgres.URL, true)
	v.postgresURL("postgres.migrate_url", c.Postgres.MigrateURL, c.Postgres.AutoMigrate)
	v.intIn("postgres.max_conns", c.Postgres.MaxConns, 1, 1000)
	if c.Postgres.MaxConns >= 1 && (c.Postgres.MinConns < 0 || c.Postgres.MinConns > c.Postgres.MaxConns) {
		v.add("postgres.min_conns", fmt.Sprintf("must be 0-%d (postgres.max_conns)", c.Postgres.MaxConns), strconv.Itoa(c.Postgres.MinConns))
	}
	v.durationIn("postgres.connect_timeout", c.Postgres.ConnectTimeout, 100*time.Millisecond, 5*time.Minute)
	v.durationIn("postgres.statement_timeout", c.Postgres.StatementTimeout, 0, time.Hour)

	v.hostPort("redis.addr", c.Redis.Addr)
	v.intIn("redis.db", c.Redis.DB, 0, 15)
	v.intIn("redis.pool_size", c.Redis.PoolSize, 1, 10_000)
	v.durationIn("redis.dial_timeout", c.Redis.DialTimeout, 10*time.Millisecond, time.Minute)

	if c.NATS.URL != "" {
		for _, s := range strings.Split(c.NATS.URL, ",") {
			u, err := url.Parse(strings.TrimSpace(s))
			if err != nil || !slices.Contains([]string{"nats", "tls", "ws", "wss"}, u.Scheme) || u.Host == "" {
				v.add("nats.url", "must be empty (embedded server) or nats:// URLs separated by commas", strconv.Quote(c.NATS.URL))
				break
			}
		}
	}
	v.nonEmpty("nats.host", c.NATS.Host)
	if c.NATS.Port < -1 || c.NATS.Port > 65535 {
		v.add("nats.port", "must be 1-65535, 0 (no TCP listener) or -1 (random)", strconv.Itoa(c.NATS.Port))
	}
	v.sizeIn("nats.max_store", c.NATS.MaxStore, MiB, 1<<50)
	v.intIn("nats.replicas", c.NATS.Replicas, 1, 5)
	v.durationIn("nats.duplicate_window", c.NATS.DuplicateWindow, time.Second, 7*24*time.Hour)
	for key, age := range map[string]time.Duration{
		"nats.ingest_max_age": c.NATS.IngestMaxAge, "nats.events_max_age": c.NATS.EventsMaxAge, "nats.outbound_max_age": c.NATS.OutboundMaxAge,
	} {
		if age < c.NATS.DuplicateWindow {
			v.add(key, "must be at least nats.duplicate_window ("+c.NATS.DuplicateWindow.String()+")", age.String())
		}
	}

	for key, addr := range map[string]string{"mqtt.tcp_addr": c.MQTT.TCPAddr, "mqtt.ws_addr": c.MQTT.WSAddr, "mqtt.tls_addr": c.MQTT.TLSAddr, "mqtt.wss_addr": c.MQTT.WSSAddr} {
		if addr != "" {
			v.hostPortAnyHost(key, addr)
		}
	}
	if c.MQTT.TCPAddr == "" && c.MQTT.WSAddr == "" && c.MQTT.TLSAddr == "" && c.MQTT.WSSAddr == "" {
		v.add("mqtt.ws_addr", "must be set unless another MQTT listener is (mqtt.tcp_addr, mqtt.tls_addr, mqtt.wss_addr)", `""`)
	}
	if (c.MQTT.TLSAddr != "" || c.MQTT.WSSAddr != "") && (c.MQTT.TLSCertFile == "" || c.MQTT.TLSKeyFile == "") {
		v.add("mqtt.tls_cert_file", "must be set with mqtt.tls_key_file when mqtt.tls_addr or mqtt.wss_addr is", strconv.Quote(c.MQTT.TLSCertFile))
	}
	if !strings.HasPrefix(c.MQTT.WSPath, "/") {
		v.add("mqtt.ws_path", "must start with /", strconv.Quote(c.MQTT.WSPath))
	}
	for _, o := range c.MQTT.WSAllowedOrigins {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			v.add("mqtt.ws_allowed_origins", "must be origins such as https://console.example.com, or *", strconv.Quote(o))
		}
	}
	v.sizeIn("mqtt.max_packet_size", c.MQTT.MaxPacketSize, KiB, 256*MiB)
	if c.MQTT.WSReadLimit < c.MQTT.MaxPacketSize {
		v.add("mqtt.ws_read_limit", "must be at least mqtt.max_packet_size ("+c.MQTT.MaxPacketSize.String()+")", c.MQTT.WSReadLimit.String())
	}
	v.durationIn("mqtt.connect_timeout", c.MQTT.ConnectTimeout, 100*time.Millisecond, time.Minute)
	v.durationIn("mqtt.keepalive_max", c.MQTT.KeepaliveMax, 5*time.Second, 18*time.Hour)
	v.intIn("mqtt.max_clients", c.MQTT.MaxClients, 1, 10_000_000)
	v.intIn("mqtt.max_inflight", c.MQTT.MaxInflight, 1, 65535)
	v.intIn("mqtt.max_pending_writes", c.MQTT.MaxPendingWrites, 1, 1<<20)
	v.durationIn("mqtt.session_expiry_max", c.MQTT.SessionExpiryMax, 0, 30*24*time.Hour)
	v.durationIn("mqtt.message_expiry_max", c.MQTT.MessageExpiryMax, time.Second, 30*24*time.Hour)
	v.durationIn("mqtt.sys_interval", c.MQTT.SysInterval, time.Second, time.Hour)

	v.nonEmpty("auth.audience", c.Auth.Audience)
	if c.Auth.HS256SecretRef != "" && !strings.HasPrefix(c.Auth.HS256SecretRef, "env:") && !strings.HasPrefix(c.Auth.HS256SecretRef, "file:/") {
		v.add("auth.hs256_secret_ref", "must be env:NAME or file:/absolute/path", "a value that is neither")
	}
	if c.Auth.JWKSURL != "" {
		if u, err := url.Parse(c.Auth.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.add("auth.jwks_url", "must be an https:// URL", strconv.Quote(c.Auth.JWKSURL))
		}
	}
	v.durationIn("auth.jwks_refresh", c.Auth.JWKSRefresh, time.Second, 24*time.Hour)
	for _, a := range c.Auth.Algorithms {
		if !slices.Contains([]string{"HS256", "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}, a) {
			v.add("auth.algorithms", "must be some of HS256, RS256, RS384, RS512, PS256, ES256, ES384, EdDSA", strconv.Quote(a))
		}
	}
	v.durationIn("auth.leeway", c.Auth.Leeway, 0, 5*time.Minute)
	if c.Auth.PrivateKeyFile != "" && !filepath.IsAbs(c.Auth.PrivateKeyFile) {
		v.add("auth.private_key_file", "must be an absolute path", strconv.Quote(c.Auth.PrivateKeyFile))
	}

	v.durationIn("presence.grace", c.Presence.Grace, 0, time.Hour)
	v.durationIn("presence.last_seen_interval", c.Presence.LastSeenInterval, time.Second, time.Hour)
	v.durationIn("location.max_future_skew", c.Location.MaxFutureSkew, 0, time.Hour)
	v.intIn("location.buffer", c.Location.Buffer, 16, 10_000_000)
	v.durationIn("location.redis_flush_interval", c.Location.RedisFlushInterval, 10*time.Millisecond, time.Minute)

	v.sizeIn("ingest.body_limit", c.Ingest.BodyLimit, KiB, c.HTTP.BodyLimit)
	v.durationIn("ingest.timestamp_tolerance", c.Ingest.TimestampTolerance, time.Second, 24*time.Hour)
	v.sizeIn("ingest.inline_payload_max", c.Ingest.InlinePayloadMax, KiB, 64*MiB)
	v.intIn("ingest.rate_tenant", c.Ingest.RateTenant, 1, 10_000_000)
	v.intIn("ingest.rate_tenant_burst", c.Ingest.RateTenantBurst, 1, 10_000_000)
	v.intIn("ingest.rate_store", c.Ingest.RateStore, 1, 10_000_000)
	v.intIn("ingest.rate_store_burst", c.Ingest.RateStoreBurst, 1, 10_000_000)
	v.intIn("ingest.queue", c.Ingest.Queue, 1, 10_000_000)
	v.intIn("ingest.batch_max", c.Ingest.BatchMax, 1, 10_000)
	v.durationIn("ingest.store_cache_ttl", c.Ingest.StoreCacheTTL, time.Second, 24*time.Hour)
	v.durationIn("ingest.relay_poll_interval", c.Ingest.RelayPollInterval, 10*time.Millisecond, time.Hour)
	v.intIn("ingest.rejections_kept", c.Ingest.RejectionsKept, 0, 100_000)

	v.durationIn("startup.retry_initial", c.Startup.RetryInitial, time.Millisecond, time.Minute)
	v.durationIn("startup.retry_max", c.Startup.RetryMax, c.Startup.RetryInitial, time.Hour)
	v.intIn("intake.workers", c.Intake.Workers, 1, 64)
	v.intIn("intake.attempts", c.Intake.Attempts, 1, 100)
	v.durationIn("intake.retry_delay", c.Intake.RetryDelay, 10*time.Millisecond, time.Hour)
	v.durationIn("intake.retry_delay_max", c.Intake.RetryDelayMax, c.Intake.RetryDelay, 24*time.Hour)
	v.durationIn("intake.ack_wait", c.Intake.AckWait, time.Second, time.Hour)
	v.oneOf("dispatch.strategy", c.Dispatch.Strategy, "nearest", "batch", "broadcast", "manual")
	v.durationIn("dispatch.offer_timeout", c.Dispatch.OfferTimeout, 5*time.Second, 10*time.Minute)
	if d := c.Dispatch.MaxPickupDistance; !(d >= 100 && d <= 500_000) {
		v.add("dispatch.max_pickup_distance_m", "must be 100-500000", strconv.FormatFloat(d, 'g', -1, 64))
	}
	v.intIn("dispatch.broadcast_fanout", c.Dispatch.BroadcastFanout, 1, 50)
	v.durationIn("dispatch.batch_window", c.Dispatch.BatchWindow, 100*time.Millisecond, time.Minute)
	v.durationIn("dispatch.silent_after", c.Dispatch.SilentAfter, 5*time.Second, time.Hour)
	v.durationIn("dispatch.sweep_interval", c.Dispatch.SweepInterval, 50*time.Millisecond, time.Minute)
	v.intIn("dispatch.h3_resolution", c.Dispatch.H3Resolution, 1, 15)
	v.durationIn("dispatch.max_fix_age", c.Dispatch.MaxFixAge, time.Second, 24*time.Hour)
	if sp := c.Dispatch.MaxSpeed; !(sp >= 1 && sp <= 340) {
		v.add("dispatch.max_speed", "must be 1-340 (m/s)", strconv.FormatFloat(sp, 'g', -1, 64))
	}
	v.durationIn("outbox.poll_interval", c.Outbox.PollInterval, 10*time.Millisecond, time.Hour)
	v.intIn("outbox.batch_max", c.Outbox.BatchMax, 1, 10000)
	v.durationIn("outbox.retention", c.Outbox.Retention, time.Minute, 365*24*time.Hour)
	v.durationIn("outbox.prune_interval", c.Outbox.PruneInterval, time.Second, 24*time.Hour)
	if !validDurable(c.Bridge.Durable) {
		v.add("bridge.durable", "must be 1-64 characters of A-Z, a-z, 0-9, '-' and '_'", c.Bridge.Durable)
	}
	v.intIn("bridge.batch", c.Bridge.Batch, 1, 10000)
	v.durationIn("bridge.ack_wait", c.Bridge.AckWait, time.Second, time.Hour)
	v.intIn("connectors.workers", c.Connectors.Workers, 1, 256)
	v.intIn("connectors.attempts", c.Connectors.Attempts, 1, 100)
	v.durationIn("connectors.retry_delay", c.Connectors.RetryDelay, 10*time.Millisecond, time.Hour)
	v.durationIn("connectors.retry_delay_max", c.Connectors.RetryDelayMax, c.Connectors.RetryDelay, 24*time.Hour)
	v.durationIn("connectors.timeout", c.Connectors.Timeout, 100*time.Millisecond, 5*time.Minute)
	v.durationIn("connectors.delayed_after", c.Connectors.DelayedAfter, time.Second, 24*time.Hour)
	v.durationIn("connectors.retention", c.Connectors.Retention, time.Hour, 365*24*time.Hour)
	if r := c.Connectors.BreakerFailureRate; !(r > 0 && r <= 1) {
		v.add("connectors.breaker_failure_rate", "must be more than 0 and at most 1", strconv.FormatFloat(r, 'g', -1, 64))
	}
	v.intIn("connectors.breaker_calls", c.Connectors.BreakerCalls, 1, 10000)
	v.durationIn("connectors.breaker_delay", c.Connectors.BreakerDelay, 100*time.Millisecond, time.Hour)
	v.intIn("connectors.breaker_probes", c.Connectors.BreakerProbes, 1, 100)
	v.durationIn("connectors.slow_call", c.Connectors.SlowCall, 10*time.Millisecond, 5*time.Minute)
	for _, p := range c.Connectors.Off {
		if !store.ValidPlatform(p) {
			v.add("connectors.off", "must list platform names (1-40 of a-z, 0-9, '_' and '-')", p)
		}
	}
	if pcts, err := c.Connectors.CanaryPercents(); err != nil {
		v.add("connectors.canary", "must list platform=percent with a percent of 0-100", err.Error())
	} else {
		for p := range pcts {
			if !store.ValidPlatform(p) {
				v.add("connectors.canary", "must name platforms (1-40 of a-z, 0-9, '_' and '-')", p)
			}
		}
	}
	v.intIn("runtime.gc_percent", c.Runtime.GCPercent, -1, 10000)
	if c.Runtime.MemoryLimit != 0 {
		v.sizeIn("runtime.memory_limit", c.Runtime.MemoryLimit, 64*MiB, 1<<20*GiB)
	}

	if len(v.errs) > 0 {
		return v.errs
	}
	return nil
}

type validator struct{ errs Errors }

func (v *validator) add(key, allowed, value string) {
	v.errs = append(v.errs, &FieldError{Key: key, Allowed: allowed, Value: value})
}

func (v *validator) oneOf(key, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		v.add(key, "must be one of "+strings.Join(allowed, ", "), strconv.Quote(value))
	}
}

func (v *validator) nonEmpty(key, value string) {
	if strings.TrimSpace(value) == "" {
		v.add(key, "must not be empty", `""`)
	}
}

func (v *validator) port(key string, p int, zeroOK bool) {
	if (p == 0 && !zeroOK) || p < 0 || p > 65535 {
		v.add(key, "must be 1-65535", strconv.Itoa(p))
	}
}

func (v *validator) intIn(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(key, fmt.Sprintf("must be %d-%d", lo, hi), strconv.Itoa(n))
	}
}

func (v *validator) durationIn(key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.add(key, fmt.Sprintf("must be between %s and %s", lo, hi), d.String())
	}
}

func (v *validator) sizeIn(key string, s, lo, hi ByteSize) {
	if s < lo || s > hi {
		v.add(key, fmt.Sprintf("must be between %s and %s", lo, hi), s.String())
	}
}

func (v *validator) hostPort(key, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		v.add(key, "must be host:port", strconv.Quote(addr))
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		v.add(key, "must be host:port with a port 1-65535", strconv.Quote(addr))
	}
}

// hostPortAnyHost accepts host:port where host may be empty (all interfaces).
func (v *validator) hostPortAnyHost(key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(key, "must be host:port", strconv.Quote(addr))
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.add(key, "must be host:port with a port 0-65535", strconv.Quote(addr))
	}
}

func (v *validator) postgresURL(key, raw string, required bool) {
	if raw == "" {
		if required {
			v.add(key, "must be a postgres:// URL", `""`)
		}
		return
	}
	u, err := url.Parse(raw)
	// The host is either in the authority or, for a Unix socket directory, in ?host=/path.
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || (u.Host == "" && u.Query().Get("host") == "") {
		// Never echo a DSN: it may hold a password.
		v.add(key, "must be a postgres://user:password@host:port/db URL (or ?host=/socket/dir)", "a value that is not one")
	}
}

// validDurable reports whether s can name a JetStream durable consumer.
func validDurable(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
