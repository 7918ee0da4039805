package normalize

import (
	"strings"

	"github.com/tidwall/gjson"
)

// wooCancelled are the WooCommerce order statuses after which nothing is delivered.
var wooCancelled = map[string]bool{"cancelled": true, "refunded": true, "failed": true, "trash": true}

// wooMembers are the members of an order that woocommerce reads.
var wooMembers = []string{
	"id", "number", "status", "date_modified_gmt", "date_modified", "shipping", "billing", "line_items",
	"currency", "shipping_total", "total_tax", "total", "customer_note",
}

// woocommerce reads WooCommerce webhooks (REST v3 order as the body, topic in
// X-WC-Webhook-Topic): order.created → created; order.deleted → cancelled; order.updated and
// order.restored → updated, or cancelled when the status is cancelled, refunded, failed or
// trash. Other resources are ignored, and so is the ping sent when a webhook is saved
// ({"webhook_id":N}, no topic).
func woocommerce(ev *NormalizedEvent, root gjson.Result) error {
	if ev.EventType == "" {
		if root.Get("webhook_id").Exists() && !root.Get("id").Exists() {
			ev.Kind = Ignored
			return nil
		}
		return errNoEventType("pass the X-WC-Webhook-Topic header")
	}
	resource, action, _ := strings.Cut(strings.ToLower(ev.EventType), ".")
	if resource != "order" {
		ev.Kind = Ignored
		return nil
	}
	switch action {
	case "created":
		ev.Kind = OrderCreated
	case "deleted":
		ev.Kind = OrderCancelled
	default:
		ev.Kind = OrderUpdated
	}
	o := members(root, wooMembers)
	if err := setID(ev, o.get("id"), "id"); err != nil {
		return err
	}
	if wooCancelled[strings.ToLower(str(o.get("status")))] {
		ev.Kind = OrderCancelled
	}
	setRef(ev, o.get("number"))
	ev.SourceUpdatedAt = timeOf(first(o.get("date_modified_gmt"), o.get("date_modified")))
	billing := o.get("billing")
	if ship := o.get("shipping"); ship.IsObject() {
		ev.Dropoff = &Address{
			Name:       joinName(str(ship.Get("first_name")), str(ship.Get("last_name"))),
			Company:    str(ship.Get("company")),
			Line1:      str(ship.Get("address_1")),
			Line2:      str(ship.Get("address_2")),
			City:       str(ship.Get("city")),
			Region:     str(ship.Get("state")),
			PostalCode: str(ship.Get("postcode")),
			Country:    str(ship.Get("country")),
			Phone:      str(ship.Get("phone")),
		}
	}
	for _, li := range o.get("line_items").Array() {
		ev.Items = append(ev.Items, Item{
			SKU:       str(li.Get("sku")),
			Name:      str(li.Get("name")),
			Quantity:  quantityOf(li.Get("quantity")),
			UnitPrice: decimalOf(li.Get("price")),
		})
	}
	contact := Contact{
		Email: str(billing.Get("email")),
		Phone: firstStr(o.get("shipping.phone"), billing.Get("phone")),
	}
	if ev.Dropoff != nil {
		contact.Name = ev.Dropoff.Name
	}
	if contact.Name == "" {
		contact.Name = joinName(str(billing.Get("first_name")), str(billing.Get("last_name")))
	}
	ev.Contact = &contact
	ev.Totals = &Totals{
		Currency: str(o.get("currency")),
		Shipping: decimalOf(o.get("shipping_total")),
		Tax:      decimalOf(o.get("total_tax")),
		Total:    decimalOf(o.get("total")),
	}
	ev.Note = str(o.get("customer_note"))
	return nil
}
