package loadgen

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/geo"
)

func TestFixIsValidForTheHubAndCarriesItsProbe(t *testing.T) {
	now := time.Now()
	f := fix{Lat: 52.520008, Lng: -13.404954, TsMs: now.UnixMilli(), Speed: 8.3, Heading: 271, Accuracy: 5,
		Probe: probe{Driver: 9999, Seq: 123456, SentNs: now.UnixNano()}}
	payload := appendFix(nil, f)
	assert.LessOrEqual(t, len(payload), 200, "fits the preallocated buffer: %s", payload)

	got, err := geo.DecodeFix(payload, now, 30*time.Second)
	require.NoError(t, err, "%s", payload)
	assert.InDelta(t, f.Lat, got.Lat, 1e-6)
	assert.InDelta(t, f.Lng, got.Lng, 1e-6)
	assert.Equal(t, f.TsMs, got.At)

	var pp probeParser
	p, ok := pp.parse(payload)
	require.True(t, ok)
	assert.Equal(t, f.Probe, p)
}

func TestProbeParserRefuses(t *testing.T) {
	var pp probeParser
	for _, payload := range []string{
		``, `not json`, `{"lat":1,"lng":2,"ts":3}`, `{"probe":1}`, `{"probe":{"drv":1,"seq":2}}`,
		`{"probe":{"drv":"1","seq":2,"sent_ns":3}}`, `{"probe":{"drv":1,"seq":-2,"sent_ns":3}}`,
	} {
		_, ok := pp.parse([]byte(payload))
		assert.False(t, ok, payload)
	}
}

func TestPacketLen(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		n    int
		full bool
	}{
		{nil, 0, false},
		{[]byte{0x30}, 0, false},
		{[]byte{0xc0, 0x00}, 2, true},                           // PINGREQ
		{[]byte{0x32, 0x7f}, 129, true},                         // 127 bytes follow
		{[]byte{0x32, 0x80}, 0, false},                          // length continues
		{[]byte{0x32, 0x80, 0x01}, 131, true},                   // 128
		{[]byte{0x32, 0xff, 0xff, 0xff, 0x7f}, 268435460, true}, // the largest
		{[]byte{0x32, 0xff, 0xff, 0xff, 0xff, 0x01}, 6, true},   // malformed: sent as is
	} {
		n, full := packetLen(tc.b)
		assert.Equal(t, tc.full, full, "% x", tc.b)
		assert.Equal(t, tc.n, n, "% x", tc.b)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{URL: "ws://127.0.0.1:1/mqtt", Tenant: "acme", Drivers: 1, Rate: 0.5, Duration: time.Second, QoS: 1}
	require.NoError(t, ok.Validate())
	for _, url := range []string{"wss://hub.example/mqtt", "tcp://127.0.0.1:1883", "tcp://[::1]:1883", "tcp://localhost:1883"} {
		ok.URL = url
		assert.NoError(t, ok.Validate(), url)
	}
	bad := Config{URL: "http://x", Tenant: "a/b", Rate: -1, QoS: 2, Secret: []byte("short")}
	err := bad.Validate()
	require.Error(t, err)
	for _, field := range []string{"loadgen.URL", "loadgen.Tenant", "loadgen.Drivers", "loadgen.Rate", "loadgen.Duration", "loadgen.QoS", "loadgen.Secret"} {
		assert.Contains(t, err.Error(), field)
	}
	assert.Contains(t, err.Error(), "loadgen.URL: must be a ws:// or wss:// URL, or tcp://host:port, got \"http://x\"")
	for _, url := range []string{"tcp://127.0.0.1", "tcp://127.0.0.1:1883/mqtt", "tcp://", "127.0.0.1:1883"} {
		ok.URL = url
		assert.ErrorContains(t, ok.Validate(), "loadgen.URL", url)
	}
}

func TestOffsetsSpreadTheDrivers(t *testing.T) {
	period := 2 * time.Second
	n := 5000
	prev := time.Duration(-1)
	for i := range n {
		o := offset(i, n, period)
		require.Greater(t, o, prev)
		require.Less(t, o, period)
		prev = o
	}
	assert.Equal(t, time.Second, offset(n/2, n, period))
}
