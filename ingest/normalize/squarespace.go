package normalize

import (
	"strings"

	"github.com/tidwall/gjson"
)

// squarespace reads Squarespace notifications, which are thin:
// {"topic":"order.update","data":{"orderId":"5f3c...","update":"FULFILLED"},...}.
// order.create → created; order.update → updated, or cancelled when the update is CANCELED
// or REFUNDED. Other topics (extension.uninstall) are ignored.
func squarespace(ev *NormalizedEvent, root gjson.Result) error {
	if ev.EventType == "" {
		ev.EventType = str(root.Get("topic"))
		if ev.EventType == "" {
			return errNoEventType("no topic in the body")
		}
	}
	switch strings.ToLower(ev.EventType) {
	case "order.create":
		ev.Kind = OrderCreated
	case "order.update":
		ev.Kind = OrderUpdated
		switch strings.ToUpper(str(root.Get("data.update"))) {
		case "CANCELED", "CANCELLED", "REFUNDED":
			ev.Kind = OrderCancelled
		}
	default:
		ev.Kind = Ignored
		return nil
	}
	if err := setID(ev, root.Get("data.orderId"), "data.orderId"); err != nil {
		return err
	}
	ev.NeedsRefetch = ev.Kind != OrderCancelled
	return nil
}
