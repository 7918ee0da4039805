package broker

import (
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pilotx/dispatchhub/internal/metrics"
)

const subsystem = "mqtt"

// Reasons a connection is refused before it becomes an MQTT session
// (dispatchhub_mqtt_connections_refused_total{listener,reason}).
const (
	refusedOrigin         = "origin"          // WebSocket Origin not allowed (403)
	refusedPath           = "path"            // WebSocket request for another path (404)
	refusedSubprotocol    = "subprotocol"     // WebSocket client did not offer "mqtt" (400)
	refusedHandshake      = "handshake"       // not a valid WebSocket upgrade request
	refusedConnectTimeout = "connect_timeout" // no CONNECT within ConnectTimeout
	refusedMaxClients     = "max_clients"     // CONNACK "server busy" at MaxClients
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, subsystem, name), help, labels, nil)
}

// infoCollector reads mochi's server.Info atomics at scrape time.
type infoCollector struct {
	srv *mqtt.Server

	clients, sessions, subscriptions, inflight, retained *prometheus.Desc
	msgsReceived, msgsSent, msgsDropped                  *prometheus.Desc
	bytesReceived, bytesSent                             *prometheus.Desc
	packetsReceived, packetsSent                         *prometheus.Desc
}

var _ prometheus.Collector = (*infoCollector)(nil)

func newInfoCollector(srv *mqtt.Server) *infoCollector {
	return &infoCollector{
		srv:           srv,
		clients:       desc("clients_connected", "MQTT clients connected now."),
		sessions:      desc("sessions", "MQTT sessions held by the broker: connected clients and disconnected persistent sessions."),
		subscriptions: desc("subscriptions", "Topic filter subscriptions held by the broker."),
		inflight:      desc("inflight_messages", "QoS 1/2 messages awaiting acknowledgement, offline sessions included."),
		retained:      desc("retained_messages", "Retained messages held by the broker."),
		msgsReceived:  desc("messages_received_total", "PUBLISH packets received, from clients and from the hub itself."),
		msgsSent:      desc("messages_sent_total", "PUBLISH packets written to clients."),
		msgsDropped: desc("messages_dropped_total",
			`Messages not delivered to a subscriber: reason "pending_writes" when its queue of packets for the socket was full (max_pending_writes), "inflight_quota" when it already had max_inflight QoS 1/2 messages unacknowledged.`,
			"reason"),
		bytesReceived:   desc("received_bytes_total", "Bytes of MQTT packets received."),
		bytesSent:       desc("sent_bytes_total", "Bytes of MQTT packets sent."),
		packetsReceived: desc("packets_received_total", "MQTT packets received."),
		packetsSent:     desc("packets_sent_total", "MQTT packets sent."),
	}
}

func (c *infoCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.clients, c.sessions, c.subscriptions, c.inflight, c.retained,
		c.msgsReceived, c.msgsSent, c.msgsDropped, c.bytesReceived, c.bytesSent, c.packetsReceived, c.packetsSent,
	} {
		ch <- d
	}
}

func (c *infoCollector) Collect(ch chan<- prometheus.Metric) {
	i := c.srv.Info
	gauge := func(d *prometheus.Desc, v *int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(atomic.LoadInt64(v)), labels...)
	}
	counter := func(d *prometheus.Desc, v *int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(atomic.LoadInt64(v)), labels...)
	}
	gauge(c.clients, &i.ClientsConnected)
	sessions := c.srv.Clients.Len()
	if c.srv.Options.InlineClient {
		sessions-- // the hub's own inline client
	}
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(sessions))
	gauge(c.subscriptions, &i.Subscriptions)
	gauge(c.inflight, &i.Inflight)
	gauge(c.retained, &i.Retained)
	counter(c.msgsReceived, &i.MessagesReceived)
	counter(c.msgsSent, &i.MessagesSent)
	counter(c.msgsDropped, &i.MessagesDropped, "pending_writes")
	counter(c.msgsDropped, &i.InflightDropped, "inflight_quota")
	counter(c.bytesReceived, &i.BytesReceived)
	counter(c.bytesSent, &i.BytesSent)
	counter(c.packetsReceived, &i.PacketsReceived)
	counter(c.packetsSent, &i.PacketsSent)
}

func newRefusedCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace,
		Subsystem: subsystem,
		Name:      "connections_refused_total",
		Help: `Connections closed before they became MQTT sessions, by listener and reason: ` +
			`"origin", "path", "subprotocol", "handshake" (WebSocket upgrade refused), ` +
			`"connect_timeout" (no CONNECT in time), "max_clients" (CONNACK server busy).`,
	}, []string{"listener", "reason"})
}

// refusalReasons lists the reasons each listener can report, so they export 0 from the start.
func refusalReasons(listenerID string) []string {
	switch listenerID {
	case ListenerWS, ListenerWSS:
		return []string{refusedOrigin, refusedPath, refusedSubprotocol, refusedHandshake, refusedConnectTimeout, refusedMaxClients}
	default:
		return []string{refusedConnectTimeout, refusedMaxClients}
	}
}
