#!/usr/bin/env python3
"""Writes vectors.json: golden webhook requests for the verify package.

Two kinds of vector:
  * "published": copied from public documentation or the platform's own SDK
    tests (the source is named in each vector);
  * "recipe": signed here with Python's hmac/hashlib from the platform's
    documented recipe, an implementation independent of the Go code.

Run from this directory: python3 gen_vectors.py > vectors.json
"""
import base64
import hashlib
import hmac
import json

NOW = 1763640000  # 2025-11-20T12:00:00Z
vectors = []


def b64(b):
    return base64.b64encode(b).decode()


def hm(key, msg, algo=hashlib.sha256):
    return hmac.new(key, msg, algo).digest()


def add(**v):
    v.setdefault("method", "POST")
    v.setdefault("url", "https://hub.example.com/v1/webhooks/%s/store-1" % v["platform"])
    v.setdefault("now", NOW)
    v.setdefault("want_error", "")
    vectors.append(v)


# --- published -------------------------------------------------------------
sq_body = ('{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification",'
           '"event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z",'
           '"data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}')
sq_url = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9"
sq = dict(platform="square", kind="published",
          source="Square SDKs' webhook signature tests (isValidWebhookEventSignature)",
          url=sq_url, body=sq_body, secrets=["Ibxx_5AKakO-3qeNVR61Dw"],
          headers={"x-square-hmacsha256-signature": "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4="})
add(name="square-sdk", want_id="ac3ac95b-f97d-458c-a6e6-18981597e05f", want_type="webhooks.test_notification", **sq)
add(name="square-sdk-other-url", **dict(sq, url=sq_url + "/x"), want_error="bad_signature")
add(name="square-sdk-other-key", **dict(sq, secrets=["MCmhFRxGX82xMwg5FsaoQA"]), want_error="bad_signature")

sw = dict(kind="published", source="Standard Webhooks specification test vector (also Svix's docs)",
          body='{"test": 2432232314}', secrets=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], now=1614265330)
for platform, prefix in (("standardwebhooks", "webhook"), ("svix", "svix"), ("etsy", "webhook")):
    hdr = {prefix + "-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", prefix + "-timestamp": "1614265330",
           prefix + "-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    add(name=platform + "-spec", platform=platform, headers=hdr, want_id="msg_p5jXN8AQM9LWM0D4loKWxJek", want_type="", **sw)
add(name="standardwebhooks-spec-stale", platform="standardwebhooks",
    headers={"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
             "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
    want_error="stale", **dict(sw, now=1614265330 + 301))
add(name="standardwebhooks-spec-bare-secret", platform="standardwebhooks",
    headers={"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
             "webhook-signature": "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
    want_id="msg_p5jXN8AQM9LWM0D4loKWxJek", want_type="",
    **dict(sw, secrets=["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]))

# --- recipe ----------------------------------------------------------------
R = dict(kind="recipe", source="signed by gen_vectors.py from the platform's documented recipe")

body = '{"id":"evt_1Q0Golden","object":"event","type":"checkout.session.completed"}'
sec = "whsec_golden_stripe_secret"
t = str(NOW - 12)
add(name="stripe-format", platform="stripe", body=body, secrets=[sec], want_id="evt_1Q0Golden",
    want_type="checkout.session.completed",
    headers={"Stripe-Signature": "t=%s,v1=%s,v0=%s" % (t, hm(sec.encode(), (t + "." + body).encode()).hex(), "00" * 32)}, **R)
add(name="stripe-two-v1-rotation", platform="stripe", body=body, secrets=["whsec_new_one", sec], want_id="evt_1Q0Golden",
    want_type="checkout.session.completed",
    headers={"Stripe-Signature": "t=%s,v1=%s,v1=%s" % (t, hm(b"whsec_other", (t + "." + body).encode()).hex(),
                                                        hm(sec.encode(), (t + "." + body).encode()).hex())}, **R)

body = '{"event_id":"evt_01golden","event_type":"subscription.created","data":{}}'
add(name="paddle", platform="paddle", body=body, secrets=["pdl_ntfset_golden"], want_id="evt_01golden",
    want_type="subscription.created",
    headers={"Paddle-Signature": "ts=%s;h1=%s" % (t, hm(b"pdl_ntfset_golden", (t + ":" + body).encode()).hex())}, **R)

body = '{"id":450789469,"email":"bob@example.com"}'
add(name="shopify", platform="shopify", body=body, secrets=["shpss_golden"], want_id="evt-golden", want_type="orders/paid",
    headers={"X-Shopify-Hmac-Sha256": b64(hm(b"shpss_golden", body.encode())), "X-Shopify-Topic": "orders/paid",
             "X-Shopify-Event-Id": "evt-golden"}, **R)

body = '{"id":55,"date_modified_gmt":"2025-11-20T11:00:00"}'
add(name="woocommerce", platform="woocommerce", body=body, secrets=["wc-golden"], want_id="order.created:55:2025-11-20T11:00:00",
    want_type="order.created",
    headers={"X-WC-Webhook-Signature": b64(hm(b"wc-golden", body.encode())), "X-WC-Webhook-Topic": "order.created"}, **R)

body = '{"id":"sq-golden","topic":"order.create"}'
key = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
add(name="squarespace-hex-key", platform="squarespace", body=body, secrets=[key], want_id="sq-golden", want_type="order.create",
    headers={"Squarespace-Signature": hm(bytes.fromhex(key), body.encode()).hex()}, **R)

body = '{"order":{"id":7}}'
add(name="recharge-digest", platform="recharge", body=body, secrets=["rc-golden"],
    want_id=hashlib.sha256(b"order/created\x00" + body.encode() + b"\x00").hexdigest(), want_type="order/created",
    headers={"X-Recharge-Hmac-Sha256": hashlib.sha256(b"rc-golden" + body.encode()).hexdigest(),
             "X-Recharge-Topic": "order/created"}, **R)

body = '{"data":[{"external_id":"kl-1","topic":"event:klaviyo.opened_email"},{"external_id":"kl-2","topic":"event:klaviyo.opened_email"}]}'
add(name="klaviyo-batch", platform="klaviyo", body=body, secrets=["klaviyo-golden-secret"],
    want_id=hashlib.sha256(b"kl-1\x00kl-2\x00").hexdigest(), want_type="event:klaviyo.opened_email",
    headers={"Klaviyo-Signature": hm(b"klaviyo-golden-secret", (body + t).encode()).hex(), "Klaviyo-Timestamp": t}, **R)

body = '{"id":"whev_golden","name":"order.paid"}'
add(name="spree", platform="spree", body=body, secrets=["spree-golden"], want_id="whev_golden", want_type="order.paid",
    headers={"X-Spree-Webhook-Signature": hm(b"spree-golden", (t + "." + body).encode()).hex(),
             "X-Spree-Webhook-Timestamp": t, "X-Spree-Webhook-Event": "order.paid"}, **R)

body = '{"eventId":"ec-golden","eventCreated":1763639900,"eventType":"order.updated","storeId":1}'
add(name="ecwid-fields", platform="ecwid", body=body, secrets=["ecwid-client-secret"], want_id="ec-golden", want_type="order.updated",
    headers={"X-Ecwid-Webhook-Signature": b64(hm(b"ecwid-client-secret", b"1763639900.ec-golden"))}, **R)

ms = str(NOW * 1000 - 1500)
body = '{"type":"payment","data":{"id":"123456"}}'
manifest = "id:123456;request-id:req-golden;ts:%s;" % ms
add(name="mercadopago-manifest", platform="mercadopago", body=body, secrets=["mp-golden"], want_id="req-golden", want_type="payment",
    url="https://hub.example.com/v1/webhooks/mercadopago/store-1?data.id=123456&type=payment",
    headers={"x-signature": "ts=%s,v1=%s" % (ms, hm(b"mp-golden", manifest.encode()).hex()), "x-request-id": "req-golden"}, **R)
add(name="mercadopago-no-request-id", platform="mercadopago", body=body, secrets=["mp-golden"], want_error="bad_signature",
    url="https://hub.example.com/v1/webhooks/mercadopago/store-1?data.id=123456&type=payment",
    headers={"x-signature": "ts=%s,v1=%s" % (ms, hm(b"mp-golden", manifest.encode()).hex())}, **R)

body = '{"payload":{"notificationType":"PO_CREATED"}}'
canon = "POST\n/v1/webhooks/walmart/store-1?x=1\n%s\n%s" % (ms, hashlib.sha256(body.encode()).hexdigest())
add(name="walmart-canonical", platform="walmart", body=body, secrets=["wm-golden"],
    url="https://hub.example.com/v1/webhooks/walmart/store-1?x=1",
    want_id=hashlib.sha256(body.encode()).hexdigest(), want_type="PO_CREATED",
    headers={"WM_SEC.SIGNATURE": b64(hm(b"wm-golden", canon.encode())), "WM_SEC.TIMESTAMP": ms}, **R)

body = '{"event":"order.status_update"}'
add(name="deliveroo", platform="deliveroo", body=body, secrets=["dr-golden"], want_id="seq-golden", want_type="order.status_update",
    headers={"X-Deliveroo-Hmac-Sha256": hm(b"dr-golden", ("seq-golden " + body).encode()).hex(),
             "X-Deliveroo-Sequence-Guid": "seq-golden"}, **R)

body = '{"event_id":"ue-golden","event_type":"orders.notification"}'
add(name="ubereats", platform="ubereats", body=body, secrets=["ue-golden"], want_id="ue-golden", want_type="orders.notification",
    headers={"X-Uber-Signature": hm(b"ue-golden", body.encode()).hex()}, **R)

body = '{"order":{"id":"o1"}}'
add(name="oraclecommerce-sha512", platform="oraclecommerce", body=body, secrets=["occ-golden"],
    want_id=hashlib.sha256(body.encode()).hexdigest(), want_type="",
    headers={"X-Oracle-CC-WebHook-Signature": b64(hm(b"occ-golden", body.encode(), hashlib.sha512))}, **R)
okey = b64(b"occ-binary-key-\x00\x01\x02")
add(name="oraclecommerce-base64-key", platform="oraclecommerce", body=body, secrets=[okey],
    want_id=hashlib.sha256(body.encode()).hexdigest(), want_type="",
    headers={"X-Oracle-CC-WebHook-Signature": b64(hm(base64.b64decode(okey), body.encode(), hashlib.sha512))}, **R)

# Handshakes.
ch = "a8628072-3d33-45ee-9004-bee86830a22d"
tok = "71745723-d031-455c-bfa5-f90d11b4f20a"
ep = "https://hub.example.com/v1/webhooks/ebay/store-1"
add(name="ebay-challenge", platform="ebay", handshake=True, method="GET", url=ep + "?challenge_code=" + ch, body="",
    token=tok, headers={}, want_status=200, want_content_type="application/json",
    want_body=json.dumps({"challengeResponse": hashlib.sha256((ch + tok + ep).encode()).hexdigest()}, separators=(",", ":")),
    **R)
add(name="woocommerce-ping", platform="woocommerce", handshake=True, body="webhook_id=42", secrets=["wc-golden"],
    headers={"Content-Type": "application/x-www-form-urlencoded"}, want_status=200,
    want_content_type="text/plain; charset=utf-8", want_body="ok", **R)

print(json.dumps(vectors, indent=1, sort_keys=True))
