package verify_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1" // eBay's digest
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pilotx/dispatchhub/ingest/verify"
)

// The fuzzers feed arbitrary composite headers and bodies to the parsers. A
// run must never panic, and Verify may succeed only when an independent check
// in the fuzzer finds the genuine signature in the input: a random signature
// never verifies.

var fuzzNow = time.Unix(1763640000, 0).UTC()

// anyBase64 decodes s in any of the four base64 alphabets.
func anyBase64(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

func firstItem(header, sep, key string) string {
	for _, item := range strings.Split(header, sep) {
		k, v, _ := strings.Cut(item, "=")
		if strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func hasHexItem(header, sep, key string, want []byte) bool {
	for _, item := range strings.Split(header, sep) {
		k, v, _ := strings.Cut(item, "=")
		if strings.TrimSpace(k) != key {
			continue
		}
		if b, err := hex.DecodeString(strings.TrimSpace(v)); err == nil && hmac.Equal(b, want) {
			return true
		}
	}
	return false
}

func fuzzComposite(f *testing.F, platform, hdrName, sep, tsKey, sigKey, msgSep string) {
	secret := []byte("whsec_fuzz_secret_for_" + platform)
	body := []byte(`{"id":"evt_1","event_id":"evt_1","type":"x","event_type":"x"}`)
	ts := strconv.FormatInt(fuzzNow.Unix(), 10)
	good := tsKey + "=" + ts + sep + sigKey + "=" + hx(mac(sha256.New, secret, []byte(ts+msgSep), body))
	f.Add(good, body)
	f.Add(tsKey+"="+ts+sep+sigKey+"=00"+sep+sigKey+"=zz", body)
	f.Add(strings.Repeat(sep, 40), []byte{})
	f.Add(tsKey+"="+sep+sigKey+"="+sep+"="+sep, body)
	f.Add(tsKey+"=99999999999999999999"+sep+sigKey+"="+strings.Repeat("ab", 32), body)
	p, _ := verify.Lookup(platform)
	f.Fuzz(func(t *testing.T, v string, b []byte) {
		h := http.Header{}
		h.Set(hdrName, v)
		_, err := p.Verify(&verify.Request{Header: h, Body: b, Now: fuzzNow}, verify.Keys{Secrets: [][]byte{secret}}, 0)
		if err == nil {
			want := mac(sha256.New, secret, []byte(firstItem(v, sep, tsKey)+msgSep), b)
			if !hasHexItem(v, sep, sigKey, want) {
				t.Fatalf("%q verified without the genuine signature", v)
			}
		} else if verify.Reason(err) == "other" {
			t.Fatalf("unclassified error %v", err)
		}
	})
}

func FuzzVerifyStripe(f *testing.F) {
	fuzzComposite(f, "stripe", "Stripe-Signature", ",", "t", "v1", ".")
}

func FuzzVerifyPaddle(f *testing.F) {
	fuzzComposite(f, "paddle", "Paddle-Signature", ";", "ts", "h1", ":")
}

func FuzzVerifyStandardWebhooks(f *testing.F) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	body := []byte(`{"test": 2432232314}`)
	ts := strconv.FormatInt(fuzzNow.Unix(), 10)
	f.Add("msg_1", ts, "v1,"+b64(mac(sha256.New, key, []byte("msg_1."+ts+"."), body)), body)
	f.Add("msg_1", ts, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1a,AAAA v2,xx", body)
	f.Add("", "", "v1,", []byte{})
	f.Add("a.b", "1e9", ",,, v1,,,, v1a", body)
	p, _ := verify.Lookup("standardwebhooks")
	f.Fuzz(func(t *testing.T, id, ts, sigs string, b []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sigs)
		_, err := p.Verify(&verify.Request{Header: h, Body: b, Now: fuzzNow}, verify.Keys{Secrets: [][]byte{[]byte(secret)}}, 0)
		if err != nil {
			if verify.Reason(err) == "other" {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		want := mac(sha256.New, key, []byte(strings.TrimSpace(id)+"."+strings.TrimSpace(ts)+"."), b)
		for _, item := range strings.Fields(sigs) {
			if v, s, _ := strings.Cut(item, ","); v == "v1" {
				if got, ok := anyBase64(s); ok && hmac.Equal(got, want) {
					return
				}
			}
		}
		t.Fatalf("%q verified without the genuine signature", sigs)
	})
}

func FuzzVerifyEbay(f *testing.F) {
	kr := keys(f)
	body := []byte(`{"metadata":{"topic":"T"},"notification":{"notificationId":"n1"}}`)
	good := b64(mustJSON(f, map[string]string{"alg": "ecdsa", "kid": "k1", "signature": b64(ecSignSHA1(f, kr.ec[0], body)), "digest": "SHA1"}))
	f.Add(good, body)
	f.Add(b64([]byte(`{"alg":"ecdsa","kid":"k1","signature":"MEUCIQ==","digest":"SHA256"}`)), body)
	f.Add(b64([]byte(`{"kid":"k1","signature":""}`)), body)
	f.Add(b64([]byte(`{"kid":1}`)), body)
	f.Add("e30", []byte{})
	p, _ := verify.Lookup("ebay")
	pub := &kr.ec[0].PublicKey
	k := verify.Keys{KeysByID: map[string]crypto.PublicKey{"k1": pub}}
	f.Fuzz(func(t *testing.T, v string, b []byte) {
		h := http.Header{}
		h.Set("X-EBAY-SIGNATURE", v)
		_, err := p.Verify(&verify.Request{Header: h, Body: b, Now: fuzzNow}, k, 0)
		if err != nil {
			if verify.Reason(err) == "other" {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		raw, _ := anyBase64(v)
		var es struct{ Signature, Digest string }
		_ = json.Unmarshal(raw, &es)
		sig, _ := anyBase64(es.Signature)
		s1 := sha1.Sum(b)
		s256 := sha256.Sum256(b)
		if !ecdsa.VerifyASN1(pub, s1[:], sig) && !ecdsa.VerifyASN1(pub, s256[:], sig) {
			t.Fatalf("%q verified without a genuine signature", v)
		}
	})
}

func FuzzVerifySaleor(f *testing.F) {
	kr := keys(f)
	body := []byte(`{"order":{"id":"1"}}`)
	prot := b64url([]byte(`{"alg":"RS256","kid":"k1","b64":false,"crit":["b64"]}`))
	good := prot + ".." + b64url(rsaSign(f, kr.rsa[0], crypto.SHA256, append([]byte(prot+"."), body...)))
	f.Add(good, body)
	f.Add(prot+"..AAAA", body)
	f.Add(b64url([]byte(`{"alg":"RS256","crit":["b64","x"]}`))+"..AA", body)
	f.Add(b64url([]byte(`{"alg":"none"}`))+".."+"", body)
	f.Add("...", []byte{})
	f.Add("e30.e30.e30", body)
	p, _ := verify.Lookup("saleor")
	pub := &kr.rsa[0].PublicKey
	k := verify.Keys{JWKS: mustJSON(f, map[string]any{"keys": []any{jwk("k1", pub)}})}
	f.Fuzz(func(t *testing.T, v string, b []byte) {
		h := http.Header{}
		h.Set("Saleor-Signature", v)
		_, err := p.Verify(&verify.Request{Header: h, Body: b, Now: fuzzNow}, k, 0)
		if err != nil {
			if verify.Reason(err) == "other" {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		parts := strings.Split(strings.TrimSpace(v), ".")
		if len(parts) != 3 {
			t.Fatalf("%q verified without three segments", v)
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		for _, input := range [][]byte{append([]byte(parts[0]+"."), b...), []byte(parts[0] + "." + b64url(b))} {
			d := sha256.Sum256(input)
			if rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig) == nil {
				return
			}
		}
		t.Fatalf("%q verified without a genuine signature", v)
	})
}

func FuzzVerifyWix(f *testing.F) {
	kr := keys(f)
	good := jwtRS256(f, kr.rsa[0], map[string]any{"data": `{"eventType":"x","data":"{\"id\":\"e\"}"}`, "iat": fuzzNow.Unix(), "exp": fuzzNow.Add(time.Hour).Unix()})
	f.Add([]byte(good))
	f.Add([]byte("a.b.c"))
	f.Add([]byte("..."))
	f.Add([]byte(b64url([]byte(`{"alg":"none"}`)) + "." + b64url([]byte(`{}`)) + "."))
	f.Add([]byte(b64url([]byte(`{"alg":"RS256"}`)) + "." + b64url([]byte(`{"iat":"x","exp":[1]}`)) + ".AAAA"))
	p, _ := verify.Lookup("wix")
	pub := &kr.rsa[0].PublicKey
	k := verify.Keys{PublicKeys: []crypto.PublicKey{pub}}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := p.Verify(&verify.Request{Header: http.Header{}, Body: b, Now: fuzzNow}, k, 0)
		if err != nil {
			if verify.Reason(err) == "other" {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		_, _ = p.EventID(&verify.Request{Header: http.Header{}, Body: b})
		parts := strings.Split(strings.TrimSpace(string(b)), ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		d := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig) != nil {
			t.Fatalf("%q verified without a genuine signature", b)
		}
	})
}

func FuzzVerifyMercadoPago(f *testing.F) {
	secret := []byte("mp-fuzz-secret")
	ts := strconv.FormatInt(fuzzNow.UnixMilli(), 10)
	manifest := "id:abc;request-id:r1;ts:" + ts + ";"
	f.Add("ts="+ts+",v1="+hx(mac(sha256.New, secret, []byte(manifest))), "r1", "https://h/x?data.id=ABC")
	f.Add("ts=,v1=", "", "https://h/x")
	f.Add(",,,=,=", "r", "%%%")
	p, _ := verify.Lookup("mercadopago")
	f.Fuzz(func(t *testing.T, v, rid, u string) {
		h := http.Header{}
		h.Set("x-signature", v)
		h.Set("x-request-id", rid)
		_, err := p.Verify(&verify.Request{URL: u, Header: h, Body: []byte(`{"type":"payment"}`), Now: fuzzNow}, verify.Keys{Secrets: [][]byte{secret}}, 0)
		if err != nil {
			if verify.Reason(err) == "other" {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		pu, _ := url.Parse(u)
		var m strings.Builder
		if id := strings.ToLower(pu.Query().Get("data.id")); id != "" {
			m.WriteString("id:" + id + ";")
		}
		if r := strings.TrimSpace(rid); r != "" {
			m.WriteString("request-id:" + r + ";")
		}
		m.WriteString("ts:" + firstItem(v, ",", "ts") + ";")
		if !hasHexItem(v, ",", "v1", mac(sha256.New, secret, []byte(m.String()))) {
			t.Fatalf("%q verified without the genuine signature", v)
		}
	})
}
