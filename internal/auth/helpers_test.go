package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testAudience = "dispatchhub"

// testSecret is an HS256 secret of the minimum length.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

var driver = Identity{Tenant: "acme", Subject: "drv_42", Role: RoleDriver}

// Generating RSA keys is slow; every test shares a few.
var (
	rsaKeys = sync.OnceValue(func() []*rsa.PrivateKey {
		keys := make([]*rsa.PrivateKey, 3)
		for i := range keys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		}
		return keys
	})
)

// newPrivateKey makes a fresh private key for alg (RSA keys come from a shared pool, n picks one).
func newPrivateKey(t testing.TB, alg string, n int) crypto.Signer {
	t.Helper()
	switch alg {
	case "RS256", "PS256":
		return rsaKeys()[n]
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	case "ES384":
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		require.NoError(t, err)
		return k
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		return k
	}
	t.Fatalf("no key for %s", alg)
	return nil
}

func pkcs8PEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// newSigner makes a signer for alg through NewSignerFromPEM, as the token command does.
func newSigner(t testing.TB, alg, kid string, n int) *Signer {
	t.Helper()
	s, err := NewSignerFromPEM(pkcs8PEM(t, newPrivateKey(t, alg, n)), kid)
	require.NoError(t, err)
	if alg == "PS256" {
		s.method = jwt.SigningMethodPS256
	}
	return s
}

// signRaw signs arbitrary claims and header fields with s's key and algorithm.
func signRaw(t testing.TB, s *Signer, header map[string]any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(s.method, c)
	if s.kid != "" {
		tok.Header["kid"] = s.kid
	}
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	out, err := tok.SignedString(s.key)
	require.NoError(t, err)
	return out
}

// goodClaims are valid claims for driver, changed by the given pairs (a nil value deletes).
func goodClaims(changes ...any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"sub":    driver.Subject,
		"tenant": driver.Tenant,
		"role":   string(driver.Role),
		"aud":    testAudience,
		"iat":    now.Unix(),
		"exp":    now.Add(time.Hour).Unix(),
	}
	for i := 0; i+1 < len(changes); i += 2 {
		k := changes[i].(string)
		if changes[i+1] == nil {
			delete(c, k)
		} else {
			c[k] = changes[i+1]
		}
	}
	return c
}

// writeJWKS writes a key set holding the public keys of signers, atomically.
func writeJWKS(t testing.TB, path string, signers ...*Signer) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, jwksOf(t, signers...), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func jwksOf(t testing.TB, signers ...*Signer) []byte {
	t.Helper()
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	set.Keys = []json.RawMessage{}
	for _, s := range signers {
		b, err := s.PublicJWKS()
		require.NoError(t, err)
		var one struct {
			Keys []json.RawMessage `json:"keys"`
		}
		require.NoError(t, json.Unmarshal(b, &one))
		set.Keys = append(set.Keys, one.Keys...)
	}
	b, err := json.Marshal(set)
	require.NoError(t, err)
	return b
}

func newVerifier(t testing.TB, cfg Config) *Verifier {
	t.Helper()
	if cfg.Audience == "" {
		cfg.Audience = testAudience
	}
	v, err := NewVerifier(cfg, zerolog.Nop())
	require.NoError(t, err)
	return v
}

// jwksVerifier writes a key set file of signers and builds a verifier on it.
func jwksVerifier(t testing.TB, cfg Config, signers ...*Signer) (*Verifier, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, path, signers...)
	cfg.JWKSFile = path
	return newVerifier(t, cfg), path
}

// run starts v.Run and stops it when the test ends.
func run(t testing.TB, v *Verifier) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// eventually polls cond every 10ms until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
