package dispatch

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pilotx/dispatchhub/internal/store"
)

// ErrNotAssignable: the order is picked up or final; a dispatcher cannot move it any more.
var ErrNotAssignable = errors.New("order cannot be assigned in its status")

// AssignByHand gives order id of tenant to driver, as a dispatcher: the order's open offers
// and job are withdrawn (AssignmentChanged, reason reassigned), the driver gets the job at once
// (OrderAssigned with by=dispatcher, no offer to accept), and the decision is recorded. The
// driver's capacity holds as for an accepted offer. Assigning an order to the driver who has
// it already returns it unchanged.
func AssignByHand(ctx context.Context, db *store.DB, tenant, id, driver, actor string) (Order, error) {
	if !store.ValidUUID(id) {
		return Order{}, fmt.Errorf("order %q: %w", id, ErrNotFound)
	}
	var out Order
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		o, err := lockOrder(ctx, tx, id)
		if err != nil {
			return err
		}
		switch o.Status {
		case StatusPending, StatusOffered, StatusAssigned:
		default:
			return fmt.Errorf("%w (status %s)", ErrNotAssignable, o.Status)
		}
		var holder string
		err = tx.QueryRow(ctx, `SELECT driver_id FROM assignments WHERE order_id = $1::uuid AND status = 'accepted'`, id).Scan(&holder)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if holder == driver {
			out = o
			return nil
		}
		if err := withdrawAll(ctx, tx, id, ReasonReassigned, actor); err != nil {
			return err
		}
		capacity, onDuty, accepted, _, err := driverLoad(ctx, tx, driver)
		if err != nil {
			return err
		}
		if !onDuty || accepted >= capacity {
			return fmt.Errorf("driver %s holds %d of %d jobs or is off duty: %w", driver, accepted, capacity, ErrDriverUnavailable)
		}
		job := newID()
		if _, err := tx.Exec(ctx, `INSERT INTO assignments (id, order_id, driver_id, status, responded_at, kind)
			VALUES ($1, $2::uuid, $3, 'accepted', now(), 'manual')`, job, id, driver); err != nil {
			return fmt.Errorf("insert job: %w", err)
		}
		if o, err = setOrderStatus(ctx, tx, id, StatusAssigned); err != nil {
			return err
		}
		if err := recordDecision(ctx, tx, Decision{OrderID: id, Strategy: "manual", Outcome: OutcomeAssigned, DriverID: driver,
			AssignmentID: job, Reason: "assigned by hand by " + actor, Actor: actor}); err != nil {
			return err
		}
		out = o
		return appendJobEvent(ctx, tx, EventOrderAssigned, o, actor, jobFields{JobID: job, DriverID: driver, By: "dispatcher"})
	})
	return out, err
}

// Unassign takes order id of tenant back from its driver (and withdraws open offers), as a
// dispatcher: AssignmentChanged (reason unassigned) to each driver, the order pending again
// (the engine offers it anew, never to the drivers it was taken from), and the decision.
func Unassign(ctx context.Context, db *store.DB, tenant, id, actor string) (Order, error) {
	if !store.ValidUUID(id) {
		return Order{}, fmt.Errorf("order %q: %w", id, ErrNotFound)
	}
	var out Order
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		o, err := lockOrder(ctx, tx, id)
		if err != nil {
			return err
		}
		switch o.Status {
		case StatusPending:
			out = o
			return nil
		case StatusOffered, StatusAssigned:
		default:
			return fmt.Errorf("%w (status %s)", ErrNotAssignable, o.Status)
		}
		if err := withdrawAll(ctx, tx, id, ReasonUnassigned, actor); err != nil {
			return err
		}
		if err := recordDecision(ctx, tx, Decision{OrderID: id, Strategy: "manual", Outcome: OutcomeUnassigned,
			Reason: "taken back by hand by " + actor, Actor: actor}); err != nil {
			return err
		}
		out, err = lockOrder(ctx, tx, id)
		return err
	})
	return out, err
}

// withdrawAll ends every open assignment of order id: offers are cancelled, the job released.
func withdrawAll(ctx context.Context, tx pgx.Tx, id, reason, actor string) error {
	rows, err := tx.Query(ctx, `SELECT id::text, status FROM assignments WHERE order_id = $1::uuid AND status IN ('offered', 'accepted')`, id)
	if err != nil {
		return err
	}
	type open struct{ id, status string }
	var all []open
	for rows.Next() {
		var a open
		if err := rows.Scan(&a.id, &a.status); err != nil {
			rows.Close()
			return err
		}
		all = append(all, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, a := range all {
		to := "cancelled"
		if a.status == "accepted" {
			to = "released"
		}
		if _, err := closeAndRequeue(ctx, tx, a.id, []string{a.status}, to, reason, actor); err != nil {
			return err
		}
	}
	return nil
}

func lockOrder(ctx context.Context, tx pgx.Tx, id string) (Order, error) {
	o, err := ScanOrder(tx.QueryRow(ctx, `SELECT `+OrderColumns+` FROM orders WHERE id = $1::uuid FOR UPDATE`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return o, fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	return o, err
}

// Decisions lists the dispatch decisions about order id of tenant, oldest first. ErrNotFound
// when there is no such order.
func Decisions(ctx context.Context, db *store.DB, tenant, id string) ([]Decision, error) {
	if !store.ValidUUID(id) {
		return nil, fmt.Errorf("order %q: %w", id, ErrNotFound)
	}
	out := []Decision{}
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1::uuid)`, id).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("order %s: %w", id, ErrNotFound)
		}
		rows, err := tx.Query(ctx, `SELECT id::text, order_id::text, strategy, outcome, coalesce(driver_id, ''), coalesce(assignment_id::text, ''),
				distance_m, reason, candidates, coalesce(actor, ''), created_at
			FROM dispatch_decisions WHERE order_id = $1::uuid ORDER BY created_at, id`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d Decision
			if err := rows.Scan(&d.ID, &d.OrderID, &d.Strategy, &d.Outcome, &d.DriverID, &d.AssignmentID,
				&d.Meters, &d.Reason, &d.Candidates, &d.Actor, &d.CreatedAt); err != nil {
				return err
			}
			d.CreatedAt = d.CreatedAt.UTC()
			out = append(out, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("decisions of order %s: %w", id, err)
	}
	return out, nil
}

// TenantSettings reads tenant's own dispatch settings (no defaults filled in).
func TenantSettings(ctx context.Context, db *store.DB, tenant string) (Settings, error) {
	var raw []byte
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT settings->'dispatch' FROM tenants WHERE id = $1`, tenant).Scan(&raw)
	})
	if err != nil {
		return Settings{}, fmt.Errorf("dispatch settings of %s: %w", tenant, err)
	}
	return DecodeSettings(raw)
}

// SetTenantSettings replaces tenant's own dispatch settings; the dispatcher applies them
// within TenantRefresh.
func SetTenantSettings(ctx context.Context, db *store.DB, tenant string, s Settings) error {
	if err := s.Validate(""); err != nil {
		return err
	}
	raw, err := s.MarshalJSON()
	if err != nil {
		return err
	}
	return db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE tenants SET settings = jsonb_set(settings, '{dispatch}', $2::jsonb) WHERE id = $1`, tenant, raw)
		return err
	})
}
