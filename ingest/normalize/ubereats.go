package normalize

import (
	"strings"

	"github.com/tidwall/gjson"
)

// uberEats reads Uber Eats Marketplace webhooks, which are thin:
// {"event_type":"orders.notification","meta":{"resource_id":"153dd7f1-...","status":"pos"},
// "resource_href":"https://api.uber.com/v2/eats/order/153dd7f1-..."}.
// orders.notification and orders.scheduled.notification → created; orders.cancel and
// orders.failure → cancelled; other orders.* events → updated. Store and menu events are
// ignored. The order (with the store's location) is fetched by a connector.
func uberEats(ev *NormalizedEvent, root gjson.Result) error {
	if ev.EventType == "" {
		ev.EventType = str(root.Get("event_type"))
		if ev.EventType == "" {
			return errNoEventType("no event_type in the body")
		}
	}
	t := strings.ToLower(ev.EventType)
	switch {
	case t == "orders.notification" || t == "orders.scheduled.notification":
		ev.Kind = OrderCreated
	case t == "orders.cancel" || t == "orders.failure":
		ev.Kind = OrderCancelled
	case strings.HasPrefix(t, "orders."):
		ev.Kind = OrderUpdated
	default:
		ev.Kind = Ignored
		return nil
	}
	if err := setID(ev, root.Get("meta.resource_id"), "meta.resource_id"); err != nil {
		return err
	}
	ev.NeedsRefetch = ev.Kind != OrderCancelled
	return nil
}
