package normalize

import (
	"encoding/base64"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

func TestSupported(t *testing.T) {
	want := []string{"adobecommerce", "bigcommerce", "deliveroo", "doordash", "ecwid", "etsy", "shopify",
		"shopline", "square", "squarespace", "tiendanube", "ubereats", "wix", "woocommerce"}
	if got := Supported(); !slices.Equal(got, want) {
		t.Fatalf("Supported() = %v, want %v", got, want)
	}
}

func TestKinds(t *testing.T) {
	tests := []struct {
		name, platform, eventType, body string
		want                            Kind
		refetch                         bool
	}{
		{"shopify paid", "shopify", "orders/paid", `{"id":1}`, OrderUpdated, false},
		{"shopify fulfilled", "shopify", "orders/fulfilled", `{"id":1}`, OrderUpdated, false},
		{"shopify topic case", "shopify", "ORDERS/CREATE", `{"id":1}`, OrderCreated, false},
		{"shopify updated after cancel", "shopify", "orders/updated", `{"id":1,"cancelled_at":"2025-03-14T13:20:01+00:00"}`, OrderCancelled, false},
		{"shopify updated, cancelled_at null", "shopify", "orders/updated", `{"id":1,"cancelled_at":null}`, OrderUpdated, false},
		{"shopify edited", "shopify", "orders/edited", `{"order_edit":{"id":9,"order_id":1}}`, OrderUpdated, true},
		{"shopify app uninstalled", "shopify", "app/uninstalled", `{"id":548380009,"name":"Demo"}`, Ignored, false},
		{"shopify customer", "shopify", "customers/create", `{"id":7}`, Ignored, false},
		{"shopline update", "shopline", "orders/update", `{"id":"210"}`, OrderUpdated, false},
		{"shopline cancelled", "shopline", "orders/cancelled", `{"id":"210"}`, OrderCancelled, false},
		{"woo restored", "woocommerce", "order.restored", `{"id":7,"status":"processing"}`, OrderUpdated, false},
		{"woo refunded", "woocommerce", "order.updated", `{"id":7,"status":"refunded"}`, OrderCancelled, false},
		{"woo product", "woocommerce", "product.updated", `{"id":812}`, Ignored, false},
		{"woo action", "woocommerce", "action.woocommerce_payment_complete", `{"action":"woocommerce_payment_complete","arg":7}`, Ignored, false},
		{"bigcommerce archived", "bigcommerce", "", `{"scope":"store/order/archived","data":{"type":"order","id":250}}`, OrderCancelled, false},
		{"bigcommerce shipped", "bigcommerce", "", `{"scope":"store/order/statusUpdated","data":{"type":"order","id":250,"status":{"previous_status_id":11,"new_status_id":2}}}`, OrderUpdated, true},
		{"bigcommerce transaction", "bigcommerce", "", `{"scope":"store/order/transaction/created","data":{"type":"transaction","order_id":"250","transaction_id":"176342342"}}`, OrderUpdated, true},
		{"bigcommerce cart", "bigcommerce", "", `{"scope":"store/cart/created","data":{"type":"cart","id":"09346904-4175-44fd-be53-f7e598531b6c"}}`, Ignored, false},
		{"square canceled", "square", "", `{"type":"order.updated","data":{"type":"order_updated","id":"o1","object":{"order_updated":{"order_id":"o1","state":"CANCELED","version":5}}}}`, OrderCancelled, false},
		{"square custom attribute", "square", "", `{"type":"order.custom_attribute.updated","data":{"id":"x"}}`, Ignored, false},
		{"etsy uppercase", "etsy", "ORDER_PAID", `{"resource_url":"https://openapi.etsy.com/v3/application/shops/1/receipts/2"}`, OrderCreated, true},
		{"etsy canceled", "etsy", "", `{"event_type":"order.canceled","receipt_id":2}`, OrderCancelled, false},
		{"etsy shipped", "etsy", "", `{"event_type":"order.shipped","data":{"receipt_id":2}}`, OrderUpdated, true},
		{"etsy listing", "etsy", "", `{"event_type":"listing.updated","resource_url":"https://openapi.etsy.com/v3/application/listings/3"}`, Ignored, false},
		{"ecwid payment cancelled", "ecwid", "", `{"eventType":"order.updated","entityId":1,"data":{"newPaymentStatus":"CANCELLED"}}`, OrderCancelled, false},
		{"ecwid will not deliver", "ecwid", "", `{"eventType":"order.updated","entityId":1,"data":{"newFulfillmentStatus":"WILL_NOT_DELIVER"}}`, OrderCancelled, false},
		{"ecwid product", "ecwid", "", `{"eventType":"product.created","entityId":667251253}`, Ignored, false},
		{"wix approved", "wix", "", `{"eventType":"wix.ecom.v1.order_approved","data":"{\"entityId\":\"a\"}"}`, OrderUpdated, true},
		{"wix draft", "wix", "", `{"eventType":"wix.ecom.v1.draft_order_created","data":"{\"entityId\":\"a\"}"}`, Ignored, false},
		{"wix entity event, type given", "wix", "wix.ecom.v1.order_created", `{"entityId":"a","createdEvent":{"entity":{"id":"a","number":"10001"}}}`, OrderCreated, false},
		{"adobe no event type", "adobecommerce", "", `{"order":{"entity_id":1,"increment_id":"000000001"}}`, OrderUpdated, false},
		{"adobe event name in body", "adobecommerce", "", `{"eventName":"sales_order_place_after","data":{"order":{"entity_id":1}}}`, OrderCreated, false},
		{"adobe cancel event", "adobecommerce", "observer.order_cancel_after", `{"data":{"order":{"entity_id":1}}}`, OrderCancelled, false},
		{"adobe io event", "adobecommerce", "com.adobe.commerce.observer.sales_order_save_commit_after", `{"data":{"value":{"entity_id":"1","state":"processing"}}}`, OrderUpdated, false},
		{"magento alias", "magento", "observer.sales_order_place_after", `{"data":{"order":{"entity_id":1}}}`, OrderCreated, false},
		{"squarespace refunded", "squarespace", "", `{"topic":"order.update","data":{"orderId":"x","update":"REFUNDED"}}`, OrderCancelled, false},
		{"tiendanube voided", "tiendanube", "", `{"store_id":1,"event":"order/voided","id":2}`, OrderCancelled, false},
		{"tiendanube packed", "tiendanube", "", `{"store_id":1,"event":"order/packed","id":2}`, OrderUpdated, true},
		{"tiendanube app", "tiendanube", "", `{"store_id":1,"event":"app/uninstalled","id":1}`, Ignored, false},
		{"nuvemshop alias", "nuvemshop", "", `{"store_id":1,"event":"order/created","id":2}`, OrderCreated, true},
		{"ubereats scheduled", "ubereats", "", `{"event_type":"orders.scheduled.notification","meta":{"resource_id":"r"}}`, OrderCreated, true},
		{"ubereats failure", "ubereats", "", `{"event_type":"orders.failure","meta":{"resource_id":"r"}}`, OrderCancelled, false},
		{"ubereats release", "ubereats", "", `{"event_type":"orders.release","meta":{"resource_id":"r"}}`, OrderUpdated, true},
		{"deliveroo header type", "deliveroo", "event/order.new", `{"body":{"order":{"id":"gb:1","status":"placed"}}}`, OrderCreated, false},
		{"deliveroo rejected", "deliveroo", "", `{"event":"order.status_update","body":{"order":{"id":"gb:1","status":"rejected"}}}`, OrderCancelled, false},
		{"deliveroo rider", "deliveroo", "", `{"event":"rider.status_update","body":{"order_id":"gb:1"}}`, Ignored, false},
		{"doordash picked up", "doordash", "", `{"event_name":"DASHER_PICKED_UP","external_delivery_id":"D-1"}`, OrderUpdated, false},
		{"doordash created", "doordash", "", `{"event_name":"DELIVERY_CREATED","external_delivery_id":"D-1"}`, OrderCreated, false},
		{"doordash status cancelled", "doordash", "", `{"event_name":"DASHER_CONFIRMED","external_delivery_id":"D-1","delivery_status":"cancelled"}`, OrderCancelled, false},
		{"doordash business", "doordash", "", `{"event_name":"BUSINESS_UPDATED","external_business_id":"b"}`, Ignored, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Normalize(tt.platform, tt.eventType, []byte(tt.body), "application/json")
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if ev.Kind != tt.want || ev.NeedsRefetch != tt.refetch {
				t.Fatalf("Kind, NeedsRefetch = %s, %v; want %s, %v", ev.Kind, ev.NeedsRefetch, tt.want, tt.refetch)
			}
			if ev.Platform != tt.platform {
				t.Errorf("Platform = %q, want the name as given %q", ev.Platform, tt.platform)
			}
			if ev.Kind == Ignored {
				if !reflect.DeepEqual(ev, NormalizedEvent{Kind: Ignored, Platform: ev.Platform, EventType: ev.EventType}) {
					t.Errorf("an ignored event carries order fields: %+v", ev)
				}
			} else if ev.ExternalID == "" || ev.ExternalRef == "" {
				t.Errorf("ExternalID %q, ExternalRef %q: both must be set", ev.ExternalID, ev.ExternalRef)
			}
		})
	}
}

func TestMissingOrderID(t *testing.T) {
	tests := []struct{ platform, eventType, body, reason string }{
		{"shopify", "orders/create", `{"name":"#1001","line_items":[]}`, "no order id at id"},
		{"shopify", "orders/edited", `{"order_edit":{"id":1}}`, "no order id at order_edit.order_id"},
		{"shopline", "orders/create", `{"id":null}`, "no order id at id"},
		{"woocommerce", "order.created", `{"number":"7274"}`, "no order id at id"},
		{"bigcommerce", "", `{"scope":"store/order/created","data":{"type":"order"}}`, "no order id at data.id"},
		{"square", "", `{"type":"order.created","data":{"type":"order_created","object":{}}}`, "no order id at data.id"},
		{"square", "", `{"type":"order.updated","data":{"object":{"order":{"state":"OPEN"}}}}`, "no order id at data.object.order.id"},
		{"etsy", "", `{"event_type":"order.paid","resource_url":"https://openapi.etsy.com/v3/application/shops/1","shop_id":1}`, "no order id at resource_url"},
		{"ecwid", "", `{"eventType":"order.created","data":{"orderId":"XJ12H"}}`, "no order id at entityId"},
		{"wix", "", `{"eventType":"wix.ecom.v1.order_created","data":"{\"slug\":\"created\"}"}`, "no order id at entityId"},
		{"adobecommerce", "observer.sales_order_place_before", `{"eventName":"sales_order_place_before","data":{"order":{"increment_id":"000000042"}}}`, "no order id at data.order.entity_id"},
		{"squarespace", "", `{"topic":"order.create","data":{}}`, "no order id at data.orderId"},
		{"tiendanube", "", `{"store_id":1,"event":"order/created"}`, "no order id at id"},
		{"ubereats", "", `{"event_type":"orders.notification","meta":{"status":"pos"}}`, "no order id at meta.resource_id"},
		{"deliveroo", "", `{"event":"order.new","body":{"order":{"display_id":"4472"}}}`, "no order id at body.order.id"},
		{"doordash", "", `{"event_name":"DASHER_CONFIRMED","pickup_address":"901 Market St"}`, "no order id at external_delivery_id"},
		// The id must be a string or a number.
		{"shopify", "orders/create", `{"id":{"value":1}}`, "no order id at id"},
		{"shopify", "orders/create", `{"id":"   "}`, "no order id at id"},
		{"shopify", "orders/create", `{"id":true}`, "no order id at id"},
		{"shopify", "orders/create", `{"id":"` + strings.Repeat("9", 256) + `"}`, "order id at id is longer than 255 bytes"},
		// Other reasons an event cannot be read.
		{"shopify", "", `{"id":1}`, "no event type (pass the X-Shopify-Topic header)"},
		{"woocommerce", "", `{"id":1}`, "no event type (pass the X-WC-Webhook-Topic header)"},
		{"bigcommerce", "", `{"data":{"id":1}}`, "no event type (no scope in the body)"},
		{"adobecommerce", "observer.sales_order_save_after", `{"data":{}}`, "no order object at order, data.order or data.value"},
		{"wix", "", `{"data":"not json"}`, "JWT data is not a JSON object"},
		{"wix", "", `{"eventType":"wix.ecom.v1.order_created","data":"{oops"}`, "envelope data is not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.platform+" "+tt.reason, func(t *testing.T) {
			_, err := Normalize(tt.platform, tt.eventType, []byte(tt.body), "")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Reason != tt.reason || e.Platform != tt.platform {
				t.Fatalf("Error = {%q, %q}, want {%q, %q}", e.Platform, e.Reason, tt.platform, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Error() = %q does not say why", err.Error())
			}
		})
	}
}

func TestBadBodies(t *testing.T) {
	tests := []struct{ name, body, contentType, reason string }{
		{"empty", "", "application/json", "empty body"},
		{"blank", " \n\t", "", "empty body"},
		{"xml", `<?xml version="1.0"?><order id="1"/>`, "application/xml", "not JSON"},
		{"truncated", `{"id":1,"line_items":[`, "application/json", "not JSON"},
		{"trailing garbage", `{"id":1} {"id":2}`, "application/json", "not JSON"},
		{"array", `[{"id":1}]`, "application/json", "body is not a JSON object"},
		{"string", `"hello"`, "application/json", "body is not a JSON object"},
		{"null", `null`, "", "body is not a JSON object"},
		{"form", `id=1&name=%231001`, "application/x-www-form-urlencoded", "unsupported content type application/x-www-form-urlencoded (JSON expected)"},
		{"jwt for a platform that does not send one", "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6MX0.c2ln", "text/plain", "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Normalize("shopify", "orders/create", []byte(tt.body), tt.contentType)
			var e *Error
			if !errors.As(err, &e) || e.Reason != tt.reason {
				t.Fatalf("err = %v, want *Error with reason %q", err, tt.reason)
			}
		})
	}
}

func TestUnsupportedPlatform(t *testing.T) {
	_, err := Normalize("jumpseller", "order_paid", []byte(`{"order":{"id":1}}`), "application/json")
	if !errors.Is(err, ErrUnsupportedPlatform) {
		t.Fatalf("err = %v, want ErrUnsupportedPlatform", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Platform != "jumpseller" {
		t.Fatalf("err = %#v, want *Error naming the platform", err)
	}
	_, err = Normalize("shopify", "orders/create", []byte(`{}`), "")
	if errors.Is(err, ErrUnsupportedPlatform) {
		t.Fatalf("a missing id is not an unsupported platform: %v", err)
	}
}

func TestCoordinates(t *testing.T) {
	tests := []struct {
		name, lat, lng string
		want           *Point
	}{
		{"numbers", `38.7106`, `-9.1374`, &Point{38.7106, -9.1374}},
		{"strings", `"38.7106"`, `"-9.1374"`, &Point{38.7106, -9.1374}},
		{"strings with spaces", `" 38.7106 "`, `"-9.1374"`, &Point{38.7106, -9.1374}},
		{"integers", `38`, `-9`, &Point{38, -9}},
		{"exponent", `3.87106e1`, `-9.1374`, &Point{38.7106, -9.1374}},
		{"edges", `-90`, `180`, &Point{-90, 180}},
		{"latitude over 90", `90.5`, `-9.1374`, nil},
		{"latitude under -90", `-91`, `-9.1374`, nil},
		{"longitude over 180", `38.7`, `180.01`, nil},
		{"longitude under -180", `38.7`, `-200`, nil},
		{"null island", `0`, `0`, nil},
		{"null island as strings", `"0.0"`, `"0"`, nil},
		{"nulls", `null`, `null`, nil},
		{"latitude only", `38.7`, `null`, nil},
		{"empty strings", `""`, `""`, nil},
		{"NaN", `"NaN"`, `"-9.1"`, nil},
		{"Inf", `"38.7"`, `"Inf"`, nil},
		{"hex", `"0x26"`, `"-9.1"`, nil},
		{"words", `"north"`, `"west"`, nil},
		{"booleans", `true`, `false`, nil},
		{"objects", `{"v":38.7}`, `{"v":-9.1}`, nil},
		{"huge", `1e400`, `-9.1`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"id":1,"shipping_address":{"address1":"Rua Augusta 274","latitude":` + tt.lat + `,"longitude":` + tt.lng + `}}`
			ev, err := Normalize("shopify", "orders/create", []byte(body), "application/json")
			if err != nil {
				t.Fatalf("an unusable coordinate must not fail the event: %v", err)
			}
			if ev.Dropoff == nil || ev.Dropoff.Line1 != "Rua Augusta 274" {
				t.Fatalf("Dropoff = %+v, want the address kept", ev.Dropoff)
			}
			if !reflect.DeepEqual(ev.Dropoff.Point, tt.want) {
				t.Fatalf("Point = %+v, want %+v", ev.Dropoff.Point, tt.want)
			}
		})
	}
}

func TestCoordinatesPerPlatform(t *testing.T) {
	tests := []struct{ platform, eventType, body string }{
		{"shopline", "orders/create", `{"id":"1","shipping_address":{"latitude":"1.27925","longitude":"103.85216"}}`},
		{"wix", "wix.ecom.v1.order_created", `{"entityId":"a","createdEvent":{"entity":{"id":"a","number":"1","shippingInfo":{"logistics":{"shippingDestination":{"address":{"location":{"latitude":"1.27925","longitude":103.85216}}}}}}}}`},
		{"deliveroo", "order.new", `{"body":{"order":{"id":"1","delivery":{"address":{"latitude":"1.27925","longitude":"103.85216"}}}}}`},
		{"doordash", "DASHER_CONFIRMED", `{"external_delivery_id":"D-1","dropoff_address":"x","dropoff_lat":"1.27925","dropoff_lng":"103.85216"}`},
		{"doordash", "DASHER_CONFIRMED", `{"external_delivery_id":"D-1","dropoff_address":"x","dropoff_latitude":1.27925,"dropoff_longitude":103.85216}`},
	}
	want := &Point{1.27925, 103.85216}
	for _, tt := range tests {
		ev, err := Normalize(tt.platform, tt.eventType, []byte(tt.body), "")
		if err != nil {
			t.Fatalf("%s: %v", tt.platform, err)
		}
		if ev.Dropoff == nil || !reflect.DeepEqual(ev.Dropoff.Point, want) {
			t.Errorf("%s: Dropoff = %+v, want Point %+v", tt.platform, ev.Dropoff, want)
		}
		bad := strings.ReplaceAll(tt.body, "103.85216", "203.85216")
		if ev, _ := Normalize(tt.platform, tt.eventType, []byte(bad), ""); ev.Dropoff != nil && ev.Dropoff.Point != nil {
			t.Errorf("%s: out-of-range longitude kept: %+v", tt.platform, ev.Dropoff.Point)
		}
	}
}

func TestDeliverooPickup(t *testing.T) {
	body := `{"event":"order.new","body":{"order":{"id":"gb:1","location_id":"site-7",
		"restaurant":{"name":"Demo Kitchen Shoreditch","phone_number":"+44 20 7946 0000",
			"address":{"address_line_1":"1 Rivington Street","city":"London","postal_code":"EC2A 3DT"},
			"latitude":"51.5265","longitude":"-0.0800"}}}}`
	ev, err := Normalize("deliveroo", "", []byte(body), "")
	if err != nil {
		t.Fatal(err)
	}
	want := &Address{Name: "Demo Kitchen Shoreditch", Line1: "1 Rivington Street", City: "London",
		PostalCode: "EC2A 3DT", Phone: "+44 20 7946 0000", Point: &Point{51.5265, -0.08}}
	if !reflect.DeepEqual(ev.Pickup, want) {
		t.Fatalf("Pickup = %+v, want %+v", ev.Pickup, want)
	}
}

// wixJWT wraps an envelope the way Wix sends it: a JWT whose payload's data is the
// envelope as a JSON string.
func wixJWT(envelope string, padded bool) string {
	enc := base64.RawURLEncoding
	payload := `{"data":` + strings.ReplaceAll(jsonString(envelope), "\n", "") + `,"iat":1748973761,"exp":1748977361}`
	seg := enc.EncodeToString([]byte(payload))
	if padded {
		seg = base64.URLEncoding.EncodeToString([]byte(payload))
	}
	return enc.EncodeToString([]byte(`{"kid":"k1","alg":"RS256"}`)) + "." + seg + "." + enc.EncodeToString([]byte("sig"))
}

// jsonString quotes s as a JSON string.
func jsonString(s string) string {
	return string(gjson.AppendJSONString(nil, s))
}

func TestWixJWT(t *testing.T) {
	envelope, err := os.ReadFile("testdata/wix/order_created.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Normalize("wix", "", envelope, "application/json")
	if err != nil {
		t.Fatal(err)
	}
	if want.Kind != OrderCreated || want.NeedsRefetch || len(want.Items) != 2 {
		t.Fatalf("envelope: %+v", want)
	}
	for _, tt := range []struct {
		name string
		body string
	}{
		{"raw JWT", wixJWT(string(envelope), false)},
		{"raw JWT with padding and a newline", wixJWT(string(envelope), true) + "\n"},
		{"JWT payload", `{"data":` + jsonString(string(envelope)) + `,"iat":1748973761}`},
		{"JWT payload with data decoded", `{"data":` + string(envelope) + `,"iat":1748973761}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize("wix", "", []byte(tt.body), "text/plain")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
		})
	}
	t.Run("header event type wins", func(t *testing.T) {
		got, err := Normalize("wix", "wix.ecom.v1.order_updated", []byte(wixJWT(string(envelope), false)), "")
		if err != nil || got.Kind != OrderUpdated || got.EventType != "wix.ecom.v1.order_updated" {
			t.Fatalf("got %v, %v", got.Kind, err)
		}
	})
	for _, tt := range []struct{ name, body, reason string }{
		{"payload not base64", "eyJhbGciOiJSUzI1NiJ9.!!!.c2ln", "not JSON"},
		{"payload bad base64", "eyJhbGciOiJSUzI1NiJ9.a.c2ln", "JWT payload is not base64url"},
		{"payload not JSON", "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte("hello")) + ".c2ln", "not JSON"},
		{"data not JSON", "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(`{"data":"{oops"}`)) + ".c2ln", "JWT data is not a JSON object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Normalize("wix", "", []byte(tt.body), "text/plain")
			var e *Error
			if !errors.As(err, &e) || e.Reason != tt.reason {
				t.Fatalf("err = %v, want reason %q", err, tt.reason)
			}
		})
	}
}

func TestSquareFullOrder(t *testing.T) {
	body := `{"merchant_id":"5S9MXCS9Y99KK","type":"order.updated","event_id":"e1","data":{"type":"order","id":"o1",
	"object":{"order":{"id":"o1","location_id":"L1","reference_id":"web-8841","state":"OPEN","version":7,
	"updated_at":"2025-02-11T19:24:07.189Z",
	"line_items":[{"uid":"u1","name":"Cold Brew","variation_name":"Large","quantity":"2","base_price_money":{"amount":550,"currency":"USD"}}],
	"fulfillments":[{"uid":"f0","type":"PICKUP","state":"PROPOSED"},
		{"uid":"f1","type":"DELIVERY","state":"PROPOSED","delivery_details":{"note":"Gate code 1234",
		"recipient":{"display_name":"Sam Lee","email_address":"sam.lee@example.com","phone_number":"+14155550123",
		"address":{"address_line_1":"500 Electric Ave","address_line_2":"Suite 600","locality":"New York",
		"administrative_district_level_1":"NY","postal_code":"10003","country":"US"}}}}],
	"total_money":{"amount":1198,"currency":"USD"},"total_tax_money":{"amount":98,"currency":"USD"}}}}}`
	ev, err := Normalize("square", "", []byte(body), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	want := NormalizedEvent{
		Kind: OrderUpdated, Platform: "square", EventType: "order.updated", ExternalID: "o1", ExternalRef: "web-8841",
		SourceUpdatedAt: time.Date(2025, 2, 11, 19, 24, 7, 189e6, time.UTC), SourceVersion: 7,
		Dropoff: &Address{Name: "Sam Lee", Line1: "500 Electric Ave", Line2: "Suite 600", City: "New York",
			Region: "NY", PostalCode: "10003", Country: "US", Phone: "+14155550123"},
		Items:   []Item{{Name: "Cold Brew Large", Quantity: 2, UnitPrice: "5.50"}},
		Contact: &Contact{Name: "Sam Lee", Phone: "+14155550123", Email: "sam.lee@example.com"},
		Totals:  &Totals{Currency: "USD", Tax: "0.98", Total: "11.98"},
		Note:    "Gate code 1234",
	}
	if !reflect.DeepEqual(ev, want) {
		t.Fatalf("got  %+v\nwant %+v", ev, want)
	}
}

func TestMoney(t *testing.T) {
	minor := []struct{ raw, currency, want string }{
		{`1999`, "USD", "19.99"},
		{`"1999"`, "EUR", "19.99"},
		{`5`, "GBP", "0.05"},
		{`0`, "GBP", "0.00"},
		{`-250`, "USD", "-2.50"},
		{`-0`, "USD", "0.00"},
		{`500`, "JPY", "500"},
		{`0`, "JPY", "0"},
		{`1234`, "KWD", "1.234"},
		{`99999999999999999999999`, "USD", "999999999999999999999.99"},
		{`12.5`, "USD", ""},
		{`"12,50"`, "USD", ""},
		{`null`, "USD", ""},
	}
	for _, tt := range minor {
		if got := minorOf(gjson.Parse(tt.raw), tt.currency); got != tt.want {
			t.Errorf("minorOf(%s, %s) = %q, want %q", tt.raw, tt.currency, got, tt.want)
		}
	}
	decimal := []struct{ raw, want string }{
		{`"12.50"`, "12.50"},
		{`110.0`, "110.0"}, // as sent: not reformatted through a float
		{`0.1`, "0.1"},
		{`19.999999999999999999`, "19.999999999999999999"},
		{`" 7.00 "`, "7.00"},
		{`-3`, "-3"},
		{`1e3`, ""},
		{`"12,50"`, ""},
		{`"$12"`, ""},
		{`"."`, ""},
		{`true`, ""},
	}
	for _, tt := range decimal {
		if got := decimalOf(gjson.Parse(tt.raw)); got != tt.want {
			t.Errorf("decimalOf(%s) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}

func TestTimes(t *testing.T) {
	utc := func(s string) time.Time {
		p, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return p.UTC()
	}
	tests := []struct {
		raw  string
		want time.Time
	}{
		{`"2025-03-14T12:41:08+00:00"`, utc("2025-03-14T12:41:08Z")},
		{`"2025-05-02T10:15:35+08:00"`, utc("2025-05-02T02:15:35Z")},
		{`"2025-02-11T19:24:07.189Z"`, utc("2025-02-11T19:24:07.189Z")},
		{`"2025-04-09T17:22:44"`, utc("2025-04-09T17:22:44Z")},
		{`"2025-03-14 10:02:57"`, utc("2025-03-14T10:02:57Z")},
		{`"2020-04-22T22:18+00:00"`, utc("2020-04-22T22:18:00Z")},
		{`1741956067`, utc("2025-03-14T12:41:07Z")},
		{`1741956067123`, utc("2025-03-14T12:41:07.123Z")},
		{`"yesterday"`, time.Time{}},
		{`"0000-00-00 00:00:00"`, time.Time{}},
		{`-5`, time.Time{}},
		{`null`, time.Time{}},
	}
	for _, tt := range tests {
		if got := timeOf(gjson.Parse(tt.raw)); !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("timeOf(%s) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

func TestBodyNotRetained(t *testing.T) {
	body, err := os.ReadFile("testdata/shopify/orders_create.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Normalize("shopify", "orders/create", body, "application/json")
	if err != nil {
		t.Fatal(err)
	}
	buf := append([]byte(nil), body...)
	got, err := Normalize("shopify", "orders/create", buf, "application/json")
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf { // the caller reuses its buffer (Fiber does)
		buf[i] = 'x'
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("the event changed when the caller reused the body's buffer")
	}
}
