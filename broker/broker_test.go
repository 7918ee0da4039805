package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	pahopackets "github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(loadgenEnv); spec != "" {
		os.Exit(runLoadgenChild(spec)) // the load-generator process of BenchmarkRealtimeWS
	}
	goleak.VerifyTestMain(m)
}

// allowAll is a TEST-ONLY hook: it lets every client connect, publish and subscribe. The
// broker package itself never registers such a hook (the hooks package does auth and ACL).
type allowAll struct{ mqtt.HookBase }

func (h *allowAll) ID() string { return "test-allow-all" }
func (h *allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}
func (h *allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }
func (h *allowAll) OnACLCheck(*mqtt.Client, string, bool) bool              { return true }

const waitFor = 5 * time.Second

// testConfig listens on free loopback ports for TCP and WebSocket.
func testConfig() Config {
	return Config{
		TCPAddr:          "127.0.0.1:0",
		WSAddr:           "127.0.0.1:0",
		WSPath:           "/mqtt",
		MaxPacketSize:    4096,
		ConnectTimeout:   300 * time.Millisecond,
		KeepaliveMax:     30 * time.Second,
		MaxClients:       100,
		SessionExpiryMax: time.Hour,
		SysInterval:      time.Minute,
	}
}

type testBroker struct {
	*Broker
	reg   *prometheus.Registry
	roots *x509.CertPool // trusts the TLS certificate, if any
}

// startBroker starts a broker with the test-only allowAll hook and closes it when the
// test ends.
func startBroker(t *testing.T, cfg Config) *testBroker {
	t.Helper()
	return startBrokerWithHooks(t, cfg, new(allowAll))
}

func startBrokerWithHooks(t *testing.T, cfg Config, hooks ...mqtt.Hook) *testBroker {
	t.Helper()
	tb := &testBroker{reg: prometheus.NewRegistry()}
	if cfg.TLSAddr != "" || cfg.WSSAddr != "" {
		cfg.TLSCertFile, cfg.TLSKeyFile, tb.roots = selfSigned(t)
	}
	b, err := New(cfg, zerolog.Nop(), tb.reg)
	require.NoError(t, err)
	for _, h := range hooks {
		require.NoError(t, b.AddHook(h, nil))
	}
	require.NoError(t, b.Start())
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	tb.Broker = b
	return tb
}

// selfSigned writes an ECDSA P-256 certificate for 127.0.0.1 and its key to PEM files.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "dispatchhub broker test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)

	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// dial opens a network connection to the broker over transport ("tcp", "ws", "tls", "wss")
// that an MQTT client can use as is; it is closed when the test ends.
func (tb *testBroker) dial(t *testing.T, transport string) net.Conn {
	t.Helper()
	addr := tb.Addr(transport)
	require.NotEmpty(t, addr, "listener %s", transport)
	var (
		c   net.Conn
		err error
	)
	switch transport {
	case ListenerTCP:
		c, err = net.Dial("tcp", addr)
	case ListenerTLS:
		c, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: tb.roots, MinVersion: tls.VersionTLS12})
	case ListenerWS, ListenerWSS:
		var ws *websocket.Conn
		ws, err = tb.dialWS(t, transport, tb.cfg.WSPath, []string{wsSubprotocol}, nil)
		if err == nil {
			c = newWSConn(ws)
		}
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return pahopackets.NewThreadSafeConn(c) // paho writes a packet in pieces from several goroutines
}

// dialWS opens a WebSocket to path with the given subprotocols and headers. On a refused
// handshake the error is websocket.ErrBadHandshake and the response is closed.
func (tb *testBroker) dialWS(t *testing.T, transport, path string, subprotocols []string, h map[string][]string) (*websocket.Conn, error) {
	ws, _, err := tb.dialWSStatus(t, transport, path, subprotocols, h)
	return ws, err
}

func (tb *testBroker) dialWSStatus(t *testing.T, transport, path string, subprotocols []string, h map[string][]string) (*websocket.Conn, int, error) {
	t.Helper()
	d := websocket.Dialer{
		Subprotocols:     subprotocols,
		HandshakeTimeout: waitFor,
		TLSClientConfig:  &tls.Config{RootCAs: tb.roots, MinVersion: tls.VersionTLS12},
	}
	ws, resp, err := d.Dial(transport+"://"+tb.Addr(transport)+path, h)
	status := 0
	if resp != nil {
		status = resp.StatusCode
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	return ws, status, err
}

// client is a paho MQTT 5 client that queues what it receives.
type client struct {
	*paho.Client
	msgs chan *paho.Publish
}

// connect runs CONNECT on conn; the client disconnects when the test ends.
func connect(t *testing.T, conn net.Conn, cp *paho.Connect) (*client, *paho.Connack, error) {
	t.Helper()
	c := &client{msgs: make(chan *paho.Publish, 64)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				c.msgs <- pr.Packet
				return true, nil
			},
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	if err == nil {
		t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	}
	return c, ca, err
}

// mustConnect connects a clean-start client with id over transport.
func (tb *testBroker) mustConnect(t *testing.T, transport, id string) *client {
	t.Helper()
	c, ca, err := connect(t, tb.dial(t, transport), &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)
	require.Zero(t, ca.ReasonCode)
	return c
}

func (c *client) subscribe(t *testing.T, filter string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	require.NoError(t, err)
	require.Equal(t, []byte{qos}, sa.Reasons)
}

// receive waits for the next message.
func (c *client) receive(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(waitFor):
		t.Fatal("no message received")
		return nil
	}
}

// v3Connect is an MQTT 3.1.1 CONNECT packet, byte by byte.
func v3Connect(clientID string, keepalive uint16, clean bool) []byte {
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 4}
	var flags byte
	if clean {
		flags |= 0x02
	}
	vh = append(vh, flags, byte(keepalive>>8), byte(keepalive))
	vh = append(vh, byte(len(clientID)>>8), byte(len(clientID)))
	vh = append(vh, clientID...)
	return append([]byte{0x10, byte(len(vh))}, vh...)
}

// readN reads exactly n bytes within waitFor.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
	b := make([]byte, n)
	_, err := io.ReadFull(c, b)
	require.NoError(t, err)
	return b
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, cond func() bool, msg string, args ...any) {
	t.Helper()
	require.Eventually(t, cond, waitFor, 10*time.Millisecond, append([]any{msg}, args...)...)
}

// metric returns the value of the metric name with the given labels (name=value pairs),
// or -1 when there is none.
func (tb *testBroker) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := tb.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				match = match && have[labels[i]] == labels[i+1]
			}
			if !match {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}
