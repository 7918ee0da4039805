package sim

import (
	"math/rand/v2"
	"time"

	"github.com/pilotx/dispatchhub/internal/sim/roads"
)

// phase is what a driver is doing.
type phase int

const (
	cruising  phase = iota // no job: driving to a random place
	toPickup               // driving to the store
	atPickup               // waiting for the order at the store
	toDropoff              // driving to the customer
	atDropoff              // handing the order over
)

func (p phase) String() string {
	switch p {
	case cruising:
		return "cruising"
	case toPickup:
		return "to_pickup"
	case atPickup:
		return "at_pickup"
	case toDropoff:
		return "to_dropoff"
	case atDropoff:
		return "at_dropoff"
	}
	return "unknown"
}

// reply is what a driver answers on its replies topic. Meters is the pickup distance of an
// accept.
type reply struct {
	JobID, Action string
	Meters        float64
}

// brain is one driver's behaviour, without the network: it drives on the road graph,
// answers offers and works through its job. Time comes in as arguments and chance from its
// own rng, so it can be tested step by step. One goroutine uses it.
type brain struct {
	g       *roads.Graph
	rng     *rand.Rand
	speed   float64 // m/s
	dwell   time.Duration
	acceptP float64

	phase  phase
	walker *roads.Walker
	pos    roads.Point
	moving bool // false while dwelling
	until  time.Time

	pending *message // an offer accepted, waiting for OrderAssigned
	job     *message // the job being worked on
	dropoff roads.Point
}

func newBrain(g *roads.Graph, rng *rand.Rand, speed float64, dwell time.Duration, acceptP float64) *brain {
	b := &brain{g: g, rng: rng, speed: speed, dwell: dwell, acceptP: acceptP}
	b.pos = g.Point(g.Random(rng))
	b.cruise()
	return b
}

// driveTo routes from the current position to the node nearest to p.
func (b *brain) driveTo(p roads.Point) {
	from := b.g.Nearest(b.pos)
	to := b.g.Nearest(p)
	path, _, err := b.g.Route(from, to)
	if err != nil || len(path) == 0 {
		path = []roads.Point{b.g.Point(to)} // a graph is connected: this does not happen
	}
	if roads.Distance(b.pos, path[0]) > 0.5 {
		path = append([]roads.Point{b.pos}, path...) // from where the car is, onto the road
	}
	b.walker = roads.NewWalker(path, b.speed)
	b.moving = true
}

// cruise drives to a random place, free for offers.
func (b *brain) cruise() {
	b.phase, b.job, b.pending = cruising, nil, nil
	b.driveTo(b.g.Point(b.g.Random(b.rng)))
}

// busy reports whether the driver holds or is about to hold a job.
func (b *brain) busy() bool { return b.job != nil || b.pending != nil }

// onJob handles one message of the driver's jobs topic and returns the replies to send.
func (b *brain) onJob(m *message, now time.Time) []reply {
	switch m.Type {
	case "AssignmentOffered":
		if m.JobID == "" {
			return nil
		}
		if b.busy() || b.rng.Float64() >= b.acceptP {
			return []reply{{JobID: m.JobID, Action: "decline"}}
		}
		mm := *m
		b.pending = &mm
		meters := 0.0
		switch {
		case m.Meters != nil:
			meters = *m.Meters
		case m.Pickup != nil:
			meters = roads.Distance(b.pos, *m.Pickup)
		}
		return []reply{{JobID: m.JobID, Action: "accept", Meters: meters}}
	case "OrderAssigned":
		if b.job != nil && b.job.JobID == m.JobID {
			return nil // a repeat
		}
		if b.pending != nil && b.pending.JobID == m.JobID || b.job == nil {
			// confirmed (or assigned by a dispatcher to a free driver): go to the store
			j := *m
			if j.Pickup == nil && b.pending != nil {
				j.Pickup = b.pending.Pickup
			}
			if j.Dropoff == nil && b.pending != nil {
				j.Dropoff = b.pending.Dropoff
			}
			b.start(&j)
		}
	case "AssignmentChanged", "OrderCancelled":
		if b.pending != nil && b.pending.JobID == m.JobID || b.job != nil && (b.job.JobID == m.JobID || m.JobID == "" && b.job.OrderID == m.OrderID) {
			b.cruise() // declined, expired, withdrawn or cancelled: free again
		}
	case "ReplyRejected":
		if b.pending != nil && b.pending.JobID == m.JobID && m.Action == "accept" {
			b.cruise() // the offer was gone
		} else if b.job != nil && b.job.JobID == m.JobID {
			b.cruise() // the job cannot go on
		}
	}
	return nil
}

// start takes job j: to the store (its pickup point, else where the driver is), then to the
// customer (its drop-off point, else a random place in the city).
func (b *brain) start(j *message) {
	b.pending, b.job = nil, j
	b.dropoff = b.g.Point(b.g.Random(b.rng))
	if j.Dropoff != nil {
		b.dropoff = *j.Dropoff
	}
	b.phase = toPickup
	pickup := b.pos
	if j.Pickup != nil {
		pickup = *j.Pickup
	}
	b.driveTo(pickup)
}

// step moves the driver by dt up to now and returns where it is, its heading and speed,
// and the replies its job calls for (picked_up after the dwell at the store, delivered after
// the dwell at the customer).
func (b *brain) step(now time.Time, dt time.Duration) (pos roads.Point, heading, speed float64, out []reply) {
	if b.moving {
		var arrived bool
		b.pos, arrived = b.walker.Advance(dt)
		heading, speed = b.walker.Heading(), b.speed
		if arrived {
			switch b.phase {
			case cruising:
				b.driveTo(b.g.Point(b.g.Random(b.rng)))
			case toPickup:
				b.phase, b.moving, b.until = atPickup, false, now.Add(b.dwell)
			case toDropoff:
				b.phase, b.moving, b.until = atDropoff, false, now.Add(b.dwell)
			}
		}
	}
	if !b.moving && !now.Before(b.until) {
		switch b.phase {
		case atPickup:
			out = append(out, reply{JobID: b.job.JobID, Action: "picked_up"})
			b.phase = toDropoff
			b.driveTo(b.dropoff)
		case atDropoff:
			out = append(out, reply{JobID: b.job.JobID, Action: "delivered"})
			b.cruise()
		}
	}
	if !b.moving {
		speed = 0
		if b.walker != nil {
			heading = b.walker.Heading()
		}
	}
	return b.pos, heading, speed, out
}
