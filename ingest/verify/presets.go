package verify

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// presets is the catalogue, one entry per platform of the platform facts
// (shared/webhook-platforms.md). Derived ids are hex SHA-256 values; see each
// preset's Notes.
func presets() []*Preset {
	hmacB64 := func(h string) Scheme { return must(NewHMAC(HMACConfig{Header: h, Encoding: Base64})) }
	hmacHex := func(h string) Scheme { return must(NewHMAC(HMACConfig{Header: h, Encoding: Hex})) }
	stdwh := func(prefixes ...string) Scheme {
		return must(NewStandardWebhooks(StandardWebhooksConfig{HeaderPrefixes: prefixes}))
	}
	return []*Preset{
		{
			Platform:          "shopify",
			Scheme:            hmacB64("X-Shopify-Hmac-Sha256"),
			EventID:           EventIDFirst(EventIDFromHeader("X-Shopify-Event-Id", "X-Shopify-Webhook-Id"), EventIDFromBodyHash()),
			EventType:         EventTypeFromHeader("X-Shopify-Topic"),
			BodyAuthenticated: true,
			Confidence:        "C",
			Notes: "Base64 HMAC-SHA256 of the raw body with the app secret; during a rotation Shopify signs with the new " +
				"secret while the old one is still valid for about an hour, so configure both. Event id: X-Shopify-Event-Id " +
				"(the same across duplicate deliveries), else X-Shopify-Webhook-Id (per delivery), else the body hash. " +
				"X-Shopify-Shop-Domain names the shop.",
		},
		{
			Platform:          "woocommerce",
			Scheme:            hmacB64("X-WC-Webhook-Signature"),
			EventID:           wooEventID,
			EventType:         EventTypeFromHeader("X-WC-Webhook-Topic"),
			Handshake:         wooPing,
			BodyAuthenticated: true,
			Confidence:        "P",
			Notes: "Base64 HMAC-SHA256 of the raw body with the webhook secret. X-WC-Webhook-Delivery-ID changes with every " +
				"delivery, so the event id is derived: \"{topic}:{resource id}:{date_modified_gmt or date_modified}\" " +
				"(\"{topic}:{id}\" for deletions), else the body hash. The ping sent when a webhook is saved " +
				"(webhook_id=N, unsigned) is answered 200 \"ok\" by Handshake and not stored.",
		},
		{
			Platform:          "bigcommerce",
			Scheme:            must(NewHeaderToken("Authorization")),
			EventID:           EventIDFromBody("hash"),
			EventType:         EventTypeFromBody("scope"),
			BodyAuthenticated: false,
			Confidence:        "C",
			Notes: "Classic BigCommerce webhooks are not signed: register the webhook with headers " +
				"{\"Authorization\": \"<token>\"} and configure that exact value as the store's token. The body is NOT " +
				"authenticated: it is a hint (it carries only ids); re-read the resource through the API. Event id: body " +
				"hash field; type: body scope. Standard Webhooks signing announced for 2026 is unverified (U): configure " +
				"the standardwebhooks scheme for such a store instead.",
		},
		{
			Platform:          "adobecommerce",
			Scheme:            must(NewRSABody(RSABodyConfig{Header: "x-adobe-commerce-webhook-signature"})),
			EventID:           EventIDFromBodyHash(),
			EventType:         EventTypeFromBody("eventName"),
			BodyAuthenticated: true,
			Confidence:        "C",
			Notes: "Base64 RSA (PKCS #1 v1.5) SHA-256 signature of the raw body; verify with the public key generated in " +
				"Stores > Configuration > Adobe Services > Webhooks (Keys.PublicKeys; ParsePublicKey reads the PEM). " +
				"No event id: derived as the SHA-256 of the body. The event type is configured per hook: body eventName " +
				"when present, otherwise empty and the route's configuration names it.",
		},
		{
			Platform:          "square",
			Scheme:            must(NewURLHMAC(URLHMACConfig{Header: "x-square-hmacsha256-signature"})),
			EventID:           EventIDFromBody("event_id"),
			EventType:         EventTypeFromBody("type"),
			BodyAuthenticated: true,
			Confidence:        "P",
			Notes: "Base64 HMAC-SHA256 with the subscription's signature key (used as is) over the notification URL " +
				"followed by the raw body: Request.URL must be the URL exactly as registered in Square, query included.",
		},
		{
			Platform:          "stripe",
			Scheme:            NewStripe(),
			EventID:           EventIDFromBody("id"),
			EventType:         EventTypeFromBody("type"),
			BodyAuthenticated: true,
			TimestampSigned:   true,
			Confidence:        "P",
			Notes: "Stripe-Signature t=..,v1=..: hex HMAC-SHA256 of \"{t}.{body}\" keyed by the whole whsec_ secret; " +
				"several v1 during a rotation; t within the tolerance (Stripe's default 300 s).",
		},
		{
			Platform:          "paddle",
			Scheme:            NewPaddle(),
			EventID:           EventIDFromBody("event_id"),
			EventType:         EventTypeFromBody("event_type"),
			BodyAuthenticated: true,
			TimestampSigned:   true,
			Confidence:        "P",
			Notes:             "Paddle Billing: Paddle-Signature ts=..;h1=..: hex HMAC-SHA256 of \"{ts}:{body}\"; several h1 during a rotation.",
		},
		{
			Platform:          "chargebee",
			Scheme:            NewBasicAuth(),
			EventID:           EventIDFromBody("id"),
			EventType:         EventTypeFromBody("event_type"),
			BodyAuthenticated: false,
			Confidence:        "P",
			Notes: "HTTP basic auth configured on the webhook; the token is \"user:password\". The body is not " +
				"authenticated: a hint; re-read the event through the API before acting.",
		},
		{
			Platform:          "recharge",
			Scheme:            must(NewSecretDigest(SecretDigestConfig{Header: "X-Recharge-Hmac-Sha256"})),
			EventID:           EventIDFromHeaderAndBody("X-Recharge-Topic"),
			EventType:         EventTypeFromHeader("X-Recharge-Topic"),
			BodyAuthenticated: true,
			Confidence:        "P",
			Notes: "Hex plain SHA-256 (not an HMAC) of the API client secret followed by the raw body. No event id (U): " +
				"derived as SHA-256 of the topic and the body, since different topics can carry the same object.",
		},
		{
			Platform: "klaviyo",
			Scheme: must(NewTimestampHMAC(TimestampHMACConfig{
				Header: "Klaviyo-Signature", TimestampHeader: "Klaviyo-Timestamp", Encoding: Hex, BodyFirst: true,
			})),
			EventID:           klaviyoEventID,
			EventType:         EventTypeFromBody("data.0.topic"),
			BodyAuthenticated: true,
			TimestampSigned:   true,
			Confidence:        "P",
			Notes: "System webhooks: hex HMAC-SHA256 of the raw body followed by Klaviyo-Timestamp; the timestamp is " +
				"signed and checked. Event id (U): the data[].external_id of a single event, else SHA-256 of all of " +
				"them, else the body hash. Type: the first event's topic. Klaviyo-Webhook-Id names the webhook, not the event.",
		},
		{
			Platform:          "squarespace",
			Scheme:            must(NewHMAC(HMACConfig{Header: "Squarespace-Signature", Encoding: Hex, KeyEncodings: []KeyEncoding{KeyHex}})),
			EventID:           EventIDFromBody("id"),
			EventType:         EventTypeFromBody("topic"),
			BodyAuthenticated: true,
			Confidence:        "C",
			Notes:             "Hex HMAC-SHA256 of the raw body keyed by the hex-decoded subscription secret.",
		},
		{
			Platform:          "ecwid",
			Scheme:            must(NewFieldHMAC(FieldHMACConfig{Header: "X-Ecwid-Webhook-Signature", Template: "{eventCreated}.{eventId}"})),
			EventID:           EventIDFromBody("eventId"),
			EventType:         EventTypeFromBody("eventType"),
			BodyAuthenticated: false,
			Confidence:        "P",
			Notes: "Base64 HMAC-SHA256 of \"{eventCreated}.{eventId}\" with the app's client secret: the rest of the body " +
				"is NOT covered, so treat it as a hint and re-fetch the entity. eventCreated is signed but Ecwid retries " +
				"with the original value, so no tolerance window is applied.",
		},
		{
			Platform:          "wix",
			Scheme:            must(NewJWTBody(JWTBodyConfig{})),
			EventID:           wixEventID,
			EventType:         wixEventType,
			BodyAuthenticated: true,
			TimestampSigned:   true,
			Confidence:        "C",
			Notes: "The whole body is a JWT (RS256) signed with the app's key (Keys.PublicKeys). iat/exp are signed: a " +
				"token issued beyond the tolerance in the future, or expired beyond it, is stale. Event id (U in the " +
				"platform facts): the envelope's data.data.id, which Wix's webhook structure documents as the webhook " +
				"event id, else the body hash; type: data.eventType.",
		},
		{
			Platform: "shopware",
			Scheme:   hmacHex("shopware-shop-signature"),
			EventID: EventIDFirst(EventIDFromHeader("X-Shopware-Event-Id"), EventIDFromBody("source.eventId"),
				EventIDFromBodyHash()),
			EventType:         EventTypeFromBody("data.event"),
			BodyAuthenticated: true,
			Confidence:        "P",
			Notes: "Shopware 6 app webhooks: hex HMAC-SHA256 of the raw body with the shop secret. Event id (U): " +
				"X-Shopware-Event-Id, else body source.eventId, else the body hash.",
		},
		{
			Platform:          "saleor",
			Scheme:            must(NewDetachedJWS(DetachedJWSConfig{})),
			EventID:           EventIDFromHeaderAndBody("Saleor-Event"),
			EventType:         EventTypeFromHeader("Saleor-Event"),
			BodyAuthenticated: true,
			Confidence:        "C",
			Notes: "Saleor-Signature is a detached JWS (RS256, payload = raw body, \"b64\": false as Saleor signs it; " +
				"the base64url form is accepted too) verified with the shop's JWKS (Keys.JWKS, fetched by the caller from " +
				"/.well-known/jwks.json) by kid. The deprecated HMAC mode (webhook secretKey) is not supported. Event id " +
				"(U): SHA-256 of Saleor-Event and the body.",
		},
		{
			Platform: "spree",
			Scheme: must(NewTimestampHMAC(TimestampHMACConfig{
				Header: "X-Spree-Webhook-Signature", TimestampHeader: "X-Spree-Webhook-Timestamp", Encoding: Hex, Separator: ".",
			})),
			EventID:           EventIDFromBody("id"),
			EventType:         EventTypeFromHeader("X-Spree-Webhook-Event"),
			BodyAuthenticated: true,
			TimestampSigned:   true,
			Confidence:        "C",
			Notes:             "Spree 5.3+: hex HMAC-SHA256 of \"{timestamp}.{body}\"; the timestamp is checked against the tolerance.",
		},
		{
			Platform:          "salla",
			Scheme:            hmacHex("X-Salla-Signature"),
			EventID:           EventIDFromBodyHash(),
			EventType:         EventTypeFromBody("event"),
			BodyAuthenticated: true,
			Confidence:        "P",
			Notes: "Signature strategy: hex HMAC-SHA256 of the raw body. Stores using Salla's token strategy " +
				"(Authorization: Bearer) need the bearer-token scheme from configuration, and their bodies are then not " +
				"authenticated. Event id (U): SHA-256 of the body.",
		},
		{
			Platform:          "tiendanube",
			Scheme:            hmacHex("x-linkedstore-hmac-sha256"),
			EventID:           tiendanubeEventID,
			EventType:         EventTypeFromBody("event"),
			BodyAuthenticated: true,
			Confidence:        "P",
			Notes: "Tiendanube / Nuvemshop: HMAC-SHA256 of the raw body with the app secret, hex (U: the encoding is " +
				"unconfirmed; a base64 store needs an HMAC scheme from configuration). The body only names " +
				"{store_id, event, id}; the event id is \"{store_id}:{event}:{id}\": repeated updates of one resource " +
				"share it, so de-duplicate within a bounded window.",
		},
		{
			Platform:          "mercadopago",
			Scheme:            must(NewMercadoPago(MercadoPagoConfig{})),
			EventID:           EventIDFromHeader("x-request-id"),
			EventType:         EventTypeFromBody("type"),
			BodyAuthenticated: false,
			TimestampSigned:   true,
			Confidence:        "C",
			Notes: "x-signature ts=..,v1=..: hex HMAC-SHA256 of \"id:{data.id};request-id:{x-request-id};ts:{ts};\" " +
				"with data.id from the URL query (lower-cased) and absent parts left out. The body is NOT covered: " +
				"re-read the resource. ts (seconds or milliseconds) is checked against the tolerance.",
		},
		{
			Platform:          "etsy",
			Scheme:            stdwh("webhook"),
			EventID:           EventIDFromHeader("webhook-id"),
			EventType:         EventTypeFromBody("event_type"),
			BodyAuthenticated: true,
			TimestampSigned:   true,
			Confidence:        "C",
			Notes:             "Standard Webhooks: whsec_ secret, base64 HMAC-SHA256 of \"{id}.{timestamp}.{body}\", timestamp within ±5 min.",
		},
		{
			Platform:          "ebay",
			Scheme:            must(NewEbay(EbayConfig{})),
			EventID:           EventIDFromBody("notification.notificationId"),
			EventType:         EventTypeFromBody("metadata.topic"),
			Handshake:         ebayChallenge,
			BodyAuthenticated: true,
			Confidence:        "C",
			Notes: "X-EBAY-SIGNATURE is base64 JSON {alg,kid,signature,digest}; the ECDSA signature covers the raw body " +
				"with the declared digest (SHA1). Keys come from Keys.KeysByID by kid: the caller caches eBay's " +
				"getPublicKey answers (about an hour); this package never fetches. The endpoint validation GET " +
				"(challenge_code) is answered by Handshake with the verification token (Keys.Token).",
		},
		{
			Platform:          "walmart",
			Scheme:            must(NewCanonicalRequest(CanonicalRequestConfig{})),
			EventID:           EventIDFromBodyHash(),
			EventType:         EventTypeFromBody("payload.notificationType"),
			BodyAuthenticated: true,
			TimestampSigned:   true,
			Confidence:        "C",
			Notes: "Performance notifications: WM_SEC.SIGNATURE is the base64 HMAC-SHA256 of " +
				"\"METHOD\\nPATH?QUERY\\nWM_SEC.TIMESTAMP\\nhex(sha256(body))\"; the timestamp (milliseconds) is checked. " +
				"Event id (U): SHA-256 of the body. Event notifications (the other Walmart family, Authorization chosen " +
				"per subscription) need a token or basic scheme from configuration.",
		},
		{
			Platform:          "shopline",
			Scheme:            hmacB64("X-Shopline-Hmac-Sha256"),
			EventID:           EventIDFromHeader("X-Shopline-Webhook-Id"),
			EventType:         EventTypeFromHeader("X-Shopline-Topic"),
			BodyAuthenticated: true,
			Confidence:        "C",
			Notes:             "Base64 HMAC-SHA256 of the raw body with the app secret.",
		},
		{
			Platform:          "jumpseller",
			Scheme:            hmacB64("Jumpseller-Hmac-Sha256"),
			EventID:           EventIDFromHeaderAndBody("Jumpseller-Event"),
			EventType:         EventTypeFromHeader("Jumpseller-Event"),
			BodyAuthenticated: true,
			Confidence:        "P",
			Notes: "HMAC-SHA256 of the raw body with the store's hooks token, base64 (U: unconfirmed encoding; a hex store " +
				"needs an HMAC scheme from configuration). No event id: SHA-256 of Jumpseller-Event and the body.",
		},
		{
			Platform:          "gumroad",
			Scheme:            NewSecretURL("token"),
			EventID:           gumroadEventID,
			EventType:         gumroadEventType,
			BodyAuthenticated: false,
			Confidence:        "C",
			Notes: "Gumroad pings are unsigned and form-encoded: register the ping URL with ?token=<secret>. The body is " +
				"NOT authenticated: verify the sale through the API. Event id: \"{resource_name or sale}:{sale_id or " +
				"subscription_id}\", else the body hash; type: resource_name, default \"sale\".",
		},
		{
			Platform:          "ubereats",
			Scheme:            hmacHex("X-Uber-Signature"),
			EventID:           EventIDFromBody("event_id"),
			EventType:         EventTypeFromBody("event_type"),
			BodyAuthenticated: true,
			Confidence:        "C",
			Notes:             "Lower-case hex HMAC-SHA256 of the raw body with the client secret. Orders must be accepted or denied within 11.5 min.",
		},
		{
			Platform:          "doordash",
			Scheme:            must(NewHeaderToken("Authorization")),
			EventID:           doordashEventID,
			EventType:         EventTypeFromBody("event_name"),
			BodyAuthenticated: false,
			Confidence:        "P",
			Notes: "DoorDash Drive sends the Authorization value configured in the developer portal: compared whole. The " +
				"body is NOT authenticated. Event id (U): \"{event_name}:{external_delivery_id}:{created_at}\", else the body hash.",
		},
		{
			Platform: "deliveroo",
			Scheme: must(NewHMAC(HMACConfig{
				Header: "X-Deliveroo-Hmac-Sha256", Encoding: Hex, PartHeader: "X-Deliveroo-Sequence-Guid", PartSeparator: " ",
			})),
			EventID:           EventIDFromHeader("X-Deliveroo-Sequence-Guid"),
			EventType:         EventTypeFromBody("event"),
			BodyAuthenticated: true,
			Confidence:        "P",
			Notes:             "Hex HMAC-SHA256 of \"{X-Deliveroo-Sequence-Guid} {body}\"; the sequence guid is the event id.",
		},
		{
			Platform:          "commercelayer",
			Scheme:            hmacB64("X-CommerceLayer-Signature"),
			EventID:           EventIDFromHeaderAndBody("X-CommerceLayer-Topic"),
			EventType:         EventTypeFromHeader("X-CommerceLayer-Topic"),
			BodyAuthenticated: true,
			Confidence:        "P",
			Notes:             "Base64 HMAC-SHA256 of the raw body with the webhook's shared secret. Event id (U): SHA-256 of the topic and the body.",
		},
		{
			Platform: "oraclecommerce",
			Scheme: must(NewHMAC(HMACConfig{
				Header: "X-Oracle-CC-WebHook-Signature", Hash: crypto.SHA512, Encoding: Base64,
				KeyEncodings: []KeyEncoding{KeyRaw, KeyBase64},
			})),
			EventID:           EventIDFromBodyHash(),
			EventType:         func(*Request) string { return "" },
			BodyAuthenticated: true,
			Confidence:        "C",
			Notes: "Base64 HMAC-SHA512 of the raw body. The secret is tried as given and base64-decoded (U: the docs' " +
				"sample is ambiguous). Each Oracle webhook type has its own URL, so the event type comes from the " +
				"route's configuration (empty here); event id (U): SHA-256 of the body.",
		},
		{
			Platform:          "fourthwall",
			Scheme:            hmacB64("X-Fourthwall-Hmac-SHA256"),
			EventID:           EventIDFirst(EventIDFromBody("id"), EventIDFromBodyHash()),
			EventType:         EventTypeFromBody("type"),
			BodyAuthenticated: true,
			Confidence:        "C",
			Notes: "Base64 HMAC-SHA256 of the raw body with the shop's webhook secret (platform apps sign " +
				"X-Fourthwall-Hmac-Apps-SHA256: configure an HMAC scheme on that header). Event id and type (U): body id " +
				"and type, else the body hash.",
		},
		{
			Platform:          "svix",
			Scheme:            stdwh("svix", "webhook"),
			EventID:           EventIDFromHeader("svix-id", "webhook-id"),
			EventType:         EventTypeFromBody("type"),
			BodyAuthenticated: true,
			TimestampSigned:   true,
			Confidence:        "C",
			Notes:             "Any Svix-powered sender: svix-id/svix-timestamp/svix-signature (webhook-* accepted too), as Standard Webhooks.",
		},
		{
			Platform:          "standardwebhooks",
			Scheme:            stdwh("webhook", "svix"),
			EventID:           EventIDFromHeader("webhook-id", "svix-id"),
			EventType:         EventTypeFromBody("type"),
			BodyAuthenticated: true,
			TimestampSigned:   true,
			Confidence:        "C",
			Notes: "Generic Standard Webhooks sender: whsec_ base64 secret, v1 HMAC-SHA256 list (v1a Ed25519 with " +
				"Keys.PublicKeys), timestamp within the tolerance.",
		},
	}
}

// wooEventID derives WooCommerce's event id; see the preset's Notes.
func wooEventID(r *Request) (string, error) {
	b, err := payload(r)
	if err != nil {
		return "", err
	}
	if v, ok := jsonFields(b, []string{"id"}, []string{"date_modified_gmt"}, []string{"date_modified"}); ok && v[0] != "" {
		id := header(r.Header, "X-Wc-Webhook-Topic") + ":" + v[0]
		if mod := firstNonEmpty(v[1], v[2]); mod != "" {
			id += ":" + mod
		}
		return id, nil
	}
	return bodyHash(r)
}

// klaviyoEventID: one event's external_id, SHA-256 of several, else the body hash.
func klaviyoEventID(r *Request) (string, error) {
	b, err := payload(r)
	if err != nil {
		return "", err
	}
	p := jsonParsers.Get()
	defer jsonParsers.Put(p)
	v, err := p.ParseBytes(b)
	if err != nil {
		return "", fail("klaviyo", ErrMalformed, "body is not JSON")
	}
	var ids [][]byte
	for _, e := range v.GetArray("data") {
		if id := scalar(e.Get("external_id")); id != "" {
			ids = append(ids, []byte(id))
		}
	}
	switch len(ids) {
	case 0:
		return bodyHash(r)
	case 1:
		return string(ids[0]), nil
	default:
		return derive(ids...), nil
	}
}

// tiendanubeEventID is "{store_id}:{event}:{id}".
func tiendanubeEventID(r *Request) (string, error) {
	b, err := payload(r)
	if err != nil {
		return "", err
	}
	v, ok := jsonFields(b, []string{"store_id"}, []string{"event"}, []string{"id"})
	if !ok {
		return "", fail("tiendanube", ErrMalformed, "body is not JSON")
	}
	if v[0] == "" || v[1] == "" || v[2] == "" {
		return bodyHash(r)
	}
	return v[0] + ":" + v[1] + ":" + v[2], nil
}

// doordashEventID is "{event_name}:{external_delivery_id}:{created_at}".
func doordashEventID(r *Request) (string, error) {
	b, err := payload(r)
	if err != nil {
		return "", err
	}
	v, ok := jsonFields(b, []string{"event_name"}, []string{"external_delivery_id"}, []string{"created_at"})
	if !ok || v[0] == "" || v[1] == "" {
		return bodyHash(r)
	}
	return v[0] + ":" + v[1] + ":" + v[2], nil
}

func gumroadEventType(r *Request) string {
	t, _ := formField(r, "resource_name")
	return firstNonEmpty(t, "sale")
}

// gumroadEventID is "{resource_name or sale}:{sale_id or subscription_id}".
func gumroadEventID(r *Request) (string, error) {
	b, err := payload(r)
	if err != nil {
		return "", err
	}
	q, err := parseForm(b)
	if err != nil {
		return "", fail("gumroad", ErrMalformed, "body is not form-encoded")
	}
	id := firstNonEmpty(q.Get("sale_id"), q.Get("subscription_id"))
	if id == "" {
		return bodyHash(r)
	}
	return firstNonEmpty(q.Get("resource_name"), "sale") + ":" + id, nil
}

// wixEnvelope decodes the (already verified) JWT body: claims.data is a JSON
// string {eventType, instanceId, data}, whose data is a JSON string carrying
// the event id.
func wixEnvelope(r *Request) (eventType, eventID string) {
	b, err := payload(r)
	if err != nil {
		return "", ""
	}
	parts := strings.Split(strings.TrimSpace(string(b)), ".")
	if len(parts) != 3 {
		return "", ""
	}
	claims, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", ""
	}
	var outer struct {
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(claims, &outer) != nil {
		return "", ""
	}
	var env struct {
		EventType string          `json:"eventType"`
		Data      json.RawMessage `json:"data"`
	}
	if json.Unmarshal(unwrapJSONString(outer.Data), &env) != nil {
		return "", ""
	}
	var inner struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(unwrapJSONString(env.Data), &inner)
	return env.EventType, inner.ID
}

// unwrapJSONString returns the JSON text inside a JSON string, or raw itself
// when it is not a string.
func unwrapJSONString(raw json.RawMessage) []byte {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return []byte(s)
	}
	return raw
}

func wixEventType(r *Request) string {
	t, _ := wixEnvelope(r)
	return t
}

func wixEventID(r *Request) (string, error) {
	if _, id := wixEnvelope(r); id != "" {
		return id, nil
	}
	return bodyHash(r)
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
