package verify_test

import (
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" // eBay's digest
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"hash"
	"math/big"
	"net/http"
	"sync"
	"testing"
)

// The helpers here sign requests the way each platform documents it, with
// the standard library directly: they share no code with the package.

func mac(h func() hash.Hash, key []byte, parts ...[]byte) []byte {
	m := hmac.New(h, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

func b64(b []byte) string    { return base64.StdEncoding.EncodeToString(b) }
func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
func hx(b []byte) string     { return hex.EncodeToString(b) }

func sha256hex(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// derivedID mirrors the documented derivation: SHA-256 over each part
// followed by a NUL byte.
func derivedID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// material is one key of a store: index 0 is the current key, 1 the old one
// still valid during a rotation, 2 a key the store does not have.
type material struct {
	secret []byte // shared secret (HMAC and digests)
	token  string // static token
	rsa    *rsa.PrivateKey
	ec     *ecdsa.PrivateKey
	kid    string
}

type keyring struct {
	rsa [3]*rsa.PrivateKey
	ec  [3]*ecdsa.PrivateKey
}

var (
	ringOnce sync.Once
	ring     keyring
)

// keys returns the asymmetric test keys, generated once per test binary.
func keys(t testing.TB) *keyring {
	t.Helper()
	ringOnce.Do(func() {
		for i := range ring.rsa {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			ring.rsa[i] = k
			e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				panic(err)
			}
			ring.ec[i] = e
		}
	})
	return &ring
}

func rsaSign(t testing.TB, k *rsa.PrivateKey, h crypto.Hash, msg []byte) []byte {
	t.Helper()
	d := h.New()
	d.Write(msg)
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, h, d.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func ecSignSHA1(t testing.TB, k *ecdsa.PrivateKey, msg []byte) []byte {
	t.Helper()
	sum := sha1.Sum(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, k, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwk renders an RSA public key as a JSON Web Key.
func jwk(kid string, k *rsa.PublicKey) map[string]string {
	return map[string]string{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64url(k.N.Bytes()), "e": b64url(big.NewInt(int64(k.E)).Bytes()),
	}
}

// jwtRS256 builds a compact JWT signed with RS256.
func jwtRS256(t testing.TB, k *rsa.PrivateKey, claims any) string {
	t.Helper()
	head := b64url([]byte(`{"alg":"RS256","typ":"JWT"}`))
	body := b64url(mustJSON(t, claims))
	sig := rsaSign(t, k, crypto.SHA256, []byte(head+"."+body))
	return head + "." + body + "." + b64url(sig)
}

func cloneHeader(h map[string]string) http.Header {
	out := http.Header{}
	for k, v := range h {
		out.Set(k, v)
	}
	return out
}
