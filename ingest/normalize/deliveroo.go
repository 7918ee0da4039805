package normalize

import (
	"strings"

	"github.com/tidwall/gjson"
)

// deliverooCancelled are Deliveroo order statuses after which nothing is delivered.
var deliverooCancelled = map[string]bool{"canceled": true, "cancelled": true, "rejected": true}

// deliverooMembers are the members of an order that deliveroo reads.
var deliverooMembers = []string{
	"id", "status", "display_id", "order_number", "status_log", "updated_at", "customer", "delivery",
	"restaurant", "site", "pickup", "total_price", "subtotal", "items", "order_notes",
}

// deliveroo reads Deliveroo Order API events, which carry the full order:
// {"event":"order.new","body":{"order":{"id":...,"display_id":...,"delivery":{"address":
// {...,"latitude":..,"longitude":..}},"customer":{...},"items":[...],...}}}.
// order.new → created; order.status_update → updated, or cancelled when the status is
// canceled or rejected. The event type may also come as the x-deliveroo-payload-type header
// ("event/order.new"). Money is in minor units ("fractional"). Pickup is the restaurant
// when the order names its location. Other events (rider updates, ...) are ignored.
func deliveroo(ev *NormalizedEvent, root gjson.Result) error {
	if ev.EventType == "" {
		ev.EventType = str(root.Get("event"))
		if ev.EventType == "" {
			return errNoEventType("no event in the body")
		}
	}
	switch strings.TrimPrefix(strings.ToLower(ev.EventType), "event/") {
	case "order.new", "new_order":
		ev.Kind = OrderCreated
	case "order.status_update":
		ev.Kind = OrderUpdated
	default:
		ev.Kind = Ignored
		return nil
	}
	order, path := root.Get("body.order"), "body.order.id"
	if !order.IsObject() {
		order, path = root.Get("order"), "order.id"
	}
	o := members(order, deliverooMembers)
	if err := setID(ev, o.get("id"), path); err != nil {
		return err
	}
	if deliverooCancelled[strings.ToLower(str(o.get("status")))] {
		ev.Kind = OrderCancelled
	}
	setRef(ev, o.get("display_id"), o.get("order_number"))
	for _, s := range o.get("status_log").Array() {
		if at := timeOf(s.Get("at")); at.After(ev.SourceUpdatedAt) {
			ev.SourceUpdatedAt = at
		}
	}
	if ev.SourceUpdatedAt.IsZero() {
		ev.SourceUpdatedAt = timeOf(o.get("updated_at"))
	}

	customer := o.get("customer")
	name := joinName(str(customer.Get("first_name")), str(customer.Get("last_name")))
	phone := firstStr(customer.Get("contact_number"), customer.Get("phone_number"))
	if a := o.get("delivery.address"); a.IsObject() {
		ev.Dropoff = deliverooAddress(a)
		ev.Dropoff.Name, ev.Dropoff.Phone = name, phone
	}
	for _, key := range [...]string{"restaurant", "site", "pickup"} {
		if r := o.get(key); r.IsObject() {
			a := r.Get("address")
			if !a.IsObject() {
				a = r
			}
			ev.Pickup = deliverooAddress(a)
			if ev.Pickup.Point == nil {
				ev.Pickup.Point = pointOf(r.Get("latitude"), r.Get("longitude"))
			}
			ev.Pickup.Name = str(r.Get("name"))
			ev.Pickup.Phone = firstStr(r.Get("phone_number"), r.Get("contact_number"))
			break
		}
	}
	currency := str(first(o.get("total_price.currency_code"), o.get("subtotal.currency_code")))
	for _, it := range o.get("items").Array() {
		ev.Items = append(ev.Items, Item{
			SKU:       str(it.Get("pos_item_id")),
			Name:      firstStr(it.Get("name"), it.Get("operational_name")),
			Quantity:  quantityOf(it.Get("quantity")),
			UnitPrice: minorOf(it.Get("unit_price.fractional"), str(first(it.Get("unit_price.currency_code"), textOf(currency)))),
		})
	}
	ev.Contact = &Contact{Name: name, Phone: phone}
	ev.Totals = &Totals{
		Currency: currency,
		Subtotal: minorOf(o.get("subtotal.fractional"), currency),
		Shipping: minorOf(o.get("delivery.delivery_fee.fractional"), currency),
		Total:    minorOf(o.get("total_price.fractional"), currency),
	}
	ev.Note = str(o.get("order_notes"))
	if code := str(customer.Get("contact_access_code")); code != "" {
		ev.Note = joinNote(ev.Note, "Phone access code: "+code)
	}
	return nil
}

// deliverooAddress reads a Deliveroo address: address_line_1/2 when given, else number
// and street; coordinates when present.
func deliverooAddress(a gjson.Result) *Address {
	line1 := str(a.Get("address_line_1"))
	if line1 == "" {
		line1 = joinName(str(a.Get("number")), str(a.Get("street")))
	}
	return &Address{
		Line1:      line1,
		Line2:      str(a.Get("address_line_2")),
		City:       str(a.Get("city")),
		PostalCode: str(a.Get("postal_code")),
		Country:    str(a.Get("country")),
		Point:      pointOf(a.Get("latitude"), a.Get("longitude")),
	}
}

// joinNote joins two notes on separate lines.
func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}
