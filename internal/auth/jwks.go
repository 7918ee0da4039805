package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
)

// keyKind is the family of a verification key, which decides the algorithms it may verify.
type keyKind uint8

const (
	kindRSA keyKind = iota + 1
	kindP256
	kindP384
	kindEd25519
)

func (k keyKind) String() string {
	switch k {
	case kindRSA:
		return "RSA"
	case kindP256:
		return "EC P-256"
	case kindP384:
		return "EC P-384"
	case kindEd25519:
		return "Ed25519"
	}
	return "unknown"
}

// Limits on what a key set may hold.
const (
	minRSABits  = 2048
	maxRSABits  = 16384
	maxJWKSSize = 1 << 20
	maxKeys     = 256
)

// publicKey is one verification key of a key set.
type publicKey struct {
	kid  string
	kind keyKind
	alg  string // the JWK's "alg"; empty: any algorithm that fits kind
	key  any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// fits reports whether a token signed with alg may be verified by k. This is what stops a
// key being used with an algorithm of another family (HS256 with an RSA public key as the
// secret, ES256 with a P-384 key, ...).
func (k *publicKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch alg {
	case "RS256", "RS384", "RS512", "PS256":
		return k.kind == kindRSA
	case "ES256":
		return k.kind == kindP256
	case "ES384":
		return k.kind == kindP384
	case "EdDSA":
		return k.kind == kindEd25519
	}
	return false
}

// jwk is a JSON Web Key (RFC 7517) as far as the hub reads or writes one.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid,omitempty"`
	Use    string   `json:"use,omitempty"`
	Alg    string   `json:"alg,omitempty"`
	KeyOps []string `json:"key_ops,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
	D      string   `json:"d,omitempty"` // read only to refuse private keys
}

// asymmetricAlgs are the signature algorithms a key set can serve.
var asymmetricAlgs = []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}

// parseJWKS reads a JSON Web Key Set. Keys the hub cannot use (encryption keys, other curves,
// no kid, ...) are left out and described in skipped; a set without one usable key is an error.
func parseJWKS(data []byte) (keys map[string]*publicKey, skipped []string, err error) {
	if len(data) > maxJWKSSize {
		return nil, nil, fmt.Errorf("key set larger than %d bytes", maxJWKSSize)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, nil, fmt.Errorf("key set is not JSON: %w", err)
	}
	if set.Keys == nil {
		return nil, nil, errors.New(`key set has no "keys" array`)
	}
	if len(set.Keys) > maxKeys {
		return nil, nil, fmt.Errorf("key set has %d keys, at most %d are accepted", len(set.Keys), maxKeys)
	}
	keys = make(map[string]*publicKey, len(set.Keys))
	dup := map[string]bool{}
	for i, raw := range set.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: not a JWK: %v", i, err))
			continue
		}
		k, err := j.publicKey()
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %v", i, clip(j.Kid), err))
			continue
		}
		if _, seen := keys[k.kid]; seen || dup[k.kid] {
			dup[k.kid] = true
			delete(keys, k.kid)
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): kid is not unique, every key with it is left out", i, clip(k.kid)))
			continue
		}
		keys[k.kid] = k
	}
	if len(keys) == 0 {
		if len(skipped) > 0 {
			return nil, skipped, fmt.Errorf("key set has no usable key (%s)", strings.Join(skipped, "; "))
		}
		return nil, nil, errors.New("key set has no keys")
	}
	return keys, skipped, nil
}

// publicKey checks j and turns it into a verification key.
func (j *jwk) publicKey() (*publicKey, error) {
	if j.Kid == "" {
		return nil, errors.New("no kid")
	}
	if j.D != "" {
		return nil, errors.New("holds private key material; publish only public keys")
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("use %q is not \"sig\"", j.Use)
	}
	if j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify") {
		return nil, errors.New(`key_ops does not include "verify"`)
	}
	if j.Alg != "" && !slices.Contains(asymmetricAlgs, j.Alg) {
		return nil, fmt.Errorf("alg %q is not one of %s", j.Alg, strings.Join(asymmetricAlgs, ", "))
	}
	k := &publicKey{kid: j.Kid, alg: j.Alg}
	switch j.Kty {
	case "RSA":
		n, err := b64Int(j.N, "n")
		if err != nil {
			return nil, err
		}
		e, err := b64Int(j.E, "e")
		if err != nil {
			return nil, err
		}
		if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, fmt.Errorf("RSA modulus of %d bits, must be %d-%d", bits, minRSABits, maxRSABits)
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return nil, errors.New("RSA exponent e must be odd and 3..2^31-1")
		}
		k.kind, k.key = kindRSA, &rsa.PublicKey{N: n, E: int(e.Int64())}
	case "EC":
		var curve elliptic.Curve
		switch j.Crv {
		case "P-256":
			curve, k.kind = elliptic.P256(), kindP256
		case "P-384":
			curve, k.kind = elliptic.P384(), kindP384
		default:
			return nil, fmt.Errorf("EC curve %q is not P-256 or P-384", j.Crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		x, err := b64Fixed(j.X, "x", size)
		if err != nil {
			return nil, err
		}
		y, err := b64Fixed(j.Y, "y", size)
		if err != nil {
			return nil, err
		}
		point := make([]byte, 0, 1+2*size)
		point = append(append(append(point, 4), x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, fmt.Errorf("EC point: %w", err)
		}
		k.key = pub
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, fmt.Errorf("OKP curve %q is not Ed25519", j.Crv)
		}
		x, err := b64Fixed(j.X, "x", ed25519.PublicKeySize)
		if err != nil {
			return nil, err
		}
		k.kind, k.key = kindEd25519, ed25519.PublicKey(x)
	default:
		return nil, fmt.Errorf("kty %q is not RSA, EC or OKP", j.Kty)
	}
	if k.alg != "" && !k.fits(k.alg) {
		return nil, fmt.Errorf("alg %s does not fit a key of type %s", k.alg, k.kind)
	}
	return k, nil
}

func b64Int(s, name string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%s: must be a non-empty base64url integer", name)
	}
	return new(big.Int).SetBytes(b), nil
}

func b64Fixed(s, name string, size int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("%s: must be %d bytes in base64url", name, size)
	}
	return b, nil
}

// publicJWK describes pub as a JWK with kid and alg.
func publicJWK(pub any, kid, alg string) (jwk, error) {
	j := jwk{Kid: kid, Use: "sig", Alg: alg}
	enc := base64.RawURLEncoding
	switch p := pub.(type) {
	case *rsa.PublicKey:
		j.Kty = "RSA"
		j.N = enc.EncodeToString(p.N.Bytes())
		j.E = enc.EncodeToString(big.NewInt(int64(p.E)).Bytes())
	case *ecdsa.PublicKey:
		b, err := p.Bytes()
		if err != nil {
			return jwk{}, err
		}
		size := (len(b) - 1) / 2
		j.Kty, j.Crv = "EC", p.Curve.Params().Name
		j.X = enc.EncodeToString(b[1 : 1+size])
		j.Y = enc.EncodeToString(b[1+size:])
	case ed25519.PublicKey:
		j.Kty, j.Crv = "OKP", "Ed25519"
		j.X = enc.EncodeToString(p)
	default:
		return jwk{}, fmt.Errorf("unsupported public key type %T", pub)
	}
	return j, nil
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of j, base64url-encoded. The members are
// base64url strings and fixed names, so no JSON escaping is needed.
func (j *jwk) thumbprint() string {
	var s string
	switch j.Kty {
	case "RSA":
		s = `{"e":"` + j.E + `","kty":"RSA","n":"` + j.N + `"}`
	case "EC":
		s = `{"crv":"` + j.Crv + `","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	case "OKP":
		s = `{"crv":"` + j.Crv + `","kty":"OKP","x":"` + j.X + `"}`
	}
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// clip shortens text taken from outside (a kid) before it goes into an error or a log line.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..." + strconv.Itoa(len(s)-max) + " more bytes"
}
