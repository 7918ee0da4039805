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
	id        string
	addr      string // configured
	tlsConfig *tls.Config
	conns     *conns

	ln        net.Listener // bound by Init
	stop      chan struct{}
	closeOnce sync.Once
}

var _ listeners.Listener = (*tcpListener)(nil)

func newTCPListener(id, addr string, tlsConfig *tls.Config, c *conns) *tcpListener {
	return &tcpListener{id: id, addr: addr, tlsConfig: tlsConfig, conns: c, stop: make(chan struct{})}
}

func (l *tcpListener) ID() string { return l.id }

func (l *tcpListener) Protocol() string {
	if l.tlsConfig != nil {
		return "tls"
	}
	return "tcp"
}

// Address is the bound address once Init has run, else the configured one.
func (l *tcpListener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

// Init binds the address; mochi calls it from AddListener.
func (l *tcpListener) Init(*slog.Logger) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	if l.tlsConfig != nil {
		ln = tls.NewListener(ln, l.tlsConfig)
	}
	l.ln = ln
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
