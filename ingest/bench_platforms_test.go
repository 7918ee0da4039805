package ingest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// benchReq is one signed webhook delivery as its platform sends it.
type benchReq struct {
	path   string
	body   []byte
	header [][2]string
	tenant int // index into benchHub.tenants
}

// benchPlatform builds signed deliveries for one store.
type benchPlatform struct {
	name    string
	tenant  int
	storeID string
	secret  string // the store's secret as configured (env: ref target)
	// build returns delivery seq (unique across the run) signed at now.
	build func(p *benchPlatform, seq int64, now time.Time) benchReq
}

func benchHMAC(key, msg []byte, more ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	for _, b := range more {
		m.Write(b)
	}
	return m.Sum(nil)
}

// whsecFor is a Standard Webhooks secret: "whsec_" + base64 of 24 random-looking bytes.
func whsecFor(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return "whsec_" + base64.StdEncoding.EncodeToString(sum[:24])
}

// The bodies below are orders as each platform sends them, trimmed to about 1.5 KB; every
// delivery has its own order number and event id, so each is a new event.

func shopifyBody(seq int64, now time.Time) []byte {
	ts := now.UTC().Format(time.RFC3339)
	id := 5600000000000 + seq
	return fmt.Appendf(nil, `{"id":%d,"admin_graphql_api_id":"gid://shopify/Order/%d","name":"#%d","order_number":%d,`+
		`"email":"ana.silva@example.com","phone":"+351912345678","created_at":"%s","updated_at":"%s","processed_at":"%s",`+
		`"cancelled_at":null,"currency":"EUR","presentment_currency":"EUR","financial_status":"paid","fulfillment_status":null,`+
		`"subtotal_price":"39.50","total_tax":"7.39","total_price":"43.40","total_shipping_price_set":{"shop_money":{"amount":"3.90",`+
		`"currency_code":"EUR"},"presentment_money":{"amount":"3.90","currency_code":"EUR"}},"note":"Ring twice, 3rd floor",`+
		`"customer":{"id":7390000001,"email":"ana.silva@example.com","first_name":"Ana","last_name":"Silva","phone":"+351912345678"},`+
		`"billing_address":{"first_name":"Ana","last_name":"Silva","address1":"Rua Augusta 100","address2":"3 Esq","city":"Lisboa",`+
		`"province":"Lisboa","zip":"1100-053","country":"Portugal","country_code":"PT","phone":"+351912345678"},`+
		`"shipping_address":{"first_name":"Ana","last_name":"Silva","company":null,"address1":"Rua Augusta 100","address2":"3 Esq",`+
		`"city":"Lisboa","province":"Lisboa","zip":"1100-053","country":"Portugal","country_code":"PT","phone":"+351912345678",`+
		`"latitude":38.7103,"longitude":-9.1368},"shipping_lines":[{"id":4410000001,"title":"Local delivery","price":"3.90",`+
		`"code":"LOCAL","source":"shopify"}],"line_items":[{"id":%d1,"variant_id":4470001,"sku":"PZ-MARG-L","title":"Pizza Margherita",`+
		`"variant_title":"Large","quantity":2,"price":"12.50","grams":900,"requires_shipping":true,"taxable":true},`+
		`{"id":%d2,"variant_id":4470002,"sku":"DR-COLA-33","title":"Cola 33cl","variant_title":null,"quantity":2,"price":"1.75",`+
		`"grams":350,"requires_shipping":true,"taxable":true},{"id":%d3,"variant_id":4470003,"sku":"DS-TIRA","title":"Tiramisu",`+
		`"variant_title":null,"quantity":1,"price":"11.00","grams":200,"requires_shipping":true,"taxable":true}],`+
		`"tags":"delivery, web","source_name":"web","browser_ip":"203.0.113.24"}`,
		id, id, 1000+seq, 1000+seq, ts, ts, ts, id, id, id)
}

func wooBody(seq int64, now time.Time) []byte {
	gmt := now.UTC().Format("2006-01-02T15:04:05")
	return fmt.Appendf(nil, `{"id":%d,"parent_id":0,"number":"%d","order_key":"wc_order_%x","created_via":"checkout",`+
		`"version":"8.9.1","status":"processing","currency":"EUR","date_created":"%s","date_created_gmt":"%s",`+
		`"date_modified":"%s","date_modified_gmt":"%s","discount_total":"0.00","shipping_total":"3.90","shipping_tax":"0.00",`+
		`"cart_tax":"7.39","total":"43.40","total_tax":"7.39","prices_include_tax":true,"customer_id":118,`+
		`"customer_note":"Ring twice, 3rd floor","billing":{"first_name":"Ana","last_name":"Silva","company":"",`+
		`"address_1":"Rua Augusta 100","address_2":"3 Esq","city":"Lisboa","state":"","postcode":"1100-053","country":"PT",`+
		`"email":"ana.silva@example.com","phone":"+351912345678"},"shipping":{"first_name":"Ana","last_name":"Silva","company":"",`+
		`"address_1":"Rua Augusta 100","address_2":"3 Esq","city":"Lisboa","state":"","postcode":"1100-053","country":"PT",`+
		`"phone":"+351912345678"},"payment_method":"stripe","payment_method_title":"Credit card","transaction_id":"pi_%d",`+
		`"line_items":[{"id":%d1,"name":"Pizza Margherita - Large","product_id":31,"variation_id":44,"quantity":2,"subtotal":"25.00",`+
		`"total":"25.00","sku":"PZ-MARG-L","price":12.5},{"id":%d2,"name":"Cola 33cl","product_id":52,"variation_id":0,"quantity":2,`+
		`"subtotal":"3.50","total":"3.50","sku":"DR-COLA-33","price":1.75},{"id":%d3,"name":"Tiramisu","product_id":60,`+
		`"variation_id":0,"quantity":1,"subtotal":"11.00","total":"11.00","sku":"DS-TIRA","price":11}],`+
		`"shipping_lines":[{"id":%d4,"method_title":"Local delivery","method_id":"local_pickup","total":"3.90"}]}`,
		20000+seq, 20000+seq, seq, gmt, gmt, gmt, gmt, seq, seq, seq, seq, seq)
}

func stripeBody(seq int64, now time.Time) []byte {
	return fmt.Appendf(nil, `{"id":"evt_3Pbench%012d","object":"event","api_version":"2024-06-20","created":%d,`+
		`"data":{"object":{"id":"pi_3Pbench%012d","object":"payment_intent","amount":4340,"amount_capturable":0,`+
		`"amount_received":4340,"capture_method":"automatic","confirmation_method":"automatic","currency":"eur",`+
		`"customer":"cus_Q8benchAnaSilva","description":"Order #%d","latest_charge":"ch_3Pbench%012d","livemode":false,`+
		`"metadata":{"order_id":"%d","store":"acme-lisboa","channel":"web"},"payment_method":"pm_1Pbench0000card",`+
		`"payment_method_types":["card"],"receipt_email":"ana.silva@example.com","shipping":{"address":{"city":"Lisboa",`+
		`"country":"PT","line1":"Rua Augusta 100","line2":"3 Esq","postal_code":"1100-053","state":null},"carrier":null,`+
		`"name":"Ana Silva","phone":"+351912345678","tracking_number":null},"status":"succeeded","amount_details":{"tip":{}},`+
		`"automatic_payment_methods":null,"canceled_at":null,"cancellation_reason":null,"client_secret":"pi_3Pbench_secret_redacted",`+
		`"created":%d,"invoice":null,"last_payment_error":null,"next_action":null,"on_behalf_of":null,"processing":null,`+
		`"review":null,"setup_future_usage":null,"source":null,"statement_descriptor":"ACME LISBOA","statement_descriptor_suffix":null,`+
		`"transfer_data":null,"transfer_group":null}},"livemode":false,"pending_webhooks":1,"request":{"id":"req_bench%08d",`+
		`"idempotency_key":"5f8c1a0e-%08d-4b7e-9a51-3c2d7e6f9012"},"type":"payment_intent.succeeded"}`,
		seq, now.Unix(), seq, 1000+seq, seq, 1000+seq, now.Unix(), seq%1e8, seq%1e8)
}

func squareBody(seq int64, now time.Time) []byte {
	ts := now.UTC().Format("2006-01-02T15:04:05.000Z")
	return fmt.Appendf(nil, `{"merchant_id":"5S9MXCS9Y99KK","type":"order.created","event_id":"116038d3-2948-439f-%04x-%012x",`+
		`"created_at":"%s","data":{"type":"order","id":"ordBench%016d","object":{"order":{"id":"ordBench%016d",`+
		`"location_id":"FPYCBCHYMXFK1","reference_id":"web-%d","source":{"name":"Online store"},"customer_id":"JDKYHBWT1D4F8MFH63DBMEN8Y4",`+
		`"line_items":[{"uid":"li1","name":"Pizza Margherita","variation_name":"Large","quantity":"2","catalog_object_id":"PZMARGL",`+
		`"base_price_money":{"amount":1250,"currency":"EUR"},"total_money":{"amount":2500,"currency":"EUR"}},{"uid":"li2",`+
		`"name":"Cola 33cl","quantity":"2","catalog_object_id":"DRCOLA33","base_price_money":{"amount":175,"currency":"EUR"},`+
		`"total_money":{"amount":350,"currency":"EUR"}},{"uid":"li3","name":"Tiramisu","quantity":"1","catalog_object_id":"DSTIRA",`+
		`"base_price_money":{"amount":1100,"currency":"EUR"},"total_money":{"amount":1100,"currency":"EUR"}}],`+
		`"fulfillments":[{"uid":"ful1","type":"DELIVERY","state":"PROPOSED","delivery_details":{"recipient":{"display_name":"Ana Silva",`+
		`"email_address":"ana.silva@example.com","phone_number":"+351912345678","address":{"address_line_1":"Rua Augusta 100",`+
		`"address_line_2":"3 Esq","locality":"Lisboa","postal_code":"1100-053","country":"PT"}},"schedule_type":"ASAP",`+
		`"note":"Ring twice"}}],"total_money":{"amount":4340,"currency":"EUR"},"total_tax_money":{"amount":739,"currency":"EUR"},`+
		`"total_service_charge_money":{"amount":390,"currency":"EUR"},"state":"OPEN","version":1,"created_at":"%s","updated_at":"%s"}}}}`,
		(seq>>48)&0xffff, seq&0xffffffffffff, ts, seq, seq, 1000+seq, ts, ts)
}

func stdwhBody(seq int64, now time.Time) []byte {
	ts := now.UTC().Format(time.RFC3339)
	return fmt.Appendf(nil, `{"type":"order.created","timestamp":"%s","data":{"id":"ord_%d","number":"%d","status":"confirmed",`+
		`"channel":"web","currency":"EUR","created_at":"%s","customer":{"name":"Ana Silva","email":"ana.silva@example.com",`+
		`"phone":"+351912345678"},"delivery":{"address":{"line1":"Rua Augusta 100","line2":"3 Esq","city":"Lisboa",`+
		`"postal_code":"1100-053","country":"PT","lat":38.7103,"lng":-9.1368},"window":{"from":"%s","to":"%s"},`+
		`"instructions":"Ring twice, 3rd floor"},"items":[{"sku":"PZ-MARG-L","name":"Pizza Margherita","variant":"Large",`+
		`"quantity":2,"unit_price":"12.50","total":"25.00"},{"sku":"DR-COLA-33","name":"Cola 33cl","quantity":2,"unit_price":"1.75",`+
		`"total":"3.50"},{"sku":"DS-TIRA","name":"Tiramisu","quantity":1,"unit_price":"11.00","total":"11.00"}],`+
		`"totals":{"subtotal":"39.50","shipping":"3.90","tax":"7.39","total":"43.40"},"payment":{"method":"card","status":"paid",`+
		`"reference":"pay_%d"},"store":{"id":"lisboa-baixa","name":"Acme Lisboa Baixa","pickup":{"lat":38.7139,"lng":-9.1394}},`+
		`"metadata":{"source":"storefront","campaign":"none","locale":"pt-PT","app_version":"4.12.0","session":"s_%012d"}}}`,
		ts, seq, 1000+seq, ts, ts, now.Add(45*time.Minute).UTC().Format(time.RFC3339), seq, seq)
}

// benchPlatforms are the stores the benchmark signs for: their platforms' real headers and
// signatures (see ingest/verify/presets.go and its conformance cases).
func benchPlatforms() []*benchPlatform {
	return []*benchPlatform{
		{name: "shopify", tenant: 0, secret: "shpss_bench0123456789abcdef0123456789ab", build: func(p *benchPlatform, seq int64, now time.Time) benchReq {
			body := shopifyBody(seq, now)
			evt := fmt.Sprintf("7c1f3b0e-%012d-evt", seq)
			return benchReq{path: "/v1/webhooks/shopify/" + p.storeID, body: body, tenant: p.tenant, header: [][2]string{
				{"Content-Type", "application/json"},
				{"User-Agent", "Shopify-Captain-Hook"},
				{"X-Shopify-Topic", "orders/create"},
				{"X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(benchHMAC([]byte(p.secret), body))},
				{"X-Shopify-Shop-Domain", "acme-lisboa.myshopify.com"},
				{"X-Shopify-Api-Version", "2024-07"},
				{"X-Shopify-Webhook-Id", fmt.Sprintf("b54557e4-%012d-del", seq)},
				{"X-Shopify-Event-Id", evt},
				{"X-Shopify-Triggered-At", now.UTC().Format(time.RFC3339Nano)},
			}}
		}},
		{name: "woocommerce", tenant: 0, secret: "wc_bench_secret_5f1c3e9a7b2d4c6e8f0a", build: func(p *benchPlatform, seq int64, now time.Time) benchReq {
			body := wooBody(seq, now)
			return benchReq{path: "/v1/webhooks/woocommerce/" + p.storeID, body: body, tenant: p.tenant, header: [][2]string{
				{"Content-Type", "application/json"},
				{"User-Agent", "WooCommerce/8.9.1 Hookshot (WordPress/6.5.3)"},
				{"X-WC-Webhook-Source", "https://acme-lisboa.example/"},
				{"X-WC-Webhook-Topic", "order.created"},
				{"X-WC-Webhook-Resource", "order"},
				{"X-WC-Webhook-Event", "created"},
				{"X-WC-Webhook-Signature", base64.StdEncoding.EncodeToString(benchHMAC([]byte(p.secret), body))},
				{"X-WC-Webhook-ID", "12"},
				{"X-WC-Webhook-Delivery-ID", strconv.FormatInt(900000+seq, 10)},
			}}
		}},
		{name: "stripe", tenant: 0, secret: "whsec_benchStripe0c0ffee5a4b3c2d1e0f", build: func(p *benchPlatform, seq int64, now time.Time) benchReq {
			body := stripeBody(seq, now)
			t := strconv.FormatInt(now.Unix(), 10)
			sig := hex.EncodeToString(benchHMAC([]byte(p.secret), []byte(t+"."), body))
			return benchReq{path: "/v1/webhooks/stripe/" + p.storeID, body: body, tenant: p.tenant, header: [][2]string{
				{"Content-Type", "application/json; charset=utf-8"},
				{"User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)"},
				{"Cache-Control", "no-cache"},
				{"Stripe-Signature", "t=" + t + ",v1=" + sig},
			}}
		}},
		{name: "square", tenant: 1, secret: "sq0wbs-BenchSignatureKey_7aQ2m9XkR4", build: func(p *benchPlatform, seq int64, now time.Time) benchReq {
			body := squareBody(seq, now)
			path := "/v1/webhooks/square/" + p.storeID
			sig := base64.StdEncoding.EncodeToString(benchHMAC([]byte(p.secret), []byte(benchPublicURL+path), body))
			return benchReq{path: path, body: body, tenant: p.tenant, header: [][2]string{
				{"Content-Type", "application/json"},
				{"User-Agent", "Square Connect v2"},
				{"Square-Version", "2024-06-04"},
				{"Square-Environment", "Production"},
				{"X-Square-Hmacsha256-Signature", sig},
			}}
		}},
		{name: "standardwebhooks", tenant: 1, secret: whsecFor("dispatchhub-bench-standardwebhooks"), build: func(p *benchPlatform, seq int64, now time.Time) benchReq {
			body := stdwhBody(seq, now)
			key, err := base64.StdEncoding.DecodeString(p.secret[len("whsec_"):])
			if err != nil {
				panic(err)
			}
			id := fmt.Sprintf("msg_2bench%016d", seq)
			ts := strconv.FormatInt(now.Unix(), 10)
			sig := base64.StdEncoding.EncodeToString(benchHMAC(key, []byte(id+"."+ts+"."), body))
			return benchReq{path: "/v1/webhooks/standardwebhooks/" + p.storeID, body: body, tenant: p.tenant, header: [][2]string{
				{"Content-Type", "application/json"},
				{"User-Agent", "Svix-Webhooks/1.24"},
				{"Webhook-Id", id},
				{"Webhook-Timestamp", ts},
				{"Webhook-Signature", "v1," + sig},
			}}
		}},
	}
}
