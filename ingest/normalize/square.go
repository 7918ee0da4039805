package normalize

import (
	"strings"

	"github.com/tidwall/gjson"
)

// square reads Square order webhooks. They are thin:
// {"type":"order.updated","data":{"type":"order_updated","id":"eA3v...","object":
// {"order_updated":{"order_id":"eA3v...","version":2,"state":"OPEN","updated_at":...}}}},
// so the event needs a refetch, unless data.object.order carries the full Order, which is
// then read. order.created → created; order.updated and order.fulfillment.updated →
// updated, or cancelled when the state is CANCELED. Other types are ignored. The order's
// version is SourceVersion.
func square(ev *NormalizedEvent, root gjson.Result) error {
	if ev.EventType == "" {
		ev.EventType = str(root.Get("type"))
		if ev.EventType == "" {
			return errNoEventType("no type in the body")
		}
	}
	switch strings.ToLower(ev.EventType) {
	case "order.created":
		ev.Kind = OrderCreated
	case "order.updated", "order.fulfillment.updated":
		ev.Kind = OrderUpdated
	default:
		ev.Kind = Ignored
		return nil
	}
	object := root.Get("data.object")
	order := object.Get("order")
	if !order.IsObject() {
		order = gjson.Result{}
	}
	var summary gjson.Result
	for _, key := range [...]string{"order_created", "order_updated", "order_fulfillment_updated"} {
		if s := object.Get(key); s.IsObject() {
			summary = s
			break
		}
	}
	id, path := order.Get("id"), "data.object.order.id"
	if !order.Exists() {
		id, path = first(summary.Get("order_id"), root.Get("data.id")), "data.id"
	}
	if err := setID(ev, id, path); err != nil {
		return err
	}
	ev.SourceVersion = versionOf(first(order.Get("version"), summary.Get("version")))
	ev.SourceUpdatedAt = timeOf(first(order.Get("updated_at"), summary.Get("updated_at"), summary.Get("created_at")))
	if ev.Kind == OrderUpdated && strings.EqualFold(firstStr(order.Get("state"), summary.Get("state")), "CANCELED") {
		ev.Kind = OrderCancelled
	}
	if !order.Exists() {
		ev.NeedsRefetch = ev.Kind != OrderCancelled
		return nil
	}
	squareOrder(ev, order)
	return nil
}

// squareOrder reads a full Square Order: the recipient of its first shipment or delivery
// fulfillment, line items and money (in minor units). Square has no shipping total of its
// own (a delivery fee is one of several service charges), so Shipping stays empty.
func squareOrder(ev *NormalizedEvent, order gjson.Result) {
	setRef(ev, order.Get("reference_id"))
	currency := str(first(order.Get("total_money.currency"), order.Get("line_items.0.base_price_money.currency")))
	for _, f := range order.Get("fulfillments").Array() {
		var details gjson.Result
		switch strings.ToUpper(str(f.Get("type"))) {
		case "SHIPMENT":
			details = f.Get("shipment_details")
		case "DELIVERY":
			details = f.Get("delivery_details")
		default:
			continue
		}
		r := details.Get("recipient")
		a := r.Get("address")
		ev.Dropoff = &Address{
			Name:       firstStr(r.Get("display_name"), textOf(joinName(str(a.Get("first_name")), str(a.Get("last_name"))))),
			Line1:      str(a.Get("address_line_1")),
			Line2:      str(a.Get("address_line_2")),
			City:       firstStr(a.Get("locality"), a.Get("sublocality")),
			Region:     str(a.Get("administrative_district_level_1")),
			PostalCode: str(a.Get("postal_code")),
			Country:    str(a.Get("country")),
			Phone:      str(r.Get("phone_number")),
		}
		ev.Contact = &Contact{Name: ev.Dropoff.Name, Phone: ev.Dropoff.Phone, Email: str(r.Get("email_address"))}
		ev.Note = firstStr(details.Get("note"), details.Get("shipping_note"))
		break
	}
	for _, li := range order.Get("line_items").Array() {
		ev.Items = append(ev.Items, Item{
			Name:      joinName(str(li.Get("name")), str(li.Get("variation_name"))),
			Quantity:  quantityOf(li.Get("quantity")),
			UnitPrice: minorOf(li.Get("base_price_money.amount"), currency),
		})
	}
	ev.Totals = &Totals{
		Currency: currency,
		Tax:      minorOf(order.Get("total_tax_money.amount"), currency),
		Total:    minorOf(order.Get("total_money.amount"), currency),
	}
}
