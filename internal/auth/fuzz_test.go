package auth

import (
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, and nothing but a token
// whose header and claims were signed by one of the keys may verify.
func FuzzVerify(f *testing.F) {
	hs := NewHS256Signer(testSecret)
	rs := newSigner(f, "RS256", "rsa", 0)
	ed := newSigner(f, "EdDSA", "ed", 0)
	v, _ := jwksVerifier(f, Config{HS256Secret: testSecret}, rs, ed)

	signed := map[string]bool{} // header.claims of every token the keys signed
	for _, s := range []*Signer{hs, rs, ed} {
		token, err := s.Sign(driver, testAudience, "", 24*time.Hour)
		if err != nil {
			f.Fatal(err)
		}
		signed[token[:strings.LastIndexByte(token, '.')]] = true
		f.Add(token)
		parts := strings.Split(token, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(b64(`{"alg":"none"}`) + "." + parts[1] + ".")
		f.Add(b64(`{"alg":"HS256","kid":"rsa"}`) + "." + parts[1] + "." + parts[2])
		f.Add(b64(`{"alg":"EdDSA","kid":"rsa"}`) + "." + parts[1] + "." + parts[2])
	}
	for _, s := range []string{"", ".", "..", "a.b.c", "e30.e30.", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA", strings.Repeat("A", 100)} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(token)
		if err != nil {
			if Reason(err) == "other" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		dot := strings.LastIndexByte(token, '.')
		if dot < 0 || !signed[token[:dot]] {
			t.Fatalf("a token no key signed verified: %q", token)
		}
		if !id.Role.Valid() || !ValidSubject(id.Subject) || id.Tenant == "" {
			t.Fatalf("verified identity with bad claims: %+v", id)
		}
	})
}
