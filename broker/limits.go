package broker

import (
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// limits is the broker's own hook. It only shapes connections: it never answers
// OnConnectAuthenticate or OnACLCheck (mochi ORs those answers, so any "yes" here would
// override the auth and ACL hooks).
//
//   - OnConnect clamps the keepalive: 0 (none) or above the maximum becomes the maximum, and
//     mochi tells MQTT 5 clients in CONNACK (Server Keep Alive). mochi arms the socket
//     deadline from it right after this hook.
//   - OnConnect also marks the connection as past CONNECT, so a later timeout is not
//     counted as a missing CONNECT.
//   - OnPacketEncode adds Maximum Packet Size to successful MQTT 5 CONNACKs, which mochi
//     enforces but does not announce.
type limits struct {
	mqtt.HookBase
	keepaliveMax  uint16 // seconds
	maxPacketSize uint32
	connecting    *sync.Map
}

var _ mqtt.Hook = (*limits)(nil)

func (h *limits) ID() string { return "limits" }

func (h *limits) Provides(b byte) bool {
	return b == mqtt.OnConnect || b == mqtt.OnPacketEncode
}

func (h *limits) OnConnect(cl *mqtt.Client, _ packets.Packet) error {
	if cl.Net.Conn != nil {
		h.connecting.Delete(cl.Net.Conn)
	}
	if ka := cl.State.Keepalive; ka == 0 || ka > h.keepaliveMax {
		cl.State.Keepalive = h.keepaliveMax
		cl.State.ServerKeepalive = true
	}
	return nil
}

func (h *limits) OnPacketEncode(_ *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && pk.ReasonCode < packets.ErrUnspecifiedError.Code {
		pk.Properties.MaximumPacketSize = h.maxPacketSize
	}
	return pk
}
