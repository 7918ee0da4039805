package auth

import (
	"testing"
	"time"
)

// BenchmarkVerify measures Verify, the CONNECT hot path, per algorithm.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			var (
				v     *Verifier
				token string
				err   error
			)
			if alg == "HS256" {
				v = newVerifier(b, Config{HS256Secret: testSecret})
				token, err = NewHS256Signer(testSecret).Sign(driver, testAudience, "", time.Hour)
			} else {
				s := newSigner(b, alg, "bench", 0)
				v, _ = jwksVerifier(b, Config{}, s)
				token, err = s.Sign(driver, testAudience, "", time.Hour)
			}
			if err != nil {
				b.Fatal(err)
			}
			if _, err := v.Verify(token); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyRejected measures the cheapest rejections: a garbage token and an unknown kid.
func BenchmarkVerifyRejected(b *testing.B) {
	s := newSigner(b, "EdDSA", "bench", 0)
	v, _ := jwksVerifier(b, Config{}, s)
	unknown := signRaw(b, s, map[string]any{"kid": "other"}, goodClaims())
	for name, token := range map[string]string{"garbage": "not-a-token", "unknown_kid": unknown} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(token); err == nil {
					b.Fatal("verified")
				}
			}
		})
	}
}
