package hooks

import (
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pilotx/dispatchhub/dispatch"
	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/metrics"
)

// ReplySink takes a driver's validated reply for the dispatch engine. Submit must not block:
// it returns false when it cannot take the reply now.
type ReplySink interface {
	Submit(tenant, driver string, r dispatch.Reply) bool
}

var _ ReplySink = (*dispatch.Replies)(nil)

// Replies validates what a driver publishes on its own tenants/{t}/drivers/{d}/replies topic
// (the ACL has refused every other publisher) and hands good replies to the engine. An
// invalid reply is not delivered: MQTT 5 clients get PUBACK 0x99 (payload format invalid), or
// 0x97 (quota exceeded) when the engine's queue is full; the app re-sends after that.
type Replies struct {
	mqtt.HookBase
	sessions *Sessions
	sink     ReplySink

	accepted, full prometheus.Counter
	invalid        *prometheus.CounterVec
}

// NewReplies builds the hook.
func NewReplies(sessions *Sessions, sink ReplySink, reg prometheus.Registerer) *Replies {
	h := &Replies{
		sessions: sessions, sink: sink,
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "replies", Name: "accepted_total", Help: "Driver replies queued for the dispatch engine.",
		}),
		full: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "replies", Name: "refused_full_total", Help: "Driver replies refused because the engine's queue was full.",
		}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "replies", Name: "invalid_total", Help: "Driver replies refused as invalid, by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(h.accepted, h.full, h.invalid)
	return h
}

// ID names the hook.
func (h *Replies) ID() string { return "replies" }

// Provides lists the events the hook handles.
func (h *Replies) Provides(b byte) bool { return b == mqtt.OnPublish }

// OnPublish handles a driver's reply.
func (h *Replies) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if !strings.HasSuffix(pk.TopicName, "/replies") {
		return pk, nil
	}
	sess := h.sessions.Get(cl)
	if sess == nil || sess.Identity.Role != auth.RoleDriver || pk.TopicName != sess.ACL.replies {
		return pk, nil
	}
	v5 := cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos > 0
	r, err := dispatch.DecodeReply(pk.Payload)
	if err != nil {
		reason := "json"
		if re, ok := err.(*dispatch.ReplyError); ok {
			reason = re.Reason
		}
		h.invalid.WithLabelValues(reason).Inc()
		if v5 {
			return pk, packets.ErrPayloadFormatInvalid
		}
		return pk, packets.CodeSuccessIgnore
	}
	if !h.sink.Submit(sess.Identity.Tenant, sess.Identity.Subject, r) {
		h.full.Inc()
		if v5 {
			return pk, packets.ErrQuotaExceeded
		}
		return pk, packets.CodeSuccessIgnore
	}
	h.accepted.Inc()
	return pk, nil
}
