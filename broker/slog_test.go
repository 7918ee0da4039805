package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		out = append(out, m)
	}
	return out
}

func TestSlogBridge(t *testing.T) {
	var buf bytes.Buffer
	zl := zerolog.New(&buf).Level(zerolog.TraceLevel).With().Str("component", "mqtt").Logger()
	log := slog.New(newSlogHandler(zl))

	log.Debug("event loop started")
	log.Info("attached listener", "id", "ws", "port", 8083)
	log.With("hook", "auth").WithGroup("g").Warn("error processing packet",
		"error", errors.New("boom"),
		"pk", packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "a/b", PacketID: 7, Payload: []byte("secret-payload")},
		"connect", &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, Connect: packets.ConnectParams{Password: []byte("jwt-secret")}},
		"will", mqtt.Will{TopicName: "w/t", Payload: []byte("secret-will")},
	)
	log.Warn(mqtt.ErrMinimumKeepalive.Error(), "keepalive", 0)
	log.Error("failed to serve", "listener", "tcp")

	require.NotContains(t, buf.String(), "secret", "no payloads or passwords")
	lines := logLines(t, &buf)
	require.Len(t, lines, 5)

	assert.Equal(t, "trace", lines[0]["level"])
	assert.Equal(t, "debug", lines[1]["level"], "mochi Info is debug here")
	assert.Equal(t, "ws", lines[1]["id"])
	assert.Equal(t, 8083.0, lines[1]["port"])
	assert.Equal(t, "mqtt", lines[1]["component"])

	w := lines[2]
	assert.Equal(t, "warn", w["level"])
	assert.Equal(t, "error processing packet", w["message"])
	assert.Equal(t, "auth", w["hook"])
	assert.Equal(t, "boom", w["g.error"])
	assert.Equal(t, "Publish id=7 qos=1 topic=a/b bytes=14", w["g.pk"])
	assert.Equal(t, "Connect id=0", w["g.connect"])
	assert.Equal(t, "will topic=w/t", w["g.will"])

	assert.Equal(t, "debug", lines[3]["level"], "expected warnings are quiet")
	assert.Equal(t, "error", lines[4]["level"])
}

func TestSlogBridgeEnabled(t *testing.T) {
	h := newSlogHandler(zerolog.New(nil).Level(zerolog.WarnLevel))
	assert.False(t, h.Enabled(t.Context(), slog.LevelInfo))
	assert.True(t, h.Enabled(t.Context(), slog.LevelWarn))
	assert.False(t, newSlogHandler(zerolog.Nop()).Enabled(t.Context(), slog.LevelError))
}
