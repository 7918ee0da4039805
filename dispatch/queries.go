package dispatch

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pilotx/dispatchhub/ingest/normalize"
	"github.com/pilotx/dispatchhub/internal/outbox"
	"github.com/pilotx/dispatchhub/internal/store"
)

// The order reads and writes of the REST API (orders from phone or console, lists, cancels,
// drivers and their jobs). Every function runs in a transaction bound to the caller's tenant:
// row-level security is the isolation, so another tenant's order is simply not found.

// Errors of the order queries.
var (
	// ErrNotFound: no such order in the caller's tenant, or an id that cannot be one.
	ErrNotFound = errors.New("not found")
	// ErrNotCancellable: the order is picked up, delivered or failed. It wraps the reason
	// Status.CanCancel gives.
	ErrNotCancellable = errors.New("order can no longer be cancelled")
)

// Limits of the order queries.
const (
	DefaultListLimit  = 50
	MaxListLimit      = 500
	MaxItems          = 500
	MaxNoteLength     = 2000
	MaxReasonLength   = 500
	MaxDriverJobs     = 500
	maxAddressField   = 500
	maxItemTextLength = 500
)

// FieldErrors is a validation failure: the JSON path of each bad field ("dropoff",
// "items[0].quantity") and what is wrong with it.
type FieldErrors map[string]string

func (f FieldErrors) Error() string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("invalid: ")
	for i, k := range keys {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k + ": " + f[k])
	}
	return b.String()
}

// orNil is f as an error, nil when it holds nothing.
func (f FieldErrors) orNil() error {
	if len(f) == 0 {
		return nil
	}
	return f
}

// NewOrder is an order from a channel other than a store webhook: phone, console, another
// system through the REST API.
type NewOrder struct {
	ExternalRef string             `json:"external_ref"`       // required, unique per store (or per source without a store)
	Source      string             `json:"source,omitempty"`   // default SourceAPI
	StoreID     string             `json:"store_id,omitempty"` // optional: a store of the tenant
	Pickup      *normalize.Address `json:"pickup,omitempty"`   // default: the store's pickup point
	Dropoff     *normalize.Address `json:"dropoff"`            // required: a point or an address line
	Items       []normalize.Item   `json:"items,omitempty"`
	Contact     *normalize.Contact `json:"contact,omitempty"`
	Totals      *normalize.Totals  `json:"totals,omitempty"`
	Note        string             `json:"note,omitempty"`
	// Actor is who creates it ("dispatcher:u-7"), kept in the audit log.
	Actor string `json:"-"`
}

// normalized trims what a person may have typed with stray spaces and fills the defaults.
func (in NewOrder) normalized() NewOrder {
	in.ExternalRef = strings.TrimSpace(in.ExternalRef)
	in.Source = strings.TrimSpace(in.Source)
	if in.Source == "" {
		in.Source = SourceAPI
	}
	in.StoreID = strings.ToLower(strings.TrimSpace(in.StoreID))
	in.Note = strings.TrimSpace(in.Note)
	return in
}

// Validate checks in as CreateOrder will store it. Its error is FieldErrors.
func (in NewOrder) Validate() error {
	in = in.normalized()
	f := FieldErrors{}
	switch {
	case in.ExternalRef == "":
		f["external_ref"] = "required"
	case len(in.ExternalRef) > normalize.MaxIDLength:
		f["external_ref"] = "must be at most " + strconv.Itoa(normalize.MaxIDLength) + " bytes"
	case !isPrintable(in.ExternalRef):
		f["external_ref"] = "must be printable text"
	}
	if !store.ValidPlatform(in.Source) {
		f["source"] = "must be 1-40 of a-z, 0-9, '_' and '-'"
	}
	if in.StoreID != "" {
		if _, err := uuid.Parse(in.StoreID); err != nil {
			f["store_id"] = "must be a UUID"
		}
	}
	if in.Pickup != nil {
		checkAddressFields(f, "pickup", in.Pickup)
	}
	switch {
	case in.Dropoff == nil:
		f["dropoff"] = "required"
	case in.Dropoff.Point == nil && strings.TrimSpace(in.Dropoff.Line1) == "":
		f["dropoff"] = "needs a point or an address line (line1)"
		checkAddressFields(f, "dropoff", in.Dropoff)
	default:
		checkAddressFields(f, "dropoff", in.Dropoff)
	}
	if len(in.Items) > MaxItems {
		f["items"] = "must have at most " + strconv.Itoa(MaxItems) + " items"
	}
	for i, it := range in.Items {
		p := "items[" + strconv.Itoa(i) + "]"
		if !(it.Quantity > 0) || math.IsInf(it.Quantity, 0) {
			f[p+".quantity"] = "must be > 0"
		}
		if strings.TrimSpace(it.Name) == "" && strings.TrimSpace(it.SKU) == "" {
			f[p+".name"] = "required when there is no sku"
		}
		if len(it.Name) > maxItemTextLength {
			f[p+".name"] = "must be at most " + strconv.Itoa(maxItemTextLength) + " bytes"
		}
		if len(it.SKU) > maxItemTextLength {
			f[p+".sku"] = "must be at most " + strconv.Itoa(maxItemTextLength) + " bytes"
		}
		if it.UnitPrice != "" && !isDecimalString(it.UnitPrice) {
			f[p+".unit_price"] = "must be a decimal number as a string, such as \"12.50\""
		}
	}
	if c := in.Contact; c != nil {
		if c.Email != "" && (!strings.Contains(c.Email, "@") || len(c.Email) > 254) {
			f["contact.email"] = "must be an email address"
		}
		for name, v := range map[string]string{"contact.name": c.Name, "contact.phone": c.Phone} {
			if len(v) > maxAddressField {
				f[name] = "must be at most " + strconv.Itoa(maxAddressField) + " bytes"
			}
		}
	}
	if t := in.Totals; t != nil {
		if t.Currency != "" && !isCurrencyCode(t.Currency) {
			f["totals.currency"] = "must be an ISO 4217 code such as \"EUR\""
		}
		for name, v := range map[string]string{"totals.subtotal": t.Subtotal, "totals.shipping": t.Shipping, "totals.tax": t.Tax, "totals.total": t.Total} {
			if v != "" && !isDecimalString(v) {
				f[name] = "must be a decimal number as a string, such as \"12.50\""
			}
		}
	}
	if len(in.Note) > MaxNoteLength {
		f["note"] = "must be at most " + strconv.Itoa(MaxNoteLength) + " bytes"
	}
	return f.orNil()
}

func checkAddressFields(f FieldErrors, name string, a *normalize.Address) {
	if p := a.Point; p != nil {
		if !(p.Lat >= -90 && p.Lat <= 90) {
			f[name+".point.lat"] = "must be -90..90"
		}
		if !(p.Lng >= -180 && p.Lng <= 180) {
			f[name+".point.lng"] = "must be -180..180"
		}
	}
	for field, v := range map[string]string{"name": a.Name, "company": a.Company, "line1": a.Line1, "line2": a.Line2,
		"city": a.City, "region": a.Region, "postal_code": a.PostalCode, "country": a.Country, "phone": a.Phone} {
		if len(v) > maxAddressField {
			f[name+"."+field] = "must be at most " + strconv.Itoa(maxAddressField) + " bytes"
		}
	}
}

// isDecimalString reports whether s is [-]digits[.digits].
func isDecimalString(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, dot := strings.Cut(s, ".")
	return digitsOnly(intPart) && (!dot || digitsOnly(frac))
}

func digitsOnly(s string) bool {
	if s == "" || len(s) > 30 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isCurrencyCode(s string) bool {
	return len(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z'
}

// isPrintable reports whether s is valid UTF-8 without control characters.
func isPrintable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// CreateOrder creates an order of tenant from in, idempotently: an order with the same
// external reference of the same store (or, without a store, of the same source) is returned
// as it is with created false, and nothing is written. A new order is inserted together with
// its OrderCreated audit event and outbox event, in one transaction. Invalid input is
// FieldErrors (a store that is not the tenant's is "store_id").
func CreateOrder(ctx context.Context, db *store.DB, tenant string, in NewOrder) (Order, bool, error) {
	in = in.normalized()
	if err := in.Validate(); err != nil {
		return Order{}, false, err
	}
	var out Order
	var created bool
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		created = false
		pickup := in.Pickup
		if in.StoreID != "" {
			var lat, lng *float64
			err := tx.QueryRow(ctx, `SELECT pickup_lat, pickup_lng FROM stores WHERE id = $1::uuid`, in.StoreID).Scan(&lat, &lng)
			if errors.Is(err, pgx.ErrNoRows) {
				return FieldErrors{"store_id": "unknown store"}
			}
			if err != nil {
				return fmt.Errorf("store %s: %w", in.StoreID, err)
			}
			if pickup == nil && lat != nil && lng != nil {
				pickup = &normalize.Address{Point: &normalize.Point{Lat: *lat, Lng: *lng}}
			}
		}
		existing, err := orderByExternalRef(ctx, tx, in)
		if err == nil {
			out = existing
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		o, err := insertAPIOrder(ctx, tx, in, pickup)
		if errors.Is(err, pgx.ErrNoRows) {
			// Another transaction created it after the look-up: that one wins.
			out, err = orderByExternalRef(ctx, tx, in)
			return err
		}
		if err != nil {
			return err
		}
		payload, err := json.Marshal(o)
		if err != nil {
			return fmt.Errorf("encode order %s: %w", o.ID, err)
		}
		if err := appendOrderEvent(ctx, tx, EventOrderCreated, o, in.Actor, payload); err != nil {
			return err
		}
		out, created = o, true
		return nil
	})
	if err != nil {
		var fe FieldErrors
		if errors.As(err, &fe) {
			return Order{}, false, fe
		}
		return Order{}, false, fmt.Errorf("create order %q: %w", in.ExternalRef, err)
	}
	return out, created, nil
}

// orderByExternalRef finds the order with in's idempotency key (pgx.ErrNoRows when there is none).
func orderByExternalRef(ctx context.Context, tx pgx.Tx, in NewOrder) (Order, error) {
	if in.StoreID != "" {
		return ScanOrder(tx.QueryRow(ctx, `SELECT `+OrderColumns+` FROM orders
			WHERE store_id = $1::uuid AND external_ref = $2`, in.StoreID, in.ExternalRef))
	}
	return ScanOrder(tx.QueryRow(ctx, `SELECT `+OrderColumns+` FROM orders
		WHERE store_id IS NULL AND source = $1 AND external_ref = $2`, in.Source, in.ExternalRef))
}

// insertAPIOrder inserts in unless its idempotency key is taken (then pgx.ErrNoRows).
func insertAPIOrder(ctx context.Context, tx pgx.Tx, in NewOrder, pickup *normalize.Address) (Order, error) {
	pRaw, pLat, pLng := AddressColumns(pickup)
	dRaw, dLat, dLng := AddressColumns(in.Dropoff)
	items := in.Items
	if items == nil {
		items = []normalize.Item{}
	}
	itemsJSON, err := json.Marshal(items)
	if err != nil {
		return Order{}, fmt.Errorf("encode items: %w", err)
	}
	var contact, totals []byte
	if in.Contact != nil {
		contact, _ = json.Marshal(in.Contact)
	}
	if in.Totals != nil {
		totals, _ = json.Marshal(in.Totals)
	}
	conflict := `ON CONFLICT (tenant_id, source, external_ref) WHERE store_id IS NULL DO NOTHING`
	if in.StoreID != "" {
		conflict = `ON CONFLICT (tenant_id, store_id, external_ref) WHERE store_id IS NOT NULL DO NOTHING`
	}
	return ScanOrder(tx.QueryRow(ctx, `INSERT INTO orders (store_id, source, external_ref,
			pickup_address, pickup_lat, pickup_lng, dropoff_address, dropoff_lat, dropoff_lng,
			items, contact, totals, note)
		VALUES (nullif($1, '')::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, nullif($13, ''))
		`+conflict+` RETURNING `+OrderColumns,
		in.StoreID, in.Source, in.ExternalRef, pRaw, pLat, pLng, dRaw, dLat, dLng,
		itemsJSON, contact, totals, in.Note))
}

// appendOrderEvent appends an order event to the audit log and to the outbox, in tx, in one
// round trip.
func appendOrderEvent(ctx context.Context, tx pgx.Tx, eventType string, o Order, actor string, payload []byte) error {
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO events (type, entity_type, entity_id, version, actor, payload)
		VALUES ($1, $2, $3, $4, nullif($5, ''), $6)`, eventType, AggregateOrder, o.ID, o.Version, actor, payload)
	if _, err := outbox.Batch(b, outbox.Event{
		Type: eventType, AggregateType: AggregateOrder, AggregateID: o.ID, Version: o.Version, Payload: payload,
	}); err != nil {
		return err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("append %s of order %s: %w", eventType, o.ID, err)
	}
	return nil
}

// GetOrder reads one order of tenant. ErrNotFound when there is none (or id is no UUID).
func GetOrder(ctx context.Context, db *store.DB, tenant, id string) (Order, error) {
	if !store.ValidUUID(id) {
		return Order{}, fmt.Errorf("order %q: %w", id, ErrNotFound)
	}
	var o Order
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		o, err = ScanOrder(tx.QueryRow(ctx, `SELECT `+OrderColumns+` FROM orders WHERE id = $1::uuid`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Order{}, fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Order{}, fmt.Errorf("get order %s: %w", id, err)
	}
	return o, nil
}

// HistoryEntry is one event of an order's audit log.
type HistoryEntry struct {
	Type      string          `json:"type"`
	Version   int64           `json:"version,omitempty"`
	Actor     string          `json:"actor,omitempty"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt time.Time       `json:"created_at"`
}

// OrderHistory is the audit log of one order of tenant, oldest first. ErrNotFound when the
// order does not exist.
func OrderHistory(ctx context.Context, db *store.DB, tenant, id string) ([]HistoryEntry, error) {
	if !store.ValidUUID(id) {
		return nil, fmt.Errorf("order %q: %w", id, ErrNotFound)
	}
	out := []HistoryEntry{}
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1::uuid)`, id).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return pgx.ErrNoRows
		}
		rows, err := tx.Query(ctx, `SELECT type, coalesce(version, 0), coalesce(actor, ''), payload, created_at
			FROM events WHERE entity_type = $1 AND entity_id = $2
			ORDER BY created_at, version NULLS FIRST, id`, AggregateOrder, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h HistoryEntry
			var payload []byte
			if err := rows.Scan(&h.Type, &h.Version, &h.Actor, &payload, &h.CreatedAt); err != nil {
				return err
			}
			h.Payload = payload
			h.CreatedAt = h.CreatedAt.UTC()
			out = append(out, h)
		}
		return rows.Err()
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("order %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("history of order %s: %w", id, err)
	}
	return out, nil
}

// ListFilter selects orders for ListOrders.
type ListFilter struct {
	Status       Status    // empty: any
	UpdatedSince time.Time // zero: any; else updated at or after it
	Cursor       string    // the next cursor of the previous page; empty: the first page
	Limit        int       // 0: DefaultListLimit; at most MaxListLimit
}

// listCursorPrefix versions the cursor format.
const listCursorPrefix = "o1:"

func encodeListCursor(o Order) string {
	return base64.RawURLEncoding.EncodeToString([]byte(listCursorPrefix + strconv.FormatInt(o.UpdatedAt.UnixMicro(), 10) + ":" + o.ID))
}

func decodeListCursor(s string) (time.Time, string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(raw), listCursorPrefix) {
		return time.Time{}, "", false
	}
	us, id, ok := strings.Cut(strings.TrimPrefix(string(raw), listCursorPrefix), ":")
	if !ok || !store.ValidUUID(id) {
		return time.Time{}, "", false
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	return time.UnixMicro(n).UTC(), id, true
}

// ListOrders pages through tenant's orders by last change, oldest first, (updated_at, id)
// keyset pagination: next is the cursor of the following page, empty after the last one. A
// bad status or cursor is FieldErrors.
func ListOrders(ctx context.Context, db *store.DB, tenant string, f ListFilter) ([]Order, string, error) {
	fe := FieldErrors{}
	if f.Status != "" && !f.Status.Valid() {
		fe["status"] = "must be one of pending, offered, assigned, picked_up, delivered, failed, cancelled"
	}
	var after time.Time
	var afterID string
	if f.Cursor != "" {
		var ok bool
		if after, afterID, ok = decodeListCursor(f.Cursor); !ok {
			fe["cursor"] = "not a cursor of this list"
		}
	}
	if err := fe.orNil(); err != nil {
		return nil, "", err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)

	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(string(f.Status)))
	}
	if !f.UpdatedSince.IsZero() {
		where = append(where, "updated_at >= "+arg(f.UpdatedSince))
	}
	if afterID != "" {
		where = append(where, "(updated_at, id) > ("+arg(after)+", "+arg(afterID)+"::uuid)")
	}
	q := `SELECT ` + OrderColumns + ` FROM orders`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY updated_at, id LIMIT ` + arg(limit+1)

	orders := make([]Order, 0, min(limit+1, 64))
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			o, err := ScanOrder(rows)
			if err != nil {
				return err
			}
			orders = append(orders, o)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, "", fmt.Errorf("list orders of %s: %w", tenant, err)
	}
	next := ""
	if len(orders) > limit {
		orders = orders[:limit]
		next = encodeListCursor(orders[limit-1])
	}
	return orders, next, nil
}

// orderCancelledPayload is the payload of OrderCancelled: the order, and the driver it was offered
// to or assigned to, so that the realtime bridge can tell that driver.
type orderCancelledPayload struct {
	Order
	DriverID  string   `json:"driver_id,omitempty"`
	DriverIDs []string `json:"driver_ids,omitempty"` // every driver whose offer or job was cancelled
}

// CancelOrder cancels an order of tenant: its status becomes cancelled with reason, its
// version grows by one, its open assignments (offered, accepted) are cancelled, and
// OrderCancelled goes to the audit log and the outbox, in one transaction that holds the
// order's row lock. An order cancelled already is returned as it is, with no new event.
// ErrNotFound when there is no such order; ErrNotCancellable when it is too late.
func CancelOrder(ctx context.Context, db *store.DB, tenant, id, reason, actor string) (Order, error) {
	if !store.ValidUUID(id) {
		return Order{}, fmt.Errorf("order %q: %w", id, ErrNotFound)
	}
	reason = strings.TrimSpace(reason)
	if len(reason) > MaxReasonLength {
		return Order{}, FieldErrors{"reason": "must be at most " + strconv.Itoa(MaxReasonLength) + " bytes"}
	}
	var out Order
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		o, err := ScanOrder(tx.QueryRow(ctx, `SELECT `+OrderColumns+` FROM orders WHERE id = $1::uuid FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if err := o.Status.CanCancel(); err != nil {
			return fmt.Errorf("%w (status %s): %w", ErrNotCancellable, o.Status, err)
		}
		if o.Status == StatusCancelled {
			out = o
			return nil
		}
		o, err = ScanOrder(tx.QueryRow(ctx, `UPDATE orders SET status = 'cancelled', cancel_reason = nullif($2, ''), version = version + 1
			WHERE id = $1::uuid RETURNING `+OrderColumns, id, reason))
		if err != nil {
			return fmt.Errorf("update: %w", err)
		}
		p := orderCancelledPayload{Order: o}
		rows, err := tx.Query(ctx, `UPDATE assignments a SET status = 'cancelled', reason = 'order cancelled', responded_at = coalesce(a.responded_at, now())
			FROM (SELECT id, status AS was FROM assignments
			      WHERE order_id = $1::uuid AND status IN ('offered', 'accepted') FOR UPDATE) open
			WHERE a.id = open.id RETURNING a.driver_id, open.was`, id)
		if err != nil {
			return fmt.Errorf("cancel assignments: %w", err)
		}
		for rows.Next() {
			var driver, was string
			if err := rows.Scan(&driver, &was); err != nil {
				rows.Close()
				return err
			}
			if was == "accepted" || p.DriverID == "" {
				p.DriverID = driver
			}
			if !slices.Contains(p.DriverIDs, driver) {
				p.DriverIDs = append(p.DriverIDs, driver)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("cancel assignments: %w", err)
		}
		slices.Sort(p.DriverIDs)
		payload, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("encode order %s: %w", o.ID, err)
		}
		if err := appendOrderEvent(ctx, tx, EventOrderCancelled, o, actor, payload); err != nil {
			return err
		}
		out = o
		return nil
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Order{}, fmt.Errorf("order %s: %w", id, ErrNotFound)
	case errors.Is(err, ErrNotCancellable):
		return Order{}, fmt.Errorf("order %s: %w", id, err)
	case err != nil:
		return Order{}, fmt.Errorf("cancel order %s: %w", id, err)
	}
	return out, nil
}

// Driver is a driver as the REST API lists it.
type Driver struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	OnDuty     bool       `json:"on_duty"`
	Capacity   int        `json:"capacity"`
	LastSeenAt *time.Time `json:"last_seen_at,omitempty"`
}

// ListDrivers lists tenant's drivers by id.
func ListDrivers(ctx context.Context, db *store.DB, tenant string) ([]Driver, error) {
	out := []Driver{}
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, name, on_duty, capacity, last_seen_at FROM drivers ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d Driver
			if err := rows.Scan(&d.ID, &d.Name, &d.OnDuty, &d.Capacity, &d.LastSeenAt); err != nil {
				return err
			}
			if d.LastSeenAt != nil {
				t := d.LastSeenAt.UTC()
				d.LastSeenAt = &t
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list drivers of %s: %w", tenant, err)
	}
	return out, nil
}

// Job is one assignment of a driver with what the driver needs of its order: what a driver
// app resynchronises from after a reconnection.
type Job struct {
	JobID       string             `json:"job_id"` // the assignment id
	OrderID     string             `json:"order_id"`
	ExternalRef string             `json:"external_ref"`
	Status      string             `json:"status"`       // the assignment's: offered, accepted, declined, expired, released, completed, cancelled
	OrderStatus Status             `json:"order_status"` // the order's
	ExpiresAt   *time.Time         `json:"expires_at,omitempty"`
	Pickup      *normalize.Address `json:"pickup,omitempty"`
	Dropoff     *normalize.Address `json:"dropoff,omitempty"`
	UpdatedAt   time.Time          `json:"updated_at"` // the later change of the assignment and its order
}

// DriverJobs lists the jobs of one driver of tenant, oldest change first, at most
// MaxDriverJobs. With a zero updatedSince it lists the open ones (offered or accepted);
// otherwise every job whose assignment or order changed at or after updatedSince, so that a
// reconnecting app also learns what was cancelled or expired meanwhile. An unknown driver has
// no jobs.
func DriverJobs(ctx context.Context, db *store.DB, tenant, driverID string, updatedSince time.Time) ([]Job, error) {
	out := []Job{}
	q := `SELECT a.id::text, a.order_id::text, o.external_ref, a.status, o.status, a.expires_at,
			o.pickup_address, o.pickup_lat, o.pickup_lng, o.dropoff_address, o.dropoff_lat, o.dropoff_lng,
			greatest(a.updated_at, o.updated_at) AS changed
		FROM assignments a JOIN orders o ON o.id = a.order_id
		WHERE a.driver_id = $1 AND `
	args := []any{driverID}
	if updatedSince.IsZero() {
		q += `a.status IN ('offered', 'accepted')`
	} else {
		q += `greatest(a.updated_at, o.updated_at) >= $2`
		args = append(args, updatedSince)
	}
	q += ` ORDER BY changed, a.id LIMIT ` + strconv.Itoa(MaxDriverJobs)
	err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var j Job
			var pickup, dropoff []byte
			var pLat, pLng, dLat, dLng *float64
			if err := rows.Scan(&j.JobID, &j.OrderID, &j.ExternalRef, &j.Status, &j.OrderStatus, &j.ExpiresAt,
				&pickup, &pLat, &pLng, &dropoff, &dLat, &dLng, &j.UpdatedAt); err != nil {
				return err
			}
			if j.Pickup, err = decodeAddress(pickup, pLat, pLng); err != nil {
				return fmt.Errorf("order %s pickup: %w", j.OrderID, err)
			}
			if j.Dropoff, err = decodeAddress(dropoff, dLat, dLng); err != nil {
				return fmt.Errorf("order %s dropoff: %w", j.OrderID, err)
			}
			if j.ExpiresAt != nil {
				t := j.ExpiresAt.UTC()
				j.ExpiresAt = &t
			}
			j.UpdatedAt = j.UpdatedAt.UTC()
			out = append(out, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("jobs of driver %s: %w", driverID, err)
	}
	return out, nil
}
