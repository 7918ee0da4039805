package normalize

import (
	"strings"

	"github.com/tidwall/gjson"
)

// ecwid reads Ecwid webhooks, which are thin and do not even have their body signed:
// {"eventType":"order.updated","entityId":103878161,"data":{"orderId":"XJ12H",...}}.
// order.created → created; order.deleted, and an update to payment status CANCELLED or
// REFUNDED or fulfillment status WILL_NOT_DELIVER → cancelled; order.updated → updated.
// entityId (the internal order id, present in every version) is the ExternalID and
// data.orderId the ExternalRef. Unfinished orders and other entities are ignored.
func ecwid(ev *NormalizedEvent, root gjson.Result) error {
	if ev.EventType == "" {
		ev.EventType = str(root.Get("eventType"))
		if ev.EventType == "" {
			return errNoEventType("no eventType in the body")
		}
	}
	switch strings.ToLower(ev.EventType) {
	case "order.created":
		ev.Kind = OrderCreated
	case "order.updated":
		ev.Kind = OrderUpdated
		pay := strings.ToUpper(str(root.Get("data.newPaymentStatus")))
		ful := strings.ToUpper(str(root.Get("data.newFulfillmentStatus")))
		if pay == "CANCELLED" || pay == "REFUNDED" || ful == "WILL_NOT_DELIVER" {
			ev.Kind = OrderCancelled
		}
	case "order.deleted":
		ev.Kind = OrderCancelled
	default:
		ev.Kind = Ignored
		return nil
	}
	if err := setID(ev, root.Get("entityId"), "entityId"); err != nil {
		return err
	}
	setRef(ev, root.Get("data.orderId"))
	ev.NeedsRefetch = ev.Kind != OrderCancelled
	return nil
}
