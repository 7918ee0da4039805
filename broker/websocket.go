package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

const (
	wsSubprotocol = "mqtt"
	// wsReadBufferSize is gorilla's per-connection read buffer (mochi buffers again on top of
	// it); its write buffers come from a pool shared by all connections.
	wsReadBufferSize  = 1 << 10
	wsWriteBufferSize = 4 << 10
	wsMaxHeaderBytes  = 16 << 10
	// wsCloseFrameTimeout bounds the best-effort close frame sent before the socket closes.
	wsCloseFrameTimeout = 100 * time.Millisecond
	// wsShutdownGrace is how long Close lets HTTP requests that are not (yet) WebSockets
	// finish: refusals, handshakes in progress.
	wsShutdownGrace = 250 * time.Millisecond
)

// wsListener serves MQTT over WebSocket (WSS when tlsConfig is set) on one path. Unlike
// mochi's listeners.Websocket it upgrades only that path, checks the Origin against an
// allow-list, insists on the "mqtt" subprotocol, bounds the handshake in time and the
// messages in size, and waits for its connections on Close.
type wsListener struct {
	socket
	path      string
	readLimit int64
	origins   []string // exact values; "*" allows any
	conns     *conns
	upgrader  websocket.Upgrader
	srv       *http.Server

	closeOnce sync.Once
}

var _ listeners.Listener = (*wsListener)(nil)

type wsOptions struct {
	path           string
	tlsConfig      *tls.Config
	readLimit      int64
	origins        []string
	connectTimeout time.Duration
	writePool      websocket.BufferPool
}

func newWSListener(id, addr string, o wsOptions, c *conns) *wsListener {
	l := &wsListener{
		socket:    socket{id: id, addr: addr, tlsConfig: o.tlsConfig, plain: "ws", secure: "wss"},
		path:      o.path,
		readLimit: o.readLimit,
		origins:   o.origins,
		conns:     c,
	}
	l.upgrader = websocket.Upgrader{
		HandshakeTimeout: o.connectTimeout,
		ReadBufferSize:   wsReadBufferSize,
		WriteBufferSize:  wsWriteBufferSize,
		WriteBufferPool:  o.writePool,
		Subprotocols:     []string{wsSubprotocol},
		CheckOrigin:      l.originAllowed,
	}
	l.srv = &http.Server{
		Handler:           l,
		ReadHeaderTimeout: o.connectTimeout,
		WriteTimeout:      o.connectTimeout, // refusals only: the upgrade clears the deadlines
		IdleTimeout:       o.connectTimeout,
		MaxHeaderBytes:    wsMaxHeaderBytes,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // HTTP/1.1 only: upgrades need it
		ErrorLog:          slog.NewLogLogger(newSlogHandler(c.log), slog.LevelInfo), // → debug
	}
	return l
}

// Serve runs the HTTP server until Close; mochi runs it on its own goroutine.
func (l *wsListener) Serve(establish listeners.EstablishFn) {
	if !l.conns.enter() {
		return
	}
	defer l.conns.leave()
	l.conns.establish = establish
	if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.conns.log.Error().Err(err).Msg("mqtt websocket listener stopped")
	}
}

// Close shuts the HTTP server down, disconnects this listener's clients and waits for them
// (upgraded connections are hijacked, so the HTTP server no longer tracks them). mochi's
// CloseFn is not used (see conns.close).
func (l *wsListener) Close(listeners.CloseFn) {
	l.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wsShutdownGrace)
		if err := l.srv.Shutdown(ctx); err != nil {
			_ = l.srv.Close()
		}
		cancel()
		if l.ln != nil {
			_ = l.ln.Close() // when Serve never ran
		}
		l.conns.close()
	})
}

// ServeHTTP refuses what is not an MQTT WebSocket for this path and upgrades the rest.
func (l *wsListener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !l.conns.enter() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer l.conns.leave()

	switch {
	case r.URL.Path != l.path:
		l.refuse(refusedPath)
		http.NotFound(w, r)
		return
	case !l.originAllowed(r):
		l.refuse(refusedOrigin)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	case !slices.Contains(websocket.Subprotocols(r), wsSubprotocol):
		l.refuse(refusedSubprotocol)
		http.Error(w, `WebSocket subprotocol "mqtt" required`, http.StatusBadRequest)
		return
	}
	ws, err := l.upgrader.Upgrade(w, r, nil) // answers the client itself on error
	if err != nil {
		l.refuse(refusedHandshake)
		l.conns.log.Debug().Err(err).Str("remote", r.RemoteAddr).Msg("mqtt websocket upgrade refused")
		return
	}
	ws.SetReadLimit(l.readLimit)
	// Serve on a goroutine of our own and return: the HTTP server's goroutine then ends and
	// frees its per-connection state (request, 8 KiB of bufio buffers, a deep stack), which it
	// would otherwise hold for as long as the MQTT session lasts.
	if !l.conns.enter() {
		_ = ws.Close()
		return
	}
	go func() {
		defer l.conns.leave()
		l.conns.serve(newWSConn(ws))
	}()
}

// originAllowed admits requests without an Origin (native apps) and listed Origins.
func (l *wsListener) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, o := range l.origins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

func (l *wsListener) refuse(reason string) {
	l.conns.refused.WithLabelValues(l.id, reason).Inc()
}

// errTextMessage ends a connection whose peer sent a text message: MQTT travels in binary
// messages only.
var errTextMessage = errors.New("websocket: text message on an MQTT connection")

// wsConn presents a WebSocket as the byte stream mochi reads MQTT packets from. A packet
// may span messages and a message may hold several packets; each Write is one binary
// message. Like any net.Conn it may be used from several goroutines; reads are expected
// from one at a time.
type wsConn struct {
	ws        *websocket.Conn
	r         io.Reader    // the message being read, nil between messages
	wmu       sync.Mutex   // gorilla allows one writer at a time
	deadline  atomic.Int64 // write deadline in Unix ns, 0 = none; applied by the writer
	applied   int64        // the write deadline gorilla has; under wmu
	closeOnce sync.Once
	closeErr  error
}

var _ net.Conn = (*wsConn)(nil)

func newWSConn(ws *websocket.Conn) *wsConn { return &wsConn{ws: ws} }

func (c *wsConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, errTextMessage
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if d := c.deadline.Load(); d != c.applied {
		_ = c.ws.SetWriteDeadline(unixNano(d))
		c.applied = d
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a close frame unless a write is stuck (then the peer learns from the socket
// alone), and closes the socket.
func (c *wsConn) Close() error {
	c.closeOnce.Do(func() {
		if c.wmu.TryLock() {
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(wsCloseFrameTimeout))
			c.wmu.Unlock()
		}
		c.closeErr = c.ws.Close()
	})
	return c.closeErr
}

func (c *wsConn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

func (c *wsConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

func (c *wsConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline does not wait for a write in progress (gorilla's own setter must not
// run alongside a writer): the socket gets the deadline now, so a blocked write sees it,
// and gorilla gets it before the next write.
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	var d int64
	if !t.IsZero() {
		d = t.UnixNano()
	}
	c.deadline.Store(d)
	return c.ws.NetConn().SetWriteDeadline(t)
}

func unixNano(d int64) time.Time {
	if d == 0 {
		return time.Time{}
	}
	return time.Unix(0, d)
}
