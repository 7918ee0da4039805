package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/pilotx/dispatchhub/internal/sim/roads"
)

// inboxSize bounds the job messages a driver holds before its loop takes them.
const inboxSize = 64

// driver is one driver's phone: an MQTT 5 connection with its own token, its brain, its GPS.
type driver struct {
	idx    int
	id     string
	topics struct{ location, replies, jobs string }
	client *paho.Client
	lost   atomic.Bool // the connection ended before the run did

	led  *ledger
	errs *errorLog

	mu    sync.Mutex          // guards seen (paho's receiving goroutine)
	seen  map[string]struct{} // event ids of the job messages received
	inbox chan message

	// used by the driver's loop only
	brain    *brain
	rng      *rand.Rand
	gps      roads.GPS
	fixEvery [2]time.Duration
	seq      uint64
}

func newDriver(i int, cfg *Config, g *roads.Graph, seed uint64, led *ledger, errs *errorLog) *driver {
	rng := rand.New(rand.NewPCG(seed, uint64(i)+1))
	d := &driver{
		idx: i, id: driverID(i), led: led, errs: errs,
		seen: map[string]struct{}{}, inbox: make(chan message, inboxSize),
		rng: rng, gps: roads.GPS{NoiseM: cfg.GPSNoiseM, Dropout: cfg.Dropout}, fixEvery: cfg.FixEvery,
	}
	base := "tenants/" + cfg.Tenant + "/drivers/" + d.id + "/"
	d.topics.location, d.topics.replies, d.topics.jobs = base+"location", base+"replies", base+"jobs"
	speed := cfg.Speed * (0.8 + 0.4*rng.Float64()) // each driver its own pace
	d.brain = newBrain(g, rng, speed, cfg.Dwell, cfg.AcceptP)
	return d
}

// connect dials the hub as this driver and subscribes its jobs topic.
func (d *driver) connect(ctx context.Context, url, tenant, token string, closing *atomic.Bool) error {
	var once sync.Once
	lost := func(err error) {
		once.Do(func() {
			if !closing.Load() {
				d.lost.Store(true)
				d.errs.add("driver connection lost", err)
			}
		})
	}
	c, err := connectMQTT(ctx, url, tenant, d.id, token, d.topics.jobs, d.onPublish, lost)
	if err != nil {
		return err
	}
	d.client = c
	return nil
}

// onPublish takes a job message on paho's receiving goroutine: it is accounted at once (its
// arrival time is the measurement) and handed to the driver's loop.
func (d *driver) onPublish(pr paho.PublishReceived) (bool, error) {
	now := time.Now()
	m, err := parseJob(pr.Packet.Payload)
	if err != nil {
		d.errs.add("job message", err)
		return true, nil
	}
	dup := false
	if m.ID != "" {
		d.mu.Lock()
		_, dup = d.seen[m.ID]
		d.seen[m.ID] = struct{}{}
		d.mu.Unlock()
	}
	d.led.driverJob(&m, d.id, dup, now)
	if dup {
		return true, nil
	}
	select {
	case d.inbox <- m:
	default:
		d.errs.add("driver", fmt.Errorf("inbox full: a job message of %s dropped", m.Type))
	}
	return true, nil
}

// run drives until ctx ends or stop is closed: a fix every FixEvery (unless the GPS drops
// it), each job message answered as it comes, the job's replies when their time comes.
func (d *driver) run(ctx context.Context, stop <-chan struct{}) {
	last := time.Now()
	d.advance(ctx, last, 0, true)
	timer := time.NewTimer(d.interval())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case m := <-d.inbox:
			now := time.Now()
			d.advance(ctx, now, now.Sub(last), false)
			last = now
			if m.Type == "AssignmentOffered" && m.JobID != "" && !d.led.ours(&m) {
				// An order this run did not send (left open by an earlier run in the same
				// tenant): declined, so that it does not keep the driver from this run's.
				d.reply(ctx, reply{JobID: m.JobID, Action: "decline"})
				continue
			}
			for _, r := range d.brain.onJob(&m, now) {
				d.reply(ctx, r)
			}
		case <-timer.C:
			now := time.Now()
			d.advance(ctx, now, now.Sub(last), true)
			last = now
			timer.Reset(d.interval())
		}
	}
}

// interval is the wait until the next fix, uniform in FixEvery.
func (d *driver) interval() time.Duration {
	lo, hi := d.fixEvery[0], d.fixEvery[1]
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(d.rng.Int64N(int64(hi-lo)))
}

// advance moves the brain to now, sends the replies its job calls for and, when fix, a fix.
func (d *driver) advance(ctx context.Context, now time.Time, dt time.Duration, fix bool) {
	pos, heading, speed, replies := d.brain.step(now, dt)
	for _, r := range replies {
		d.reply(ctx, r)
	}
	if !fix {
		return
	}
	p, send := d.gps.Observe(pos, d.rng)
	if !send {
		d.led.fixSkipped()
		return
	}
	d.seq++
	payload := fixPayload(make([]byte, 0, 192), p, time.Now(), speed, heading, d.gps.NoiseM, d.seq)
	refused, err := d.publish(ctx, d.topics.location, payload)
	switch {
	case refused:
		// The hub answered the fix with an error (PUBACK reason code): it is not forwarded,
		// and its sequence number goes to the next fix.
		d.seq--
		d.errs.add("fix refused", err)
	case err != nil && ctx.Err() == nil:
		d.led.fixSent(d.idx) // it may have left: if it arrives it counts, else it is lost
		d.errs.add("fix publish", err)
	case err == nil:
		d.led.fixSent(d.idx)
	}
}

// reply publishes one reply to the hub.
func (d *driver) reply(ctx context.Context, r reply) {
	d.led.replySending(r.JobID, d.id, r.Action, r.Meters, time.Now())
	payload := `{"job_id":` + strconv.Quote(r.JobID) + `,"action":` + strconv.Quote(r.Action) +
		`,"ts":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `}`
	if _, err := d.publish(ctx, d.topics.replies, []byte(payload)); err != nil && ctx.Err() == nil {
		d.errs.add("reply publish", err)
	}
}

// publish sends payload at QoS 1 and waits for its PUBACK; refused says the hub answered
// with an error reason code (the message went no further).
func (d *driver) publish(ctx context.Context, topic string, payload []byte) (refused bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	resp, err := d.client.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload})
	return err != nil && resp != nil && resp.ReasonCode >= 0x80, err
}
