package normalize

import (
	"strings"

	"github.com/tidwall/gjson"
)

// etsy reads Etsy webhooks (delivered with Standard Webhooks signatures), which are thin:
// {"event_type":"order.paid","resource_url":"https://openapi.etsy.com/v3/application/shops/
// 12345/receipts/54321","shop_id":12345}. The order is the shop receipt; its id is
// receipt_id when the body has one, else the last segment of resource_url. Etsy announces
// an order when it is paid, so order.paid → created; order.canceled → cancelled; other
// order.* events → updated. Other events are ignored.
func etsy(ev *NormalizedEvent, root gjson.Result) error {
	if ev.EventType == "" {
		ev.EventType = str(root.Get("event_type"))
		if ev.EventType == "" {
			return errNoEventType("no event_type in the body")
		}
	}
	t := strings.ToLower(strings.ReplaceAll(ev.EventType, "_", "."))
	switch {
	case t == "order.paid" || t == "order.created":
		ev.Kind = OrderCreated
	case t == "order.canceled" || t == "order.cancelled":
		ev.Kind = OrderCancelled
	case strings.HasPrefix(t, "order."):
		ev.Kind = OrderUpdated
	default:
		ev.Kind = Ignored
		return nil
	}
	id, path := first(root.Get("receipt_id"), root.Get("data.receipt_id")), "receipt_id"
	if !id.Exists() {
		id, path = textOf(etsyReceiptFromURL(str(root.Get("resource_url")))), "resource_url"
	}
	if err := setID(ev, id, path); err != nil {
		return err
	}
	ev.NeedsRefetch = ev.Kind != OrderCancelled
	return nil
}

// etsyReceiptFromURL returns the id after "/receipts/" in an Etsy resource URL, or "".
func etsyReceiptFromURL(u string) string {
	_, rest, ok := strings.Cut(u, "/receipts/")
	if !ok {
		return ""
	}
	rest, _, _ = strings.Cut(rest, "?")
	rest, _, _ = strings.Cut(rest, "/")
	if !allDigits(rest) {
		return ""
	}
	return rest
}
