package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/pilotx/dispatchhub/internal/outbox"
	"github.com/pilotx/dispatchhub/internal/store"
)

// Action is what a driver's reply does to a job.
type Action string

const (
	ActionAccept    Action = "accept"
	ActionDecline   Action = "decline"
	ActionPickedUp  Action = "picked_up"
	ActionDelivered Action = "delivered"
	ActionFailed    Action = "failed"
)

// MaxReplyPayload is the largest reply accepted on tenants/{t}/drivers/{d}/replies.
const MaxReplyPayload = 4096

// Reply is a driver's answer on its replies topic:
//
//	{"job_id":"0193…","action":"accept","ts":1764000000000,"reason":"customer absent"}
//
// job_id is the job's id from AssignmentOffered; reason is kept for decline and failed.
type Reply struct {
	JobID  string `json:"job_id"`
	Action Action `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// ReplyError says why a reply payload cannot be used. Reason is a short metric label.
type ReplyError struct{ Reason, Detail string }

func (e *ReplyError) Error() string { return "invalid reply: " + e.Detail }

// DecodeReply parses a reply payload. Fields other than job_id, action and reason are allowed
// and ignored (apps send ts, location, ...).
func DecodeReply(payload []byte) (Reply, error) {
	var r Reply
	if len(payload) > MaxReplyPayload {
		return r, &ReplyError{"too_large", fmt.Sprintf("payload of %d bytes, at most %d", len(payload), MaxReplyPayload)}
	}
	var raw struct {
		JobID  *string `json:"job_id"`
		Action *string `json:"action"`
		Reason *string `json:"reason"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&raw); err != nil {
		return r, &ReplyError{"json", "not a JSON object: " + err.Error()}
	}
	if dec.More() {
		return r, &ReplyError{"json", "trailing data after the JSON object"}
	}
	switch {
	case raw.JobID == nil:
		return r, &ReplyError{"job_id", "job_id is required"}
	case !store.ValidUUID(*raw.JobID):
		return r, &ReplyError{"job_id", "job_id must be the job's UUID"}
	case raw.Action == nil:
		return r, &ReplyError{"action", "action is required"}
	}
	r.JobID, r.Action = strings.ToLower(*raw.JobID), Action(*raw.Action)
	switch r.Action {
	case ActionAccept, ActionDecline, ActionPickedUp, ActionDelivered, ActionFailed:
	default:
		return r, &ReplyError{"action", fmt.Sprintf("action must be accept, decline, picked_up, delivered or failed, got %q", *raw.Action)}
	}
	if raw.Reason != nil {
		if len(*raw.Reason) > MaxReasonLength || !utf8.ValidString(*raw.Reason) {
			return r, &ReplyError{"reason", fmt.Sprintf("reason must be UTF-8 of at most %d bytes", MaxReasonLength)}
		}
		r.Reason = strings.TrimSpace(*raw.Reason)
	}
	return r, nil
}

// Rejection codes of ReplyRejected.
const (
	RejectUnknownJob  = "unknown_job"        // no such job, or not this driver's
	RejectOfferClosed = "offer_closed"       // the offer was declined, expired, withdrawn or taken
	RejectExpired     = "offer_expired"      // the offer's time ran out
	RejectCapacity    = "over_capacity"      // the driver holds as many jobs as it may
	RejectTransition  = "illegal_transition" // the action does not follow the order's status
)

// Rejection is a reply the hub refused; the driver is told on its jobs topic.
type Rejection struct {
	Code, Message string
}

func (r *Rejection) Error() string { return "reply rejected: " + r.Code + ": " + r.Message }

// ApplyReply applies driver's reply in one tenant transaction, following the order's state
// machine: accept an open offer (→ OrderAssigned; a broadcast's other offers are withdrawn),
// decline it (→ AssignmentChanged, the order is offered again), picked_up (→ PickedUp),
// delivered (→ DeliveryCompleted), failed (→ DeliveryFailed). A reply repeating what is done
// already changes nothing and returns nil. A reply that does not fit changes nothing but a
// ReplyRejected event to the driver, and returns the *Rejection.
func ApplyReply(ctx context.Context, db *store.DB, tenant, driver string, r Reply, now time.Time) error {
	var rej *Rejection
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		rej, err = applyReply(ctx, tx, driver, r, now)
		if err != nil || rej == nil {
			return err
		}
		payload := jsonOf(map[string]any{"driver_id": driver, "job_id": r.JobID, "action": r.Action, "code": rej.Code, "error": rej.Message})
		_, err = outbox.Enqueue(ctx, tx, outbox.Event{Type: EventReplyRejected, AggregateType: "driver", AggregateID: driver, Payload: payload})
		return err
	})
	if err != nil {
		return fmt.Errorf("reply %s to job %s of driver %s: %w", r.Action, r.JobID, driver, err)
	}
	if rej != nil {
		return rej
	}
	return nil
}

func applyReply(ctx context.Context, tx pgx.Tx, driver string, r Reply, now time.Time) (*Rejection, error) {
	// One statement finds the job and locks its order: every writer of an order's assignments
	// holds the order's row lock first, so the job's row cannot change under this one.
	var status string
	var expires *time.Time
	o, err := ScanOrder(tx.QueryRow(ctx, `SELECT `+OrderColumns+`, j.jstatus, j.jexpires
		FROM orders CROSS JOIN LATERAL (SELECT status AS jstatus, expires_at AS jexpires, order_id AS jorder
			FROM assignments WHERE id = $1::uuid AND driver_id = $2) j
		WHERE orders.id = j.jorder FOR UPDATE OF orders`, r.JobID, driver), &status, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return &Rejection{RejectUnknownJob, "no job " + r.JobID + " for this driver"}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", r.JobID, err)
	}
	orderID := o.ID
	actor := "driver:" + driver
	illegal := func() *Rejection {
		return &Rejection{RejectTransition, fmt.Sprintf("cannot %s: the order is %s and the job %s", r.Action, o.Status, status)}
	}

	switch r.Action {
	case ActionAccept:
		switch {
		case status == "accepted":
			return nil, nil
		case status != "offered":
			return &Rejection{RejectOfferClosed, "the offer is " + status}, nil
		case expires != nil && !now.Before(*expires):
			return &Rejection{RejectExpired, "the offer expired at " + expires.UTC().Format(time.RFC3339)}, nil
		case o.Status != StatusOffered:
			return illegal(), nil
		}
		capacity, onDuty, accepted, _, err := driverLoad(ctx, tx, driver)
		if err != nil && !errors.Is(err, ErrDriverUnavailable) {
			return nil, err
		}
		if err != nil || !onDuty || accepted >= capacity {
			return &Rejection{RejectCapacity, fmt.Sprintf("the driver holds %d of %d jobs or is off duty", accepted, capacity)}, nil
		}
		if _, err := tx.Exec(ctx, `UPDATE assignments SET status = 'accepted', responded_at = $2 WHERE id = $1::uuid`, r.JobID, now); err != nil {
			return nil, fmt.Errorf("accept: %w", err)
		}
		// A broadcast's other open offers are withdrawn.
		rows, err := tx.Query(ctx, `UPDATE assignments SET status = 'cancelled', reason = $2, responded_at = $3
			WHERE order_id = $1::uuid AND status = 'offered' RETURNING id::text, driver_id`, orderID, ReasonTaken, now)
		if err != nil {
			return nil, fmt.Errorf("withdraw other offers: %w", err)
		}
		type withdrawn struct{ id, driver string }
		var others []withdrawn
		for rows.Next() {
			var w withdrawn
			if err := rows.Scan(&w.id, &w.driver); err != nil {
				rows.Close()
				return nil, err
			}
			others = append(others, w)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if o, err = setOrderStatus(ctx, tx, orderID, StatusAssigned); err != nil {
			return nil, err
		}
		for _, w := range others {
			if err := appendJobEvent(ctx, tx, EventAssignmentChanged, o, actor, jobFields{JobID: w.id, DriverID: w.driver, Reason: ReasonTaken}); err != nil {
				return nil, err
			}
		}
		return nil, appendJobEvent(ctx, tx, EventOrderAssigned, o, actor, jobFields{JobID: r.JobID, DriverID: driver, By: "driver"})

	case ActionDecline:
		switch status {
		case "declined":
			return nil, nil
		case "offered":
			_, err := closeAndRequeue(ctx, tx, r.JobID, []string{"offered"}, "declined", ReasonDeclined, actor)
			return nil, err
		}
		return &Rejection{RejectOfferClosed, "the offer is " + status}, nil

	case ActionPickedUp:
		switch {
		case status == "accepted" && o.Status == StatusPickedUp:
			return nil, nil
		case status != "accepted" || o.Status != StatusAssigned:
			return illegal(), nil
		}
		if o, err = setOrderStatus(ctx, tx, orderID, StatusPickedUp); err != nil {
			return nil, err
		}
		return nil, appendJobEvent(ctx, tx, EventPickedUp, o, actor, jobFields{JobID: r.JobID, DriverID: driver})

	case ActionDelivered, ActionFailed:
		final, event := StatusDelivered, EventDeliveryCompleted
		from := []Status{StatusPickedUp}
		if r.Action == ActionFailed {
			final, event = StatusFailed, EventDeliveryFailed
			from = []Status{StatusAssigned, StatusPickedUp}
		}
		switch {
		case status == "completed" && o.Status == final:
			return nil, nil
		case status != "accepted" || !slices.Contains(from, o.Status):
			return illegal(), nil
		}
		if _, err := tx.Exec(ctx, `UPDATE assignments SET status = 'completed', reason = nullif($2, '') WHERE id = $1::uuid`, r.JobID, r.Reason); err != nil {
			return nil, fmt.Errorf("complete job: %w", err)
		}
		if o, err = setOrderStatus(ctx, tx, orderID, final); err != nil {
			return nil, err
		}
		return nil, appendJobEvent(ctx, tx, event, o, actor, jobFields{JobID: r.JobID, DriverID: driver, Reason: r.Reason})
	}
	return illegal(), nil
}

// setOrderStatus moves a locked order to status, one version up, and returns it.
func setOrderStatus(ctx context.Context, tx pgx.Tx, id string, s Status) (Order, error) {
	o, err := ScanOrder(tx.QueryRow(ctx, `UPDATE orders SET status = $2, version = version + 1 WHERE id = $1::uuid RETURNING `+OrderColumns, id, s))
	if err != nil {
		return o, fmt.Errorf("order %s to %s: %w", id, s, err)
	}
	return o, nil
}
