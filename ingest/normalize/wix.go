package normalize

import (
	"strings"

	"github.com/tidwall/gjson"
)

// wixMembers are the members of an eCommerce order that wix reads.
var wixMembers = []string{
	"id", "status", "lineItems", "number", "updatedDate", "shippingInfo", "billingInfo", "buyerInfo",
	"priceSummary", "currency", "buyerNote",
}

// wix reads Wix webhooks. On the wire the whole body is a JWT (verified by the edge; here it
// is only decoded). Its payload is {"data":"<json>","iat":...}; that data is the envelope
// {"eventType":"wix.ecom.v1.order_created","instanceId":...,"data":"<json>"}, whose data is
// the entity event {"entityId":...,"createdEvent":{"entityAsJson":"<json>"}} (or
// updatedEvent.currentEntityAsJson, or actionEvent.bodyAsJson with an "order"). Each level
// may come already decoded, as a JSON string or as an object; the caller may pass the raw
// JWT, its payload, or the envelope.
//
// Event types about orders: *cancel* → cancelled; *created* or *placed* → created; others
// (approved, updated, payment_status_updated, ...) → updated, or cancelled when the order's
// status is CANCELED. Other entities, drafts and abandoned checkouts are ignored. An event
// without the order entity needs a refetch.
func wix(ev *NormalizedEvent, root gjson.Result) error {
	env := root
	if !env.Get("eventType").Exists() {
		switch d := env.Get("data"); {
		case d.Type == gjson.String: // the JWT payload
			var ok bool
			if env, ok = embedded(d); !ok {
				return &Error{Reason: "JWT data is not a JSON object"}
			}
		case d.IsObject() && d.Get("eventType").Exists(): // the same, decoded by the caller
			env = d
		}
	}
	isEnvelope := env.Get("eventType").Exists()
	if ev.EventType == "" {
		ev.EventType = str(env.Get("eventType"))
		if ev.EventType == "" {
			return errNoEventType("no eventType in the payload")
		}
	}
	t := strings.ToLower(ev.EventType)
	switch {
	case !strings.Contains(t, "order") || strings.Contains(t, "draft") || strings.Contains(t, "abandoned"):
		ev.Kind = Ignored
		return nil
	case strings.Contains(t, "cancel"):
		ev.Kind = OrderCancelled
	case strings.Contains(t, "created") || strings.Contains(t, "placed"):
		ev.Kind = OrderCreated
	default:
		ev.Kind = OrderUpdated
	}
	event := env
	if isEnvelope {
		var ok bool
		if event, ok = embedded(env.Get("data")); !ok {
			return &Error{Reason: "envelope data is not a JSON object"}
		}
	}
	o := members(wixOrder(event), wixMembers)
	id, path := o.get("id"), "entity id"
	if !id.Exists() {
		id, path = event.Get("entityId"), "entityId"
	}
	if err := setID(ev, id, path); err != nil {
		return err
	}
	if ev.Kind == OrderUpdated && strings.EqualFold(str(o.get("status")), "CANCELED") {
		ev.Kind = OrderCancelled
	}
	if !o.get("lineItems").Exists() && !o.get("number").Exists() {
		ev.NeedsRefetch = ev.Kind != OrderCancelled
		return nil
	}
	setRef(ev, o.get("number"))
	ev.SourceUpdatedAt = timeOf(o.get("updatedDate"))
	dest := o.get("shippingInfo.logistics.shippingDestination")
	if dest.IsObject() {
		ev.Dropoff = wixAddress(dest.Get("address"), dest.Get("contactDetails"))
	}
	for _, li := range o.get("lineItems").Array() {
		ev.Items = append(ev.Items, Item{
			SKU:       str(li.Get("physicalProperties.sku")),
			Name:      firstStr(li.Get("productName.original"), li.Get("productName.translated")),
			Quantity:  quantityOf(li.Get("quantity")),
			UnitPrice: decimalOf(li.Get("price.amount")),
		})
	}
	billing := o.get("billingInfo.contactDetails")
	contact := Contact{
		Email: str(o.get("buyerInfo.email")),
		Phone: firstStr(dest.Get("contactDetails.phone"), billing.Get("phone")),
	}
	if ev.Dropoff != nil {
		contact.Name = ev.Dropoff.Name
	}
	if contact.Name == "" {
		contact.Name = joinName(str(billing.Get("firstName")), str(billing.Get("lastName")))
	}
	ev.Contact = &contact
	ps := o.get("priceSummary")
	ev.Totals = &Totals{
		Currency: str(o.get("currency")),
		Subtotal: decimalOf(ps.Get("subtotal.amount")),
		Shipping: decimalOf(ps.Get("shipping.amount")),
		Tax:      decimalOf(ps.Get("tax.amount")),
		Total:    decimalOf(ps.Get("total.amount")),
	}
	ev.Note = str(o.get("buyerNote"))
	return nil
}

// wixOrder finds the order in a Wix entity event, or returns an empty Result.
func wixOrder(event gjson.Result) gjson.Result {
	for _, pair := range [...][2]string{
		{"createdEvent.entity", "createdEvent.entityAsJson"},
		{"updatedEvent.currentEntity", "updatedEvent.currentEntityAsJson"},
		{"actionEvent.body", "actionEvent.bodyAsJson"},
	} {
		entity, ok := embedded(first(event.Get(pair[0]), event.Get(pair[1])))
		if !ok {
			continue
		}
		if order := entity.Get("order"); order.IsObject() {
			return order
		}
		return entity
	}
	return gjson.Result{}
}

// wixAddress reads a Wix Address and its AddressContactDetails.
func wixAddress(a, c gjson.Result) *Address {
	line1 := firstStr(a.Get("addressLine1"), a.Get("addressLine"))
	if line1 == "" {
		line1 = joinName(str(a.Get("streetAddress.number")), str(a.Get("streetAddress.name")))
	}
	point := pointOf(a.Get("geocode.latitude"), a.Get("geocode.longitude"))
	if point == nil {
		point = pointOf(a.Get("location.latitude"), a.Get("location.longitude"))
	}
	return &Address{
		Name:       joinName(str(c.Get("firstName")), str(c.Get("lastName"))),
		Company:    str(c.Get("company")),
		Line1:      line1,
		Line2:      str(a.Get("addressLine2")),
		City:       str(a.Get("city")),
		Region:     str(a.Get("subdivision")),
		PostalCode: str(a.Get("postalCode")),
		Country:    str(a.Get("country")),
		Phone:      str(c.Get("phone")),
		Point:      point,
	}
}

// embedded returns r as a JSON object, decoding it first when it is a string that holds
// JSON (Wix nests stringified JSON). ok is false when r is neither.
func embedded(r gjson.Result) (gjson.Result, bool) {
	switch {
	case r.IsObject():
		return r, true
	case r.Type == gjson.String:
		s := strings.TrimSpace(r.Str)
		if !gjson.Valid(s) {
			return gjson.Result{}, false
		}
		if p := gjson.Parse(s); p.IsObject() {
			return p, true
		}
	}
	return gjson.Result{}, false
}
