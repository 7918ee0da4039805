package normalize

import (
	"strings"

	"github.com/tidwall/gjson"
)

// doorDashMembers are the members of a delivery that doorDash reads.
var doorDashMembers = []string{
	"external_delivery_id", "delivery_status", "updated_at", "currency", "items", "order_value",
	"pickup_business_name", "pickup_address", "pickup_phone_number",
	"pickup_location", "pickup_lat", "pickup_lng", "pickup_latitude", "pickup_longitude",
	"dropoff_contact_given_name", "dropoff_contact_family_name", "dropoff_business_name", "dropoff_address",
	"dropoff_phone_number", "dropoff_contact_email", "dropoff_instructions",
	"dropoff_location", "dropoff_lat", "dropoff_lng", "dropoff_latitude", "dropoff_longitude",
}

// doorDash reads DoorDash Drive delivery webhooks. Their event_name is a delivery status
// (DASHER_CONFIRMED, DASHER_PICKED_UP, DASHER_DROPPED_OFF, ...), and each carries the whole
// delivery: external_delivery_id, pickup_* and dropoff_* (addresses as one line, with
// *_location {lat,lng} when DoorDash has them), order_value in cents. So every delivery
// event is an order event keyed by external_delivery_id: DELIVERY_CREATED → created;
// DELIVERY_CANCELLED (or a delivery_status of cancelled) → cancelled; other DASHER_* and
// DELIVERY_* events → updated. Other events are ignored.
func doorDash(ev *NormalizedEvent, root gjson.Result) error {
	if ev.EventType == "" {
		ev.EventType = firstStr(root.Get("event_name"), root.Get("event_type"))
		if ev.EventType == "" {
			return errNoEventType("no event_name in the body")
		}
	}
	t := strings.ToUpper(ev.EventType)
	switch {
	case t == "DELIVERY_CREATED":
		ev.Kind = OrderCreated
	case t == "DELIVERY_CANCELLED":
		ev.Kind = OrderCancelled
	case strings.HasPrefix(t, "DASHER_") || strings.HasPrefix(t, "DELIVERY_"):
		ev.Kind = OrderUpdated
	default:
		ev.Kind = Ignored
		return nil
	}
	o := members(root, doorDashMembers)
	if err := setID(ev, o.get("external_delivery_id"), "external_delivery_id"); err != nil {
		return err
	}
	if s := strings.ToLower(str(o.get("delivery_status"))); s == "cancelled" || s == "canceled" {
		ev.Kind = OrderCancelled
	}
	ev.SourceUpdatedAt = timeOf(o.get("updated_at"))
	ev.Pickup = &Address{
		Name:  str(o.get("pickup_business_name")),
		Line1: str(o.get("pickup_address")),
		Phone: str(o.get("pickup_phone_number")),
		Point: doorDashPoint(o, "pickup"),
	}
	name := joinName(str(o.get("dropoff_contact_given_name")), str(o.get("dropoff_contact_family_name")))
	ev.Dropoff = &Address{
		Name:    firstStr(textOf(name), o.get("dropoff_business_name")),
		Company: str(o.get("dropoff_business_name")),
		Line1:   str(o.get("dropoff_address")),
		Phone:   str(o.get("dropoff_phone_number")),
		Point:   doorDashPoint(o, "dropoff"),
	}
	currency := str(o.get("currency"))
	for _, it := range o.get("items").Array() {
		ev.Items = append(ev.Items, Item{
			SKU:       str(it.Get("external_id")),
			Name:      str(it.Get("name")),
			Quantity:  quantityOf(it.Get("quantity")),
			UnitPrice: minorOf(it.Get("price"), currency),
		})
	}
	ev.Contact = &Contact{Name: ev.Dropoff.Name, Phone: ev.Dropoff.Phone, Email: str(o.get("dropoff_contact_email"))}
	ev.Totals = &Totals{Currency: currency, Total: minorOf(o.get("order_value"), currency)}
	if ev.Totals.Total == "" {
		ev.Totals.Currency = ""
	}
	ev.Note = str(o.get("dropoff_instructions"))
	return nil
}

// doorDashPoint reads {side}_location {lat,lng}, or flat {side}_lat/_lng or
// {side}_latitude/_longitude.
func doorDashPoint(o object, side string) *Point {
	if p := pointOf(o.get(side+"_location.lat"), o.get(side+"_location.lng")); p != nil {
		return p
	}
	if p := pointOf(o.get(side+"_lat"), o.get(side+"_lng")); p != nil {
		return p
	}
	return pointOf(o.get(side+"_latitude"), o.get(side+"_longitude"))
}
