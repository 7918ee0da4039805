package sim

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/valyala/fastjson"
)

// WatcherSubject is the token subject of the run's dispatcher; its client id is
// {tenant}.sim-watcher.
const WatcherSubject = "sim-watcher"

// watcher is a dispatcher console: subscribed to everything of the tenant, it sees the
// domain events (OrderCreated, AssignmentOffered, OrderAssigned, PickedUp, DeliveryCompleted,
// ...) and every driver's fixes, and accounts for them in the ledger.
type watcher struct {
	client  *paho.Client
	led     *ledger
	errs    *errorLog
	drivers int
	prefix  string // tenants/{t}/
	parsers fastjson.ParserPool
}

func newWatcher(tenant string, drivers int, led *ledger, errs *errorLog) *watcher {
	return &watcher{led: led, errs: errs, drivers: drivers, prefix: "tenants/" + tenant + "/"}
}

// connect dials the hub as the dispatcher and subscribes tenants/{t}/#.
func (w *watcher) connect(ctx context.Context, url, tenant, token string, closing *atomic.Bool) error {
	var once sync.Once
	lost := func(err error) {
		once.Do(func() {
			if !closing.Load() {
				w.errs.add("watcher connection lost", err)
			}
		})
	}
	c, err := connectMQTT(ctx, url, tenant, WatcherSubject, token, w.prefix+"#", w.onPublish, lost)
	if err != nil {
		return err
	}
	w.client = c
	return nil
}

// onPublish accounts for one message, on paho's receiving goroutine.
func (w *watcher) onPublish(pr paho.PublishReceived) (bool, error) {
	w.handle(pr.Packet.Topic, pr.Packet.Payload, time.Now())
	return true, nil
}

// handle accounts for a message of topic received at now.
func (w *watcher) handle(topic string, payload []byte, now time.Time) {
	rest, ok := strings.CutPrefix(topic, w.prefix)
	if !ok {
		w.led.watcherOther(true)
		return
	}
	switch {
	case strings.HasPrefix(rest, "events/"):
		m, err := parseEvent(payload)
		if err != nil {
			w.led.watcherOther(true)
			return
		}
		w.led.watcherEvent(&m, now)
	case strings.HasPrefix(rest, "drivers/") && strings.HasSuffix(rest, "/location"):
		id := strings.TrimSuffix(strings.TrimPrefix(rest, "drivers/"), "/location")
		i := driverIndex(id, w.drivers)
		p := w.parsers.Get()
		at, seq, err := parseFix(p, payload)
		w.parsers.Put(p)
		if i < 0 || err != nil {
			w.led.watcherOther(true)
			return
		}
		w.led.fixSeen(i, seq, now.Sub(at))
	default:
		w.led.watcherOther(false) // orders/, jobs, presence, connectors
	}
}
