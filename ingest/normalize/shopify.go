package normalize

import (
	"strings"

	"github.com/tidwall/gjson"
)

// shopify reads Shopify order webhooks (REST Order resource as the body, topic in
// X-Shopify-Topic): orders/create → created; orders/cancelled and orders/delete → cancelled;
// every other orders/* topic (updated, paid, fulfilled, edited, ...) → updated, or cancelled
// when the order has cancelled_at. Other resources are ignored.
func shopify(ev *NormalizedEvent, root gjson.Result) error {
	return shopifyLike(ev, root, "X-Shopify-Topic")
}

// shopline reads SHOPLINE order webhooks, which follow Shopify's shape (topic in
// X-Shopline-Topic: orders/create, orders/update, orders/cancelled, ...).
func shopline(ev *NormalizedEvent, root gjson.Result) error {
	return shopifyLike(ev, root, "X-Shopline-Topic")
}

// shopifyMembers are the members of an order that shopifyLike reads.
var shopifyMembers = []string{
	"id", "name", "order_number", "updated_at", "cancelled_at", "shipping_address", "line_items",
	"customer", "billing_address", "email", "contact_email", "phone", "currency", "presentment_currency",
	"subtotal_price", "total_shipping_price_set", "total_shipping_price", "shipping_lines", "total_tax",
	"total_price", "note",
}

func shopifyLike(ev *NormalizedEvent, root gjson.Result, header string) error {
	if ev.EventType == "" {
		return errNoEventType("pass the " + header + " header")
	}
	resource, action, _ := strings.Cut(strings.ToLower(ev.EventType), "/")
	if resource != "orders" {
		ev.Kind = Ignored
		return nil
	}
	switch action {
	case "create":
		ev.Kind = OrderCreated
	case "cancelled", "delete":
		ev.Kind = OrderCancelled
	default:
		ev.Kind = OrderUpdated
	}
	if action == "edited" {
		// The body is an OrderEdit ({"order_edit":{"order_id":...}}), not the order.
		ev.NeedsRefetch = true
		return setID(ev, root.Get("order_edit.order_id"), "order_edit.order_id")
	}
	o := members(root, shopifyMembers)
	if err := setID(ev, o.get("id"), "id"); err != nil {
		return err
	}
	if ev.Kind == OrderUpdated && str(o.get("cancelled_at")) != "" {
		ev.Kind = OrderCancelled
	}
	setRef(ev, o.get("name"), o.get("order_number"))
	ev.SourceUpdatedAt = timeOf(o.get("updated_at"))
	if ship := o.get("shipping_address"); ship.IsObject() {
		ev.Dropoff = shopifyAddress(ship)
	}
	for _, li := range o.get("line_items").Array() {
		ev.Items = append(ev.Items, Item{
			SKU:       str(li.Get("sku")),
			Name:      firstStr(li.Get("name"), li.Get("title")),
			Quantity:  quantityOf(li.Get("quantity")),
			UnitPrice: decimalOf(li.Get("price")),
		})
	}
	customer := o.get("customer")
	billing := o.get("billing_address")
	contact := Contact{
		Email: firstStr(o.get("email"), o.get("contact_email"), customer.Get("email")),
		Phone: firstStr(o.get("shipping_address.phone"), o.get("phone"), customer.Get("phone"), billing.Get("phone")),
	}
	if ev.Dropoff != nil {
		contact.Name = ev.Dropoff.Name
	}
	if contact.Name == "" {
		contact.Name = firstStr(
			textOf(joinName(str(customer.Get("first_name")), str(customer.Get("last_name")))),
			billing.Get("name"))
	}
	ev.Contact = &contact
	ev.Totals = &Totals{
		Currency: firstStr(o.get("currency"), o.get("presentment_currency")),
		Subtotal: decimalOf(o.get("subtotal_price")),
		Shipping: firstDecimal(
			o.get("total_shipping_price_set.shop_money.amount"),
			o.get("total_shipping_price"),
			o.get("shipping_lines.0.price")),
		Tax:   decimalOf(o.get("total_tax")),
		Total: decimalOf(o.get("total_price")),
	}
	ev.Note = str(o.get("note"))
	return nil
}

// shopifyAddress reads a Shopify (or SHOPLINE) MailingAddress.
func shopifyAddress(a gjson.Result) *Address {
	return &Address{
		Name:       firstStr(a.Get("name"), textOf(joinName(str(a.Get("first_name")), str(a.Get("last_name"))))),
		Company:    str(a.Get("company")),
		Line1:      str(a.Get("address1")),
		Line2:      str(a.Get("address2")),
		City:       str(a.Get("city")),
		Region:     firstStr(a.Get("province"), a.Get("province_code")),
		PostalCode: str(a.Get("zip")),
		Country:    firstStr(a.Get("country_code"), a.Get("country")),
		Phone:      str(a.Get("phone")),
		Point:      pointOf(a.Get("latitude"), a.Get("longitude")),
	}
}

// textOf wraps a Go string as a gjson string result, for firstStr chains.
func textOf(s string) gjson.Result { return gjson.Result{Type: gjson.String, Str: s} }

// firstDecimal returns the first non-empty decimalOf of rs.
func firstDecimal(rs ...gjson.Result) string {
	for _, r := range rs {
		if d := decimalOf(r); d != "" {
			return d
		}
	}
	return ""
}
