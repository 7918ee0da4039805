package loadgen

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pilotx/dispatchhub/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// gate answers every CONNECT with allow and every ACL check with true.
type gate struct {
	mqtt.HookBase
	allow bool
}

func (h *gate) ID() string { return "test-gate" }
func (h *gate) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}
func (h *gate) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return h.allow }
func (h *gate) OnACLCheck(*mqtt.Client, string, bool) bool              { return true }

// mochiWS starts a mochi broker with a WebSocket listener that lets clients in when allow.
func mochiWS(t *testing.T, allow bool) string {
	t.Helper()
	return "ws://" + mochi(t, allow, func(addr string) listeners.Listener {
		return listeners.NewWebsocket(listeners.Config{ID: "ws", Address: addr})
	}) + "/mqtt"
}

// mochiTCP starts a mochi broker with a TCP listener that lets every client in.
func mochiTCP(t *testing.T) string {
	t.Helper()
	return "tcp://" + mochi(t, true, func(addr string) listeners.Listener {
		return listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
	})
}

// mochi starts a mochi broker with the listener that listener makes for a free address, and
// returns the address once it accepts connections.
func mochi(t *testing.T, allow bool, listener func(addr string) listeners.Listener) string {
	t.Helper()
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, srv.AddHook(&gate{allow: allow}, nil))
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	require.NoError(t, srv.AddListener(listener(addr)))
	require.NoError(t, srv.Serve())
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	testenv.Eventually(t, 5*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, "listener on %s", addr)
	return addr
}

func TestRunDeliversEveryFixOnce(t *testing.T) {
	testRunDeliversEveryFixOnce(t, mochiWS(t, true))
}

func TestRunOverTCPDeliversEveryFixOnce(t *testing.T) {
	testRunDeliversEveryFixOnce(t, mochiTCP(t))
}

// testRunDeliversEveryFixOnce runs 40 drivers at 20 Hz for a second against the broker at url.
func testRunDeliversEveryFixOnce(t *testing.T, url string) {
	var phases []string
	res, err := Run(context.Background(), Config{
		URL: url, Tenant: "acme", Drivers: 40, Rate: 20, Duration: time.Second, QoS: 1,
		ConnectConcurrency: 8,
	}, func(p string) { phases = append(phases, p) })
	require.NoError(t, err)
	assert.Equal(t, []string{PhaseConnected, PhasePublishing, PhasePublished, PhaseDone}, phases)
	assert.Equal(t, 40, res.Connected)
	assert.Zero(t, res.ConnectFailed)
	assert.Zero(t, res.Disconnected)
	assert.InDelta(t, 40*20, res.Sent, 40, "every driver publishes Rate times a second")
	assert.Equal(t, res.Sent, res.Delivered)
	assert.Zero(t, res.Lost)
	assert.Zero(t, res.Duplicates)
	assert.Zero(t, res.PublishFailed)
	assert.Empty(t, res.Errors)
	assert.Greater(t, res.P50Ms, 0.0)
	assert.LessOrEqual(t, res.P50Ms, res.P99Ms)
	assert.LessOrEqual(t, res.P99Ms, res.MaxMs)
	assert.InDelta(t, float64(res.Delivered)/res.PublishSeconds, res.DeliveredPerSec, 1e-9)
}

func TestRunCountsRefusedConnections(t *testing.T) {
	// a broker that refuses every client: Run says why
	url := mochiWS(t, false)
	_, err := Run(context.Background(), Config{
		URL: url, Tenant: "acme", Drivers: 3, Rate: 1, Duration: time.Second, QoS: 1,
		Secret: []byte("0123456789abcdef0123456789abcdef"),
	}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "dispatcher acme.dispatcher-bench")
	assert.Contains(t, err.Error(), "CONNACK reason 0x86")
}
