package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/dispatch"
	"github.com/pilotx/dispatchhub/ingest/normalize"
	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

// queryEnv is a migrated database with two tenants, acme (with a store) and beta.
type queryEnv struct {
	db      *store.DB
	storeID string
}

func newQueryEnv(t *testing.T) queryEnv {
	t.Helper()
	info := testenv.NewDatabase(t, true)
	db, err := store.Open(store.Config{URL: info.AppURL, MaxConns: 16, ConnectTimeout: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	ctx := context.Background()
	for _, id := range []string{"acme", "beta"} {
		_, err := db.CreateTenant(ctx, id, id)
		require.NoError(t, err)
	}
	s, err := db.AddStore(ctx, store.Store{TenantID: "acme", Platform: "shopify", Name: "Acme shop",
		SecretRefs: []string{"env:X"}, Pickup: &store.LatLng{Lat: 38.72, Lng: -9.14}})
	require.NoError(t, err)
	return queryEnv{db: db, storeID: s.ID}
}

func phoneOrder(ref string) dispatch.NewOrder {
	return dispatch.NewOrder{
		ExternalRef: ref,
		Dropoff:     &normalize.Address{Line1: "Rua Augusta 1", City: "Lisboa", Point: &normalize.Point{Lat: 38.71, Lng: -9.13}},
		Items:       []normalize.Item{{Name: "Pizza", Quantity: 2, UnitPrice: "9.50"}},
		Contact:     &normalize.Contact{Name: "Ana", Phone: "+351900000000"},
		Totals:      &normalize.Totals{Currency: "EUR", Total: "19.00"},
		Note:        "ring twice",
		Actor:       "dispatcher:u1",
	}
}

// sqlCount counts rows of a query under tenant.
func sqlCount(t *testing.T, db *store.DB, tenant, q string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.WithTenantTx(context.Background(), tenant, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), q, args...).Scan(&n)
	}))
	return n
}

func sqlExec(t *testing.T, db *store.DB, tenant, q string, args ...any) {
	t.Helper()
	require.NoError(t, db.WithTenantTx(context.Background(), tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), q, args...)
		return err
	}))
}

type outboxRow struct {
	Type, AggregateType, AggregateID string
	Version                          int64
	Payload                          json.RawMessage
}

func outboxOf(t *testing.T, db *store.DB, tenant, orderID string) []outboxRow {
	t.Helper()
	var out []outboxRow
	require.NoError(t, db.WithTenantTx(context.Background(), tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT event_type, aggregate_type, aggregate_id, version, payload
			FROM outbox WHERE aggregate_id = $1 ORDER BY seq`, orderID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r outboxRow
			if err := rows.Scan(&r.Type, &r.AggregateType, &r.AggregateID, &r.Version, &r.Payload); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	}))
	return out
}

func TestCreateOrderIdempotent(t *testing.T) {
	e := newQueryEnv(t)
	ctx := context.Background()

	o, created, err := dispatch.CreateOrder(ctx, e.db, "acme", phoneOrder("PH-1"))
	require.NoError(t, err)
	assert.True(t, created)
	assert.Len(t, o.ID, 36)
	assert.Equal(t, "acme", o.Tenant)
	assert.Equal(t, dispatch.SourceAPI, o.Source)
	assert.Equal(t, dispatch.StatusPending, o.Status)
	assert.Equal(t, int64(1), o.Version)
	assert.Empty(t, o.StoreID)
	assert.Nil(t, o.Pickup, "no store, no pickup given")
	require.NotNil(t, o.Dropoff)
	assert.Equal(t, normalize.Point{Lat: 38.71, Lng: -9.13}, *o.Dropoff.Point)
	assert.Equal(t, "Lisboa", o.Dropoff.City)
	assert.Equal(t, []normalize.Item{{Name: "Pizza", Quantity: 2, UnitPrice: "9.50"}}, o.Items)
	assert.Equal(t, "EUR", o.Totals.Currency)
	assert.Equal(t, "ring twice", o.Note)

	again, created, err := dispatch.CreateOrder(ctx, e.db, "acme", phoneOrder("  PH-1 "))
	require.NoError(t, err)
	assert.False(t, created, "a repeat finds the order")
	assert.Equal(t, o, again)

	assert.Equal(t, 1, sqlCount(t, e.db, "acme", `SELECT count(*) FROM orders`))
	assert.Equal(t, 1, sqlCount(t, e.db, "acme", `SELECT count(*) FROM events WHERE type = 'OrderCreated' AND entity_type = 'order'
		AND entity_id = $1 AND version = 1 AND actor = 'dispatcher:u1'`, o.ID))
	ob := outboxOf(t, e.db, "acme", o.ID)
	require.Len(t, ob, 1, "a repeat writes nothing")
	assert.Equal(t, "OrderCreated", ob[0].Type)
	assert.Equal(t, "order", ob[0].AggregateType)
	assert.Equal(t, int64(1), ob[0].Version)
	var fromEvent dispatch.Order
	require.NoError(t, json.Unmarshal(ob[0].Payload, &fromEvent))
	assert.Equal(t, o, fromEvent, "the payload is the order")

	// Another source, or the same reference under a store, is another order.
	other := phoneOrder("PH-1")
	other.Source = "phone"
	o2, created, err := dispatch.CreateOrder(ctx, e.db, "acme", other)
	require.NoError(t, err)
	assert.True(t, created)
	assert.NotEqual(t, o.ID, o2.ID)

	withStore := phoneOrder("PH-1")
	withStore.StoreID = e.storeID
	o3, created, err := dispatch.CreateOrder(ctx, e.db, "acme", withStore)
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, e.storeID, o3.StoreID)
	require.NotNil(t, o3.Pickup, "the store's pickup point")
	assert.Equal(t, normalize.Point{Lat: 38.72, Lng: -9.14}, *o3.Pickup.Point)
	withStore.Source = "phone"
	o4, created, err := dispatch.CreateOrder(ctx, e.db, "acme", withStore)
	require.NoError(t, err)
	assert.False(t, created, "under a store the key is (store, reference)")
	assert.Equal(t, o3.ID, o4.ID)

	own := phoneOrder("PH-2")
	own.StoreID = e.storeID
	own.Pickup = &normalize.Address{Name: "Back door", Point: &normalize.Point{Lat: 1, Lng: 2}}
	o5, _, err := dispatch.CreateOrder(ctx, e.db, "acme", own)
	require.NoError(t, err)
	assert.Equal(t, "Back door", o5.Pickup.Name, "the order's own pickup wins")
	assert.Equal(t, normalize.Point{Lat: 1, Lng: 2}, *o5.Pickup.Point)

	// The same reference in another tenant is that tenant's order.
	ob2, created, err := dispatch.CreateOrder(ctx, e.db, "beta", phoneOrder("PH-1"))
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, "beta", ob2.Tenant)
}

func TestCreateOrderConcurrentRepeats(t *testing.T) {
	e := newQueryEnv(t)
	const n = 12
	var wg sync.WaitGroup
	ids := make([]string, n)
	made := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, c, err := dispatch.CreateOrder(context.Background(), e.db, "acme", phoneOrder("RACE"))
			ids[i], made[i], errs[i] = o.ID, c, err
		}()
	}
	wg.Wait()
	createdCount := 0
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, ids[0], ids[i])
		if made[i] {
			createdCount++
		}
	}
	assert.Equal(t, 1, createdCount)
	assert.Len(t, outboxOf(t, e.db, "acme", ids[0]), 1)
}

func TestCreateOrderValidation(t *testing.T) {
	e := newQueryEnv(t)
	ctx := context.Background()
	bad := dispatch.NewOrder{
		Source:  "Phone Line",
		StoreID: "nope",
		Pickup:  &normalize.Address{Point: &normalize.Point{Lat: 91, Lng: 0}},
		Items:   []normalize.Item{{Name: "ok", Quantity: 1}, {Name: "x", Quantity: 0}, {Quantity: 1, UnitPrice: "ten"}},
		Contact: &normalize.Contact{Email: "no-at-sign"},
		Totals:  &normalize.Totals{Currency: "euro", Total: "1,00"},
	}
	_, _, err := dispatch.CreateOrder(ctx, e.db, "acme", bad)
	var fe dispatch.FieldErrors
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, dispatch.FieldErrors{
		"external_ref":        "required",
		"source":              "must be 1-40 of a-z, 0-9, '_' and '-'",
		"store_id":            "must be a UUID",
		"pickup.point.lat":    "must be -90..90",
		"dropoff":             "required",
		"items[1].quantity":   "must be > 0",
		"items[2].name":       "required when there is no sku",
		"items[2].unit_price": `must be a decimal number as a string, such as "12.50"`,
		"contact.email":       "must be an email address",
		"totals.currency":     `must be an ISO 4217 code such as "EUR"`,
		"totals.total":        `must be a decimal number as a string, such as "12.50"`,
	}, fe)
	assert.Contains(t, err.Error(), "dropoff: required")

	noPlace := phoneOrder("X")
	noPlace.Dropoff = &normalize.Address{City: "Lisboa"}
	_, _, err = dispatch.CreateOrder(ctx, e.db, "acme", noPlace)
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, dispatch.FieldErrors{"dropoff": "needs a point or an address line (line1)"}, fe)

	// beta cannot put an order on acme's store: for beta it does not exist.
	foreign := phoneOrder("X")
	foreign.StoreID = e.storeID
	_, _, err = dispatch.CreateOrder(ctx, e.db, "beta", foreign)
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, dispatch.FieldErrors{"store_id": "unknown store"}, fe)
	assert.Zero(t, sqlCount(t, e.db, "beta", `SELECT count(*) FROM orders`))
	assert.Zero(t, sqlCount(t, e.db, "beta", `SELECT count(*) FROM outbox`))

	_, _, err = dispatch.CreateOrder(ctx, e.db, "Not A Tenant", phoneOrder("X"))
	assert.ErrorIs(t, err, store.ErrInvalidTenant)
}

func TestGetOrderAndHistory(t *testing.T) {
	e := newQueryEnv(t)
	ctx := context.Background()
	o, _, err := dispatch.CreateOrder(ctx, e.db, "acme", phoneOrder("H-1"))
	require.NoError(t, err)

	got, err := dispatch.GetOrder(ctx, e.db, "acme", o.ID)
	require.NoError(t, err)
	assert.Equal(t, o, got)

	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid", "", "' OR 1=1 --"} {
		_, err := dispatch.GetOrder(ctx, e.db, "acme", id)
		assert.ErrorIs(t, err, dispatch.ErrNotFound, id)
		_, err = dispatch.OrderHistory(ctx, e.db, "acme", id)
		assert.ErrorIs(t, err, dispatch.ErrNotFound, id)
	}

	_, err = dispatch.CancelOrder(ctx, e.db, "acme", o.ID, "customer called", "dispatcher:u2")
	require.NoError(t, err)
	h, err := dispatch.OrderHistory(ctx, e.db, "acme", o.ID)
	require.NoError(t, err)
	require.Len(t, h, 2)
	assert.Equal(t, "OrderCreated", h[0].Type)
	assert.Equal(t, int64(1), h[0].Version)
	assert.Equal(t, "dispatcher:u1", h[0].Actor)
	assert.Equal(t, "OrderCancelled", h[1].Type)
	assert.Equal(t, int64(2), h[1].Version)
	assert.Equal(t, "dispatcher:u2", h[1].Actor)
	assert.False(t, h[1].CreatedAt.Before(h[0].CreatedAt))
	var p dispatch.Order
	require.NoError(t, json.Unmarshal(h[1].Payload, &p))
	assert.Equal(t, dispatch.StatusCancelled, p.Status)
	assert.Equal(t, "customer called", p.CancelReason)
}

func TestListOrdersPagination(t *testing.T) {
	e := newQueryEnv(t)
	ctx := context.Background()
	const total = 120
	var ids []string
	for i := range total {
		o, _, err := dispatch.CreateOrder(ctx, e.db, "acme", phoneOrder(fmt.Sprintf("P-%03d", i)))
		require.NoError(t, err)
		ids = append(ids, o.ID)
	}
	_, _, err := dispatch.CreateOrder(ctx, e.db, "beta", phoneOrder("B-1"))
	require.NoError(t, err)

	walk := func(f dispatch.ListFilter) (pages []int, seen []dispatch.Order) {
		for {
			page, next, err := dispatch.ListOrders(ctx, e.db, "acme", f)
			require.NoError(t, err)
			pages = append(pages, len(page))
			seen = append(seen, page...)
			if next == "" {
				return pages, seen
			}
			require.Less(t, len(pages), 20, "pagination ends")
			f.Cursor = next
		}
	}
	pages, seen := walk(dispatch.ListFilter{})
	assert.Equal(t, []int{50, 50, 20}, pages, "default limit 50")
	got := map[string]bool{}
	for i, o := range seen {
		assert.Equal(t, "acme", o.Tenant)
		assert.False(t, got[o.ID], "no order twice")
		got[o.ID] = true
		if i > 0 {
			prev := seen[i-1]
			assert.True(t, prev.UpdatedAt.Before(o.UpdatedAt) || (prev.UpdatedAt.Equal(o.UpdatedAt) && prev.ID < o.ID), "ordered by (updated_at, id)")
		}
	}
	assert.Len(t, got, total)

	pages, _ = walk(dispatch.ListFilter{Limit: 7})
	assert.Len(t, pages, 18)
	pages, _ = walk(dispatch.ListFilter{Limit: 100000})
	assert.Equal(t, []int{120}, pages, "limits above the maximum are the maximum")

	// Every order changed in one transaction: the same updated_at, the id breaks the tie.
	sqlExec(t, e.db, "acme", `UPDATE orders SET note = 'bulk'`)
	pages, seen = walk(dispatch.ListFilter{Limit: 25})
	assert.Equal(t, []int{25, 25, 25, 25, 20}, pages)
	got = map[string]bool{}
	for _, o := range seen {
		got[o.ID] = true
	}
	assert.Len(t, got, total)

	// Filters.
	since := seen[0].UpdatedAt
	sqlExec(t, e.db, "acme", `UPDATE orders SET status = 'assigned' WHERE id = ANY($1::uuid[])`, ids[:30])
	pages, seen = walk(dispatch.ListFilter{Status: dispatch.StatusAssigned, Limit: 20})
	assert.Equal(t, []int{20, 10}, pages)
	for _, o := range seen {
		assert.Equal(t, dispatch.StatusAssigned, o.Status)
	}
	page, next, err := dispatch.ListOrders(ctx, e.db, "acme", dispatch.ListFilter{UpdatedSince: since.Add(time.Microsecond)})
	require.NoError(t, err)
	assert.Len(t, page, 30, "only what changed after the bulk update")
	assert.Empty(t, next)

	var fe dispatch.FieldErrors
	_, _, err = dispatch.ListOrders(ctx, e.db, "acme", dispatch.ListFilter{Status: "lost", Cursor: "garbage!"})
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, fe, "status")
	assert.Contains(t, fe, "cursor")

	beta, _, err := dispatch.ListOrders(ctx, e.db, "beta", dispatch.ListFilter{})
	require.NoError(t, err)
	require.Len(t, beta, 1)
	assert.Equal(t, "B-1", beta[0].ExternalRef)
}

// addDriverJob adds a driver (when missing) and an assignment of order to it.
func addDriverJob(t *testing.T, db *store.DB, tenant, driver, orderID, status string) string {
	t.Helper()
	var id string
	require.NoError(t, db.WithTenantTx(context.Background(), tenant, func(tx pgx.Tx) error {
		ctx := context.Background()
		if _, err := tx.Exec(ctx, `INSERT INTO drivers (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING`, driver); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO assignments (order_id, driver_id, status, expires_at)
			VALUES ($1::uuid, $2, $3, now() + interval '30 seconds') RETURNING id::text`, orderID, driver, status).Scan(&id)
	}))
	return id
}

func TestCancelOrder(t *testing.T) {
	e := newQueryEnv(t)
	ctx := context.Background()
	o, _, err := dispatch.CreateOrder(ctx, e.db, "acme", phoneOrder("C-1"))
	require.NoError(t, err)
	declined := addDriverJob(t, e.db, "acme", "drv-1", o.ID, "declined")
	accepted := addDriverJob(t, e.db, "acme", "drv-2", o.ID, "accepted")
	sqlExec(t, e.db, "acme", `UPDATE orders SET status = 'assigned' WHERE id = $1::uuid`, o.ID)

	c, err := dispatch.CancelOrder(ctx, e.db, "acme", o.ID, " out of stock ", "dispatcher:u1")
	require.NoError(t, err)
	assert.Equal(t, dispatch.StatusCancelled, c.Status)
	assert.Equal(t, "out of stock", c.CancelReason)
	assert.Equal(t, int64(2), c.Version)
	assert.Equal(t, 1, sqlCount(t, e.db, "acme", `SELECT count(*) FROM assignments WHERE id = $1::uuid AND status = 'cancelled'`, accepted))
	assert.Equal(t, 1, sqlCount(t, e.db, "acme", `SELECT count(*) FROM assignments WHERE id = $1::uuid AND status = 'declined'`, declined))

	ob := outboxOf(t, e.db, "acme", o.ID)
	require.Len(t, ob, 2)
	assert.Equal(t, "OrderCancelled", ob[1].Type)
	assert.Equal(t, int64(2), ob[1].Version)
	var p struct {
		dispatch.Order
		DriverID string `json:"driver_id"`
	}
	require.NoError(t, json.Unmarshal(ob[1].Payload, &p))
	assert.Equal(t, "drv-2", p.DriverID, "the driver holding the job is told")
	assert.Equal(t, c, p.Order)

	// Twice: the order as it is, nothing new.
	again, err := dispatch.CancelOrder(ctx, e.db, "acme", o.ID, "again", "dispatcher:u1")
	require.NoError(t, err)
	assert.Equal(t, c, again)
	assert.Len(t, outboxOf(t, e.db, "acme", o.ID), 2)
	assert.Equal(t, 2, sqlCount(t, e.db, "acme", `SELECT count(*) FROM events WHERE entity_id = $1`, o.ID))

	// An offered order: the offered driver is told.
	o2, _, err := dispatch.CreateOrder(ctx, e.db, "acme", phoneOrder("C-2"))
	require.NoError(t, err)
	addDriverJob(t, e.db, "acme", "drv-3", o2.ID, "offered")
	_, err = dispatch.CancelOrder(ctx, e.db, "acme", o2.ID, "", "service:s1")
	require.NoError(t, err)
	ob = outboxOf(t, e.db, "acme", o2.ID)
	require.Len(t, ob, 2)
	p.Order, p.DriverID = dispatch.Order{}, ""
	require.NoError(t, json.Unmarshal(ob[1].Payload, &p))
	assert.Equal(t, "drv-3", p.DriverID)
	assert.Empty(t, p.CancelReason)

	// Too late.
	for _, st := range []dispatch.Status{dispatch.StatusPickedUp, dispatch.StatusDelivered, dispatch.StatusFailed} {
		late, _, err := dispatch.CreateOrder(ctx, e.db, "acme", phoneOrder("L-"+string(st)))
		require.NoError(t, err)
		sqlExec(t, e.db, "acme", `UPDATE orders SET status = $2 WHERE id = $1::uuid`, late.ID, string(st))
		_, err = dispatch.CancelOrder(ctx, e.db, "acme", late.ID, "", "dispatcher:u1")
		require.ErrorIs(t, err, dispatch.ErrNotCancellable, st)
		after, err := dispatch.GetOrder(ctx, e.db, "acme", late.ID)
		require.NoError(t, err)
		assert.Equal(t, st, after.Status, "unchanged")
		assert.Len(t, outboxOf(t, e.db, "acme", late.ID), 1)
	}

	_, err = dispatch.CancelOrder(ctx, e.db, "acme", "00000000-0000-0000-0000-000000000001", "", "x")
	assert.ErrorIs(t, err, dispatch.ErrNotFound)
	long := make([]byte, dispatch.MaxReasonLength+1)
	for i := range long {
		long[i] = 'a'
	}
	_, err = dispatch.CancelOrder(ctx, e.db, "acme", o2.ID, string(long), "x")
	var fe dispatch.FieldErrors
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, fe, "reason")
}

func TestCancelOrderConcurrent(t *testing.T) {
	e := newQueryEnv(t)
	o, _, err := dispatch.CreateOrder(context.Background(), e.db, "acme", phoneOrder("CC-1"))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := dispatch.CancelOrder(context.Background(), e.db, "acme", o.ID, "dup", "x")
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.Len(t, outboxOf(t, e.db, "acme", o.ID), 2, "one OrderCancelled: the row lock serialises the cancels")
}

func TestTenantIsolation(t *testing.T) {
	e := newQueryEnv(t)
	ctx := context.Background()
	o, _, err := dispatch.CreateOrder(ctx, e.db, "acme", phoneOrder("ISO-1"))
	require.NoError(t, err)
	addDriverJob(t, e.db, "acme", "drv-a", o.ID, "offered")

	_, err = dispatch.GetOrder(ctx, e.db, "beta", o.ID)
	assert.ErrorIs(t, err, dispatch.ErrNotFound)
	_, err = dispatch.OrderHistory(ctx, e.db, "beta", o.ID)
	assert.ErrorIs(t, err, dispatch.ErrNotFound)
	_, err = dispatch.CancelOrder(ctx, e.db, "beta", o.ID, "mine now", "dispatcher:evil")
	assert.ErrorIs(t, err, dispatch.ErrNotFound)
	list, _, err := dispatch.ListOrders(ctx, e.db, "beta", dispatch.ListFilter{})
	require.NoError(t, err)
	assert.Empty(t, list)
	drivers, err := dispatch.ListDrivers(ctx, e.db, "beta")
	require.NoError(t, err)
	assert.Empty(t, drivers)
	jobs, err := dispatch.DriverJobs(ctx, e.db, "beta", "drv-a", time.Time{})
	require.NoError(t, err)
	assert.Empty(t, jobs)

	still, err := dispatch.GetOrder(ctx, e.db, "acme", o.ID)
	require.NoError(t, err)
	assert.Equal(t, dispatch.StatusPending, still.Status, "beta's cancel changed nothing")
	assert.Len(t, outboxOf(t, e.db, "acme", o.ID), 1)
}

func TestDriversAndJobs(t *testing.T) {
	e := newQueryEnv(t)
	ctx := context.Background()
	drivers, err := dispatch.ListDrivers(ctx, e.db, "acme")
	require.NoError(t, err)
	assert.Empty(t, drivers)
	assert.NotNil(t, drivers, "an empty list, not null")

	withStore := phoneOrder("J-1")
	withStore.StoreID = e.storeID
	o1, _, err := dispatch.CreateOrder(ctx, e.db, "acme", withStore)
	require.NoError(t, err)
	o2, _, err := dispatch.CreateOrder(ctx, e.db, "acme", phoneOrder("J-2"))
	require.NoError(t, err)
	o3, _, err := dispatch.CreateOrder(ctx, e.db, "acme", phoneOrder("J-3"))
	require.NoError(t, err)
	j1 := addDriverJob(t, e.db, "acme", "drv-1", o1.ID, "accepted")
	j2 := addDriverJob(t, e.db, "acme", "drv-1", o2.ID, "declined")
	addDriverJob(t, e.db, "acme", "drv-2", o3.ID, "offered")
	sqlExec(t, e.db, "acme", `UPDATE drivers SET on_duty = false, capacity = 3, last_seen_at = now() WHERE id = 'drv-2'`)

	drivers, err = dispatch.ListDrivers(ctx, e.db, "acme")
	require.NoError(t, err)
	require.Len(t, drivers, 2)
	assert.Equal(t, "drv-1", drivers[0].ID)
	assert.True(t, drivers[0].OnDuty)
	assert.Nil(t, drivers[0].LastSeenAt)
	assert.Equal(t, "drv-2", drivers[1].ID)
	assert.False(t, drivers[1].OnDuty)
	assert.Equal(t, 3, drivers[1].Capacity)
	require.NotNil(t, drivers[1].LastSeenAt)

	open, err := dispatch.DriverJobs(ctx, e.db, "acme", "drv-1", time.Time{})
	require.NoError(t, err)
	require.Len(t, open, 1, "without updated_since: the open jobs")
	j := open[0]
	assert.Equal(t, j1, j.JobID)
	assert.Equal(t, o1.ID, j.OrderID)
	assert.Equal(t, "J-1", j.ExternalRef)
	assert.Equal(t, "accepted", j.Status)
	assert.Equal(t, dispatch.StatusPending, j.OrderStatus)
	require.NotNil(t, j.ExpiresAt)
	require.NotNil(t, j.Pickup)
	assert.Equal(t, normalize.Point{Lat: 38.72, Lng: -9.14}, *j.Pickup.Point)
	assert.Equal(t, "Rua Augusta 1", j.Dropoff.Line1)

	all, err := dispatch.DriverJobs(ctx, e.db, "acme", "drv-1", time.Unix(0, 0))
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.ElementsMatch(t, []string{j1, j2}, []string{all[0].JobID, all[1].JobID})

	// A cancel changes the job: a resync from just before it sees the cancellation.
	mark := time.Now().Add(-time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	_, err = dispatch.CancelOrder(ctx, e.db, "acme", o1.ID, "", "x")
	require.NoError(t, err)
	changed, err := dispatch.DriverJobs(ctx, e.db, "acme", "drv-1", mark.Add(2*time.Millisecond))
	require.NoError(t, err)
	require.Len(t, changed, 1)
	assert.Equal(t, "cancelled", changed[0].Status)
	assert.Equal(t, dispatch.StatusCancelled, changed[0].OrderStatus)
	open, err = dispatch.DriverJobs(ctx, e.db, "acme", "drv-1", time.Time{})
	require.NoError(t, err)
	assert.Empty(t, open)

	none, err := dispatch.DriverJobs(ctx, e.db, "acme", "nobody", time.Time{})
	require.NoError(t, err)
	assert.Empty(t, none)
}

func TestFieldErrorsMessage(t *testing.T) {
	err := error(dispatch.FieldErrors{"b": "y", "a": "x"})
	assert.Equal(t, "invalid: a: x; b: y", err.Error())
	var fe dispatch.FieldErrors
	assert.True(t, errors.As(fmt.Errorf("wrapped: %w", err), &fe))
}
