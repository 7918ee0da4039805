package broker

import (
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetrics(t *testing.T) {
	cfg := testConfig()
	cfg.MaxInflight = 1
	tb := startBroker(t, cfg)
	const name = "dispatchhub_mqtt_"

	for _, reason := range []string{"origin", "path", "subprotocol", "handshake", "connect_timeout", "max_clients"} {
		assert.Equal(t, 0.0, tb.metric(t, name+"connections_refused_total", "listener", "ws", "reason", reason), "ws %s exported from the start", reason)
	}
	assert.Equal(t, -1.0, tb.metric(t, name+"connections_refused_total", "listener", "tcp", "reason", "origin"), "tcp has no origin check")

	sub := tb.mustConnect(t, ListenerWS, "sub")
	pub := tb.mustConnect(t, ListenerTCP, "pub")
	sub.subscribe(t, "t/1", 1)
	_, err := pub.Publish(t.Context(), &paho.Publish{Topic: "t/1", QoS: 1, Payload: []byte("hello")})
	require.NoError(t, err)
	sub.receive(t)
	require.NoError(t, tb.Server().Publish("t/retained", []byte("r"), true, 1))

	assert.Equal(t, 2.0, tb.metric(t, name+"clients_connected"))
	assert.Equal(t, 2.0, tb.metric(t, name+"sessions"), "the inline client is not a session")
	assert.Equal(t, 1.0, tb.metric(t, name+"subscriptions"))
	assert.GreaterOrEqual(t, tb.metric(t, name+"messages_received_total"), 2.0)
	// Counted once the write returns, which may be after the subscriber has the message.
	eventually(t, func() bool { return tb.metric(t, name+"messages_sent_total") >= 1 }, "messages_sent_total")
	assert.GreaterOrEqual(t, tb.metric(t, name+"retained_messages"), 1.0)
	assert.Greater(t, tb.metric(t, name+"received_bytes_total"), 0.0)
	assert.Greater(t, tb.metric(t, name+"sent_bytes_total"), 0.0)
	assert.Greater(t, tb.metric(t, name+"packets_received_total"), 0.0)
	assert.Greater(t, tb.metric(t, name+"packets_sent_total"), 0.0)
	assert.Equal(t, 0.0, tb.metric(t, name+"messages_dropped_total", "reason", "pending_writes"))
	assert.Equal(t, 0.0, tb.metric(t, name+"messages_dropped_total", "reason", "inflight_quota"))

	// An offline persistent session with max_inflight 1 keeps one QoS 1 message; the
	// others are dropped and counted.
	expiry := uint32(600)
	off, _, err := connect(t, tb.dial(t, ListenerTCP), &paho.Connect{
		ClientID: "offline", KeepAlive: 30, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry},
	})
	require.NoError(t, err)
	off.subscribe(t, "jobs/offline", 1)
	require.NoError(t, off.Disconnect(&paho.Disconnect{}))
	eventually(t, func() bool { return tb.metric(t, name+"clients_connected") == 2 }, "offline client disconnected")
	for range 3 {
		require.NoError(t, tb.Server().Publish("jobs/offline", []byte("job"), false, 1))
	}
	assert.Equal(t, 1.0, tb.metric(t, name+"inflight_messages"))
	assert.Equal(t, 2.0, tb.metric(t, name+"messages_dropped_total", "reason", "inflight_quota"))
	assert.Equal(t, 3.0, tb.metric(t, name+"sessions"), "the offline session is kept")
}
