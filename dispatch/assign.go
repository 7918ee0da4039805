package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pilotx/dispatchhub/geo"
	"github.com/pilotx/dispatchhub/internal/outbox"
	"github.com/pilotx/dispatchhub/internal/store"
)

// Assignment event names (DESIGN.md "Domain events"). Each is an order event: its payload is
// the order as it now is, plus the job's fields (job_id, driver_id, ...). Job events go to the
// driver's tenants/{t}/drivers/{d}/jobs topic through the realtime bridge.
const (
	EventAssignmentOffered = "AssignmentOffered"
	EventOrderAssigned     = "OrderAssigned"
	EventAssignmentChanged = "AssignmentChanged"
	EventPickedUp          = "PickedUp"
	EventDeliveryCompleted = "DeliveryCompleted"
	EventDeliveryFailed    = "DeliveryFailed"
	// EventReplyRejected is a driver event: a reply the hub refused, with why.
	EventReplyRejected = "ReplyRejected"
)

// Why an assignment ends, in AssignmentChanged's "reason".
const (
	ReasonDeclined   = "declined"   // the driver declined the offer
	ReasonExpired    = "expired"    // the offer timed out
	ReasonOffline    = "offline"    // the driver was offline past the presence grace period
	ReasonSilent     = "silent"     // the driver sent no location for too long
	ReasonTaken      = "taken"      // another driver accepted the broadcast offer first
	ReasonUnassigned = "unassigned" // a dispatcher took the order back
	ReasonReassigned = "reassigned" // a dispatcher gave the order to another driver
)

// Decision outcomes recorded in dispatch_decisions.
const (
	OutcomeOffered     = "offered"
	OutcomeNoCandidate = "no_candidate"
	OutcomeNoPickup    = "no_pickup"
	OutcomeExpired     = "expired"
	OutcomeReleased    = "released"
	OutcomeAssigned    = "assigned" // by a dispatcher
	OutcomeUnassigned  = "unassigned"
)

var (
	// ErrOrderChanged: the order is no longer in a status the change applies to.
	ErrOrderChanged = errors.New("order changed meanwhile")
	// ErrDriverUnavailable: the driver is unknown, off duty or at capacity.
	ErrDriverUnavailable = errors.New("driver unavailable")
)

// jobFields are the fields a job event adds to the order's snapshot.
type jobFields struct {
	JobID     string     `json:"job_id"`
	DriverID  string     `json:"driver_id"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Meters    *float64   `json:"distance_m,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	By        string     `json:"by,omitempty"`
}

func (j jobFields) extra() map[string]any {
	m := map[string]any{"job_id": j.JobID, "driver_id": j.DriverID}
	if j.ExpiresAt != nil {
		m["expires_at"] = j.ExpiresAt.UTC()
	}
	if j.Meters != nil {
		m["distance_m"] = *j.Meters
	}
	if j.Reason != "" {
		m["reason"] = j.Reason
	}
	if j.By != "" {
		m["by"] = j.By
	}
	return m
}

// Decision is one recorded dispatch decision about an order, with its explanation.
type Decision struct {
	ID           string          `json:"id"`
	OrderID      string          `json:"order_id"`
	Strategy     string          `json:"strategy"`
	Outcome      string          `json:"outcome"`
	DriverID     string          `json:"driver_id,omitempty"`
	AssignmentID string          `json:"assignment_id,omitempty"`
	Meters       *float64        `json:"distance_m,omitempty"`
	Reason       string          `json:"reason"`
	Candidates   json.RawMessage `json:"candidates"`
	Actor        string          `json:"actor,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
}

// candidateJSON is how a candidate appears in a decision.
type candidateJSON struct {
	Driver string  `json:"driver_id"`
	Meters float64 `json:"distance_m"`
}

func candidatesJSON(cs []geo.Candidate) []byte {
	out := make([]candidateJSON, len(cs))
	for i, c := range cs {
		out[i] = candidateJSON{Driver: c.Driver, Meters: round1(c.Meters)}
	}
	return jsonOf(out)
}

func round1(m float64) float64 { return float64(int64(m*10+0.5)) / 10 }

func recordDecision(ctx context.Context, tx pgx.Tx, d Decision) error {
	cands := d.Candidates
	if len(cands) == 0 {
		cands = json.RawMessage(`[]`)
	}
	_, err := tx.Exec(ctx, `INSERT INTO dispatch_decisions (order_id, strategy, outcome, driver_id, assignment_id, distance_m, reason, candidates, actor)
		VALUES ($1::uuid, $2, $3, nullif($4, ''), nullif($5, '')::uuid, $6, $7, $8, nullif($9, ''))`,
		d.OrderID, d.Strategy, d.Outcome, d.DriverID, d.AssignmentID, d.Meters, d.Reason, cands, d.Actor)
	if err != nil {
		return fmt.Errorf("record decision on order %s: %w", d.OrderID, err)
	}
	return nil
}

// driverLoad locks the driver's row (so that two transactions cannot both fill its last slot)
// and returns its capacity, duty and how many jobs it holds (accepted) and is offered.
func driverLoad(ctx context.Context, tx pgx.Tx, driver string) (capacity int, onDuty bool, accepted, offered int, err error) {
	err = tx.QueryRow(ctx, `SELECT d.capacity, d.on_duty,
			(SELECT count(*) FROM assignments a WHERE a.driver_id = d.id AND a.status = 'accepted'),
			(SELECT count(*) FROM assignments a WHERE a.driver_id = d.id AND a.status = 'offered')
		FROM drivers d WHERE d.id = $1 FOR UPDATE OF d`, driver).Scan(&capacity, &onDuty, &accepted, &offered)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, 0, 0, fmt.Errorf("driver %q: %w", driver, ErrDriverUnavailable)
	}
	return capacity, onDuty, accepted, offered, err
}

// offerSQL moves an order to offered when the driver may take one more job: on duty and
// holding fewer open assignments (offered or accepted) than its capacity. The driver's row is
// locked, as every writer that counts a driver's jobs locks it.
const offerSQL = `UPDATE orders SET status = 'offered', version = version + 1
	WHERE id = $1::uuid AND status = ANY($2)
		AND EXISTS (SELECT 1 FROM drivers d WHERE d.id = $3 AND d.on_duty
			AND d.capacity > (SELECT count(*) FROM assignments a WHERE a.driver_id = $3 AND a.status IN ('offered', 'accepted'))
			FOR UPDATE)
	RETURNING ` + OrderColumns

// made is an offer written by offers, with its AssignmentOffered event.
type made struct {
	Proposal
	ExpiresAt time.Time
	Event     outbox.Event
}

// offers makes the offers of one round in one tenant transaction of two round trips: each
// order becomes offered (when it still waits and the driver can still take it), then its
// assignment row with its expiry, the decision and AssignmentOffered. Proposals whose order or
// driver changed since the round read them are left out of the result (the next round sees
// them).
func offers(ctx context.Context, db *store.DB, tenant string, props []Proposal, strategy Strategy, kind string, timeout time.Duration, now func() time.Time, headers map[string]string) ([]made, error) {
	var out []made
	err := db.WithTenantPipeline(ctx, tenant, func(p *store.Pipeline) error {
		out = out[:0]
		// An offer is a proposal, not a commitment: its commit does not wait for the disk. A
		// crash within PostgreSQL's WAL writer delay (200 ms) can lose an offer its driver has
		// seen; the driver's accept then gets ReplyRejected (unknown_job) and the order, still
		// pending, is offered again. Accepts and every later step commit durably.
		p.Queue(`SET LOCAL synchronous_commit = off`)
		orders := make([]*Order, len(props))
		err := p.Round(ctx, func(b *pgx.Batch) {
			for _, pr := range props {
				b.Queue(offerSQL, pr.Order, offerableFrom(kind), pr.Driver)
			}
		}, func(br pgx.BatchResults) error {
			for i := range props {
				o, err := ScanOrder(br.QueryRow())
				if errors.Is(err, pgx.ErrNoRows) {
					continue
				}
				if err != nil {
					return fmt.Errorf("offer order %s: %w", props[i].Order, err)
				}
				orders[i] = &o
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i, pr := range props {
			o := orders[i]
			if o == nil {
				continue
			}
			id := newID()
			expires := now().Add(timeout).UTC()
			m := round1(pr.Meters)
			p.Queue(`INSERT INTO assignments (id, order_id, driver_id, status, expires_at, distance_m, kind)
				VALUES ($1, $2::uuid, $3, 'offered', $4, $5, $6)`, id, pr.Order, pr.Driver, expires, m, kind)
			p.Queue(`INSERT INTO dispatch_decisions (order_id, strategy, outcome, driver_id, assignment_id, distance_m, reason, candidates, actor)
				VALUES ($1::uuid, $2, $3, $4, $5::uuid, $6, $7, $8, 'dispatch')`,
				pr.Order, string(strategy), OutcomeOffered, pr.Driver, id, m, pr.Reason, candidatesJSON(pr.Candidates))
			ev, err := queueEventWith(p, EventAssignmentOffered, *o, "dispatch", jobFields{JobID: id, DriverID: pr.Driver, ExpiresAt: &expires, Meters: &m}.extra(), headers)
			if err != nil {
				return err
			}
			out = append(out, made{Proposal: pr, ExpiresAt: expires, Event: ev})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// offerableFrom is the order statuses an offer of kind may be made from: a broadcast offers
// an order that is offered already (to other drivers).
func offerableFrom(kind string) []string {
	if kind == "broadcast" {
		return []string{string(StatusPending), string(StatusOffered)}
	}
	return []string{string(StatusPending)}
}

func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// appendJobEvent appends an order event carrying job fields.
func appendJobEvent(ctx context.Context, tx pgx.Tx, eventType string, o Order, actor string, j jobFields) error {
	payload, err := orderPayload(o, j.extra())
	if err != nil {
		return fmt.Errorf("encode %s of order %s: %w", eventType, o.ID, err)
	}
	return appendOrderEvent(ctx, tx, eventType, o, actor, payload)
}

// openAssignment is an offered or accepted assignment as a round sees it.
type openAssignment struct {
	ID, Order, Driver string
	Status            string // offered, accepted
	OrderStatus       Status
	ExpiresAt         *time.Time
}

// endAssignment closes one open assignment (expired, released) in one tenant transaction and
// puts its order back to pending when no other assignment of it is open, with
// AssignmentChanged and a decision. It returns false when the assignment was not open any more.
func endAssignment(ctx context.Context, db *store.DB, tenant string, a openAssignment, to, reason, outcome string, strategy Strategy, actor string) (bool, error) {
	done := false
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		ok, err := closeAndRequeue(ctx, tx, a.ID, []string{"offered", "accepted"}, to, reason, actor)
		if err != nil || !ok {
			return err
		}
		done = true
		return recordDecision(ctx, tx, Decision{
			OrderID: a.Order, Strategy: string(strategy), Outcome: outcome, DriverID: a.Driver, AssignmentID: a.ID,
			Reason: "assignment " + reason + ": the order is offered again", Actor: actor,
		})
	})
	return done, err
}

// closeAndRequeue moves assignment id from one of from to status to, and the order back to
// pending when nothing else of it is open and it was not picked up; then AssignmentChanged.
// It locks the order first (the lock order of every writer of assignments: order, then
// driver), and returns false when the assignment is not in from.
func closeAndRequeue(ctx context.Context, tx pgx.Tx, id string, from []string, to, reason, actor string) (bool, error) {
	var orderID, driver string
	err := tx.QueryRow(ctx, `SELECT order_id::text, driver_id FROM assignments WHERE id = $1::uuid`, id).Scan(&orderID, &driver)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	o, err := ScanOrder(tx.QueryRow(ctx, `SELECT `+OrderColumns+` FROM orders WHERE id = $1::uuid FOR UPDATE`, orderID))
	if err != nil {
		return false, fmt.Errorf("lock order %s: %w", orderID, err)
	}
	tag, err := tx.Exec(ctx, `UPDATE assignments SET status = $2, reason = $3, responded_at = coalesce(responded_at, now())
		WHERE id = $1::uuid AND status = ANY($4)`, id, to, reason, from)
	if err != nil {
		return false, fmt.Errorf("close assignment %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	if o.Status == StatusOffered || o.Status == StatusAssigned {
		o, err = ScanOrder(tx.QueryRow(ctx, `UPDATE orders SET status = CASE
				WHEN EXISTS (SELECT 1 FROM assignments WHERE order_id = $1::uuid AND status = 'accepted') THEN 'assigned'
				WHEN EXISTS (SELECT 1 FROM assignments WHERE order_id = $1::uuid AND status = 'offered') THEN 'offered'
				ELSE 'pending' END,
				version = version + 1
			WHERE id = $1::uuid RETURNING `+OrderColumns, orderID))
		if err != nil {
			return false, fmt.Errorf("requeue order %s: %w", orderID, err)
		}
	}
	return true, appendJobEvent(ctx, tx, EventAssignmentChanged, o, actor, jobFields{JobID: id, DriverID: driver, Reason: reason})
}
