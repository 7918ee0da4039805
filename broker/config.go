package broker

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"time"

	"github.com/pilotx/dispatchhub/internal/config"
)

// Listener IDs. Hooks see them as cl.Net.Listener and label their metrics with them.
const (
	ListenerTCP = "tcp"
	ListenerWS  = "ws"
	ListenerTLS = "tls"
	ListenerWSS = "wss"
)

// Config configures the broker, its listeners and its per-client limits. Zero values take
// the defaults of configs/dispatchhub.yaml, except the addresses (empty disables that
// listener) and SessionExpiryMax (zero keeps no session once its connection ends).
type Config struct {
	TCPAddr, WSAddr, TLSAddr, WSSAddr string        // "" disables that listener; port 0 picks a free port
	WSPath                            string        // the only path upgraded to a WebSocket; others get 404
	TLSCertFile, TLSKeyFile           string        // PEM; required when TLSAddr or WSSAddr is set
	WSAllowedOrigins                  []string      // exact Origin values or "*"; requests without Origin are always allowed
	WSReadLimit                       int64         // largest WebSocket message read; at least MaxPacketSize
	MaxPacketSize                     int           // largest MQTT packet a client may send
	ConnectTimeout                    time.Duration // a connection without a CONNECT by then is closed
	KeepaliveMax                      time.Duration // keepalives of 0 or above this are clamped to it
	MaxClients                        int           // connections beyond this get CONNACK "server busy"
	MaxInflight                       int           // per client: QoS 1/2 messages awaiting acknowledgement
	MaxPendingWrites                  int           // per client: packets queued for the socket
	SessionExpiryMax                  time.Duration // longest a disconnected persistent session is kept
	MessageExpiryMax                  time.Duration // longest a queued message waits for an offline client
	SysInterval                       time.Duration // $SYS topics refresh
}

// ConfigFrom converts the mqtt section of the hub's configuration.
func ConfigFrom(c config.MQTT) Config {
	return Config{
		TCPAddr:          c.TCPAddr,
		WSAddr:           c.WSAddr,
		TLSAddr:          c.TLSAddr,
		WSSAddr:          c.WSSAddr,
		WSPath:           c.WSPath,
		TLSCertFile:      c.TLSCertFile,
		TLSKeyFile:       c.TLSKeyFile,
		WSAllowedOrigins: append([]string(nil), c.WSAllowedOrigins...),
		WSReadLimit:      int64(c.WSReadLimit),
		MaxPacketSize:    int(c.MaxPacketSize),
		ConnectTimeout:   c.ConnectTimeout,
		KeepaliveMax:     c.KeepaliveMax,
		MaxClients:       c.MaxClients,
		MaxInflight:      c.MaxInflight,
		MaxPendingWrites: c.MaxPendingWrites,
		SessionExpiryMax: c.SessionExpiryMax,
		MessageExpiryMax: c.MessageExpiryMax,
		SysInterval:      c.SysInterval,
	}
}

// wsReadSlack is what WSReadLimit defaults to above MaxPacketSize (64 KiB + 16 KiB = the
// documented 80 KiB).
const wsReadSlack = 16 << 10

// withDefaults returns c with its zero values replaced by the documented defaults.
func (c Config) withDefaults() Config {
	d := config.Default().MQTT
	if c.WSPath == "" {
		c.WSPath = d.WSPath
	}
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = int(d.MaxPacketSize)
	}
	if c.WSReadLimit == 0 {
		c.WSReadLimit = int64(c.MaxPacketSize) + wsReadSlack
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = d.ConnectTimeout
	}
	if c.KeepaliveMax == 0 {
		c.KeepaliveMax = d.KeepaliveMax
	}
	if c.MaxClients == 0 {
		c.MaxClients = d.MaxClients
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = d.MaxInflight
	}
	if c.MaxPendingWrites == 0 {
		c.MaxPendingWrites = d.MaxPendingWrites
	}
	if c.MessageExpiryMax == 0 {
		c.MessageExpiryMax = d.MessageExpiryMax
	}
	if c.SysInterval == 0 {
		c.SysInterval = d.SysInterval
	}
	return c
}

// Validate checks c after defaults are applied; the error names each invalid key
// (as in configs/dispatchhub.yaml) and what it accepts.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(key, want string, got any) {
		errs = append(errs, fmt.Errorf("mqtt.%s: %s, got %v", key, want, got))
	}

	for _, a := range []struct{ key, addr string }{
		{"tcp_addr", c.TCPAddr}, {"ws_addr", c.WSAddr}, {"tls_addr", c.TLSAddr}, {"wss_addr", c.WSSAddr},
	} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			bad(a.key, "must be host:port", fmt.Sprintf("%q", a.addr))
		}
	}
	if c.TCPAddr == "" && c.WSAddr == "" && c.TLSAddr == "" && c.WSSAddr == "" {
		bad("ws_addr", "must be set unless another listener is (tcp_addr, tls_addr, wss_addr)", `""`)
	}
	if (c.TLSAddr != "" || c.WSSAddr != "") && (c.TLSCertFile == "" || c.TLSKeyFile == "") {
		bad("tls_cert_file", "must be set with mqtt.tls_key_file when mqtt.tls_addr or mqtt.wss_addr is", fmt.Sprintf("%q", c.TLSCertFile))
	}
	if !strings.HasPrefix(c.WSPath, "/") {
		bad("ws_path", "must start with /", fmt.Sprintf("%q", c.WSPath))
	}
	if c.MaxPacketSize < 16 || c.MaxPacketSize > 256<<20 {
		bad("max_packet_size", "must be 16 B to 256 MiB", c.MaxPacketSize)
	}
	if c.WSReadLimit < int64(c.MaxPacketSize) {
		bad("ws_read_limit", fmt.Sprintf("must be at least mqtt.max_packet_size (%d)", c.MaxPacketSize), c.WSReadLimit)
	}
	if c.ConnectTimeout < 0 {
		bad("connect_timeout", "must be positive", c.ConnectTimeout)
	}
	if c.KeepaliveMax < time.Second || c.KeepaliveMax > math.MaxUint16*time.Second {
		bad("keepalive_max", "must be 1s to 18h12m15s (MQTT keepalive is 16-bit seconds)", c.KeepaliveMax)
	}
	if c.MaxClients < 1 {
		bad("max_clients", "must be at least 1", c.MaxClients)
	}
	if c.MaxInflight < 1 || c.MaxInflight > math.MaxUint16 {
		bad("max_inflight", "must be 1 to 65535", c.MaxInflight)
	}
	if c.MaxPendingWrites < 1 || c.MaxPendingWrites > math.MaxInt32 {
		bad("max_pending_writes", "must be 1 to 2147483647", c.MaxPendingWrites)
	}
	if c.SessionExpiryMax < 0 || c.SessionExpiryMax > math.MaxUint32*time.Second {
		bad("session_expiry_max", "must be 0 (no persistent sessions) to 136 years", c.SessionExpiryMax)
	}
	if c.MessageExpiryMax < time.Second {
		bad("message_expiry_max", "must be at least 1s", c.MessageExpiryMax)
	}
	if c.SysInterval < time.Second {
		bad("sys_interval", "must be at least 1s", c.SysInterval)
	}
	return errors.Join(errs...)
}
