// Package bus is the NATS backbone: an embedded nats-server with JetStream (file storage,
// fsync after every write) for a single machine, or a client of an external cluster when a URL
// is configured. Start creates or updates the streams of the contract (INGEST, EVENTS,
// OUTBOUND) so every replica agrees on them.
package bus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Stream names and their subjects (see DESIGN.md, "NATS subjects").
const (
	StreamIngest   = "INGEST"
	StreamEvents   = "EVENTS"
	StreamOutbound = "OUTBOUND"
)

// Config configures the bus.
type Config struct {
	URL             string        // external cluster; empty = embedded server
	Host            string        // embedded: client listener address
	Port            int           // embedded: client port; 0 = in-process only; -1 = random
	StoreDir        string        // embedded: the server keeps its streams in StoreDir/jetstream
	MaxStore        int64         // embedded: JetStream file storage limit
	Replicas        int           // stream replicas
	DuplicateWindow time.Duration // Nats-Msg-Id de-duplication window
	IngestMaxAge    time.Duration
	EventsMaxAge    time.Duration
	OutboundMaxAge  time.Duration
}

// Bus owns the NATS connection and, when embedded, the server.
type Bus struct {
	cfg Config
	log zerolog.Logger
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
}

// Start starts the embedded server (or connects to the cluster) and ensures the streams. On
// error everything it started is stopped again.
func Start(ctx context.Context, cfg Config, log zerolog.Logger) (*Bus, error) {
	b := &Bus{cfg: cfg, log: log}
	if err := b.start(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Bus) start(ctx context.Context) error {
	opts := []nats.Option{
		nats.Name("dispatchhub"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn().Err(err).Msg("nats disconnected")
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { b.log.Info().Msg("nats reconnected") }),
	}
	var err error
	if b.cfg.URL == "" {
		if b.srv, err = b.startEmbedded(); err != nil {
			return err
		}
		b.nc, err = nats.Connect("", append(opts, nats.InProcessServer(b.srv))...)
	} else {
		b.nc, err = nats.Connect(b.cfg.URL, opts...)
	}
	if err != nil {
		return fmt.Errorf("nats connect: %w", err)
	}
	if b.js, err = jetstream.New(b.nc); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return b.EnsureStreams(ctx)
}

func (b *Bus) startEmbedded() (*server.Server, error) {
	if b.cfg.StoreDir == "" {
		return nil, errors.New("nats: embedded server needs a store directory")
	}
	if err := os.MkdirAll(b.cfg.StoreDir, 0o750); err != nil {
		return nil, fmt.Errorf("nats store dir: %w", err)
	}
	opts := &server.Options{
		ServerName:         "dispatchhub",
		Host:               b.cfg.Host,
		Port:               b.cfg.Port,
		JetStream:          true,
		StoreDir:           b.cfg.StoreDir,
		JetStreamMaxStore:  b.cfg.MaxStore,
		JetStreamMaxMemory: 256 << 20,
		SyncAlways:         true,
		NoSigs:             true,
	}
	switch b.cfg.Port {
	case 0:
		opts.DontListen = true
	case -1:
		opts.Port = server.RANDOM_PORT
	default:
		// The server would only log a failed listen and never become ready: say it plainly.
		addr := net.JoinHostPort(b.cfg.Host, strconv.Itoa(b.cfg.Port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("nats: cannot listen on %s (set nats.port, 0 for no listener): %w", addr, err)
		}
		_ = l.Close()
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	srv.SetLoggerV2(serverLogger{b.log}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, errors.New("nats server: not ready for connections within 10s")
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("nats server: JetStream did not start (store dir %s)", b.cfg.StoreDir)
	}
	return srv, nil
}

// StreamConfigs are the streams of the contract.
func (b *Bus) StreamConfigs() []jetstream.StreamConfig {
	mk := func(name, subject, desc string, age time.Duration) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:        name,
			Description: desc,
			Subjects:    []string{subject},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      age,
			Duplicates:  b.cfg.DuplicateWindow,
			Replicas:    max(b.cfg.Replicas, 1),
			// Relays publish what PostgreSQL committed in atomic batches: with sync always,
			// the server then writes a batch with one fsync instead of one per message.
			AllowAtomicPublish: true,
		}
	}
	return []jetstream.StreamConfig{
		mk(StreamIngest, "ingest.>", "normalised inbound store events: ingest.{platform}.{tenant}", b.cfg.IngestMaxAge),
		mk(StreamEvents, "events.>", "domain events from the outbox: events.{tenant}.{EventType}", b.cfg.EventsMaxAge),
		mk(StreamOutbound, "outbound.>", "connector jobs: outbound.{platform}.{tenant}", b.cfg.OutboundMaxAge),
	}
}

// EnsureStreams creates the streams or updates them to the configuration.
func (b *Bus) EnsureStreams(ctx context.Context) error {
	for _, sc := range b.StreamConfigs() {
		if _, err := b.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// Conn is the core NATS connection (for loc.* and request/reply).
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream is the JetStream context.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Embedded is the in-process server, nil when connected to an external cluster.
func (b *Bus) Embedded() *server.Server { return b.srv }

// ClientURL is where `nats` CLI taps connect ("" when the embedded server has no listener).
func (b *Bus) ClientURL() string {
	if b.srv == nil {
		return b.cfg.URL
	}
	if b.cfg.Port == 0 {
		return ""
	}
	return b.srv.ClientURL()
}

// Check is the readiness check: connected, and JetStream answers.
func (b *Bus) Check(ctx context.Context) error {
	if b.nc == nil || !b.nc.IsConnected() {
		return errors.New("nats: not connected")
	}
	if _, err := b.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return nil
}

// Close flushes and closes the connection, then shuts the embedded server down and waits for it.
func (b *Bus) Close() {
	if b.nc != nil {
		_ = b.nc.FlushTimeout(2 * time.Second)
		b.nc.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}

// serverLogger sends the embedded server's log to zerolog; its chatty notices become debug.
type serverLogger struct{ log zerolog.Logger }

func (l serverLogger) Noticef(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l serverLogger) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l serverLogger) Fatalf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l serverLogger) Errorf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l serverLogger) Debugf(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }
func (l serverLogger) Tracef(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }
