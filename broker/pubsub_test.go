package broker

import (
	"context"
	"net"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func allListeners() Config {
	cfg := testConfig()
	cfg.TLSAddr = "127.0.0.1:0"
	cfg.WSSAddr = "127.0.0.1:0"
	return cfg
}

func TestPubSubQoS1(t *testing.T) {
	tb := startBroker(t, allListeners())
	for _, transport := range []string{ListenerTCP, ListenerWS, ListenerTLS, ListenerWSS} {
		t.Run(transport, func(t *testing.T) {
			sub := tb.mustConnect(t, transport, "sub-"+transport)
			pub := tb.mustConnect(t, transport, "pub-"+transport)
			topic := "tenants/t1/drivers/" + transport + "/jobs"
			sub.subscribe(t, topic, 1)

			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			resp, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(`{"job_id":"j1"}`)})
			require.NoError(t, err)
			assert.Zero(t, resp.ReasonCode, "PUBACK success")

			m := sub.receive(t)
			assert.Equal(t, topic, m.Topic)
			assert.Equal(t, byte(1), m.QoS)
			assert.JSONEq(t, `{"job_id":"j1"}`, string(m.Payload))

			eventually(t, func() bool {
				cl, ok := tb.Server().Clients.Get("sub-" + transport)
				return ok && cl.Net.Listener == transport
			}, "client labelled with listener %s", transport)
		})
	}
}

func TestInlinePublishReachesSubscriber(t *testing.T) {
	tb := startBroker(t, testConfig())
	sub := tb.mustConnect(t, ListenerWS, "driver-1")
	sub.subscribe(t, "tenants/t1/drivers/d1/jobs", 1)

	require.NoError(t, tb.Server().Publish("tenants/t1/drivers/d1/jobs", []byte("offer"), false, 1))
	m := sub.receive(t)
	assert.Equal(t, "offer", string(m.Payload))
	assert.Equal(t, byte(1), m.QoS)
}

func TestPersistentSessionGetsMessagesPublishedWhileOffline(t *testing.T) {
	tb := startBroker(t, testConfig())
	const id, topic = "t1.d1", "tenants/t1/drivers/d1/jobs"
	expiry := uint32(600)
	cp := func() *paho.Connect {
		return &paho.Connect{
			ClientID:   id,
			CleanStart: false,
			KeepAlive:  30,
			Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry},
		}
	}

	c, ca, err := connect(t, tb.dial(t, ListenerWS), cp())
	require.NoError(t, err)
	assert.False(t, ca.SessionPresent)
	c.subscribe(t, topic, 1)
	require.NoError(t, c.Disconnect(&paho.Disconnect{}))
	eventually(t, func() bool {
		cl, ok := tb.Server().Clients.Get(id)
		return ok && cl.Closed()
	}, "session kept after disconnect")

	require.NoError(t, tb.Server().Publish(topic, []byte("while offline"), false, 1))

	c2, ca, err := connect(t, tb.dial(t, ListenerWS), cp())
	require.NoError(t, err)
	assert.True(t, ca.SessionPresent, "session present")
	m := c2.receive(t)
	assert.Equal(t, "while offline", string(m.Payload))
	assert.Equal(t, topic, m.Topic)
}

func TestMQTT311RawConnect(t *testing.T) {
	tb := startBroker(t, testConfig())
	c, err := net.Dial("tcp", tb.Addr(ListenerTCP))
	require.NoError(t, err)
	defer c.Close()

	_, err = c.Write(v3Connect("v3-client", 60, true))
	require.NoError(t, err)
	assert.Equal(t, []byte{0x20, 0x02, 0x00, 0x00}, readN(t, c, 4), "CONNACK accepted")

	_, err = c.Write([]byte{0xC0, 0x00}) // PINGREQ
	require.NoError(t, err)
	assert.Equal(t, []byte{0xD0, 0x00}, readN(t, c, 2), "PINGRESP")

	cl, ok := tb.Server().Clients.Get("v3-client")
	require.True(t, ok)
	assert.Equal(t, byte(4), cl.Properties.ProtocolVersion)
	assert.Equal(t, uint16(30), cl.State.Keepalive, "keepalive 60s clamped to keepalive_max 30s")

	_, err = c.Write([]byte{0xE0, 0x00}) // DISCONNECT
	require.NoError(t, err)
}

func TestWithoutAuthHookEveryConnectIsRefused(t *testing.T) {
	tb := startBrokerWithHooks(t, testConfig()) // no auth hook at all
	_, ca, err := connect(t, tb.dial(t, ListenerTCP), &paho.Connect{ClientID: "x", CleanStart: true, KeepAlive: 30})
	require.Error(t, err)
	require.NotNil(t, ca)
	assert.Equal(t, byte(0x86), ca.ReasonCode, "bad user name or password")
}

// The server must survive a client vanishing mid-session; its session ends cleanly.
func TestClientVanishing(t *testing.T) {
	tb := startBroker(t, testConfig())
	conn := tb.dial(t, ListenerTCP)
	_, _, err := connect(t, conn, &paho.Connect{ClientID: "gone", CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	eventually(t, func() bool { _, ok := tb.Server().Clients.Get("gone"); return !ok }, "clean session removed")
	tb.mustConnect(t, ListenerTCP, "still-serving")
}
