// Package dispatch holds the order model and its state machine, order intake from the INGEST
// stream, and (later) the assignment engine.
package dispatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pilotx/dispatchhub/ingest/normalize"
)

// Status is an order's place in its life.
type Status string

const (
	StatusPending   Status = "pending"   // known, not yet offered to a driver
	StatusOffered   Status = "offered"   // offered to a driver, waiting for the answer
	StatusAssigned  Status = "assigned"  // a driver accepted it
	StatusPickedUp  Status = "picked_up" // the driver has it
	StatusDelivered Status = "delivered" // final
	StatusFailed    Status = "failed"    // final: the delivery failed
	StatusCancelled Status = "cancelled" // final: the store, a dispatcher or the customer cancelled it
)

// Final reports whether nothing can happen to an order in status s any more.
func (s Status) Final() bool {
	return s == StatusDelivered || s == StatusFailed || s == StatusCancelled
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusOffered, StatusAssigned, StatusPickedUp, StatusDelivered, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// ErrFinal: the order is delivered, failed or cancelled already.
var ErrFinal = errors.New("order is in a final status")

// CanCancel says whether an order in status s may be cancelled: any time before it is
// picked up. Cancelling a cancelled order is not an error for the caller to handle (the
// answer is the order as it is); a delivered or failed one cannot be cancelled.
func (s Status) CanCancel() error {
	switch s {
	case StatusPending, StatusOffered, StatusAssigned, StatusCancelled:
		return nil
	case StatusPickedUp:
		return fmt.Errorf("order is picked up: %w", errors.New("too late to cancel"))
	}
	return ErrFinal
}

// Source of an order made through the REST API rather than a store webhook.
const SourceAPI = "api"

// Order is an order as the hub keeps it, and as its events and the REST API show it.
type Order struct {
	ID              string             `json:"id"`
	Tenant          string             `json:"tenant"`
	StoreID         string             `json:"store_id,omitempty"`
	Source          string             `json:"source"` // the store's platform, or "api" (phone, console)
	ExternalRef     string             `json:"external_ref"`
	Status          Status             `json:"status"`
	Pickup          *normalize.Address `json:"pickup,omitempty"`
	Dropoff         *normalize.Address `json:"dropoff,omitempty"`
	Items           []normalize.Item   `json:"items"`
	Contact         *normalize.Contact `json:"contact,omitempty"`
	Totals          *normalize.Totals  `json:"totals,omitempty"`
	Note            string             `json:"note,omitempty"`
	CancelReason    string             `json:"cancel_reason,omitempty"`
	SourceUpdatedAt *time.Time         `json:"source_updated_at,omitempty"`
	SourceVersion   int64              `json:"source_version,omitempty"`
	Version         int64              `json:"version"`
	CreatedAt       time.Time          `json:"created_at"`
	UpdatedAt       time.Time          `json:"updated_at"`
}

// OrderColumns are the columns ScanOrder reads, in its order, for "SELECT " + OrderColumns +
// " FROM orders".
const OrderColumns = `id::text, tenant_id, coalesce(store_id::text, ''), source, external_ref, status,
	pickup_address, pickup_lat, pickup_lng, dropoff_address, dropoff_lat, dropoff_lng,
	items, contact, totals, coalesce(note, ''), coalesce(cancel_reason, ''),
	source_updated_at, coalesce(source_version, 0), version, created_at, updated_at`

// ScanOrder reads one row of OrderColumns, and into extra the columns that follow them.
func ScanOrder(row pgx.Row, extra ...any) (Order, error) {
	var o Order
	var pickup, dropoff, items, contact, totals []byte
	var pLat, pLng, dLat, dLng *float64
	err := row.Scan(append([]any{&o.ID, &o.Tenant, &o.StoreID, &o.Source, &o.ExternalRef, &o.Status,
		&pickup, &pLat, &pLng, &dropoff, &dLat, &dLng,
		&items, &contact, &totals, &o.Note, &o.CancelReason,
		&o.SourceUpdatedAt, &o.SourceVersion, &o.Version, &o.CreatedAt, &o.UpdatedAt}, extra...)...)
	if err != nil {
		return o, err
	}
	if o.Pickup, err = decodeAddress(pickup, pLat, pLng); err != nil {
		return o, fmt.Errorf("order %s pickup: %w", o.ID, err)
	}
	if o.Dropoff, err = decodeAddress(dropoff, dLat, dLng); err != nil {
		return o, fmt.Errorf("order %s dropoff: %w", o.ID, err)
	}
	o.Items = []normalize.Item{}
	if len(items) > 0 {
		if err := json.Unmarshal(items, &o.Items); err != nil {
			return o, fmt.Errorf("order %s items: %w", o.ID, err)
		}
	}
	if len(contact) > 0 && string(contact) != "null" {
		o.Contact = new(normalize.Contact)
		if err := json.Unmarshal(contact, o.Contact); err != nil {
			return o, fmt.Errorf("order %s contact: %w", o.ID, err)
		}
	}
	if len(totals) > 0 && string(totals) != "null" {
		o.Totals = new(normalize.Totals)
		if err := json.Unmarshal(totals, o.Totals); err != nil {
			return o, fmt.Errorf("order %s totals: %w", o.ID, err)
		}
	}
	if o.SourceUpdatedAt != nil {
		t := o.SourceUpdatedAt.UTC()
		o.SourceUpdatedAt = &t
	}
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	return o, nil
}

// decodeAddress joins an address column and its coordinates columns.
func decodeAddress(raw []byte, lat, lng *float64) (*normalize.Address, error) {
	if (len(raw) == 0 || string(raw) == "null") && lat == nil {
		return nil, nil
	}
	a := new(normalize.Address)
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, a); err != nil {
			return nil, err
		}
	}
	a.Point = nil
	if lat != nil && lng != nil {
		a.Point = &normalize.Point{Lat: *lat, Lng: *lng}
	}
	return a, nil
}

// AddressColumns splits an address into what its columns hold: the JSON of the address
// without its point, and the point's coordinates (nil when there is none).
func AddressColumns(a *normalize.Address) (raw []byte, lat, lng *float64) {
	if a == nil {
		return nil, nil, nil
	}
	c := *a
	if c.Point != nil {
		la, ln := c.Point.Lat, c.Point.Lng
		lat, lng = &la, &ln
	}
	c.Point = nil
	if c != (normalize.Address{}) {
		raw, _ = json.Marshal(c)
	}
	return raw, lat, lng
}

// Order aggregate and event names (DESIGN.md "Domain events").
const (
	AggregateOrder = "order"

	EventOrderCreated   = "OrderCreated"
	EventOrderUpdated   = "OrderUpdated"
	EventOrderCancelled = "OrderCancelled"
)

// OriginStore is the "origin" of an OrderCancelled the store itself sent: the connectors do
// not push that cancellation back to the store.
const OriginStore = "store"
