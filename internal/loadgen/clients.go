package loadgen

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/pilotx/dispatchhub/internal/auth"
)

// driverReceiveMaximum is the Receive Maximum the drivers announce: they receive nothing
// here, and paho sizes a queue of that many messages per client (65535 by default).
const driverReceiveMaximum = 32

// disconnectWait bounds how long a client's goroutines may take to end after DISCONNECT.
const disconnectWait = 5 * time.Second

// driver is one driver's connection and its position.
type driver struct {
	idx    int
	id     string // token subject, the driver id of its topics
	topic  string // tenants/{t}/drivers/{id}/location
	client *paho.Client
	lost   atomic.Bool

	// used by its publishing worker only
	seq              uint64
	lat, lng, course float64
}

// driverID is the id of driver i: d00001, d00002, ...
func driverID(i int) string { return fmt.Sprintf("d%05d", i+1) }

// connectDispatcher connects the measuring dispatcher and subscribes it to the tenant's
// wildcard, before any driver connects.
func (g *gen) connectDispatcher(ctx context.Context) error {
	var once sync.Once
	lost := func(err error) {
		once.Do(func() {
			if !g.closing.Load() {
				g.errs.add("dispatcher", fmt.Errorf("connection lost: %w", err))
			}
		})
	}
	c, err := g.connect(ctx, DispatcherSubject, auth.RoleDispatcher, 0, g.onDispatch, lost)
	if err != nil {
		return err
	}
	g.dispatcher = c
	sctx, cancel := context.WithTimeout(ctx, g.cfg.ConnectTimeout)
	defer cancel()
	filter := "tenants/" + g.cfg.Tenant + "/#"
	sa, err := c.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: g.cfg.QoS}}})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	if len(sa.Reasons) != 1 || sa.Reasons[0] >= 0x80 {
		return fmt.Errorf("subscribe %s: refused with reason codes %v", filter, sa.Reasons)
	}
	return nil
}

// onDispatch accounts for a message the dispatcher received.
func (g *gen) onDispatch(pr paho.PublishReceived) (bool, error) {
	now := g.now()
	if !strings.HasSuffix(pr.Packet.Topic, "/location") {
		g.other.Add(1)
		return true, nil
	}
	p, ok := g.parser.parse(pr.Packet.Payload)
	if !ok {
		g.track.recordForeign()
		return true, nil
	}
	g.track.record(p.Driver, p.Seq, time.Duration(now-p.SentNs))
	return true, nil
}

// connectDrivers connects every driver, cfg.ConnectConcurrency at a time, and returns how
// many connected.
func (g *gen) connectDrivers(ctx context.Context) int {
	var next, connected atomic.Int64
	var wg sync.WaitGroup
	for range min(g.cfg.ConnectConcurrency, g.cfg.Drivers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= g.cfg.Drivers {
					return
				}
				if d := g.connectDriver(ctx, i); d != nil {
					g.drivers[i] = d
					connected.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(connected.Load())
}

func (g *gen) connectDriver(ctx context.Context, i int) *driver {
	id := driverID(i)
	d := &driver{
		idx:   i,
		id:    id,
		topic: "tenants/" + g.cfg.Tenant + "/drivers/" + id + "/location",
		// spread over about ±0.1° around central Berlin, each on its own course
		lat:    52.52 + float64(i%200-100)*0.001,
		lng:    13.405 + float64(i/200%200-100)*0.001,
		course: float64(i*37%360) * 3.141592653589793 / 180,
	}
	lost := func(err error) {
		if d.lost.CompareAndSwap(false, true) && !g.closing.Load() {
			g.disconnected.Add(1)
			g.errs.add("driver lost", err)
		}
	}
	c, err := g.connect(ctx, id, auth.RoleDriver, driverReceiveMaximum, nil, lost)
	if err != nil {
		if ctx.Err() == nil {
			g.errs.add("driver connect", err)
		}
		return nil
	}
	d.client = c
	return d
}

// connect opens a connection to cfg.URL and runs CONNECT as client {tenant}.{subject}, with
// a token of role when the run has a secret. onPublish receives what the client is sent (nil:
// dropped); onLost learns of the connection's end unless Run ended it.
func (g *gen) connect(ctx context.Context, subject string, role auth.Role, receiveMax uint16,
	onPublish func(paho.PublishReceived) (bool, error), onLost func(error)) (*paho.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.ConnectTimeout)
	defer cancel()
	cp := &paho.Connect{
		ClientID:   g.cfg.Tenant + "." + subject,
		KeepAlive:  uint16(g.cfg.KeepAlive / time.Second),
		CleanStart: true,
	}
	if receiveMax > 0 {
		cp.Properties = &paho.ConnectProperties{ReceiveMaximum: &receiveMax}
	}
	if g.signer != nil {
		tok, err := g.signer.Sign(auth.Identity{Tenant: g.cfg.Tenant, Subject: subject, Role: role}, auth.DefaultAudience, "", g.cfg.TokenTTL)
		if err != nil {
			return nil, fmt.Errorf("sign token: %w", err)
		}
		cp.Password, cp.PasswordFlag = []byte(tok), true
	}
	if onPublish == nil {
		onPublish = func(paho.PublishReceived) (bool, error) { return true, nil }
	}

	conn, err := g.dialer.dial(ctx, g.cfg.URL)
	if err != nil {
		return nil, err
	}
	c := NewClient(conn, onPublish, onLost)
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		_ = conn.Close()
		if ack != nil {
			return nil, fmt.Errorf("CONNACK reason 0x%02x", ack.ReasonCode)
		}
		return nil, fmt.Errorf("connect: %w", err)
	}
	return c, nil
}

// disconnectAll sends DISCONNECT on every connection (drivers first, the dispatcher last)
// and waits for their goroutines; later calls do nothing.
func (g *gen) disconnectAll() {
	g.closeOnce.Do(func() {
		g.closing.Store(true)
		clients := make(chan *paho.Client)
		var wg sync.WaitGroup
		for range min(g.cfg.ConnectConcurrency, max(g.cfg.Drivers, 1)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for c := range clients {
					Disconnect(c)
				}
			}()
		}
		for _, d := range g.drivers {
			if d != nil {
				clients <- d.client
			}
		}
		close(clients)
		wg.Wait()
		if g.dispatcher != nil {
			Disconnect(g.dispatcher)
		}
	})
}

// Disconnect sends DISCONNECT and waits, disconnectWait at most, for the client's goroutines.
func Disconnect(c *paho.Client) {
	_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	t := time.NewTimer(disconnectWait)
	defer t.Stop()
	select {
	case <-c.Done():
	case <-t.C:
	}
}

// NewClient is a paho MQTT client on conn: onPublish receives what it is sent, onLost learns
// of the connection's end, by a client error or a DISCONNECT from the server.
func NewClient(conn net.Conn, onPublish func(paho.PublishReceived) (bool, error), onLost func(error)) *paho.Client {
	return paho.NewClient(paho.ClientConfig{
		Conn:              conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){onPublish},
		OnClientError:     onLost,
		OnServerDisconnect: func(d *paho.Disconnect) {
			onLost(fmt.Errorf("DISCONNECT from the server, reason 0x%02x", d.ReasonCode))
		},
	})
}
