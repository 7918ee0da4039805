package normalize

import (
	"strings"

	"github.com/tidwall/gjson"
)

// tiendanube reads Tiendanube / Nuvemshop webhooks, which are thin:
// {"store_id":1234567,"event":"order/created","id":1623795083}. order/created → created;
// order/cancelled and order/voided → cancelled; every other order/* event (updated, paid,
// packed, fulfilled, edited, ...) → updated. Other resources are ignored.
func tiendanube(ev *NormalizedEvent, root gjson.Result) error {
	if ev.EventType == "" {
		ev.EventType = str(root.Get("event"))
		if ev.EventType == "" {
			return errNoEventType("no event in the body")
		}
	}
	resource, action, _ := strings.Cut(strings.ToLower(ev.EventType), "/")
	if resource != "order" {
		ev.Kind = Ignored
		return nil
	}
	switch action {
	case "created":
		ev.Kind = OrderCreated
	case "cancelled", "voided":
		ev.Kind = OrderCancelled
	default:
		ev.Kind = OrderUpdated
	}
	if err := setID(ev, root.Get("id"), "id"); err != nil {
		return err
	}
	ev.NeedsRefetch = ev.Kind != OrderCancelled
	return nil
}
