package dispatch

import (
	"fmt"
	"slices"
	"time"

	"github.com/pilotx/dispatchhub/dispatch/matching"
	"github.com/pilotx/dispatchhub/geo"
)

// Strategy is how a tenant's orders are matched with drivers.
type Strategy string

const (
	// StrategyNearest offers each order, oldest first, to the nearest available driver at once.
	StrategyNearest Strategy = "nearest"
	// StrategyBatch collects orders over an adaptive window and offers them by a minimum-cost
	// assignment (total pickup distance) over the orders and their candidate drivers.
	StrategyBatch Strategy = "batch"
	// StrategyBroadcast offers each order to the nearest few available drivers at once; the
	// first to accept wins and the others' offers are withdrawn.
	StrategyBroadcast Strategy = "broadcast"
	// StrategyManual offers nothing: dispatchers assign by hand (POST /v1/orders/{id}/assign).
	StrategyManual Strategy = "manual"
)

// Valid reports whether s is a known strategy.
func (s Strategy) Valid() bool {
	switch s {
	case StrategyNearest, StrategyBatch, StrategyBroadcast, StrategyManual:
		return true
	}
	return false
}

// Waiting is an order the planner may offer: pending, with a pickup point.
type Waiting struct {
	ID       string
	Lat, Lng float64
	Since    time.Time // when it started waiting (created, or back to pending)
}

// Proposal is one offer the planner wants made, with what it saw when it chose.
type Proposal struct {
	Order      string
	Driver     string
	Meters     float64
	Candidates []geo.Candidate // the nearest eligible drivers considered, nearest first
	Reason     string
}

// Availability answers, for one planning round, which drivers may take an offer.
type Availability interface {
	// Free reports whether driver may be offered a job now (online, on duty, fresh fix, under
	// capacity, no open offer).
	Free(driver string) bool
	// Locked reports whether driver may not be offered order (declined it, let it expire, or
	// was released from it).
	Locked(order, driver string) bool
}

// freeCounter is an Availability that knows how many drivers are free: planning stops once
// they are all proposed (the searches of the orders left would find nobody).
type freeCounter interface{ FreeCount() int }

// exhausted reports whether every free driver is in used.
func exhausted(av Availability, used taken) bool {
	fc, ok := av.(freeCounter)
	return ok && len(used) >= fc.FreeCount()
}

// candidatesConsidered is how many nearest eligible drivers an explanation lists, and how many
// candidates per order the batch strategy weighs.
const candidatesConsidered = 8

// Planner turns waiting orders into proposals. It keeps buffers between rounds; one goroutine
// uses it at a time.
type Planner struct {
	solver matching.Solver
	cands  []geo.Candidate
	cost   [][]float64
}

// taken tracks the drivers given a proposal in this round.
type taken map[string]bool

// Nearest proposes, oldest order first, the nearest eligible driver within maxMeters.
// Orders with no eligible driver are left out.
func (p *Planner) Nearest(idx *geo.Index, orders []Waiting, av Availability, maxMeters float64) []Proposal {
	return p.nearest(idx, orders, av, maxMeters, taken{})
}

func (p *Planner) nearest(idx *geo.Index, orders []Waiting, av Availability, maxMeters float64, used taken) []Proposal {
	var out []Proposal
	for _, o := range orders {
		if exhausted(av, used) {
			break
		}
		cands := p.candidates(idx, o, av, used, maxMeters, candidatesConsidered)
		if len(cands) == 0 {
			continue
		}
		best := cands[0]
		used[best.Driver] = true
		out = append(out, Proposal{
			Order: o.ID, Driver: best.Driver, Meters: best.Meters, Candidates: cands,
			Reason: fmt.Sprintf("nearest of %d eligible drivers within %.0f m: %.0f m from the pickup", len(cands), maxMeters, best.Meters),
		})
	}
	return out
}

// Broadcast proposes each order, oldest first, to its fanout nearest eligible drivers.
func (p *Planner) Broadcast(idx *geo.Index, orders []Waiting, av Availability, maxMeters float64, fanout int) []Proposal {
	used := taken{}
	var out []Proposal
	for _, o := range orders {
		if exhausted(av, used) {
			break
		}
		cands := p.candidates(idx, o, av, used, maxMeters, max(fanout, candidatesConsidered))
		n := min(fanout, len(cands))
		for i := range n {
			used[cands[i].Driver] = true
			out = append(out, Proposal{
				Order: o.ID, Driver: cands[i].Driver, Meters: cands[i].Meters, Candidates: cands,
				Reason: fmt.Sprintf("broadcast to the %d nearest eligible drivers (rank %d, %.0f m): the first to accept wins", n, i+1, cands[i].Meters),
			})
		}
	}
	return out
}

// Batch proposes the assignment of orders to eligible drivers that matches as many orders as
// possible and, among those, has the least total pickup distance. Each order weighs its
// candidatesConsidered nearest eligible drivers; orders left unmatched because their
// candidates went to others weigh the next nearest drivers not taken, in further rounds of the
// same assignment, until no order gains a driver. Orders that have waited starveAfter or more
// are served first, oldest first and each by its nearest driver (the window is capped by order
// age: a far order is never left waiting for ever behind nearer ones).
func (p *Planner) Batch(idx *geo.Index, orders []Waiting, av Availability, maxMeters float64, now time.Time) []Proposal {
	used := taken{}
	var out, starving []Waiting
	for _, o := range orders {
		if now.Sub(o.Since) >= starveAfter {
			starving = append(starving, o)
		} else {
			out = append(out, o)
		}
	}
	var props []Proposal
	if len(starving) > 0 {
		slices.SortStableFunc(starving, func(a, b Waiting) int { return a.Since.Compare(b.Since) })
		for _, pr := range p.nearest(idx, starving, av, maxMeters, used) {
			pr.Reason = fmt.Sprintf("waited over %s, so served before the batch: %s", starveAfter, pr.Reason)
			props = append(props, pr)
		}
	}
	pending := out
	for round := 0; len(pending) > 0 && round < maxBatchRounds && !exhausted(av, used); round++ {
		got, left := p.batchRound(idx, pending, av, maxMeters, used, len(orders))
		props = append(props, got...)
		if len(got) == 0 {
			break
		}
		pending = left
	}
	return props
}

// starveAfter is how long an order may wait before the batch strategy serves it ahead of the
// assignment; maxBatchRounds bounds the widening rounds of one Batch call.
const (
	starveAfter    = 2 * time.Minute
	maxBatchRounds = 8
)

// batchRound solves one assignment of orders to their nearest eligible drivers not in used,
// marks the chosen drivers used and returns the proposals and the orders left unmatched.
func (p *Planner) batchRound(idx *geo.Index, orders []Waiting, av Availability, maxMeters float64, used taken, total int) ([]Proposal, []Waiting) {
	per := make([][]geo.Candidate, len(orders))
	col := map[string]int{}
	var drivers []string
	for i, o := range orders {
		per[i] = p.candidates(idx, o, av, used, maxMeters, candidatesConsidered)
		for _, c := range per[i] {
			if _, ok := col[c.Driver]; !ok {
				col[c.Driver] = len(drivers)
				drivers = append(drivers, c.Driver)
			}
		}
	}
	if len(drivers) == 0 {
		return nil, nil
	}
	p.cost = p.cost[:0]
	for i := range orders {
		row := make([]float64, len(drivers))
		for j := range row {
			row[j] = matching.Forbidden
		}
		for _, c := range per[i] {
			row[col[c.Driver]] = c.Meters
		}
		p.cost = append(p.cost, row)
	}
	res, err := p.solver.Solve(p.cost)
	if err != nil { // costs are distances: finite, not negative; a failure is a bug
		panic(fmt.Sprintf("dispatch: batch assignment: %v", err))
	}
	var props []Proposal
	var left []Waiting
	for i, j := range res.RowToCol {
		if j < 0 {
			if len(per[i]) > 0 {
				left = append(left, orders[i])
			}
			continue
		}
		d := drivers[j]
		used[d] = true
		rank := slices.IndexFunc(per[i], func(c geo.Candidate) bool { return c.Driver == d })
		props = append(props, Proposal{
			Order: orders[i].ID, Driver: d, Meters: p.cost[i][j], Candidates: per[i],
			Reason: fmt.Sprintf("batch of %d orders: least total pickup distance (%.0f m for %d matched among %d candidate drivers): candidate %d of %d, %.0f m",
				total, res.Total, res.Matched, len(drivers), rank+1, len(per[i]), p.cost[i][j]),
		})
	}
	return props, left
}

// candidates lists up to k nearest drivers of o that are free, not locked out of o and not in
// used, within maxMeters.
func (p *Planner) candidates(idx *geo.Index, o Waiting, av Availability, used taken, maxMeters float64, k int) []geo.Candidate {
	accept := func(d string) bool { return !used[d] && av.Free(d) && !av.Locked(o.ID, d) }
	p.cands = idx.Nearest(o.Lat, o.Lng, k, maxMeters, accept, p.cands[:0])
	return slices.Clone(p.cands)
}

// BatchWindow is how long the batch strategy lets orders gather before it plans: base, or a
// quarter of it when free drivers outnumber waiting orders three to one (little to gain by
// waiting for a better match).
func BatchWindow(base time.Duration, waiting, free int) time.Duration {
	if waiting > 0 && free >= 3*waiting {
		return base / 4
	}
	return base
}
