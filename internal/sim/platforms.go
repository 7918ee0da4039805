package sim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/pilotx/dispatchhub/internal/sim/roads"
)

// newOrder is what a customer ordered from a store, before a platform writes it as its webhook.
type newOrder struct {
	Seq      int       // 1, 2, ... within the store
	Now      time.Time // when the order was placed
	Customer customer
	Street   string // drop-off street and number
	Dropoff  roads.Point
	Items    []lineItem
	Note     string
}

type customer struct {
	First, Last, Phone, Email string
}

type lineItem struct {
	SKU, Name string
	Qty       int
	Cents     int // unit price in cents (EUR)
}

// subtotal is the sum of the lines, in cents.
func (o *newOrder) subtotal() int {
	n := 0
	for _, li := range o.Items {
		n += li.Qty * li.Cents
	}
	return n
}

// deliveryCents is every order's delivery fee.
const deliveryCents = 350

// euros writes cents as a decimal string: 1250 → "12.50".
func euros(cents int) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

// City facts written into the addresses (Andorra la Vella; the grid city is laid out there too).
const (
	cityName    = "Andorra la Vella"
	cityPostal  = "AD500"
	cityCountry = "AD"
	cityRegion  = "Andorra la Vella"
)

// webhook is one signed request, ready to POST.
type webhook struct {
	Body       []byte
	Header     http.Header
	ExternalID string // the order id the hub's normaliser reads from Body
	EventType  string // the platform's event name, as the hub's preset reads it
}

// platformSpec is how one platform writes and signs a new-order webhook.
type platformSpec struct {
	// secret makes a store's webhook secret: what the secret file holds and the key the
	// platform signs with.
	secret func() (file, key []byte, err error)
	// build writes the webhook of o for the store (its display slug, its secret key, and the
	// URL the platform calls, which Square signs).
	build func(o *newOrder, st *storeInfo, rng *mrand.Rand) webhook
}

// storeInfo is what a platform's payload says about the store.
type storeInfo struct {
	Slug      string // e.g. "sim-shopify-1-k3x9"
	Key       []byte // the signing key
	SignedURL string // the notification URL as registered (what Square signs)
}

// platformSpecs are the platforms with store senders: each has a verification preset and a
// normaliser in the hub (checked by the tests).
var platformSpecs = map[string]*platformSpec{
	"shopify":     {secret: rawSecret, build: shopifyWebhook},
	"woocommerce": {secret: rawSecret, build: wooWebhook},
	"bigcommerce": {secret: rawSecret, build: bigcommerceWebhook},
	"squarespace": {secret: hexSecret, build: squarespaceWebhook},
	"square":      {secret: rawSecret, build: squareWebhook},
}

// rawSecret is 32 random bytes written as 64 hex characters, used as they are (the text is
// the key), as Shopify, WooCommerce and Square secrets and a BigCommerce header token are.
func rawSecret() (file, key []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, nil, fmt.Errorf("random secret: %w", err)
	}
	s := []byte(hex.EncodeToString(b))
	return s, s, nil
}

// hexSecret is a Squarespace subscription secret: hex text whose decoded bytes are the key.
func hexSecret() (file, key []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, nil, fmt.Errorf("random secret: %w", err)
	}
	return []byte(hex.EncodeToString(b)), b, nil
}

func hmacSHA256(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sim: encode webhook: %v", err)) // only maps, strings and numbers
	}
	return b
}

// uuid4 is a random (version 4) UUID from rng.
func uuid4(rng *mrand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// objectID is a 24-hex-digit id as Squarespace's (MongoDB ObjectId: time, then random).
func objectID(now time.Time, rng *mrand.Rand) string {
	var b [12]byte
	t := uint32(now.Unix())
	b[0], b[1], b[2], b[3] = byte(t>>24), byte(t>>16), byte(t>>8), byte(t)
	for i := 4; i < 12; i++ {
		b[i] = byte(rng.Uint32())
	}
	return hex.EncodeToString(b[:])
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// squareID is a random id as Square's (order ids have 27-29 base-62 characters).
func squareID(n int, rng *mrand.Rand) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = base62[rng.IntN(len(base62))]
	}
	return string(b)
}

// round6 keeps 6 decimals of a coordinate (about 0.1 m), as platforms store them.
func round6(v float64) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', 6, 64), 64)
	return f
}

// shopifyWebhook is an orders/create webhook: the REST Admin API Order with its shipping
// address geocoded (latitude, longitude), signed with X-Shopify-Hmac-Sha256, the base64
// HMAC-SHA256 of the raw body keyed by the app's secret.
func shopifyWebhook(o *newOrder, st *storeInfo, rng *mrand.Rand) webhook {
	id := int64(5_900_000_000_000) + int64(o.Seq)*1000 + int64(rng.IntN(1000)) // unique by Seq
	number := 1000 + o.Seq
	ts := o.Now.Format("2006-01-02T15:04:05-07:00")
	sub := o.subtotal()
	var lines []map[string]any
	for i, li := range o.Items {
		lines = append(lines, map[string]any{
			"id": id*10 + int64(i), "name": li.Name, "title": li.Name, "sku": li.SKU, "quantity": li.Qty,
			"price": euros(li.Cents), "requires_shipping": true, "taxable": true, "fulfillment_status": nil,
			"total_discount": "0.00", "vendor": st.Slug, "grams": 400,
		})
	}
	addr := map[string]any{
		"first_name": o.Customer.First, "last_name": o.Customer.Last, "name": o.Customer.First + " " + o.Customer.Last,
		"address1": o.Street, "address2": "", "city": cityName, "zip": cityPostal, "province": cityRegion,
		"country": "Andorra", "country_code": cityCountry, "phone": o.Customer.Phone, "company": nil,
		"latitude": round6(o.Dropoff.Lat), "longitude": round6(o.Dropoff.Lng),
	}
	body := mustJSON(map[string]any{
		"id": id, "admin_graphql_api_id": fmt.Sprintf("gid://shopify/Order/%d", id),
		"name": "#" + strconv.Itoa(number), "number": o.Seq, "order_number": number,
		"created_at": ts, "updated_at": ts, "processed_at": ts,
		"confirmed": true, "currency": "EUR", "presentment_currency": "EUR", "financial_status": "paid",
		"fulfillment_status": nil, "email": o.Customer.Email, "contact_email": o.Customer.Email, "phone": o.Customer.Phone,
		"note": o.Note, "source_name": "web", "taxes_included": true, "test": false,
		"subtotal_price": euros(sub), "total_line_items_price": euros(sub), "total_price": euros(sub + deliveryCents),
		"total_tax": "0.00", "total_discounts": "0.00",
		"total_shipping_price_set": map[string]any{"shop_money": map[string]any{"amount": euros(deliveryCents), "currency_code": "EUR"}},
		"customer":                 map[string]any{"first_name": o.Customer.First, "last_name": o.Customer.Last, "email": o.Customer.Email, "phone": o.Customer.Phone},
		"billing_address":          addr,
		"shipping_address":         addr,
		"line_items":               lines,
		"shipping_lines":           []map[string]any{{"code": "Local Delivery", "title": "Local Delivery", "price": euros(deliveryCents), "source": "shopify"}},
	})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Shopify-Captain-Hook")
	h.Set("X-Shopify-Topic", "orders/create")
	h.Set("X-Shopify-Shop-Domain", st.Slug+".myshopify.com")
	h.Set("X-Shopify-API-Version", "2025-01")
	h.Set("X-Shopify-Webhook-Id", uuid4(rng))
	h.Set("X-Shopify-Event-Id", uuid4(rng))
	h.Set("X-Shopify-Triggered-At", o.Now.UTC().Format(time.RFC3339Nano))
	h.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(hmacSHA256(st.Key, body)))
	return webhook{Body: body, Header: h, ExternalID: strconv.FormatInt(id, 10), EventType: "orders/create"}
}

// wooWebhook is an order.created webhook: the REST API v3 order (WooCommerce addresses carry
// no coordinates), signed with X-WC-Webhook-Signature, the base64 HMAC-SHA256 of the raw
// body keyed by the webhook's secret.
func wooWebhook(o *newOrder, st *storeInfo, rng *mrand.Rand) webhook {
	id := 7000 + o.Seq
	local := o.Now.Format("2006-01-02T15:04:05")
	gmt := o.Now.UTC().Format("2006-01-02T15:04:05")
	sub := o.subtotal()
	var lines []map[string]any
	for i, li := range o.Items {
		lines = append(lines, map[string]any{
			"id": id*10 + i, "name": li.Name, "product_id": 800 + i, "variation_id": 0, "quantity": li.Qty,
			"subtotal": euros(li.Qty * li.Cents), "total": euros(li.Qty * li.Cents), "total_tax": "0.00",
			"sku": li.SKU, "price": float64(li.Cents) / 100,
		})
	}
	addr := map[string]any{
		"first_name": o.Customer.First, "last_name": o.Customer.Last, "company": "",
		"address_1": o.Street, "address_2": "", "city": cityName, "state": "", "postcode": cityPostal,
		"country": cityCountry, "phone": o.Customer.Phone,
	}
	billing := map[string]any{}
	for k, v := range addr {
		billing[k] = v
	}
	billing["email"] = o.Customer.Email
	body := mustJSON(map[string]any{
		"id": id, "parent_id": 0, "number": strconv.Itoa(id), "order_key": "wc_order_" + squareID(13, rng),
		"created_via": "checkout", "version": "9.7.1", "status": "processing", "currency": "EUR",
		"date_created": local, "date_created_gmt": gmt, "date_modified": local, "date_modified_gmt": gmt,
		"date_paid": local, "date_paid_gmt": gmt, "prices_include_tax": true,
		"discount_total": "0.00", "shipping_total": euros(deliveryCents), "total": euros(sub + deliveryCents), "total_tax": "0.00",
		"customer_id": 0, "customer_note": o.Note, "billing": billing, "shipping": addr,
		"payment_method": "stripe", "payment_method_title": "Credit card",
		"line_items":     lines,
		"shipping_lines": []map[string]any{{"method_title": "Local delivery", "method_id": "local_pickup", "total": euros(deliveryCents)}},
		"meta_data":      []any{},
	})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "WooCommerce/9.7.1 Hookshot (WordPress/6.7.2)")
	h.Set("X-WC-Webhook-Source", "https://"+st.Slug+".example/")
	h.Set("X-WC-Webhook-Topic", "order.created")
	h.Set("X-WC-Webhook-Resource", "order")
	h.Set("X-WC-Webhook-Event", "created")
	h.Set("X-WC-Webhook-ID", "12")
	h.Set("X-WC-Webhook-Delivery-ID", strconv.Itoa(100000+o.Seq))
	h.Set("X-WC-Webhook-Signature", base64.StdEncoding.EncodeToString(hmacSHA256(st.Key, body)))
	return webhook{Body: body, Header: h, ExternalID: strconv.Itoa(id), EventType: "order.created"}
}

// bigcommerceWebhook is a store/order/created callback. BigCommerce webhooks are thin (the
// order's id only; the hub creates the order at the store's pickup point without a drop-off)
// and unsigned: the webhook is registered with a header {"Authorization": token}, and the
// store's secret is that token.
func bigcommerceWebhook(o *newOrder, st *storeInfo, rng *mrand.Rand) webhook {
	id := 100 + o.Seq
	sum := sha1.Sum([]byte(st.Slug + "/" + strconv.Itoa(id) + "/" + strconv.FormatUint(rng.Uint64(), 16)))
	body := mustJSON(map[string]any{
		"created_at": o.Now.Unix(), "store_id": strconv.Itoa(1_000_000 + len(st.Slug)), "producer": "stores/" + st.Slug,
		"scope": "store/order/created", "hash": hex.EncodeToString(sum[:]),
		"data": map[string]any{"type": "order", "id": id},
	})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "BigCommerce-Webhooks")
	h.Set("Authorization", string(st.Key))
	return webhook{Body: body, Header: h, ExternalID: strconv.Itoa(id), EventType: "store/order/created"}
}

// squarespaceWebhook is an order.create notification (thin: the order's id), signed with
// Squarespace-Signature, the hex HMAC-SHA256 of the raw body keyed by the hex-decoded
// subscription secret.
func squarespaceWebhook(o *newOrder, st *storeInfo, rng *mrand.Rand) webhook {
	orderID := objectID(o.Now, rng)
	body := mustJSON(map[string]any{
		"id": objectID(o.Now, rng), "websiteId": objectID(o.Now.Add(-24*time.Hour), rng),
		"subscriptionId": objectID(o.Now.Add(-time.Hour), rng), "topic": "order.create",
		"createdOn": o.Now.UTC().Format("2006-01-02T15:04:05.000Z"),
		"data":      map[string]any{"orderId": orderID},
	})
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("User-Agent", "Squarespace")
	h.Set("Squarespace-Signature", hex.EncodeToString(hmacSHA256(st.Key, body)))
	return webhook{Body: body, Header: h, ExternalID: orderID, EventType: "order.create"}
}

// squareWebhook is an order.created notification as Square sends it (thin: data.object
// holds order_created, the order's id, state and version), signed with
// x-square-hmacsha256-signature, the base64 HMAC-SHA256 of the notification URL followed by
// the raw body, keyed by the subscription's signature key.
func squareWebhook(o *newOrder, st *storeInfo, rng *mrand.Rand) webhook {
	orderID := squareID(29, rng)
	at := o.Now.UTC().Format("2006-01-02T15:04:05.000Z")
	body := mustJSON(map[string]any{
		"merchant_id": "ML" + squareID(11, rng), "type": "order.created", "event_id": uuid4(rng), "created_at": at,
		"data": map[string]any{
			"type": "order_created", "id": orderID,
			"object": map[string]any{"order_created": map[string]any{
				"created_at": at, "location_id": "L" + squareID(12, rng), "order_id": orderID, "state": "OPEN", "version": 1,
			}},
		},
	})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Square Connect v2")
	h.Set("Square-Version", "2025-01-23")
	h.Set("X-Square-Hmacsha256-Signature", base64.StdEncoding.EncodeToString(hmacSHA256(st.Key, []byte(st.SignedURL), body)))
	return webhook{Body: body, Header: h, ExternalID: orderID, EventType: "order.created"}
}

// People, streets and dishes of the simulated city.
var (
	firstNames = []string{"Jordi", "Núria", "Marc", "Laia", "Pau", "Marta", "Joan", "Anna", "Sergi", "Carla", "Miguel", "Inês", "Tiago", "Lucía", "Pere", "Montse"}
	lastNames  = []string{"Puig", "Font", "Serra", "Vidal", "Pons", "Riba", "Cerqueda", "Armengol", "Gonçalves", "Martí", "Rossell", "Call", "Sansa", "Moreno"}
	streets    = []string{"Avinguda Meritxell", "Carrer Major", "Avinguda Carlemany", "Carrer de la Unió", "Avinguda del Príncep Benlloch",
		"Carrer Prat de la Creu", "Avinguda Santa Coloma", "Carrer Bonaventura Armengol", "Carrer de les Canals", "Avinguda Fiter i Rossell"}
	dishes = []lineItem{
		{SKU: "TRX-1", Name: "Trinxat de muntanya", Cents: 1250}, {SKU: "ESC-1", Name: "Escudella", Cents: 1100},
		{SKU: "PZ-MRG", Name: "Pizza Margherita", Cents: 1050}, {SKU: "BRG-1", Name: "Burger de vedella", Cents: 1390},
		{SKU: "AMN-1", Name: "Amanida catalana", Cents: 890}, {SKU: "CRQ-6", Name: "Croquetes (6)", Cents: 750},
		{SKU: "CCL-33", Name: "Coca-Cola 33 cl", Cents: 250}, {SKU: "AIG-50", Name: "Aigua 50 cl", Cents: 150},
		{SKU: "CRM-1", Name: "Crema catalana", Cents: 550},
	}
	notes = []string{"", "", "", "Ring twice, 2nd floor.", "Leave it with the concierge.", "No cutlery, please.", "Call on arrival."}
)

// randomOrder makes order seq of a store, delivered at dropoff.
func randomOrder(seq int, now time.Time, dropoff roads.Point, rng *mrand.Rand) newOrder {
	first, last := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
	o := newOrder{
		Seq: seq, Now: now, Dropoff: dropoff,
		Customer: customer{
			First: first, Last: last,
			Phone: fmt.Sprintf("+376 %03d %03d", 300+rng.IntN(700), rng.IntN(1000)),
			Email: fmt.Sprintf("%s.%s%d@example.ad", asciiLower(first), asciiLower(last), rng.IntN(100)),
		},
		Street: fmt.Sprintf("%s %d", streets[rng.IntN(len(streets))], 1+rng.IntN(120)),
		Note:   notes[rng.IntN(len(notes))],
	}
	for range 1 + rng.IntN(3) {
		li := dishes[rng.IntN(len(dishes))]
		li.Qty = 1 + rng.IntN(2)
		o.Items = append(o.Items, li)
	}
	return o
}

// asciiLower keeps the ASCII letters of s, lower-cased (for e-mail addresses).
func asciiLower(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			b = append(b, byte(r))
		case r >= 'A' && r <= 'Z':
			b = append(b, byte(r-'A'+'a'))
		}
	}
	return string(b)
}
