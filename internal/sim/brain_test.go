package sim

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/sim/roads"
)

func ptr[T any](v T) *T { return &v }

// stepUntil steps b by dt until it returns a reply or max steps pass; it returns the reply
// and the time.
func stepUntil(t *testing.T, b *brain, now time.Time, dt time.Duration, max int) (reply, time.Time) {
	t.Helper()
	for range max {
		now = now.Add(dt)
		_, _, _, out := b.step(now, dt)
		if len(out) > 0 {
			require.Len(t, out, 1)
			return out[0], now
		}
	}
	t.Fatalf("no reply within %d steps (phase %s)", max, b.phase)
	return reply{}, now
}

// A driver accepts an offer, goes to the store on OrderAssigned, dwells, picks up, drives to
// the drop-off, dwells, delivers and cruises again; offers while busy are declined.
func TestBrainWorksThroughAJob(t *testing.T) {
	g := roads.Grid(roads.Point{Lat: 42.5, Lng: 1.52}, 6, 100)
	b := newBrain(g, rand.New(rand.NewPCG(1, 1)), 10, 5*time.Second, 1)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	assert.Equal(t, cruising, b.phase)
	pos, _, speed, out := b.step(now.Add(time.Second), time.Second)
	assert.Empty(t, out)
	assert.Equal(t, 10.0, speed)
	assert.Greater(t, roads.Distance(pos, g.Point(0)), -1.0)

	pickup, dropoff := g.Point(3), g.Point(40)
	offer := message{Type: "AssignmentOffered", JobID: "job-1", OrderID: "o1", Pickup: &pickup, Dropoff: &dropoff, Meters: ptr(321.0)}
	out = b.onJob(&offer, now)
	require.Equal(t, []reply{{JobID: "job-1", Action: "accept", Meters: 321}}, out)
	assert.Equal(t, []reply{{JobID: "job-2", Action: "decline"}}, b.onJob(&message{Type: "AssignmentOffered", JobID: "job-2"}, now),
		"busy with an accepted offer")
	assert.Equal(t, cruising, b.phase, "still cruising until the hub confirms")

	assert.Empty(t, b.onJob(&message{Type: "OrderAssigned", JobID: "job-1", OrderID: "o1"}, now))
	assert.Equal(t, toPickup, b.phase)
	r, now := stepUntil(t, b, now, time.Second, 200)
	assert.Equal(t, reply{JobID: "job-1", Action: "picked_up"}, r)
	assert.Less(t, roads.Distance(b.pos, pickup), 1.0, "at the store")
	assert.Equal(t, toDropoff, b.phase)

	r, _ = stepUntil(t, b, now, time.Second, 200)
	assert.Equal(t, reply{JobID: "job-1", Action: "delivered"}, r)
	assert.Less(t, roads.Distance(b.pos, dropoff), 1.0, "at the customer")
	assert.Equal(t, cruising, b.phase)
	assert.False(t, b.busy())
}

// The dwell holds the driver still for its length.
func TestBrainDwells(t *testing.T) {
	g := roads.Grid(roads.Point{Lat: 42.5, Lng: 1.52}, 2, 100)
	b := newBrain(g, rand.New(rand.NewPCG(2, 2)), 50, 10*time.Second, 1)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	here := b.pos
	b.onJob(&message{Type: "AssignmentOffered", JobID: "j", Pickup: &here}, now)
	b.onJob(&message{Type: "OrderAssigned", JobID: "j"}, now)
	_, _, _, out := b.step(now.Add(100*time.Millisecond), 100*time.Millisecond)
	assert.Empty(t, out)
	assert.Equal(t, atPickup, b.phase, "the store is where the driver is")
	_, _, speed, out := b.step(now.Add(9*time.Second), 8900*time.Millisecond)
	assert.Empty(t, out, "still dwelling")
	assert.Zero(t, speed)
	_, _, _, out = b.step(now.Add(11*time.Second), 2*time.Second)
	assert.Equal(t, []reply{{JobID: "j", Action: "picked_up"}}, out)
}

// Declines follow AcceptP; a withdrawn, rejected or cancelled job frees the driver.
func TestBrainDeclinesAndLetsGo(t *testing.T) {
	g := roads.Grid(roads.Point{Lat: 42.5, Lng: 1.52}, 4, 100)
	now := time.Now()
	b := newBrain(g, rand.New(rand.NewPCG(3, 3)), 10, time.Second, 0.5)
	accepts := 0
	for i := range 1000 {
		out := b.onJob(&message{Type: "AssignmentOffered", JobID: "j" + driverID(i)}, now)
		require.Len(t, out, 1)
		if out[0].Action == "accept" {
			accepts++
			b.onJob(&message{Type: "ReplyRejected", JobID: out[0].JobID, Action: "accept", Code: "offer_closed"}, now)
		}
		assert.False(t, b.busy())
	}
	assert.InDelta(t, 500, accepts, 60, "about half accepted")

	b = newBrain(g, rand.New(rand.NewPCG(4, 4)), 10, time.Second, 1)
	b.onJob(&message{Type: "AssignmentOffered", JobID: "a"}, now)
	b.onJob(&message{Type: "OrderAssigned", JobID: "a", OrderID: "o"}, now)
	assert.Equal(t, toPickup, b.phase)
	b.onJob(&message{Type: "AssignmentChanged", JobID: "other"}, now)
	assert.Equal(t, toPickup, b.phase, "another job's change")
	b.onJob(&message{Type: "OrderCancelled", OrderID: "o"}, now)
	assert.Equal(t, cruising, b.phase)

	b.onJob(&message{Type: "AssignmentOffered", JobID: "b"}, now)
	b.onJob(&message{Type: "AssignmentChanged", JobID: "b", Reason: "expired"}, now)
	assert.False(t, b.busy())
}
