package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// dialer opens the connections of MQTT clients: WebSockets (subprotocol "mqtt"), whose write
// buffers are shared by all connections since each holds one only while it writes, or plain
// TCP.
type dialer struct {
	ws  websocket.Dialer
	tcp net.Dialer
}

func newDialer(connectTimeout time.Duration) *dialer {
	return &dialer{
		ws: websocket.Dialer{
			Subprotocols:     []string{"mqtt"},
			HandshakeTimeout: connectTimeout,
			ReadBufferSize:   1 << 10,
			WriteBufferSize:  1 << 10,
			WriteBufferPool:  &sync.Pool{},
		},
		tcp: net.Dialer{Timeout: connectTimeout},
	}
}

// dial opens a connection to url, ws://, wss:// or tcp://host:port, and returns it as the
// byte stream of an MQTT client.
func (d *dialer) dial(ctx context.Context, url string) (net.Conn, error) {
	if addr, ok := strings.CutPrefix(url, "tcp://"); ok {
		// paho writes each packet with one net.Buffers.WriteTo, which on a *net.TCPConn is
		// one writev under the connection's write lock: packets of several goroutines do
		// not interleave, and the connection needs no sync.Locker.
		c, err := d.tcp.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("tcp %s: %w", url, err)
		}
		return c, nil
	}
	return d.dialWS(ctx, url)
}

// dialWS opens a WebSocket to url (ws:// or wss://) as the byte stream of an MQTT client.
func (d *dialer) dialWS(ctx context.Context, url string) (net.Conn, error) {
	ws, resp, err := d.ws.DialContext(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket %s: %w (HTTP %d)", url, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("websocket %s: %w", url, err)
	}
	return &wsConn{ws: ws}, nil
}

// wsConn is a net.Conn over binary WebSocket messages that sends each MQTT packet as one
// message, as browser and phone clients do. paho writes a packet in pieces (fixed header,
// variable header, properties, payload; some empty); the pieces are collected until the
// packet is complete by its own length, then sent in one message and one write. It is a
// sync.Locker, so paho holds it across the pieces of a packet and packets of several
// goroutines do not interleave. A read may span messages; reads come from one goroutine.
type wsConn struct {
	ws *websocket.Conn
	r  io.Reader // the message being read, nil between messages

	packet sync.Mutex // held by paho for a whole packet (Lock, Unlock)
	wmu    sync.Mutex // guards buf and the socket's writer
	buf    []byte     // pieces of the packet being written
}

var (
	_ net.Conn    = (*wsConn)(nil)
	_ sync.Locker = (*wsConn)(nil)
)

// errNotBinary ends a connection whose peer sent a text message.
var errNotBinary = errors.New("websocket: text message on an MQTT connection")

func (c *wsConn) Lock()   { c.packet.Lock() }
func (c *wsConn) Unlock() { c.packet.Unlock() }

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
				return 0, errNotBinary
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

// Write adds p to the packet being written and sends every packet it completes.
func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.buf = append(c.buf, p...)
	for {
		n, ok := packetLen(c.buf)
		if !ok {
			break
		}
		if n > len(c.buf) {
			return len(p), nil // more pieces to come
		}
		if err := c.ws.WriteMessage(websocket.BinaryMessage, c.buf[:n]); err != nil {
			c.buf = c.buf[:0]
			return 0, err
		}
		c.buf = append(c.buf[:0], c.buf[n:]...)
		if len(c.buf) == 0 {
			break
		}
	}
	return len(p), nil
}

// packetLen is the length of the MQTT packet at the start of b (fixed header included);
// false while b is too short to tell, or when its length field is malformed (then the
// packet is sent as it is and the broker refuses it).
func packetLen(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	remaining, mult := 0, 1
	for i := 1; i < len(b) && i <= 4; i++ {
		remaining += int(b[i]&0x7f) * mult
		if b[i]&0x80 == 0 {
			return 1 + i + remaining, true
		}
		mult *= 128
	}
	if len(b) > 4 {
		return len(b), true // no end within 4 bytes: malformed
	}
	return 0, false
}

func (c *wsConn) Close() error { return c.ws.Close() }

func (c *wsConn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

func (c *wsConn) SetDeadline(t time.Time) error {
	return errors.Join(c.ws.SetReadDeadline(t), c.ws.NetConn().SetWriteDeadline(t))
}
func (c *wsConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.NetConn().SetWriteDeadline(t) }

// DialWS opens an MQTT-over-WebSocket connection to url (ws:// or wss://) as the byte stream
// of an MQTT client such as paho: each packet goes out as one binary message.
func DialWS(ctx context.Context, url string) (net.Conn, error) {
	return newDialer(5*time.Second).dialWS(ctx, url)
}
