package verify_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pilotx/dispatchhub/ingest/verify"
)

func lookup(t *testing.T, platform string) *verify.Preset {
	t.Helper()
	p, ok := verify.Lookup(platform)
	if !ok {
		t.Fatalf("no preset %q", platform)
	}
	return p
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func TestReason(t *testing.T) {
	for err, want := range map[error]string{
		nil:                        "",
		verify.ErrMissingSignature: "missing_signature",
		fmt.Errorf("x: %w", verify.ErrBadSignature): "bad_signature",
		verify.ErrStale:     "stale",
		verify.ErrMalformed: "malformed",
		verify.ErrNoKey:     "no_key",
		errors.New("boom"):  "other",
	} {
		if got := verify.Reason(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}

func TestPlatformsSortedAndLookupCopies(t *testing.T) {
	ps := verify.Platforms()
	for i := 1; i < len(ps); i++ {
		if ps[i-1] >= ps[i] {
			t.Fatalf("Platforms not sorted: %q before %q", ps[i-1], ps[i])
		}
	}
	p := lookup(t, "SHOPIFY")
	p.Scheme = nil
	p.Notes = "changed"
	if q := lookup(t, "shopify"); q.Scheme == nil || q.Notes == "changed" {
		t.Fatal("changing a looked-up preset changed the catalogue")
	}
	if _, ok := verify.Lookup("no-such-platform"); ok {
		t.Fatal("Lookup found an unknown platform")
	}
}

func TestHeaderLookupIgnoresCase(t *testing.T) {
	body := []byte(`{"id":1}`)
	secret := []byte("case-secret")
	// A map filled without canonicalisation, as a hand-built header may be.
	h := http.Header{
		"x-shopify-hmac-sha256": {b64(mac(sha256.New, secret, body))},
		"x-shopify-event-id":    {"e-1"},
		"WM_SEC.SIGNATURE":      {"unused"},
	}
	res, err := lookup(t, "shopify").Verify(&verify.Request{Header: h, Body: body, Now: now}, verify.Keys{Secrets: [][]byte{secret}}, 0)
	if err != nil || res.EventID != "e-1" {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
}

func TestTimestampRules(t *testing.T) {
	p := lookup(t, "spree")
	secret := []byte("spree-secret")
	body := []byte(`{"id":"x"}`)
	sign := func(ts string) *verify.Request {
		h := http.Header{}
		h.Set("X-Spree-Webhook-Timestamp", ts)
		h.Set("X-Spree-Webhook-Signature", hx(mac(sha256.New, secret, []byte(ts+"."), body)))
		return &verify.Request{Header: h, Body: body, Now: now}
	}
	k := verify.Keys{Secrets: [][]byte{secret}}

	// Tolerance <= 0 means the default five minutes.
	if _, err := p.Verify(sign(strconv.FormatInt(now.Add(-4*time.Minute).Unix(), 10)), k, 0); err != nil {
		t.Fatalf("4 min old with the default tolerance: %v", err)
	}
	_, err := p.Verify(sign(strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)), k, 0)
	wantErr(t, err, verify.ErrStale)
	// A wider tolerance admits it.
	if _, err := p.Verify(sign(strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)), k, 10*time.Minute); err != nil {
		t.Fatalf("6 min old with a 10 min tolerance: %v", err)
	}
	// Milliseconds, fractions and RFC 3339 are timestamps too.
	for _, ts := range []string{
		strconv.FormatInt(now.Add(-time.Minute).UnixMilli(), 10),
		strconv.FormatInt(now.Add(-time.Minute).Unix(), 10) + ".250",
		now.Add(-time.Minute).Format(time.RFC3339Nano),
	} {
		res, err := p.Verify(sign(ts), k, 0)
		if err != nil || res.SignedAt.IsZero() {
			t.Fatalf("timestamp %q: %+v %v", ts, res, err)
		}
	}
	// A signed value that is no timestamp is malformed, not stale.
	_, err = p.Verify(sign("yesterday"), k, 0)
	wantErr(t, err, verify.ErrMalformed)
	// No receipt time: fail closed.
	r := sign(strconv.FormatInt(now.Unix(), 10))
	r.Now = time.Time{}
	_, err = p.Verify(r, k, 0)
	wantErr(t, err, verify.ErrStale)
}

func TestCompositeHeaderErrors(t *testing.T) {
	p := lookup(t, "stripe")
	k := verify.Keys{Secrets: [][]byte{[]byte("whsec_x")}}
	for hdr, want := range map[string]error{
		"":                         verify.ErrMissingSignature,
		"v1=abcd":                  verify.ErrMalformed,
		"t=1763640000":             verify.ErrMissingSignature,
		"t=1763640000,v0=abcd":     verify.ErrMissingSignature,
		"t=1763640000,v1=zz,v1=00": verify.ErrBadSignature,
		"t=,v1=00":                 verify.ErrMalformed,
		",,,;;;===":                verify.ErrMalformed,
	} {
		h := http.Header{}
		h.Set("Stripe-Signature", hdr)
		_, err := p.Verify(&verify.Request{Header: h, Body: []byte("{}"), Now: now}, k, 0)
		if !errors.Is(err, want) {
			t.Errorf("Stripe-Signature %q: %v, want %v", hdr, err, want)
		}
	}
}

func TestWooCommercePing(t *testing.T) {
	p := lookup(t, "woocommerce")
	k := verify.Keys{Secrets: [][]byte{[]byte("s")}}
	ping := func(method, body string, hdr map[string]string) *verify.Handshake {
		return p.Handshake(&verify.Request{Method: method, Header: cloneHeader(hdr), Body: []byte(body), Now: now}, k)
	}
	for _, body := range []string{"webhook_id=42", " webhook_id=7\n", `{"webhook_id":42}`, `{"webhook_id":"42"}`} {
		hs := ping("POST", body, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		if hs == nil || hs.Status != http.StatusOK || string(hs.Body) != "ok" {
			t.Errorf("ping %q: %+v", body, hs)
		}
	}
	for name, c := range map[string]struct {
		method, body string
		hdr          map[string]string
	}{
		"signed":        {"POST", "webhook_id=42", map[string]string{"X-WC-Webhook-Signature": "abc"}},
		"event":         {"POST", `{"id":42,"status":"processing"}`, nil},
		"extra field":   {"POST", "webhook_id=42&x=1", nil},
		"not a number":  {"POST", "webhook_id=abc", nil},
		"GET":           {"GET", "webhook_id=42", nil},
		"json extra":    {"POST", `{"webhook_id":42,"id":1}`, nil},
		"empty":         {"POST", "", nil},
		"huge":          {"POST", "webhook_id=" + strings.Repeat("1", 300), nil},
		"json negative": {"POST", `{"webhook_id":-1}`, nil},
	} {
		if hs := ping(c.method, c.body, c.hdr); hs != nil {
			t.Errorf("%s: answered as a ping: %+v", name, hs)
		}
	}
	// An unsigned ping is never stored: Verify rejects it.
	_, err := p.Verify(&verify.Request{Method: "POST", Header: http.Header{}, Body: []byte("webhook_id=42"), Now: now}, k, 0)
	wantErr(t, err, verify.ErrMissingSignature)
}

func TestEbayChallenge(t *testing.T) {
	p := lookup(t, "ebay")
	endpoint := "https://hub.example.com/v1/webhooks/ebay/store-9"
	r := &verify.Request{Method: "GET", URL: endpoint + "?challenge_code=abc123", Header: http.Header{}, Now: now}
	sum := sha256.Sum256([]byte("abc123" + "verification-token-0123456789abcdef" + endpoint))
	want := `{"challengeResponse":"` + hex.EncodeToString(sum[:]) + `"}`
	for _, k := range []verify.Keys{
		{Token: "verification-token-0123456789abcdef"},
		{Secrets: [][]byte{[]byte("verification-token-0123456789abcdef")}},
	} {
		hs := p.Handshake(r, k)
		if hs == nil || hs.Status != 200 || hs.ContentType != "application/json" || string(hs.Body) != want {
			t.Fatalf("Handshake = %+v, want body %s", hs, want)
		}
	}
	if hs := p.Handshake(r, verify.Keys{}); hs != nil {
		t.Errorf("answered without a verification token: %+v", hs)
	}
	if hs := p.Handshake(&verify.Request{Method: "GET", URL: endpoint, Header: http.Header{}}, verify.Keys{Token: "t"}); hs != nil {
		t.Errorf("answered a GET without challenge_code: %+v", hs)
	}
	if hs := p.Handshake(&verify.Request{Method: "POST", URL: r.URL, Header: http.Header{}}, verify.Keys{Token: "t"}); hs != nil {
		t.Errorf("answered a POST: %+v", hs)
	}
}

func TestEbayErrors(t *testing.T) {
	p := lookup(t, "ebay")
	kr := keys(t)
	body := []byte(`{"metadata":{"topic":"T"},"notification":{"notificationId":"n1"}}`)
	req := func(v string) *verify.Request {
		h := http.Header{}
		h.Set("X-EBAY-SIGNATURE", v)
		return &verify.Request{Header: h, Body: body, Now: now}
	}
	k := verify.Keys{KeysByID: map[string]crypto.PublicKey{"k1": &kr.ec[0].PublicKey}}
	sig := func(kid, digest string, s []byte) string {
		return b64(mustJSON(t, map[string]string{"alg": "ecdsa", "kid": kid, "signature": b64(s), "digest": digest}))
	}
	_, err := p.Verify(req("%%%"), k, 0)
	wantErr(t, err, verify.ErrMalformed)
	_, err = p.Verify(req(b64([]byte("[1,2]"))), k, 0)
	wantErr(t, err, verify.ErrMalformed)
	_, err = p.Verify(req(sig("", "SHA1", []byte{1})), k, 0)
	wantErr(t, err, verify.ErrMalformed)
	_, err = p.Verify(req(sig("unknown", "SHA1", ecSignSHA1(t, kr.ec[0], body))), k, 0)
	wantErr(t, err, verify.ErrNoKey)
	_, err = p.Verify(req(sig("k1", "MD5", ecSignSHA1(t, kr.ec[0], body))), k, 0)
	wantErr(t, err, verify.ErrBadSignature)
	// SHA256 digests are accepted when declared.
	sum := sha256.Sum256(body)
	s256, err := ecdsa.SignASN1(rand.Reader, kr.ec[0], sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(req(sig("k1", "SHA256", s256)), k, 0); err != nil {
		t.Fatalf("SHA256 digest: %v", err)
	}
	// ... but not under a SHA1 declaration.
	_, err = p.Verify(req(sig("k1", "SHA1", s256)), k, 0)
	wantErr(t, err, verify.ErrBadSignature)
}

func TestSaleorJWSForms(t *testing.T) {
	p := lookup(t, "saleor")
	kr := keys(t)
	body := []byte(`{"order":{"id":"1"}}`)
	jwks := mustJSON(t, map[string]any{"keys": []any{jwk("k1", &kr.rsa[0].PublicKey)}})
	k := verify.Keys{JWKS: jwks}
	req := func(v string) *verify.Request {
		h := http.Header{}
		h.Set("Saleor-Signature", v)
		h.Set("Saleor-Event", "order_created")
		return &verify.Request{Header: h, Body: body, Now: now}
	}
	sign := func(head map[string]any, input []byte) string {
		prot := b64url(mustJSON(t, head))
		return prot + ".." + b64url(rsaSign(t, kr.rsa[0], crypto.SHA256, append([]byte(prot+"."), input...)))
	}
	// RFC 7515 form: the payload is signed base64url-encoded.
	if _, err := p.Verify(req(sign(map[string]any{"alg": "RS256", "kid": "k1"}, []byte(b64url(body)))), k, 0); err != nil {
		t.Fatalf("b64 payload: %v", err)
	}
	// A kid absent from the JWKS still verifies with the store's keys.
	if _, err := p.Verify(req(sign(map[string]any{"alg": "RS256", "kid": "rotated", "b64": false, "crit": []string{"b64"}}, body)), k, 0); err != nil {
		t.Fatalf("unknown kid: %v", err)
	}
	// Keys may also be configured by id or as plain public keys.
	for _, kk := range []verify.Keys{
		{KeysByID: map[string]crypto.PublicKey{"k1": &kr.rsa[0].PublicKey}},
		{PublicKeys: []crypto.PublicKey{&kr.rsa[0].PublicKey}},
	} {
		if _, err := p.Verify(req(sign(map[string]any{"alg": "RS256", "kid": "k1", "b64": false, "crit": []string{"b64"}}, body)), kk, 0); err != nil {
			t.Fatalf("keys %+v: %v", kk, err)
		}
	}
	good := sign(map[string]any{"alg": "RS256", "kid": "k1", "b64": false, "crit": []string{"b64"}}, body)
	parts := strings.Split(good, ".")
	for v, want := range map[string]error{
		parts[0] + "." + b64url(body) + "." + parts[2]: verify.ErrMalformed,        // attached payload
		parts[0] + ".." + parts[2] + ".x":              verify.ErrMalformed,        // four segments
		"not-a-jws":                                    verify.ErrMalformed,        // one segment
		parts[0] + "..":                                verify.ErrMissingSignature, // no signature
		sign(map[string]any{"alg": "RS256", "crit": []string{"exp"}}, body):                                            verify.ErrMalformed,
		sign(map[string]any{"alg": "HS256", "kid": "k1"}, body):                                                        verify.ErrBadSignature,
		sign(map[string]any{"alg": "none", "kid": "k1"}, body):                                                         verify.ErrBadSignature,
		sign(map[string]any{"alg": "RS256", "kid": "k1", "b64": false, "crit": []string{"b64"}}, []byte(b64url(body))): verify.ErrBadSignature,
	} {
		_, err := p.Verify(req(v), k, 0)
		if !errors.Is(err, want) {
			t.Errorf("Saleor-Signature %.40q...: %v, want %v", v, err, want)
		}
	}
	_, err := p.Verify(req(good), verify.Keys{JWKS: []byte("{not json")}, 0)
	wantErr(t, err, verify.ErrNoKey)
}

func TestWixRejectsWeakTokens(t *testing.T) {
	p := lookup(t, "wix")
	kr := keys(t)
	k := verify.Keys{PublicKeys: []crypto.PublicKey{&kr.rsa[0].PublicKey}}
	claims := b64url([]byte(`{"data":"{}","iat":1763640000}`))
	for _, alg := range []string{"none", "HS256"} {
		head := b64url([]byte(`{"alg":"` + alg + `","typ":"JWT"}`))
		tok := head + "." + claims + "." + b64url(mac(sha256.New, []byte("anything"), []byte(head+"."+claims)))
		_, err := p.Verify(&verify.Request{Header: http.Header{}, Body: []byte(tok), Now: now}, k, 0)
		wantErr(t, err, verify.ErrBadSignature)
	}
	_, err := p.Verify(&verify.Request{Header: http.Header{}, Body: []byte("{}"), Now: now}, k, 0)
	wantErr(t, err, verify.ErrMissingSignature)
	_, err = p.Verify(&verify.Request{Header: http.Header{}, Body: []byte("a.b.c"), Now: now}, k, 0)
	wantErr(t, err, verify.ErrMalformed)
	// An ECDSA-only key set has nothing for RS256.
	_, err = p.Verify(&verify.Request{Header: http.Header{}, Body: []byte("a.b.c"), Now: now}, verify.Keys{PublicKeys: []crypto.PublicKey{&kr.ec[0].PublicKey}}, 0)
	wantErr(t, err, verify.ErrNoKey)
}

func TestStandardWebhooksEd25519(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"x"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", "v1a,"+b64(ed25519.Sign(priv, append([]byte("msg_1."+ts+"."), body...))))
	p := lookup(t, "standardwebhooks")
	r := &verify.Request{Header: h, Body: body, Now: now}
	if _, err := p.Verify(r, verify.Keys{PublicKeys: []crypto.PublicKey{pub}}, 0); err != nil {
		t.Fatalf("v1a: %v", err)
	}
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	_, err = p.Verify(r, verify.Keys{PublicKeys: []crypto.PublicKey{other}}, 0)
	wantErr(t, err, verify.ErrBadSignature)
	_, err = p.Verify(r, verify.Keys{Secrets: [][]byte{[]byte("whsec_!!notbase64")}}, 0)
	wantErr(t, err, verify.ErrNoKey)
	h.Set("webhook-signature", "v2,abc")
	_, err = p.Verify(r, verify.Keys{PublicKeys: []crypto.PublicKey{pub}}, 0)
	wantErr(t, err, verify.ErrMissingSignature)
	h.Del("webhook-id")
	_, err = p.Verify(r, verify.Keys{PublicKeys: []crypto.PublicKey{pub}}, 0)
	wantErr(t, err, verify.ErrMalformed)
}

func TestTokenSchemes(t *testing.T) {
	k := verify.Keys{Token: "tok-0123456789"}
	bearer := verify.NewBearerToken()
	h := http.Header{}
	h.Set("Authorization", "Bearer tok-0123456789")
	if _, err := bearer.Verify(&verify.Request{Header: h}, k, 0); err != nil {
		t.Fatal(err)
	}
	h.Set("Authorization", "Basic tok-0123456789")
	_, err := bearer.Verify(&verify.Request{Header: h}, k, 0)
	wantErr(t, err, verify.ErrMissingSignature)
	h.Set("Authorization", "Bearer tok-0123456789x")
	_, err = bearer.Verify(&verify.Request{Header: h}, k, 0)
	wantErr(t, err, verify.ErrBadSignature)

	basic := verify.NewBasicAuth()
	h.Set("Authorization", "Basic !!!")
	_, err = basic.Verify(&verify.Request{Header: h}, verify.Keys{Token: "u:p"}, 0)
	wantErr(t, err, verify.ErrBadSignature)

	path, err := verify.NewToken(verify.TokenConfig{Kind: verify.TokenURL, PathSegment: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := path.Verify(&verify.Request{URL: "https://h/v1/webhooks/gumroad/s1/tok-0123456789/"}, k, 0); err != nil {
		t.Fatalf("path token: %v", err)
	}
	_, err = path.Verify(&verify.Request{URL: "https://h/v1/webhooks/gumroad/s1/other"}, k, 0)
	wantErr(t, err, verify.ErrBadSignature)
	_, err = verify.NewSecretURL("").Verify(&verify.Request{URL: "https://h/x?token="}, k, 0)
	wantErr(t, err, verify.ErrMissingSignature)
	_, err = verify.NewSecretURL("").Verify(&verify.Request{URL: "://bad"}, k, 0)
	wantErr(t, err, verify.ErrMalformed)
}

func TestConfigValidation(t *testing.T) {
	checks := map[string]error{}
	_, checks["hmac no header"] = verify.NewHMAC(verify.HMACConfig{Encoding: verify.Hex})
	_, checks["hmac sha1"] = verify.NewHMAC(verify.HMACConfig{Header: "X", Hash: crypto.SHA1, Encoding: verify.Hex})
	_, checks["hmac no encoding"] = verify.NewHMAC(verify.HMACConfig{Header: "X"})
	_, checks["hmac key encoding"] = verify.NewHMAC(verify.HMACConfig{Header: "X", Encoding: verify.Hex, KeyEncodings: []verify.KeyEncoding{9}})
	_, checks["timestamp no ts header"] = verify.NewTimestampHMAC(verify.TimestampHMACConfig{Header: "X", Encoding: verify.Hex})
	_, checks["composite no separator"] = verify.NewComposite(verify.CompositeConfig{Header: "X", TimestampKey: "t", SignatureKey: "v1"})
	_, checks["fields template"] = verify.NewFieldHMAC(verify.FieldHMACConfig{Header: "X", Template: "{a"})
	_, checks["fields no placeholder"] = verify.NewFieldHMAC(verify.FieldHMACConfig{Header: "X", Template: "abc"})
	_, checks["jwt hs256"] = verify.NewJWTBody(verify.JWTBodyConfig{Methods: []string{"HS256"}})
	_, checks["jws none"] = verify.NewDetachedJWS(verify.DetachedJWSConfig{Algorithms: []string{"none"}})
	_, checks["token kind"] = verify.NewToken(verify.TokenConfig{})
	_, checks["header token"] = verify.NewHeaderToken("")
	_, checks["stdwh prefix"] = verify.NewStandardWebhooks(verify.StandardWebhooksConfig{HeaderPrefixes: []string{"a b"}})
	_, checks["digest encoding"] = verify.NewSecretDigest(verify.SecretDigestConfig{Header: "X", Encoding: 7})
	for name, err := range checks {
		if err == nil || !strings.Contains(err.Error(), "Config") && !strings.Contains(err.Error(), "verify:") {
			t.Errorf("%s: error %v, want a validation error naming the key", name, err)
		}
	}
}

func TestGzipThatDoesNotDecode(t *testing.T) {
	// The signature covers the bytes as received, so it verifies; the event id
	// cannot be read from a body that does not decompress: malformed.
	body := []byte("not gzip at all")
	secret := []byte("sq-key")
	url := "https://hub.example.com/v1/webhooks/square/s"
	h := http.Header{}
	h.Set("Content-Encoding", "gzip")
	h.Set("x-square-hmacsha256-signature", b64(mac(sha256.New, secret, []byte(url), body)))
	_, err := lookup(t, "square").Verify(&verify.Request{URL: url, Header: h, Body: body, Now: now}, verify.Keys{Secrets: [][]byte{secret}}, 0)
	wantErr(t, err, verify.ErrMalformed)
}

func TestParseKeys(t *testing.T) {
	kr := keys(t)
	der, err := x509.MarshalPKIXPublicKey(&kr.ec[0].PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	for _, in := range [][]byte{pemKey, []byte(b64(der))} {
		pk, err := verify.ParsePublicKey(in)
		if err != nil {
			t.Fatal(err)
		}
		if ek, ok := pk.(*ecdsa.PublicKey); !ok || !ek.Equal(&kr.ec[0].PublicKey) {
			t.Fatalf("ParsePublicKey = %T", pk)
		}
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&kr.rsa[0].PublicKey)})
	if pk, err := verify.ParsePublicKey(rsaPEM); err != nil || !kr.rsa[0].PublicKey.Equal(pk) {
		t.Fatalf("PKCS #1: %v", err)
	}
	if _, err := verify.ParsePublicKey([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")); err == nil {
		t.Fatal("a certificate block parsed as a public key")
	}

	ec := kr.ec[1].PublicKey
	raw, err := ec.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	doc := mustJSON(t, map[string]any{"keys": []any{
		jwk("r", &kr.rsa[0].PublicKey),
		map[string]string{"kty": "EC", "crv": "P-256", "kid": "e", "x": b64url(raw[1:33]), "y": b64url(raw[33:])},
		map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": "o", "x": b64url(pub)},
		map[string]string{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
		map[string]string{"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
	}})
	set, err := verify.ParseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 3 || !ec.Equal(set["e"]) || !kr.rsa[0].PublicKey.Equal(set["r"]) || !pub.Equal(set["o"]) {
		t.Fatalf("ParseJWKS = %v", set)
	}
}

func TestHMACMatchesCryptoHMAC(t *testing.T) {
	body := []byte(strings.Repeat("payload-", 300))
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		for _, n := range []int{1, 32, 63, 64, 65, 127, 128, 129, 500} {
			key := []byte(strings.Repeat("k", n))
			for _, enc := range []verify.Encoding{verify.Hex, verify.Base64} {
				s, err := verify.NewHMAC(verify.HMACConfig{Header: "X-Sig", Hash: h, Encoding: enc, Prefix: "sha=", PartHeader: "X-Part", PartSeparator: "|"})
				if err != nil {
					t.Fatal(err)
				}
				want := mac(h.New, key, []byte("p1|"), body)
				v := hx(want)
				if enc == verify.Base64 {
					v = b64(want)
				}
				hdr := http.Header{}
				hdr.Set("X-Sig", "SHA="+v)
				hdr.Set("X-Part", "p1")
				if _, err := s.Verify(&verify.Request{Header: hdr, Body: body}, verify.Keys{Secrets: [][]byte{key}}, 0); err != nil {
					t.Errorf("%v key %d %v: %v", h, n, enc, err)
				}
			}
		}
	}
}
