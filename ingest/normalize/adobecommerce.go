package normalize

import (
	"strings"

	"github.com/tidwall/gjson"
)

// adobeMembers are the members of an order that adobeCommerce reads.
var adobeMembers = []string{
	"entity_id", "state", "status", "increment_id", "updated_at", "addresses", "extension_attributes",
	"items", "customer_email", "customer_firstname", "customer_lastname", "order_currency_code",
	"base_currency_code", "subtotal", "shipping_amount", "tax_amount", "grand_total", "customer_note",
}

// adobeCommerce reads Adobe Commerce (Magento) order payloads: the order object of a webhook
// ({"eventName":"sales_order_place_after","data":{"order":{...}}} for observers,
// {"order":{...}} for plugins) or of an I/O event ({"data":{"value":{...}}}). The event
// name is configured per subscription, so eventType is whatever the caller passes, else
// the body's eventName or type. Names about orders: *cancel* → cancelled; *place* or
// *created* → created; others (save, update, ...) → updated, or cancelled when the order's
// state or status is canceled. Without any event name an order payload is an update.
// Other events are ignored.
//
// ExternalID is entity_id and ExternalRef increment_id. A before-placement payload has no
// entity_id yet and is refused rather than keyed by increment_id, which would make the same
// order two orders once its after-save event arrives.
func adobeCommerce(ev *NormalizedEvent, root gjson.Result) error {
	if ev.EventType == "" {
		ev.EventType = firstStr(root.Get("eventName"), root.Get("event.type"), root.Get("type"))
	}
	order, path := root.Get("order"), "order"
	for _, p := range [...]string{"data.order", "data.value", "event.data.value"} {
		if order.IsObject() {
			break
		}
		order, path = root.Get(p), p
	}
	t := strings.ToLower(ev.EventType)
	switch {
	case t == "" && order.IsObject():
		ev.Kind = OrderUpdated
	case !strings.Contains(t, "order"):
		ev.Kind = Ignored
		return nil
	case strings.Contains(t, "cancel"):
		ev.Kind = OrderCancelled
	case strings.Contains(t, "place") || strings.Contains(t, "created"):
		ev.Kind = OrderCreated
	default:
		ev.Kind = OrderUpdated
	}
	if !order.IsObject() {
		return &Error{Reason: "no order object at order, data.order or data.value"}
	}
	o := members(order, adobeMembers)
	if err := setID(ev, o.get("entity_id"), path+".entity_id"); err != nil {
		return err
	}
	if ev.Kind == OrderUpdated && (strings.EqualFold(str(o.get("state")), "canceled") ||
		strings.EqualFold(str(o.get("status")), "canceled")) {
		ev.Kind = OrderCancelled
	}
	setRef(ev, o.get("increment_id"))
	ev.SourceUpdatedAt = timeOf(o.get("updated_at"))

	ship := o.get(`addresses.#(address_type=="shipping")`)
	if !ship.IsObject() {
		ship = o.get("extension_attributes.shipping_assignments.0.shipping.address")
	}
	if ship.IsObject() {
		ev.Dropoff = magentoAddress(ship)
	}
	for _, it := range o.get("items").Array() {
		if p := it.Get("parent_item_id"); p.Exists() && p.Type != gjson.Null && str(p) != "0" {
			continue // the child of a configurable or bundle item: its parent is the line
		}
		ev.Items = append(ev.Items, Item{
			SKU:       str(it.Get("sku")),
			Name:      str(it.Get("name")),
			Quantity:  quantityOf(it.Get("qty_ordered")),
			UnitPrice: decimalOf(it.Get("price")),
		})
	}
	contact := Contact{Email: firstStr(o.get("customer_email"), ship.Get("email"))}
	if ev.Dropoff != nil {
		contact.Name, contact.Phone = ev.Dropoff.Name, ev.Dropoff.Phone
	}
	if contact.Name == "" {
		contact.Name = joinName(str(o.get("customer_firstname")), str(o.get("customer_lastname")))
	}
	ev.Contact = &contact
	ev.Totals = &Totals{
		Currency: firstStr(o.get("order_currency_code"), o.get("base_currency_code")),
		Subtotal: decimalOf(o.get("subtotal")),
		Shipping: decimalOf(o.get("shipping_amount")),
		Tax:      decimalOf(o.get("tax_amount")),
		Total:    decimalOf(o.get("grand_total")),
	}
	ev.Note = firstStr(o.get("customer_note"), o.get("extension_attributes.order_comment"))
	return nil
}

// magentoAddress reads a sales order address; street is an array of lines or one string
// with newlines.
func magentoAddress(a gjson.Result) *Address {
	var lines []string
	street := a.Get("street")
	if street.IsArray() {
		for _, l := range street.Array() {
			if s := str(l); s != "" {
				lines = append(lines, s)
			}
		}
	} else {
		for _, l := range strings.Split(str(street), "\n") {
			if s := strings.TrimSpace(l); s != "" {
				lines = append(lines, s)
			}
		}
	}
	addr := &Address{
		Name:       joinName(str(a.Get("firstname")), str(a.Get("middlename")), str(a.Get("lastname"))),
		Company:    str(a.Get("company")),
		City:       str(a.Get("city")),
		Region:     firstStr(a.Get("region"), a.Get("region_code")),
		PostalCode: str(a.Get("postcode")),
		Country:    str(a.Get("country_id")),
		Phone:      str(a.Get("telephone")),
	}
	if len(lines) > 0 {
		addr.Line1 = lines[0]
		addr.Line2 = strings.Join(lines[1:], ", ")
	}
	return addr
}
