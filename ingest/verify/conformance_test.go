package verify_test

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pilotx/dispatchhub/ingest/verify"
)

// The conformance suite runs the same checks over every preset (STYLE #12):
// a request signed by the platform's documented recipe verifies and yields the
// expected event id and type; a tampered request, a missing signature, a wrong
// key and (where a timestamp is signed) stale and future timestamps fail with
// the right sentinel; old and new keys both verify during a rotation; a gzip
// body verifies over its compressed bytes; and no error message carries a
// secret or a signature.

var (
	now       = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	tolerance = 5 * time.Minute
)

type keyKind int

const (
	kindSecret keyKind = iota // Keys.Secrets
	kindToken                 // Keys.Token (+ Secrets for the rotation)
	kindPub                   // Keys.PublicKeys (RSA)
	kindJWKS                  // Keys.JWKS (RSA, by kid)
	kindKid                   // Keys.KeysByID (ECDSA)
)

type pcase struct {
	platform string
	method   string
	url      string
	headers  map[string]string
	body     []byte
	kind     keyKind
	secrets  [3]string // overrides the default secrets or tokens
	// sign puts the signature on r (whose Body, URL and Method are set) with
	// the key m, signing the timestamp ts where the scheme signs one.
	sign func(t testing.TB, r *verify.Request, m material, ts time.Time)
	// sigHeaders carry the signature; strip deletes them unless overridden.
	sigHeaders []string
	strip      func(r *verify.Request)
	// tamper changes what the signature covers; default appends to the body.
	tamper      func(r *verify.Request)
	wantID      string
	wantIDFn    func(body []byte) string
	wantType    string
	bodyAuth    bool
	timestamped bool
	noGzip      bool
	// jwtBody: the body is the signed token itself (whitespace around it is
	// not content), so the generic body tamper does not apply.
	jwtBody bool
	// signedAtUnit is the precision of the signed timestamp.
	signedAtUnit time.Duration
}

func (c *pcase) materials(t testing.TB) [3]material {
	var ms [3]material
	kr := keys(t)
	for i := range ms {
		s := c.secrets[i]
		if s == "" {
			s = fmt.Sprintf("%s-secret-%d-6b1f0c9e2d", c.platform, i)
		}
		ms[i] = material{secret: []byte(s), token: s, rsa: kr.rsa[i], ec: kr.ec[i], kid: fmt.Sprintf("kid-%d", i)}
	}
	ms[2].kid = ms[0].kid // a wrong key claims the current key's id
	return ms
}

func (c *pcase) keysFor(t testing.TB, ms ...material) verify.Keys {
	var k verify.Keys
	switch c.kind {
	case kindSecret:
		for _, m := range ms {
			k.Secrets = append(k.Secrets, m.secret)
		}
	case kindToken:
		k.Token = ms[0].token
		for _, m := range ms[1:] {
			k.Secrets = append(k.Secrets, []byte(m.token))
		}
	case kindPub:
		for _, m := range ms {
			k.PublicKeys = append(k.PublicKeys, &m.rsa.PublicKey)
		}
	case kindJWKS:
		var set []map[string]string
		for _, m := range ms {
			set = append(set, jwk(m.kid, &m.rsa.PublicKey))
		}
		k.JWKS = mustJSON(t, map[string]any{"keys": set})
	case kindKid:
		k.KeysByID = map[string]crypto.PublicKey{}
		for _, m := range ms {
			k.KeysByID[m.kid] = &m.ec.PublicKey
		}
	}
	return k
}

func (c *pcase) build(t testing.TB, m material, ts time.Time, body []byte) *verify.Request {
	t.Helper()
	r := &verify.Request{
		Method: c.method,
		URL:    c.url,
		Header: cloneHeader(c.headers),
		Body:   append([]byte(nil), body...),
		Now:    now,
	}
	if r.Method == "" {
		r.Method = "POST"
	}
	if r.URL == "" {
		r.URL = "https://hub.example.com/v1/webhooks/" + c.platform + "/store-1"
	}
	c.sign(t, r, m, ts)
	return r
}

func (c *pcase) expectedID() string {
	if c.wantIDFn != nil {
		return c.wantIDFn(c.body)
	}
	return c.wantID
}

// hmacCase is a platform signing the raw body with an HMAC in one header.
func hmacCase(platform, sigHeader string, h func() hash.Hash, enc func([]byte) string, body string, headers map[string]string) *pcase {
	return &pcase{
		platform: platform, body: []byte(body), headers: headers, bodyAuth: true,
		sigHeaders: []string{sigHeader},
		sign: func(_ testing.TB, r *verify.Request, m material, _ time.Time) {
			r.Header.Set(sigHeader, enc(mac(h, m.secret, r.Body)))
		},
	}
}

func withID(c *pcase, id, typ string) *pcase {
	c.wantID, c.wantType = id, typ
	return c
}

func withIDFn(c *pcase, f func([]byte) string, typ string) *pcase {
	c.wantIDFn, c.wantType = f, typ
	return c
}

// whsec returns a Standard Webhooks secret of the given seed.
func whsec(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return "whsec_" + base64.StdEncoding.EncodeToString(sum[:24])
}

func stdwhCase(platform, prefix, body, wantID, wantType string) *pcase {
	c := &pcase{
		platform: platform, body: []byte(body), bodyAuth: true, timestamped: true, signedAtUnit: time.Second,
		sigHeaders: []string{prefix + "-signature"},
		headers:    map[string]string{prefix + "-id": wantID},
		secrets:    [3]string{whsec(platform + "0"), whsec(platform + "1"), whsec(platform + "2")},
		wantID:     wantID, wantType: wantType,
	}
	c.sign = func(t testing.TB, r *verify.Request, m material, ts time.Time) {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(m.secret), "whsec_"))
		if err != nil {
			t.Fatal(err)
		}
		id := r.Header.Get(prefix + "-id")
		tss := strconv.FormatInt(ts.Unix(), 10)
		r.Header.Set(prefix+"-timestamp", tss)
		sig := b64(mac(sha256.New, key, []byte(id+"."+tss+"."), r.Body))
		// A list as senders send it during a rotation: an unknown key first.
		r.Header.Set(prefix+"-signature", "v1,"+b64(bytes.Repeat([]byte{7}, 32))+" v1,"+sig)
	}
	return c
}

func conformanceCases(t testing.TB) []*pcase {
	t.Helper()
	bodyHashID := func(b []byte) string { return sha256hex(b) }
	var cases []*pcase

	cases = append(cases, withID(hmacCase("shopify", "X-Shopify-Hmac-Sha256", sha256.New, b64,
		`{"id":820982911946154508,"email":"jon@example.com","total_price":"12.50"}`,
		map[string]string{"X-Shopify-Topic": "orders/create", "X-Shopify-Event-Id": "6c1f3b0e-evt", "X-Shopify-Webhook-Id": "b54557e4-del", "X-Shopify-Shop-Domain": "shop.myshopify.com"}),
		"6c1f3b0e-evt", "orders/create"))

	cases = append(cases, withID(hmacCase("woocommerce", "X-WC-Webhook-Signature", sha256.New, b64,
		`{"id":727,"status":"processing","date_modified":"2026-11-20T13:00:00","date_modified_gmt":"2026-11-20T12:00:00"}`,
		map[string]string{"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Resource": "order", "X-WC-Webhook-Delivery-ID": "d-991"}),
		"order.updated:727:2026-11-20T12:00:00", "order.updated"))

	cases = append(cases, &pcase{
		platform: "bigcommerce", kind: kindToken, sigHeaders: []string{"Authorization"},
		body:   []byte(`{"scope":"store/order/created","store_id":"1025646","data":{"type":"order","id":250},"hash":"dd70c0976e06b67aaf671e73f49dcb79230ebf9d","created_at":1561479335,"producer":"stores/abcde"}`),
		wantID: "dd70c0976e06b67aaf671e73f49dcb79230ebf9d", wantType: "store/order/created",
		sign: func(_ testing.TB, r *verify.Request, m material, _ time.Time) { r.Header.Set("Authorization", m.token) },
	})

	cases = append(cases, &pcase{
		platform: "adobecommerce", kind: kindPub, bodyAuth: true, sigHeaders: []string{"x-adobe-commerce-webhook-signature"},
		body:     []byte(`{"eventName":"observer.sales_order_place_after","data":{"order":{"increment_id":"000000042"}}}`),
		wantIDFn: bodyHashID, wantType: "observer.sales_order_place_after",
		sign: func(t testing.TB, r *verify.Request, m material, _ time.Time) {
			r.Header.Set("x-adobe-commerce-webhook-signature", b64(rsaSign(t, m.rsa, crypto.SHA256, r.Body)))
		},
	})

	cases = append(cases, &pcase{
		platform: "square", bodyAuth: true, sigHeaders: []string{"x-square-hmacsha256-signature"},
		url:    "https://hub.example.com/v1/webhooks/square/store-1?env=prod",
		body:   []byte(`{"merchant_id":"6SSW7HV8K2ST5","type":"order.created","event_id":"116038d3-2948-439f-8679-fc86cbf1c2ae","created_at":"2026-11-20T11:59:30Z","data":{"type":"order","id":"eA3vssLHKJrv9H0IdJCM3gNqfdcZY"}}`),
		wantID: "116038d3-2948-439f-8679-fc86cbf1c2ae", wantType: "order.created",
		sign: func(_ testing.TB, r *verify.Request, m material, _ time.Time) {
			r.Header.Set("x-square-hmacsha256-signature", b64(mac(sha256.New, m.secret, []byte(r.URL), r.Body)))
		},
		tamper: func(r *verify.Request) { r.URL = strings.Replace(r.URL, "prod", "test", 1) },
	})

	cases = append(cases, &pcase{
		platform: "stripe", bodyAuth: true, timestamped: true, signedAtUnit: time.Second, sigHeaders: []string{"Stripe-Signature"},
		secrets: [3]string{"whsec_stripe0c0ffee", "whsec_stripe1c0ffee", "whsec_stripe2c0ffee"},
		body:    []byte(`{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_3"}}}`),
		wantID:  "evt_1NG8Du2eZvKYlo2CUI79vXWy", wantType: "payment_intent.succeeded",
		sign: func(_ testing.TB, r *verify.Request, m material, ts time.Time) {
			t := strconv.FormatInt(ts.Unix(), 10)
			sig := hx(mac(sha256.New, m.secret, []byte(t+"."), r.Body))
			r.Header.Set("Stripe-Signature", "t="+t+",v1="+sig+",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39")
		},
	})

	cases = append(cases, &pcase{
		platform: "paddle", bodyAuth: true, timestamped: true, signedAtUnit: time.Second, sigHeaders: []string{"Paddle-Signature"},
		body:   []byte(`{"event_id":"evt_01h8bzakzx3hm2fmen703n5q45","event_type":"transaction.completed","occurred_at":"2026-11-20T11:59:00Z","data":{}}`),
		wantID: "evt_01h8bzakzx3hm2fmen703n5q45", wantType: "transaction.completed",
		sign: func(_ testing.TB, r *verify.Request, m material, ts time.Time) {
			t := strconv.FormatInt(ts.Unix(), 10)
			r.Header.Set("Paddle-Signature", "ts="+t+";h1="+hx(mac(sha256.New, m.secret, []byte(t+":"), r.Body)))
		},
	})

	cases = append(cases, &pcase{
		platform: "chargebee", kind: kindToken, sigHeaders: []string{"Authorization"},
		secrets: [3]string{"hub:cb-pass-0", "hub:cb-pass-1", "hub:cb-pass-2"},
		body:    []byte(`{"id":"ev_16BHbhF4s42tO2lK","occurred_at":1763640000,"event_type":"subscription_created","content":{}}`),
		wantID:  "ev_16BHbhF4s42tO2lK", wantType: "subscription_created",
		sign: func(_ testing.TB, r *verify.Request, m material, _ time.Time) {
			r.Header.Set("Authorization", "Basic "+b64([]byte(m.token)))
		},
	})

	cases = append(cases, &pcase{
		platform: "recharge", bodyAuth: true, sigHeaders: []string{"X-Recharge-Hmac-Sha256"},
		headers:  map[string]string{"X-Recharge-Topic": "subscription/created"},
		body:     []byte(`{"subscription":{"id":27071,"status":"ACTIVE","updated_at":"2026-11-20T11:58:00"}}`),
		wantIDFn: func(b []byte) string { return derivedID("subscription/created", string(b)) }, wantType: "subscription/created",
		sign: func(_ testing.TB, r *verify.Request, m material, _ time.Time) {
			r.Header.Set("X-Recharge-Hmac-Sha256", sha256hex(m.secret, r.Body))
		},
	})

	cases = append(cases, &pcase{
		platform: "klaviyo", bodyAuth: true, timestamped: true, signedAtUnit: time.Second, sigHeaders: []string{"Klaviyo-Signature"},
		headers: map[string]string{"Klaviyo-Webhook-Id": "01HWH"},
		body:    []byte(`{"data":[{"external_id":"4e6d1b6a-ev","topic":"event:klaviyo.placed_order","payload":{}}],"meta":{"klaviyo_webhook_id":"01HWH"}}`),
		wantID:  "4e6d1b6a-ev", wantType: "event:klaviyo.placed_order",
		sign: func(_ testing.TB, r *verify.Request, m material, ts time.Time) {
			t := strconv.FormatInt(ts.Unix(), 10)
			r.Header.Set("Klaviyo-Timestamp", t)
			r.Header.Set("Klaviyo-Signature", hx(mac(sha256.New, m.secret, r.Body, []byte(t))))
		},
	})

	cases = append(cases, &pcase{
		platform: "squarespace", bodyAuth: true, sigHeaders: []string{"Squarespace-Signature"},
		secrets: [3]string{hx([]byte("sqsp-secret-zero-0123")), hx([]byte("sqsp-secret-one--0123")), hx([]byte("sqsp-secret-two--0123"))},
		body:    []byte(`{"id":"5f7f6d63-8a3e-4d2c","websiteId":"5f4d","subscriptionId":"6a1","topic":"order.create","createdOn":"2026-11-20T11:59:00Z","data":{"orderId":"5f7f"}}`),
		wantID:  "5f7f6d63-8a3e-4d2c", wantType: "order.create",
		sign: func(t testing.TB, r *verify.Request, m material, _ time.Time) {
			key, err := hexDecode(string(m.secret))
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("Squarespace-Signature", hx(mac(sha256.New, key, r.Body)))
		},
	})

	cases = append(cases, &pcase{
		platform: "ecwid", sigHeaders: []string{"X-Ecwid-Webhook-Signature"},
		body:   []byte(`{"eventId":"80aece08-40e8-4145-8764-6c2f0d38678","eventCreated":1763639950,"storeId":1003,"entityId":103181166,"eventType":"order.created","data":{"orderId":"XJ12H"}}`),
		wantID: "80aece08-40e8-4145-8764-6c2f0d38678", wantType: "order.created",
		sign: func(_ testing.TB, r *verify.Request, m material, _ time.Time) {
			r.Header.Set("X-Ecwid-Webhook-Signature", b64(mac(sha256.New, m.secret, []byte("1763639950.80aece08-40e8-4145-8764-6c2f0d38678"))))
		},
		tamper: func(r *verify.Request) {
			r.Body = bytes.Replace(r.Body, []byte("6c2f0d38678"), []byte("6c2f0d38679"), 1)
		},
	})

	wixData := func() string {
		inner := `{"id":"8b51cb3c-evt","entityFqdn":"wix.ecom.v1.order","slug":"created","entityId":"a1b2"}`
		env := mustJSON(t, map[string]string{"eventType": "wix.ecom.v1.order_created", "instanceId": "inst-1", "data": inner})
		return string(env)
	}()
	cases = append(cases, &pcase{
		platform: "wix", kind: kindPub, bodyAuth: true, timestamped: true, signedAtUnit: time.Second, noGzip: true, jwtBody: true,
		wantID: "8b51cb3c-evt", wantType: "wix.ecom.v1.order_created",
		sign: func(t testing.TB, r *verify.Request, m material, ts time.Time) {
			r.Body = []byte(jwtRS256(t, m.rsa, map[string]any{"data": wixData, "iat": ts.Unix(), "exp": ts.Add(time.Hour).Unix()}))
		},
		strip: func(r *verify.Request) { r.Body = r.Body[:bytes.LastIndexByte(r.Body, '.')+1] },
		tamper: func(r *verify.Request) {
			parts := strings.Split(string(r.Body), ".")
			parts[1] = b64url([]byte(`{"data":"{\"eventType\":\"wix.ecom.v1.order_canceled\"}","iat":1763640000}`))
			r.Body = []byte(strings.Join(parts, "."))
		},
	})

	cases = append(cases, withID(hmacCase("shopware", "shopware-shop-signature", sha256.New, hx,
		`{"data":{"payload":[{"entityName":"order","primaryKey":"0188"}],"event":"checkout.order.placed"},"source":{"url":"https://shop.example.com","appVersion":"1.0.0","shopId":"dgrH7nLU6tlE","eventId":"018b1f0e-5e8f"},"timestamp":1763639990}`,
		nil), "018b1f0e-5e8f", "checkout.order.placed"))

	cases = append(cases, &pcase{
		platform: "saleor", kind: kindJWKS, bodyAuth: true, sigHeaders: []string{"Saleor-Signature"},
		headers:  map[string]string{"Saleor-Event": "order_created", "Saleor-Domain": "shop.saleor.cloud"},
		body:     []byte(`{"order":{"id":"T3JkZXI6MQ==","number":"42"}}`),
		wantIDFn: func(b []byte) string { return derivedID("order_created", string(b)) }, wantType: "order_created",
		sign: func(t testing.TB, r *verify.Request, m material, _ time.Time) {
			protected := b64url(mustJSON(t, map[string]any{"alg": "RS256", "kid": m.kid, "b64": false, "crit": []string{"b64"}}))
			sig := rsaSign(t, m.rsa, crypto.SHA256, append([]byte(protected+"."), r.Body...))
			r.Header.Set("Saleor-Signature", protected+".."+b64url(sig))
		},
	})

	cases = append(cases, &pcase{
		platform: "spree", bodyAuth: true, timestamped: true, signedAtUnit: time.Second, sigHeaders: []string{"X-Spree-Webhook-Signature"},
		headers: map[string]string{"X-Spree-Webhook-Event": "order.completed"},
		body:    []byte(`{"id":"whev_01JC8","name":"order.completed","created_at":"2026-11-20T11:59:00Z","data":{"number":"R123"}}`),
		wantID:  "whev_01JC8", wantType: "order.completed",
		sign: func(_ testing.TB, r *verify.Request, m material, ts time.Time) {
			t := strconv.FormatInt(ts.Unix(), 10)
			r.Header.Set("X-Spree-Webhook-Timestamp", t)
			r.Header.Set("X-Spree-Webhook-Signature", hx(mac(sha256.New, m.secret, []byte(t+"."), r.Body)))
		},
	})

	cases = append(cases, withIDFn(hmacCase("salla", "X-Salla-Signature", sha256.New, hx,
		`{"event":"order.created","merchant":1234509876,"created_at":"2026-11-20 14:59:00","data":{"id":99}}`,
		map[string]string{"X-Salla-Security-Strategy": "Signature"}), bodyHashID, "order.created"))

	cases = append(cases, withID(hmacCase("tiendanube", "x-linkedstore-hmac-sha256", sha256.New, hx,
		`{"store_id":123456,"event":"order/created","id":987654321}`, nil),
		"123456:order/created:987654321", "order/created"))

	cases = append(cases, &pcase{
		platform: "mercadopago", timestamped: true, signedAtUnit: time.Millisecond, sigHeaders: []string{"x-signature"},
		url:     "https://hub.example.com/v1/webhooks/mercadopago/store-1?data.id=ABC123def&type=payment",
		headers: map[string]string{"x-request-id": "bb56a2f1-6aae-46ac-982e-9dcd3581d08e"},
		body:    []byte(`{"action":"payment.updated","api_version":"v1","data":{"id":"ABC123def"},"id":112233,"live_mode":true,"type":"payment","user_id":987654}`),
		wantID:  "bb56a2f1-6aae-46ac-982e-9dcd3581d08e", wantType: "payment",
		sign: func(_ testing.TB, r *verify.Request, m material, ts time.Time) {
			t := strconv.FormatInt(ts.UnixMilli(), 10)
			manifest := "id:abc123def;request-id:" + r.Header.Get("x-request-id") + ";ts:" + t + ";"
			r.Header.Set("x-signature", "ts="+t+",v1="+hx(mac(sha256.New, m.secret, []byte(manifest))))
		},
		tamper: func(r *verify.Request) { r.URL = strings.Replace(r.URL, "ABC123def", "ABC124def", 1) },
	})

	cases = append(cases, stdwhCase("etsy", "webhook",
		`{"event_type":"order.paid","resource_url":"https://api.etsy.com/v3/application/shops/1/receipts/2"}`, "msg_2pQd9Etsy", "order.paid"))

	cases = append(cases, &pcase{
		platform: "ebay", kind: kindKid, bodyAuth: true, sigHeaders: []string{"X-EBAY-SIGNATURE"},
		body:   []byte(`{"metadata":{"topic":"MARKETPLACE_ACCOUNT_DELETION","schemaVersion":"1.0","deprecated":false},"notification":{"notificationId":"49feeaeb-4982-42d9-a377-9645b8479411_33f7e043","eventDate":"2026-11-20T11:59:00.000Z","publishDate":"2026-11-20T11:59:01.000Z","publishAttemptCount":1,"data":{"username":"test_user","userId":"ma8vp1jySJC","eiasToken":"nY+sHZ2P"}}}`),
		wantID: "49feeaeb-4982-42d9-a377-9645b8479411_33f7e043", wantType: "MARKETPLACE_ACCOUNT_DELETION",
		sign: func(t testing.TB, r *verify.Request, m material, _ time.Time) {
			hdr := mustJSON(t, map[string]string{"alg": "ecdsa", "kid": m.kid, "signature": b64(ecSignSHA1(t, m.ec, r.Body)), "digest": "SHA1"})
			r.Header.Set("X-EBAY-SIGNATURE", b64(hdr))
		},
	})

	cases = append(cases, &pcase{
		platform: "walmart", bodyAuth: true, timestamped: true, signedAtUnit: time.Millisecond,
		sigHeaders: []string{"WM_SEC.SIGNATURE"},
		url:        "https://hub.example.com/v1/webhooks/walmart/store-1?tenant=us",
		headers:    map[string]string{"WM_SEC.KEY_ID": "key-1"},
		body:       []byte(`{"source":{"eventType":"OFFER_UNPUBLISHED"},"payload":{"notificationType":"OFFER_UNPUBLISHED","sku":"SKU-1"}}`),
		wantIDFn:   bodyHashID, wantType: "OFFER_UNPUBLISHED",
		sign: func(_ testing.TB, r *verify.Request, m material, ts time.Time) {
			t := strconv.FormatInt(ts.UnixMilli(), 10)
			u, _ := url.Parse(r.URL)
			canon := r.Method + "\n" + u.Path + "?" + u.RawQuery + "\n" + t + "\n" + sha256hex(r.Body)
			r.Header.Set("WM_SEC.TIMESTAMP", t)
			r.Header.Set("WM_SEC.SIGNATURE", b64(mac(sha256.New, m.secret, []byte(canon))))
		},
	})

	cases = append(cases, withID(hmacCase("shopline", "X-Shopline-Hmac-Sha256", sha256.New, b64,
		`{"id":"21056789","financial_status":"paid"}`,
		map[string]string{"X-Shopline-Topic": "orders/paid", "X-Shopline-Webhook-Id": "wh-2b7c", "X-Shopline-Shop-Domain": "x.myshopline.com"}),
		"wh-2b7c", "orders/paid"))

	cases = append(cases, withIDFn(hmacCase("jumpseller", "Jumpseller-Hmac-Sha256", sha256.New, b64,
		`{"order":{"id":1001,"status":"Paid"}}`, map[string]string{"Jumpseller-Event": "order_paid"}),
		func(b []byte) string { return derivedID("order_paid", string(b)) }, "order_paid"))

	cases = append(cases, &pcase{
		platform: "gumroad", kind: kindToken,
		url:     "https://hub.example.com/v1/webhooks/gumroad/store-1",
		headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		body:    []byte("seller_id=bfQyn%3D%3D&product_id=32-nPA&sale_id=FO8TXN-dbxYaBdE&sale_timestamp=2026-11-20T11%3A59%3A00Z&email=buyer%40example.com&price=500&test=false"),
		wantID:  "sale:FO8TXN-dbxYaBdE", wantType: "sale",
		sign: func(_ testing.TB, r *verify.Request, m material, _ time.Time) {
			r.URL += "?token=" + url.QueryEscape(m.token)
		},
		strip: func(r *verify.Request) { r.URL = r.URL[:strings.IndexByte(r.URL, '?')] },
	})

	cases = append(cases, withID(hmacCase("ubereats", "X-Uber-Signature", sha256.New, hx,
		`{"event_id":"c1f4b3e2-ue","event_time":1763639990,"event_type":"orders.notification","meta":{"resource_id":"153dd7f1","status":"pos","user_id":"89dd9741"}}`, nil),
		"c1f4b3e2-ue", "orders.notification"))

	cases = append(cases, &pcase{
		platform: "doordash", kind: kindToken, sigHeaders: []string{"Authorization"},
		secrets: [3]string{"Bearer dd-hook-0-7c1a", "Bearer dd-hook-1-7c1a", "Bearer dd-hook-2-7c1a"},
		body:    []byte(`{"event_name":"DASHER_CONFIRMED","created_at":"2026-11-20T11:59:00.000000Z","external_delivery_id":"D-1763","dasher_id":1234}`),
		wantID:  "DASHER_CONFIRMED:D-1763:2026-11-20T11:59:00.000000Z", wantType: "DASHER_CONFIRMED",
		sign: func(_ testing.TB, r *verify.Request, m material, _ time.Time) { r.Header.Set("Authorization", m.token) },
	})

	cases = append(cases, &pcase{
		platform: "deliveroo", bodyAuth: true, sigHeaders: []string{"X-Deliveroo-Hmac-Sha256"},
		headers: map[string]string{"X-Deliveroo-Sequence-Guid": "6c3e0b1a-seq"},
		body:    []byte(`{"event":"order.new","body":{"order":{"id":"gb:1234"}}}`),
		wantID:  "6c3e0b1a-seq", wantType: "order.new",
		sign: func(_ testing.TB, r *verify.Request, m material, _ time.Time) {
			r.Header.Set("X-Deliveroo-Hmac-Sha256", hx(mac(sha256.New, m.secret, []byte(r.Header.Get("X-Deliveroo-Sequence-Guid")+" "), r.Body)))
		},
	})

	cases = append(cases, withIDFn(hmacCase("commercelayer", "X-CommerceLayer-Signature", sha256.New, b64,
		`{"data":{"id":"wBXVhKzrnq","type":"orders","attributes":{"status":"placed"}}}`,
		map[string]string{"X-CommerceLayer-Topic": "orders.place"}),
		func(b []byte) string { return derivedID("orders.place", string(b)) }, "orders.place"))

	cases = append(cases, withIDFn(hmacCase("oraclecommerce", "X-Oracle-CC-WebHook-Signature", sha512.New, b64,
		`{"order":{"id":"o30414","state":"SUBMITTED"},"siteId":"siteUS"}`, nil), bodyHashID, ""))

	cases = append(cases, withID(hmacCase("fourthwall", "X-Fourthwall-Hmac-SHA256", sha256.New, b64,
		`{"testMode":false,"id":"weve_qD7uVk","webhookId":"wcon_1","shopId":"sh_1","type":"ORDER_PLACED","apiVersion":"V1","createdAt":"2026-11-20T11:59:00Z","data":{}}`, nil),
		"weve_qD7uVk", "ORDER_PLACED"))

	cases = append(cases, stdwhCase("svix", "svix", `{"type":"invoice.paid","data":{"id":"inv_1"}}`, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "invoice.paid"))
	cases = append(cases, stdwhCase("standardwebhooks", "webhook", `{"type":"order.created","timestamp":"2026-11-20T11:59:00Z","data":{"id":"o1"}}`, "msg_p5jXN8AQM9LWM0D4loKWxJek", "order.created"))
	return cases
}

func TestConformance(t *testing.T) {
	cases := conformanceCases(t)
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.platform] = true
	}
	for _, p := range verify.Platforms() {
		if !covered[p] {
			t.Errorf("preset %q has no conformance case", p)
		}
	}
	if n := len(verify.Platforms()); n < 30 {
		t.Errorf("catalogue has %d presets, want at least 30", n)
	}
	for _, c := range cases {
		t.Run(c.platform, func(t *testing.T) { runConformance(t, c) })
	}
}

func runConformance(t *testing.T, c *pcase) {
	p, ok := verify.Lookup(c.platform)
	if !ok {
		t.Fatalf("Lookup(%q): no preset", c.platform)
	}
	if p.Platform != c.platform || p.Scheme == nil || p.Scheme.Name() == "" || p.EventID == nil || p.EventType == nil {
		t.Fatalf("preset %q is incomplete: %+v", c.platform, p)
	}
	if p.BodyAuthenticated != c.bodyAuth {
		t.Errorf("BodyAuthenticated = %v, want %v", p.BodyAuthenticated, c.bodyAuth)
	}
	if p.TimestampSigned != c.timestamped {
		t.Errorf("TimestampSigned = %v, want %v", p.TimestampSigned, c.timestamped)
	}
	if !slices.Contains([]string{"C", "P", "U"}, p.Confidence) || p.Notes == "" {
		t.Errorf("Confidence %q / Notes %q: want C, P or U and notes", p.Confidence, p.Notes)
	}

	ms := c.materials(t)
	signedAt := now.Add(-30 * time.Second)
	var errs []error
	var leakSources []*verify.Request
	expect := func(t *testing.T, r *verify.Request, k verify.Keys, want error) verify.Result {
		t.Helper()
		res, err := p.Verify(r, k, tolerance)
		if err != nil {
			errs = append(errs, err)
			leakSources = append(leakSources, r)
		}
		switch {
		case want == nil && err != nil:
			t.Fatalf("Verify: %v, want success", err)
		case want != nil && !errors.Is(err, want):
			t.Fatalf("Verify: %v, want %v", err, want)
		}
		return res
	}
	strip := func(r *verify.Request) {
		if c.strip != nil {
			c.strip(r)
			return
		}
		for _, h := range c.sigHeaders {
			r.Header.Del(h)
		}
	}

	t.Run("valid", func(t *testing.T) {
		r := c.build(t, ms[0], signedAt, c.body)
		res := expect(t, r, c.keysFor(t, ms[0]), nil)
		if res.EventID != c.expectedID() {
			t.Errorf("EventID = %q, want %q", res.EventID, c.expectedID())
		}
		if res.EventType != c.wantType {
			t.Errorf("EventType = %q, want %q", res.EventType, c.wantType)
		}
		if res.BodyAuthenticated != c.bodyAuth {
			t.Errorf("Result.BodyAuthenticated = %v, want %v", res.BodyAuthenticated, c.bodyAuth)
		}
		if c.timestamped {
			if want := signedAt.Truncate(c.signedAtUnit); !res.SignedAt.Equal(want) {
				t.Errorf("SignedAt = %v, want %v", res.SignedAt, want)
			}
		} else if !res.SignedAt.IsZero() {
			t.Errorf("SignedAt = %v, want zero: the scheme signs no timestamp", res.SignedAt)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		r := c.build(t, ms[0], signedAt, c.body)
		if c.tamper != nil {
			c.tamper(r)
			expect(t, r, c.keysFor(t, ms[0]), verify.ErrBadSignature)
		}
		if c.jwtBody {
			return
		}
		r = c.build(t, ms[0], signedAt, c.body)
		r.Body = append(r.Body, ' ')
		if c.bodyAuth {
			expect(t, r, c.keysFor(t, ms[0]), verify.ErrBadSignature)
		} else {
			// The body is not covered: it verifies, and says so.
			if res := expect(t, r, c.keysFor(t, ms[0]), nil); res.BodyAuthenticated {
				t.Error("a tampered body verified with BodyAuthenticated true")
			}
		}
	})

	t.Run("missing_signature", func(t *testing.T) {
		r := c.build(t, ms[0], signedAt, c.body)
		strip(r)
		expect(t, r, c.keysFor(t, ms[0]), verify.ErrMissingSignature)
	})

	t.Run("wrong_key", func(t *testing.T) {
		r := c.build(t, ms[2], signedAt, c.body)
		expect(t, r, c.keysFor(t, ms[0], ms[1]), verify.ErrBadSignature)
	})

	t.Run("rotation", func(t *testing.T) {
		for _, order := range [][2]int{{0, 1}, {1, 0}} {
			k := c.keysFor(t, ms[order[0]], ms[order[1]])
			for _, signer := range []int{0, 1} {
				r := c.build(t, ms[signer], signedAt, c.body)
				if res := expect(t, r, k, nil); res.EventID != c.expectedID() {
					t.Errorf("EventID = %q, want %q", res.EventID, c.expectedID())
				}
			}
		}
	})

	t.Run("no_key", func(t *testing.T) {
		r := c.build(t, ms[0], signedAt, c.body)
		expect(t, r, verify.Keys{}, verify.ErrNoKey)
	})

	if c.timestamped {
		t.Run("stale", func(t *testing.T) {
			r := c.build(t, ms[0], now.Add(-2*time.Hour), c.body)
			expect(t, r, c.keysFor(t, ms[0]), verify.ErrStale)
		})
		t.Run("future", func(t *testing.T) {
			r := c.build(t, ms[0], now.Add(2*time.Hour), c.body)
			expect(t, r, c.keysFor(t, ms[0]), verify.ErrStale)
		})
		t.Run("within_tolerance", func(t *testing.T) {
			for _, d := range []time.Duration{-tolerance + time.Second, tolerance - time.Second} {
				r := c.build(t, ms[0], now.Add(d), c.body)
				expect(t, r, c.keysFor(t, ms[0]), nil)
			}
		})
		t.Run("stale_with_wrong_key_is_bad_signature", func(t *testing.T) {
			r := c.build(t, ms[2], now.Add(-2*time.Hour), c.body)
			expect(t, r, c.keysFor(t, ms[0]), verify.ErrBadSignature)
		})
	}

	if !c.noGzip {
		t.Run("gzip", func(t *testing.T) {
			zipped := gz(t, c.body)
			r := c.build(t, ms[0], signedAt, zipped)
			r.Header.Set("Content-Encoding", "gzip")
			res := expect(t, r, c.keysFor(t, ms[0]), nil)
			if res.EventID != c.expectedID() || res.EventType != c.wantType {
				t.Errorf("gzip: EventID %q EventType %q, want %q %q", res.EventID, res.EventType, c.expectedID(), c.wantType)
			}
			if c.bodyAuth {
				// Signed over the decompressed bytes but sent compressed: the
				// signature must not verify.
				r := c.build(t, ms[0], signedAt, c.body)
				r.Body = zipped
				r.Header.Set("Content-Encoding", "gzip")
				expect(t, r, c.keysFor(t, ms[0]), verify.ErrBadSignature)
			}
		})
	}

	// No error message may carry a secret, a token or a signature.
	var secrets []string
	for _, m := range ms {
		secrets = append(secrets, string(m.secret), m.token, b64(m.secret), hx(m.secret))
	}
	for i, err := range errs {
		msg := err.Error()
		for _, s := range secrets {
			if len(s) >= 8 && strings.Contains(msg, s) {
				t.Errorf("error %q contains a secret", msg)
			}
		}
		r := leakSources[i]
		for _, h := range c.sigHeaders {
			for _, frag := range sigFragments(r.Header.Get(h)) {
				if strings.Contains(msg, frag) {
					t.Errorf("error %q contains signature material %q", msg, frag)
				}
			}
		}
		if reason := verify.Reason(err); reason == "" || reason == "other" {
			t.Errorf("Reason(%v) = %q", err, verify.Reason(err))
		}
	}
}

// sigFragments splits a signature header into the pieces worth looking for.
func sigFragments(v string) []string {
	var out []string
	if len(v) >= 12 {
		out = append(out, v)
	}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(" ,;=.", r) }) {
		if len(f) >= 12 {
			out = append(out, f)
		}
	}
	return out
}

func hexDecode(s string) ([]byte, error) {
	b := make([]byte, len(s)/2)
	_, err := fmt.Sscanf(s, "%x", &b)
	return b, err
}
