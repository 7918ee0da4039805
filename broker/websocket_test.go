package broker

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWebSocketHandshakeRefusals(t *testing.T) {
	cfg := testConfig()
	cfg.WSAllowedOrigins = []string{"https://console.example.com"}
	tb := startBroker(t, cfg)

	for _, tc := range []struct {
		name         string
		path         string
		subprotocols []string
		origin       string
		status       int // 101 = upgraded
	}{
		{name: "other path", path: "/ws", subprotocols: []string{"mqtt"}, status: http.StatusNotFound},
		{name: "root path", path: "/", subprotocols: []string{"mqtt"}, status: http.StatusNotFound},
		{name: "no subprotocol", path: "/mqtt", status: http.StatusBadRequest},
		{name: "other subprotocol", path: "/mqtt", subprotocols: []string{"mqttv3.1"}, status: http.StatusBadRequest},
		{name: "disallowed origin", path: "/mqtt", subprotocols: []string{"mqtt"}, origin: "https://evil.example", status: http.StatusForbidden},
		{name: "allowed origin", path: "/mqtt", subprotocols: []string{"mqtt"}, origin: "https://console.example.com", status: http.StatusSwitchingProtocols},
		{name: "no origin (native app)", path: "/mqtt", subprotocols: []string{"mqtt"}, status: http.StatusSwitchingProtocols},
		{name: "mqtt among others", path: "/mqtt", subprotocols: []string{"wamp", "mqtt"}, status: http.StatusSwitchingProtocols},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			ws, status, err := tb.dialWSStatus(t, ListenerWS, tc.path, tc.subprotocols, h)
			assert.Equal(t, tc.status, status)
			if tc.status != http.StatusSwitchingProtocols {
				require.ErrorIs(t, err, websocket.ErrBadHandshake)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "mqtt", ws.Subprotocol())
			require.NoError(t, ws.Close())
		})
	}

	// Not a WebSocket request at all.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitFor}
	req, err := http.NewRequest(http.MethodGet, "http://"+tb.Addr(ListenerWS)+"/mqtt", nil)
	require.NoError(t, err)
	req.Header.Set("Sec-WebSocket-Protocol", "mqtt")
	resp, err := hc.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	for reason, n := range map[string]float64{"path": 2, "subprotocol": 2, "origin": 1, "handshake": 1} {
		assert.Equal(t, n, tb.metric(t, "dispatchhub_mqtt_connections_refused_total", "listener", "ws", "reason", reason), reason)
	}
}

func TestWebSocketAnyOrigin(t *testing.T) {
	cfg := testConfig()
	cfg.WSAllowedOrigins = []string{"*"}
	tb := startBroker(t, cfg)
	ws, err := tb.dialWS(t, ListenerWS, "/mqtt", []string{"mqtt"}, http.Header{"Origin": {"https://anything.example"}})
	require.NoError(t, err)
	require.NoError(t, ws.Close())
}

// MQTT packets may span WebSocket messages, and one message may carry several packets.
func TestWebSocketPacketsAndMessagesAreIndependent(t *testing.T) {
	tb := startBroker(t, testConfig())
	ws, err := tb.dialWS(t, ListenerWS, "/mqtt", []string{"mqtt"}, nil)
	require.NoError(t, err)
	defer ws.Close()

	connect := v3Connect("split", 30, true)
	require.NoError(t, ws.WriteMessage(websocket.BinaryMessage, connect[:3]))
	require.NoError(t, ws.WriteMessage(websocket.BinaryMessage, nil))
	require.NoError(t, ws.WriteMessage(websocket.BinaryMessage, connect[3:]))
	c := newWSConn(ws)
	assert.Equal(t, []byte{0x20, 0x02, 0x00, 0x00}, readN(t, c, 4), "CONNACK")

	require.NoError(t, ws.WriteMessage(websocket.BinaryMessage, []byte{0xC0, 0x00, 0xC0, 0x00})) // two PINGREQs
	assert.Equal(t, []byte{0xD0, 0x00, 0xD0, 0x00}, readN(t, c, 4), "two PINGRESPs")
}

func TestWebSocketTextMessageEndsTheConnection(t *testing.T) {
	tb := startBroker(t, testConfig())
	ws, err := tb.dialWS(t, ListenerWS, "/mqtt", []string{"mqtt"}, nil)
	require.NoError(t, err)
	defer ws.Close()

	require.NoError(t, ws.WriteMessage(websocket.TextMessage, v3Connect("text", 30, true)))
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(waitFor)))
	_, _, err = ws.ReadMessage()
	require.Error(t, err)
	assert.False(t, isTimeout(err), "closed by the server: %v", err)
	_, ok := tb.Server().Clients.Get("text")
	assert.False(t, ok)
}

func TestWebSocketReadLimit(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPacketSize = 1024
	cfg.WSReadLimit = 4096
	tb := startBroker(t, cfg)
	ws, err := tb.dialWS(t, ListenerWS, "/mqtt", []string{"mqtt"}, nil)
	require.NoError(t, err)
	defer ws.Close()
	require.NoError(t, ws.WriteMessage(websocket.BinaryMessage, v3Connect("limit", 30, true)))
	assert.Equal(t, []byte{0x20, 0x02, 0x00, 0x00}, readN(t, newWSConn(ws), 4), "CONNACK")

	// Small valid packets (PINGREQ), but more of them in one message than the limit. The
	// client sends the message in several frames; the server may answer the first ones.
	require.NoError(t, ws.WriteMessage(websocket.BinaryMessage, []byte(strings.Repeat("\xC0\x00", 4096))))
	require.NoError(t, ws.SetReadDeadline(time.Now().Add(waitFor)))
	for {
		if _, _, err = ws.ReadMessage(); err != nil {
			break
		}
	}
	// A close frame 1009 (message too big), or a reset when it is lost to the unread rest.
	assert.False(t, isTimeout(err), "closed by the server: %v", err)
	eventually(t, func() bool { _, ok := tb.Server().Clients.Get("limit"); return !ok }, "session ended")
}

func TestOriginAllowed(t *testing.T) {
	l := &wsListener{origins: []string{"https://console.example.com", "http://localhost:3000"}}
	for origin, want := range map[string]bool{
		"":                            true,
		"https://console.example.com": true,
		"HTTPS://Console.Example.com": true,
		"http://localhost:3000":       true,
		"https://console.example.org": false,
		"http://console.example.com":  false,
		"null":                        false,
	} {
		r := &http.Request{Header: http.Header{}}
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		assert.Equal(t, want, l.originAllowed(r), "origin %q", origin)
	}
}
