package broker

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// closeGrace bounds how long a closing listener waits for its clients to take their
// DISCONNECT before their sockets are closed under them (a stuck client must not hold
// up shutdown for its keepalive).
const closeGrace = 2 * time.Second

// conns owns the goroutines and connections of one listener: it hands each accepted
// connection to mochi with the CONNECT deadline set, counts refusals, and on close
// disconnects, closes and waits for all of them.
type conns struct {
	id             string
	connectTimeout time.Duration
	connecting     *sync.Map              // net.Conn → struct{} until the limits hook sees its CONNECT
	refused        *prometheus.CounterVec // connections_refused_total
	log            zerolog.Logger
	establish      listeners.EstablishFn   // set by Serve before any connection is accepted
	disconnect     func(listenerID string) // sends DISCONNECT to the listener's clients

	mu     sync.Mutex
	closed bool
	open   map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newConns(id string, connectTimeout time.Duration, connecting *sync.Map, refused *prometheus.CounterVec, disconnect func(string), log zerolog.Logger) *conns {
	return &conns{
		id:             id,
		disconnect:     disconnect,
		connectTimeout: connectTimeout,
		connecting:     connecting,
		refused:        refused,
		log:            log,
		open:           make(map[net.Conn]struct{}),
	}
}

// enter registers a goroutine that close must wait for; false once closing.
func (c *conns) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	return true
}

func (c *conns) leave() { c.wg.Done() }

// serve runs one connection through mochi until it ends. The caller has entered.
func (c *conns) serve(nc net.Conn) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = nc.Close()
		return
	}
	c.open[nc] = struct{}{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.open, nc)
		c.mu.Unlock()
		_ = nc.Close()
	}()

	// mochi reads CONNECT without a deadline; once it has processed CONNECT it replaces
	// this deadline with one derived from the keepalive.
	_ = nc.SetDeadline(time.Now().Add(c.connectTimeout))
	c.connecting.Store(nc, struct{}{})
	err := c.establish(c.id, nc)
	_, noConnect := c.connecting.LoadAndDelete(nc)

	switch {
	case err == nil:
	case noConnect && isTimeout(err):
		c.refused.WithLabelValues(c.id, refusedConnectTimeout).Inc()
		c.log.Debug().Str("remote", nc.RemoteAddr().String()).Msg("mqtt connection closed: no CONNECT in time")
	case errors.Is(err, packets.ErrServerBusy):
		c.refused.WithLabelValues(c.id, refusedMaxClients).Inc()
		c.log.Debug().Str("remote", nc.RemoteAddr().String()).Msg("mqtt connection refused: max_clients reached")
	default:
		c.log.Debug().Err(err).Str("remote", nc.RemoteAddr().String()).Msg("mqtt connection ended")
	}
}

// close disconnects the listener's clients (they get DISCONNECT "server shutting down"),
// closes every connection still open after at most closeGrace, and waits for every
// goroutine that entered. The caller has stopped accepting.
//
// mochi's own CloseFn (Server.closeListenerClients) is not used: its
// Clients.GetByListener takes the clients' read lock twice, which deadlocks when a client
// disconnecting at that moment waits for the write lock in between.
func (c *conns) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()

	forced := make(chan struct{})
	t := time.AfterFunc(closeGrace, func() {
		defer close(forced)
		c.closeOpen()
	})
	c.disconnect(c.id)
	if !t.Stop() {
		<-forced
	}
	c.closeOpen()
	c.wg.Wait()
}

func (c *conns) closeOpen() {
	c.mu.Lock()
	open := make([]net.Conn, 0, len(c.open))
	for nc := range c.open {
		open = append(open, nc)
	}
	c.mu.Unlock()
	for _, nc := range open {
		_ = nc.Close()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
