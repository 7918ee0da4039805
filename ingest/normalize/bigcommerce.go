package normalize

import (
	"strings"

	"github.com/tidwall/gjson"
)

// bigcommerceCancelled are the BigCommerce order status ids after which nothing is
// delivered: 4 Refunded, 5 Cancelled, 6 Declined.
var bigcommerceCancelled = map[string]bool{"4": true, "5": true, "6": true}

// bigcommerce reads BigCommerce webhooks, which are thin: {"scope":"store/order/created",
// "data":{"type":"order","id":250},...}. store/order/created → created; store/order/archived
// and a statusUpdated to Refunded, Cancelled or Declined → cancelled; every other
// store/order/* scope → updated. The order is fetched by a connector (NeedsRefetch).
// Other scopes are ignored.
func bigcommerce(ev *NormalizedEvent, root gjson.Result) error {
	if ev.EventType == "" {
		ev.EventType = str(root.Get("scope"))
		if ev.EventType == "" {
			return errNoEventType("no scope in the body")
		}
	}
	rest, ok := strings.CutPrefix(strings.ToLower(ev.EventType), "store/order/")
	if !ok {
		ev.Kind = Ignored
		return nil
	}
	switch {
	case rest == "created":
		ev.Kind = OrderCreated
	case rest == "archived":
		ev.Kind = OrderCancelled
	case rest == "statusupdated" && bigcommerceCancelled[str(root.Get("data.status.new_status_id"))]:
		ev.Kind = OrderCancelled
	default:
		ev.Kind = OrderUpdated
	}
	// Order-typed data has the order's id; transactions and messages name it in order_id.
	id, path := root.Get("data.order_id"), "data.order_id"
	if !id.Exists() {
		id, path = root.Get("data.id"), "data.id"
	}
	if err := setID(ev, id, path); err != nil {
		return err
	}
	ev.NeedsRefetch = ev.Kind != OrderCancelled
	return nil
}
