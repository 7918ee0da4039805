// Package broker is the embedded MQTT broker (mochi-mqtt v2): its TCP, WebSocket, TLS and
// WSS listeners, per-client limits and capabilities, metrics, and start/stop.
//
// Authentication, ACL, presence and location hand-off are hooks added with AddHook; this
// package adds none that answers authentication or ACL, so without them every CONNECT is
// refused.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Per-client socket buffers of mochi: the read buffer is allocated for every connection,
// the write size is the threshold at which queued packets are flushed together.
const (
	clientReadBufferSize  = 1 << 10
	clientWriteBufferSize = 1 << 10
)

// Errors of the broker's life cycle.
var (
	ErrStarted    = errors.New("mqtt broker already started")
	ErrNotStarted = errors.New("mqtt broker not started")
	ErrClosed     = errors.New("mqtt broker closed")
)

// Broker owns the mochi server and its listeners.
type Broker struct {
	cfg        Config
	log        zerolog.Logger
	srv        *mqtt.Server
	listeners  []listener   // in the order tcp, ws, tls, wss; only the configured ones
	connecting sync.Map     // net.Conn → struct{}: accepted, CONNECT not processed yet
	expiring   *mqtt.Client // inline MQTT 5 client of PublishExpiring

	mu        sync.Mutex
	started   bool
	startErr  error // a failed Start: the broker can only be closed
	closed    bool
	closeOnce sync.Once
	closeErr  error
}

// listener is a mochi listener with the configuration key of its address.
type listener struct {
	listeners.Listener
	key string // e.g. mqtt.tcp_addr
}

// New builds the broker: the mochi server with the inline client enabled (the hub
// publishes through Server().Publish), capabilities from cfg, the limits hook and the
// listeners, which bind and serve only on Start. Metrics are registered on reg when it
// is not nil.
func New(cfg Config, log zerolog.Logger, reg prometheus.Registerer) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log = log.With().Str("component", "mqtt").Logger()

	var tlsConfig *tls.Config
	if cfg.TLSAddr != "" || cfg.WSSAddr != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt.tls_cert_file %s, mqtt.tls_key_file %s: %w", cfg.TLSCertFile, cfg.TLSKeyFile, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClients = int64(cfg.MaxClients)
	caps.MaximumPacketSize = uint32(cfg.MaxPacketSize)
	caps.MaximumInflight = uint16(cfg.MaxInflight)
	caps.MaximumClientWritesPending = int32(cfg.MaxPendingWrites)
	caps.MaximumSessionExpiryInterval = uint32(cfg.SessionExpiryMax / time.Second)
	caps.MaximumMessageExpiryInterval = int64(cfg.MessageExpiryMax / time.Second)
	// mochi does not announce a Topic Alias Maximum, so compliant clients send no aliases;
	// refusing them also bounds what a client can make the broker store.
	caps.TopicAliasMaximum = 0

	b := &Broker{cfg: cfg, log: log}
	b.srv = mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		ClientNetReadBufferSize:  clientReadBufferSize,
		ClientNetWriteBufferSize: clientWriteBufferSize,
		Logger:                   slog.New(newSlogHandler(log)),
		SysTopicResendInterval:   int64(cfg.SysInterval / time.Second),
		InlineClient:             true,
	})
	if err := b.srv.AddHook(&limits{
		keepaliveMax:  uint16(min(cfg.KeepaliveMax/time.Second, math.MaxUint16)),
		maxPacketSize: uint32(cfg.MaxPacketSize),
		connecting:    &b.connecting,
	}, nil); err != nil {
		return nil, fmt.Errorf("mqtt limits hook: %w", err)
	}

	refused := newRefusedCounter()
	writePool := &sync.Pool{} // WebSocket write buffers, shared by ws and wss
	conns := func(id string) *conns {
		for _, reason := range refusalReasons(id) {
			refused.WithLabelValues(id, reason)
		}
		return newConns(id, cfg.ConnectTimeout, &b.connecting, refused, b.disconnectClients, log.With().Str("listener", id).Logger())
	}
	ws := func(tc *tls.Config) wsOptions {
		return wsOptions{
			path:           cfg.WSPath,
			tlsConfig:      tc,
			readLimit:      cfg.WSReadLimit,
			origins:        cfg.WSAllowedOrigins,
			connectTimeout: cfg.ConnectTimeout,
			writePool:      writePool,
		}
	}
	if cfg.TCPAddr != "" {
		b.listeners = append(b.listeners, listener{newTCPListener(ListenerTCP, cfg.TCPAddr, nil, conns(ListenerTCP)), "mqtt.tcp_addr"})
	}
	if cfg.WSAddr != "" {
		b.listeners = append(b.listeners, listener{newWSListener(ListenerWS, cfg.WSAddr, ws(nil), conns(ListenerWS)), "mqtt.ws_addr"})
	}
	if cfg.TLSAddr != "" {
		b.listeners = append(b.listeners, listener{newTCPListener(ListenerTLS, cfg.TLSAddr, tlsConfig.Clone(), conns(ListenerTLS)), "mqtt.tls_addr"})
	}
	if cfg.WSSAddr != "" {
		wssTLS := tlsConfig.Clone()
		wssTLS.NextProtos = []string{"http/1.1"}
		b.listeners = append(b.listeners, listener{newWSListener(ListenerWSS, cfg.WSSAddr, ws(wssTLS), conns(ListenerWSS)), "mqtt.wss_addr"})
	}

	if reg != nil {
		for _, c := range []prometheus.Collector{newInfoCollector(b.srv), refused} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("mqtt metrics: %w", err)
			}
		}
	}
	b.expiring = b.srv.NewClient(nil, mqtt.LocalListener, "inline-expiring", true)
	b.expiring.Properties.ProtocolVersion = 5
	return b, nil
}

// Publish publishes payload to topic from the hub itself (the inline client): hooks and
// subscribers see it as any other message.
func (b *Broker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	return b.srv.Publish(topic, payload, retain, qos)
}

// PublishExpiring is Publish (not retained) with an MQTT 5 message expiry interval: a
// subscriber that has not received it within expiry (a driver offline, its session queueing)
// never gets it, and MQTT 5 subscribers receive the remaining interval. expiry is at least 1s.
func (b *Broker) PublishExpiring(topic string, payload []byte, qos byte, expiry time.Duration) error {
	secs := uint32(max(1, (expiry+time.Second-1)/time.Second))
	return b.srv.InjectPacket(b.expiring, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
		TopicName:   topic,
		Payload:     payload,
		PacketID:    uint16(qos), // inline publishes are not acknowledged; a packet id keeps them valid
		Properties:  packets.Properties{MessageExpiryInterval: secs},
	})
}

// AddHook attaches a mochi hook (auth, ACL, presence, ...). Add hooks before Start.
func (b *Broker) AddHook(h mqtt.Hook, config any) error {
	return b.srv.AddHook(h, config)
}

// Server is the mochi server, for its inline client (Publish, Subscribe) and its state.
func (b *Broker) Server() *mqtt.Server { return b.srv }

// Start binds every configured listener, failing with the key and address of the first
// that cannot bind (and releasing those already bound), then serves.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return ErrClosed
	case b.startErr != nil:
		return b.startErr
	case b.started:
		return ErrStarted
	}

	for i, l := range b.listeners {
		if err := b.srv.AddListener(l); err != nil {
			for _, bound := range b.listeners[:i] {
				bound.Close(func(string) {})
				b.srv.Listeners.Delete(bound.ID())
			}
			b.startErr = fmt.Errorf("listen %s %s: %w", l.key, l.Address(), err)
			return b.startErr
		}
	}
	if err := b.srv.Serve(); err != nil {
		b.startErr = fmt.Errorf("mqtt serve: %w", err)
		return b.startErr
	}
	b.started = true
	for _, l := range b.listeners {
		b.log.Debug().Str("listener", l.ID()).Str("addr", l.Address()).Msg("mqtt listening")
	}
	return nil
}

// Close stops the listeners, disconnects every client and waits for the broker's
// goroutines. It may be called more than once, and without Start.
func (b *Broker) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.closeOnce.Do(func() { b.closeErr = b.srv.Close() })
	return b.closeErr
}

// Check reports readiness: every listener accepts a TCP connection now. The error names
// the first listener that does not.
func (b *Broker) Check(ctx context.Context) error {
	b.mu.Lock()
	started, closed := b.started, b.closed
	addrs := make([][2]string, 0, len(b.listeners))
	for _, l := range b.listeners {
		addrs = append(addrs, [2]string{l.ID(), l.Address()})
	}
	b.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case !started:
		return ErrNotStarted
	}

	var d net.Dialer
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", dialAddr(a[1]))
		if err != nil {
			return fmt.Errorf("mqtt listener %s (%s): %w", a[0], a[1], err)
		}
		_ = c.Close()
	}
	return nil
}

// Addr is the bound address of listener id ("tcp", "ws", "tls", "wss") after Start; ""
// when that listener is disabled or not bound.
func (b *Broker) Addr(id string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.started {
		return ""
	}
	for _, l := range b.listeners {
		if l.ID() == id {
			return l.Address()
		}
	}
	return ""
}

// disconnectClients sends DISCONNECT "server shutting down" to the connected clients of a
// listener and closes their connections.
func (b *Broker) disconnectClients(listenerID string) {
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Listener == listenerID && !cl.Net.Inline && !cl.Closed() {
			_ = b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
}

// dialAddr turns a wildcard bind address into a loopback one that can be dialled.
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	ip := net.ParseIP(host)
	switch {
	case host == "":
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified() && ip.To4() != nil:
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
