package verify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/pilotx/dispatchhub/ingest/verify"
)

// BenchmarkVerify measures Preset.Verify (scheme, event id and type) on a
// valid request of each platform, as the edge calls it.
func BenchmarkVerify(b *testing.B) {
	for _, c := range conformanceCases(b) {
		p, _ := verify.Lookup(c.platform)
		ms := c.materials(b)
		r := c.build(b, ms[0], now.Add(-30*time.Second), c.body)
		k := c.keysFor(b, ms[0])
		b.Run(c.platform, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Verify(r, k, tolerance); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSchemeOnly measures the signature check alone on a 1 KiB body
// against crypto/hmac used directly, the ratio the pooled HMAC is kept to.
func BenchmarkSchemeOnly(b *testing.B) {
	body := make([]byte, 1024)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	secret := []byte("bench-secret-0123456789")
	sig := mac(sha256.New, secret, body)
	p, _ := verify.Lookup("shopify")
	r := &verify.Request{Header: cloneHeader(map[string]string{"X-Shopify-Hmac-Sha256": b64(sig)}), Body: body, Now: now}
	k := verify.Keys{Secrets: [][]byte{secret}}
	b.Run("hmac-sha256-base64-1KiB", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := p.Scheme.Verify(r, k, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-crypto-hmac-1KiB", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			m := hmac.New(sha256.New, secret)
			m.Write(body)
			if !hmac.Equal(m.Sum(nil), sig) {
				b.Fatal("mismatch")
			}
		}
	})
}
