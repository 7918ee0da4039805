package broker

import (
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A socket that never sends CONNECT is closed by the server after ConnectTimeout.
func TestConnectTimeoutClosesSilentConnections(t *testing.T) {
	tb := startBroker(t, allListeners())

	t.Run("tcp", func(t *testing.T) {
		c, err := net.Dial("tcp", tb.Addr(ListenerTCP))
		require.NoError(t, err)
		defer c.Close()
		assertClosedByServer(t, c)
	})
	t.Run("tls before handshake", func(t *testing.T) {
		c, err := net.Dial("tcp", tb.Addr(ListenerTLS))
		require.NoError(t, err)
		defer c.Close()
		assertClosedByServer(t, c)
	})
	for _, transport := range []string{ListenerWS, ListenerWSS} {
		t.Run(transport+" after upgrade", func(t *testing.T) {
			ws, err := tb.dialWS(t, transport, "/mqtt", []string{"mqtt"}, nil)
			require.NoError(t, err)
			defer ws.Close()
			require.NoError(t, ws.SetReadDeadline(time.Now().Add(waitFor)))
			_, _, err = ws.ReadMessage()
			require.Error(t, err)
			assert.False(t, isTimeout(err), "closed by the server, not by our read deadline: %v", err)
			assert.True(t, websocket.IsCloseError(err, websocket.CloseNormalClosure), "close frame sent: %v", err)
		})
	}

	for _, id := range []string{ListenerTCP, ListenerTLS, ListenerWS, ListenerWSS} {
		eventually(t, func() bool {
			return tb.metric(t, "dispatchhub_mqtt_connections_refused_total", "listener", id, "reason", "connect_timeout") == 1
		}, "connect_timeout counted on %s", id)
	}
	tb.mustConnect(t, ListenerTCP, "after-timeouts")
	assert.Equal(t, 1.0, tb.metric(t, "dispatchhub_mqtt_connections_refused_total", "listener", "tcp", "reason", "connect_timeout"),
		"a timely CONNECT is not counted")
}

func assertClosedByServer(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitFor)))
	_, err := c.Read(make([]byte, 1))
	require.Error(t, err)
	assert.False(t, isTimeout(err), "closed by the server, not by our read deadline: %v", err)
	assert.True(t, errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET), "connection closed: %v", err)
}

func TestOversizedPacketDisconnectsOnlyItsClient(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPacketSize = 1024
	tb := startBroker(t, cfg)

	for _, transport := range []string{ListenerTCP, ListenerWS} {
		t.Run(transport, func(t *testing.T) {
			big, ca, err := connect(t, tb.dial(t, transport), &paho.Connect{ClientID: "big-" + transport, CleanStart: true, KeepAlive: 30})
			require.NoError(t, err)
			require.NotNil(t, ca.Properties.MaximumPacketSize, "MQTT 5 clients are told the maximum packet size")
			assert.Equal(t, uint32(1024), *ca.Properties.MaximumPacketSize)

			sub := tb.mustConnect(t, transport, "sub-"+transport)
			sub.subscribe(t, "t/+", 1)

			// The server may close the socket between the packet's header and its payload,
			// so the publish itself may fail.
			_, _ = big.Publish(t.Context(), &paho.Publish{Topic: "t/big", QoS: 0, Payload: make([]byte, 2048)})
			select {
			case <-big.Done():
			case <-time.After(waitFor):
				t.Fatal("client that sent an oversized PUBLISH is still connected")
			}

			pub := tb.mustConnect(t, transport, "pub-"+transport)
			_, err = pub.Publish(t.Context(), &paho.Publish{Topic: "t/small", QoS: 1, Payload: make([]byte, 512)})
			require.NoError(t, err)
			m := sub.receive(t)
			assert.Equal(t, "t/small", m.Topic, "the oversized message was not delivered; others still are")
		})
	}
}

func TestKeepaliveClamp(t *testing.T) {
	tb := startBroker(t, testConfig()) // keepalive_max 30s
	for _, tc := range []struct {
		keepalive uint16
		told      *uint16 // Server Keep Alive in CONNACK
		effective uint16
	}{
		{keepalive: 0, told: ptr[uint16](30), effective: 30},
		{keepalive: 120, told: ptr[uint16](30), effective: 30},
		{keepalive: 10, told: nil, effective: 10},
		{keepalive: 30, told: nil, effective: 30},
	} {
		id := "ka-" + strconv.Itoa(int(tc.keepalive))
		_, ca, err := connect(t, tb.dial(t, ListenerTCP), &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: tc.keepalive})
		require.NoError(t, err)
		if tc.told == nil {
			assert.Nil(t, ca.Properties.ServerKeepAlive, "keepalive %d kept", tc.keepalive)
		} else if assert.NotNil(t, ca.Properties.ServerKeepAlive, "keepalive %d clamped", tc.keepalive) {
			assert.Equal(t, *tc.told, *ca.Properties.ServerKeepAlive)
		}
		cl, ok := tb.Server().Clients.Get(id)
		require.True(t, ok)
		assert.Equal(t, tc.effective, cl.State.Keepalive)
	}

	// MQTT 3.1.1 has no Server Keep Alive; the server still enforces the clamped value.
	c, err := net.Dial("tcp", tb.Addr(ListenerTCP))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(v3Connect("ka-v3", 0, true))
	require.NoError(t, err)
	assert.Equal(t, []byte{0x20, 0x02, 0x00, 0x00}, readN(t, c, 4))
	cl, ok := tb.Server().Clients.Get("ka-v3")
	require.True(t, ok)
	assert.Equal(t, uint16(30), cl.State.Keepalive)
}

func ptr[T any](v T) *T { return &v }

func TestMaxClients(t *testing.T) {
	cfg := testConfig()
	cfg.MaxClients = 2
	tb := startBroker(t, cfg)
	tb.mustConnect(t, ListenerTCP, "c1")
	tb.mustConnect(t, ListenerWS, "c2")

	_, ca, err := connect(t, tb.dial(t, ListenerTCP), &paho.Connect{ClientID: "c3", CleanStart: true, KeepAlive: 30})
	require.Error(t, err)
	require.NotNil(t, ca)
	assert.Equal(t, byte(0x89), ca.ReasonCode, "MQTT 5: server busy")

	c, err := net.Dial("tcp", tb.Addr(ListenerTCP))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(v3Connect("c4", 30, true))
	require.NoError(t, err)
	assert.Equal(t, []byte{0x20, 0x02, 0x00, 0x03}, readN(t, c, 4), "MQTT 3.1.1: server unavailable")

	eventually(t, func() bool {
		return tb.metric(t, "dispatchhub_mqtt_connections_refused_total", "listener", "tcp", "reason", "max_clients") == 2
	}, "refusals counted")
	assert.Equal(t, 2.0, tb.metric(t, "dispatchhub_mqtt_clients_connected"))
}
