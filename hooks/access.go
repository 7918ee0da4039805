package hooks

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/metrics"
)

// TokenVerifier checks a JWT without doing I/O (auth.Verifier).
type TokenVerifier interface {
	Verify(token string) (auth.Identity, error)
}

// Access authenticates every CONNECT with the JWT in its password, binds the client id to the
// token's identity, compiles the client's ACL and answers every ACL check mochi asks: publish,
// subscribe, each delivery (retained messages included) and the messages a reconnecting
// session inherits. It is the only hook that answers OnConnectAuthenticate and OnACLCheck.
type Access struct {
	mqtt.HookBase
	verifier TokenVerifier
	sessions *Sessions
	server   *mqtt.Server
	log      zerolog.Logger
	now      func() time.Time
	leeway   time.Duration

	connections  *prometheus.GaugeVec
	authFailures *prometheus.CounterVec
	aclDenied    *prometheus.CounterVec
	expired      prometheus.Counter
	// pre-resolved children: the ACL path must not allocate
	deniedPublish, deniedRead map[string]prometheus.Counter
	live                      sync.Map // *mqtt.Client → its connections gauge, while connected
}

var _ mqtt.Hook = (*Access)(nil)

// NewAccess builds the hook. server is the broker it is added to (used to disconnect clients
// whose token expires and to read the sessions they inherit).
func NewAccess(verifier TokenVerifier, sessions *Sessions, server *mqtt.Server, log zerolog.Logger, reg prometheus.Registerer) *Access {
	h := &Access{
		verifier: verifier, sessions: sessions, server: server, now: time.Now,
		log: log.With().Str("component", "mqtt-access").Logger().Sample(&zerolog.BurstSampler{Burst: 20, Period: time.Second}),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metrics.Namespace, Subsystem: "mqtt", Name: "connections",
			Help: "Authenticated MQTT connections by role and listener.",
		}, []string{"role", "listener"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "mqtt", Name: "auth_failures_total",
			Help: "CONNECTs refused, by reason.",
		}, []string{"reason"}),
		aclDenied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "mqtt", Name: "acl_denied_total",
			Help: "Publishes, subscriptions and deliveries refused by the ACL, by role and action.",
		}, []string{"role", "action"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "mqtt", Name: "token_expired_disconnects_total",
			Help: "Connections closed because their token expired.",
		}),
		deniedPublish: map[string]prometheus.Counter{},
		deniedRead:    map[string]prometheus.Counter{},
	}
	for _, r := range []string{roleDriver, roleDispatcher, roleOps, roleService, ""} {
		h.deniedPublish[r] = h.aclDenied.WithLabelValues(r, "publish")
		h.deniedRead[r] = h.aclDenied.WithLabelValues(r, "read")
	}
	reg.MustRegister(h.connections, h.authFailures, h.aclDenied, h.expired)
	return h
}

// SetLeeway aligns the expiry disconnect with the verifier's clock-skew leeway: a token still
// accepted within the leeway is disconnected when the leeway, not exp, runs out.
func (h *Access) SetLeeway(d time.Duration) { h.leeway = d }

// ID names the hook.
func (h *Access) ID() string { return "access" }

// Provides lists the events the hook handles.
func (h *Access) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSessionEstablish, mqtt.OnDisconnect, mqtt.OnClientExpired}, []byte{b})
}

// OnConnectAuthenticate verifies the token and binds the client id to it.
func (h *Access) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if len(pk.Connect.Password) == 0 {
		return h.refuse(cl, "missing", "no token in the CONNECT password")
	}
	id, err := h.verifier.Verify(string(pk.Connect.Password))
	if err != nil {
		return h.refuse(cl, auth.Reason(err), err.Error())
	}
	prefix := id.Tenant + "." + id.Subject
	if cl.ID != prefix && !strings.HasPrefix(cl.ID, prefix+".") {
		return h.refuse(cl, "client_id", "client id must be "+prefix+" or start with "+prefix+".")
	}
	sess := &Session{
		Identity:    id,
		ACL:         CompileACL(string(id.Role), id.Tenant, id.Subject),
		Listener:    cl.Net.Listener,
		ConnectedAt: h.now(),
	}
	if !id.Expires.IsZero() {
		sess.expiry = time.AfterFunc(id.Expires.Add(h.leeway).Sub(h.now()), func() {
			h.expired.Inc()
			h.log.Info().Str("client", cl.ID).Msg("token expired: disconnecting")
			_ = h.server.DisconnectClient(cl, packets.ErrMaxConnectTime)
		})
	}
	h.sessions.put(cl, sess)
	gauge := h.connections.WithLabelValues(string(id.Role), cl.Net.Listener)
	gauge.Inc()
	h.live.Store(cl, gauge)
	return true
}

func (h *Access) refuse(cl *mqtt.Client, reason, msg string) bool {
	h.authFailures.WithLabelValues(reason).Inc()
	h.log.Warn().Str("client", cl.ID).Str("listener", cl.Net.Listener).Str("remote", cl.Net.Remote).
		Str("reason", reason).Msg("connect refused: " + msg)
	return false
}

// OnACLCheck answers for publishes (write) and for subscriptions and deliveries (read).
func (h *Access) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	sess := h.sessions.Get(cl)
	if sess == nil {
		h.deniedRead[""].Inc()
		return false
	}
	if write {
		if sess.ACL.CanPublish(topic) {
			return true
		}
		h.denied(h.deniedPublish, sess, cl, topic, "publish")
		return false
	}
	if sess.ACL.CanRead(topic) {
		return true
	}
	h.denied(h.deniedRead, sess, cl, topic, "read")
	return false
}

func (h *Access) denied(counters map[string]prometheus.Counter, sess *Session, cl *mqtt.Client, topic, action string) {
	if c, ok := counters[sess.ACL.role]; ok {
		c.Inc()
	}
	h.log.Debug().Str("client", cl.ID).Str("role", sess.ACL.role).Str("topic", topic).Str("action", action).Msg("acl denied")
}

// OnSessionEstablish runs before mochi hands a reconnecting client the session it left (clean
// start false): the messages and subscriptions of that session that the new connection may not
// read are dropped there, so neither a resend nor an inherited subscription bypasses the ACL.
func (h *Access) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	old, ok := h.server.Clients.Get(cl.ID)
	sess := h.sessions.Get(cl)
	if !ok || old == cl || sess == nil {
		return
	}
	for _, m := range old.State.Inflight.GetAll(false) {
		if m.FixedHeader.Type == packets.Publish && !sess.ACL.CanRead(m.TopicName) {
			old.State.Inflight.Delete(m.PacketID)
			h.denied(h.deniedRead, sess, cl, m.TopicName, "resend")
		}
	}
	for filter := range old.State.Subscriptions.GetAll() {
		if !sess.ACL.CanRead(filter) {
			old.State.Subscriptions.Delete(filter)
			if h.server.Topics.Unsubscribe(filter, old.ID) {
				atomic.AddInt64(&h.server.Info.Subscriptions, -1)
			}
			h.denied(h.deniedRead, sess, cl, filter, "inherit")
		}
	}
	h.sessions.remove(old) // mochi moves the session to cl
}

// OnDisconnect stops the token's expiry timer. A persistent session (clean start false) keeps
// its ACL while it waits offline, since messages queued for it are checked against it.
func (h *Access) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	if g, ok := h.live.LoadAndDelete(cl); ok {
		g.(prometheus.Gauge).Dec()
	}
	sess := h.sessions.Get(cl)
	if sess == nil {
		return
	}
	if sess.expiry != nil {
		sess.expiry.Stop()
	}
	if expire || cl.IsTakenOver() {
		h.sessions.remove(cl)
	}
}

// OnClientExpired forgets a persistent session that expired offline.
func (h *Access) OnClientExpired(cl *mqtt.Client) { h.sessions.remove(cl) }
