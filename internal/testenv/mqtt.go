package testenv

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// DialWS opens an MQTT-over-WebSocket connection (subprotocol "mqtt") and returns it as a
// net.Conn for an MQTT client such as paho.
func DialWS(ctx context.Context, url string, header http.Header) (net.Conn, *http.Response, error) {
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.DialContext(ctx, url, header)
	if err != nil {
		return nil, resp, err
	}
	return &wsConn{Conn: c}, resp, nil
}

// MustDialWS is DialWS that fails the test on error.
func MustDialWS(t testing.TB, url string) net.Conn {
	t.Helper()
	c, _, err := DialWS(context.Background(), url, nil)
	if err != nil {
		t.Fatalf("testenv: websocket dial %s: %v", url, err)
	}
	return c
}

// wsConn is a net.Conn over binary WebSocket messages; a Read may span messages.
type wsConn struct {
	*websocket.Conn
	rmu sync.Mutex
	r   io.Reader
	wmu sync.Mutex
}

func (c *wsConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.r == nil {
			typ, r, err := c.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, errors.New("websocket: non-binary message")
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}
