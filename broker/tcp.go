package broker

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// tcpListener serves MQTT over TCP, or over TLS when tlsConfig is set. Unlike mochi's
// listeners.TCP it tracks every connection, so Close also ends connections that have not
// sent CONNECT yet and waits for its accept loop and connection goroutines.
type tcpListener struct {
	socket
	conns     *conns
	stop      chan struct{}
	closeOnce sync.Once
}

var _ listeners.Listener = (*tcpListener)(nil)

func newTCPListener(id, addr string, tlsConfig *tls.Config, c *conns) *tcpListener {
	return &tcpListener{socket: socket{id: id, addr: addr, tlsConfig: tlsConfig, plain: "tcp", secure: "tls"}, conns: c, stop: make(chan struct{})}
}

// socket is what the TCP and WebSocket listeners share: an id, an address bound at Init, and
// TLS when configured. It provides ID, Protocol, Address and Init of listeners.Listener.
type socket struct {
	id            string
	addr          string // configured
	tlsConfig     *tls.Config
	plain, secure string       // protocol names without and with TLS
	ln            net.Listener // bound by Init
}

func (s *socket) ID() string { return s.id }

func (s *socket) Protocol() string {
	if s.tlsConfig != nil {
		return s.secure
	}
	return s.plain
}

// Address is the bound address once Init has run, else the configured one.
func (s *socket) Address() string {
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.addr
}

// Init binds the address; mochi calls it from AddListener.
func (s *socket) Init(*slog.Logger) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	if s.tlsConfig != nil {
		ln = tls.NewListener(ln, s.tlsConfig)
	}
	s.ln = ln
	return nil
}

// Serve accepts connections until Close; mochi runs it on its own goroutine.
func (l *tcpListener) Serve(establish listeners.EstablishFn) {
	if !l.conns.enter() {
		return
	}
	defer l.conns.leave()
	l.conns.establish = establish

	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, as net/http does, then retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.conns.log.Warn().Err(err).Dur("retry_in", backoff).Msg("mqtt accept failed")
			select {
			case <-l.stop:
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		if !l.conns.enter() {
			_ = nc.Close()
			return
		}
		go func() {
			defer l.conns.leave()
			l.conns.serve(nc)
		}()
	}
}

// Close stops accepting, disconnects this listener's clients and waits for them. mochi's
// CloseFn is not used (see conns.close).
func (l *tcpListener) Close(listeners.CloseFn) {
	l.closeOnce.Do(func() {
		close(l.stop)
		if l.ln != nil {
			_ = l.ln.Close()
		}
		l.conns.close()
	})
}
