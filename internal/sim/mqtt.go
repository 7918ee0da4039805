package sim

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/pilotx/dispatchhub/internal/loadgen"
)

// MQTT settings of every client of the run.
const (
	keepAlive      = 60 // seconds
	connectTimeout = 10 * time.Second
	publishTimeout = 10 * time.Second
)

// connectMQTT opens a WebSocket to url and runs CONNECT (MQTT 5) as client {tenant}.{sub}
// with token as password, then subscribes filter at QoS 1. onPublish receives what the
// client is sent; onLost learns of the connection's end.
func connectMQTT(ctx context.Context, url, tenant, sub, token, filter string,
	onPublish func(paho.PublishReceived) (bool, error), onLost func(error)) (*paho.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := loadgen.DialWS(ctx, url)
	if err != nil {
		return nil, err
	}
	c := loadgen.NewClient(conn, onPublish, onLost)
	ack, err := c.Connect(ctx, &paho.Connect{
		ClientID: tenant + "." + sub, KeepAlive: keepAlive, CleanStart: true,
		Password: []byte(token), PasswordFlag: true,
	})
	if err != nil {
		_ = conn.Close()
		if ack != nil {
			return nil, fmt.Errorf("CONNACK reason 0x%02x", ack.ReasonCode)
		}
		return nil, fmt.Errorf("connect: %w", err)
	}
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if err != nil {
		loadgen.Disconnect(c)
		return nil, fmt.Errorf("subscribe %s: %w", filter, err)
	}
	if len(sa.Reasons) != 1 || sa.Reasons[0] >= 0x80 {
		loadgen.Disconnect(c)
		return nil, fmt.Errorf("subscribe %s: refused with reason codes %v", filter, sa.Reasons)
	}
	return c, nil
}

// errorLog counts failures by kind and message, keeping at most maxErrorKinds of them.
type errorLog struct {
	mu sync.Mutex
	m  map[string]int
}

const maxErrorKinds = 16

func (e *errorLog) add(kind string, err error) {
	key := kind + ": " + err.Error()
	if len(key) > 200 {
		key = key[:200]
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]int{}
	}
	if _, ok := e.m[key]; ok || len(e.m) < maxErrorKinds {
		e.m[key]++
	}
}

func (e *errorLog) snapshot() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.m) == 0 {
		return nil
	}
	return maps.Clone(e.m)
}
