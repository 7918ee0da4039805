package hooks

import (
	"bytes"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pilotx/dispatchhub/internal/metrics"
)

// Drops makes sure no dropped message goes unnoticed. The broker's collector counts messages
// dropped for a full socket queue or a full inflight quota
// (dispatchhub_mqtt_messages_dropped_total{reason="pending_writes"|"inflight_quota"}); this hook
// logs the first and counts and logs QoS1 messages that expired before their client
// acknowledged them (message_expiry_max, or the publisher's own expiry such as an offer's
// timeout): dispatchhub_mqtt_messages_expired_total.
type Drops struct {
	mqtt.HookBase
	log     zerolog.Logger
	expired prometheus.Counter
}

var _ mqtt.Hook = (*Drops)(nil)

// NewDrops builds the hook.
func NewDrops(log zerolog.Logger, reg prometheus.Registerer) *Drops {
	d := &Drops{
		log: log.With().Str("component", "mqtt-drops").Logger().Sample(&zerolog.BurstSampler{Burst: 50, Period: time.Second}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "mqtt", Name: "messages_expired_total",
			Help: "QoS1 messages dropped because they expired before their client acknowledged them.",
		}),
	}
	reg.MustRegister(d.expired)
	return d
}

// ID names the hook.
func (d *Drops) ID() string { return "drops" }

// Provides lists the events the hook handles.
func (d *Drops) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnPublishDropped, mqtt.OnQosDropped}, []byte{b})
}

// OnPublishDropped: the client's outbound queue was full.
func (d *Drops) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	d.log.Warn().Str("client", cl.ID).Str("topic", pk.TopicName).Uint8("qos", pk.FixedHeader.Qos).Msg("message dropped: client write queue full")
}

// OnQosDropped: a QoS1 message expired (or its session ended) before the client acknowledged
// it. mochi also calls it for messages a reconnecting session takes over (they are delivered,
// not dropped) and a second time, with only the packet id, for each expired message: neither
// is counted.
func (d *Drops) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	if cl.IsTakenOver() || pk.FixedHeader.Type != packets.Publish {
		return
	}
	d.expired.Inc()
	d.log.Warn().Str("client", cl.ID).Str("topic", pk.TopicName).Uint16("packet_id", pk.PacketID).Msg("qos1 message dropped before acknowledgement")
}
