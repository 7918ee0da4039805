package broker

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/config"
)

func TestConfigFromDefaults(t *testing.T) {
	d := config.Default().MQTT
	c := ConfigFrom(d)
	require.NoError(t, c.Validate())
	assert.Equal(t, Config{
		TCPAddr:          "127.0.0.1:1883",
		WSAddr:           "127.0.0.1:8083",
		WSPath:           "/mqtt",
		WSReadLimit:      80 << 10,
		MaxPacketSize:    64 << 10,
		ConnectTimeout:   5 * time.Second,
		KeepaliveMax:     5 * time.Minute,
		MaxClients:       20000,
		MaxInflight:      8192,
		MaxPendingWrites: 512,
		SessionExpiryMax: time.Hour,
		MessageExpiryMax: time.Hour,
		SysInterval:      10 * time.Second,
	}, c)
	assert.Equal(t, c, c.withDefaults(), "the zero-value defaults are the documented ones")
}

func TestConfigDefaultsFillZeroValues(t *testing.T) {
	c := Config{TCPAddr: "127.0.0.1:0", MaxPacketSize: 1 << 20}.withDefaults()
	assert.Equal(t, "/mqtt", c.WSPath)
	assert.Equal(t, int64(1<<20+16<<10), c.WSReadLimit, "read limit follows max_packet_size")
	assert.Equal(t, 5*time.Minute, c.KeepaliveMax)
	assert.Zero(t, c.SessionExpiryMax, "0 keeps no persistent session; not defaulted")
	assert.Empty(t, c.WSAddr, "addresses are not defaulted: empty disables")
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no listener", func(c *Config) { c.TCPAddr, c.WSAddr = "", "" }, "mqtt.ws_addr"},
		{"bad address", func(c *Config) { c.TCPAddr = "1883" }, "mqtt.tcp_addr: must be host:port"},
		{"tls without cert", func(c *Config) { c.TLSAddr = "127.0.0.1:0" }, "mqtt.tls_cert_file"},
		{"wss without key", func(c *Config) { c.WSSAddr, c.TLSCertFile = "127.0.0.1:0", "cert.pem" }, "mqtt.tls_cert_file"},
		{"path", func(c *Config) { c.WSPath = "mqtt" }, "mqtt.ws_path: must start with /"},
		{"read limit", func(c *Config) { c.WSReadLimit = 1024 }, "mqtt.ws_read_limit: must be at least mqtt.max_packet_size (4096)"},
		{"keepalive", func(c *Config) { c.KeepaliveMax = 19 * time.Hour }, "mqtt.keepalive_max"},
		{"inflight", func(c *Config) { c.MaxInflight = 70000 }, "mqtt.max_inflight: must be 1 to 65535"},
		{"session expiry", func(c *Config) { c.SessionExpiryMax = -time.Second }, "mqtt.session_expiry_max"},
		{"sys interval", func(c *Config) { c.SysInterval = time.Millisecond }, "mqtt.sys_interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.mutate(&c)
			err := c.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			_, err = New(c, zerolog.Nop(), nil)
			assert.Error(t, err, "New validates")
		})
	}
	require.NoError(t, testConfig().Validate())
}
