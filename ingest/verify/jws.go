package verify

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"
)

// DetachedJWSConfig describes a compact JWS with a detached payload in a
// header, "{protected}..{signature}", whose payload is the raw body (Saleor's
// Saleor-Signature). Both RFC 7797 forms are handled: with "b64": false in the
// protected header the body is signed as is, otherwise its base64url form is.
type DetachedJWSConfig struct {
	// Header carries the JWS; default "Saleor-Signature".
	Header string
	// Algorithms accepted; default {"RS256"}. Only asymmetric algorithms.
	Algorithms []string
}

// DetachedJWS verifies a detached JWS with the keys of Keys.JWKS (chosen by
// the kid of the protected header), Keys.KeysByID and Keys.PublicKeys.
type DetachedJWS struct {
	cfg    DetachedJWSConfig
	header string
}

var _ Scheme = (*DetachedJWS)(nil)

// NewDetachedJWS validates cfg, fills its defaults and returns the scheme.
func NewDetachedJWS(cfg DetachedJWSConfig) (*DetachedJWS, error) {
	if cfg.Header == "" {
		cfg.Header = "Saleor-Signature"
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = []string{"RS256"}
	}
	for _, a := range cfg.Algorithms {
		if keyFamily(a) == "" {
			return nil, fmt.Errorf("verify: DetachedJWSConfig.Algorithms: got %q, want RS256/384/512, PS256/384/512, ES256/384/512 or EdDSA", a)
		}
	}
	return &DetachedJWS{cfg: cfg, header: http.CanonicalHeaderKey(cfg.Header)}, nil
}

// Name implements Scheme.
func (s *DetachedJWS) Name() string { return "jws-detached" }

type jwsHeader struct {
	Alg  string   `json:"alg"`
	Kid  string   `json:"kid"`
	B64  *bool    `json:"b64"`
	Crit []string `json:"crit"`
}

// Verify implements Scheme.
func (s *DetachedJWS) Verify(r *Request, k Keys, _ time.Duration) (time.Time, error) {
	const name = "jws-detached"
	v := strings.TrimSpace(header(r.Header, s.header))
	if v == "" {
		return time.Time{}, fail(name, ErrMissingSignature, "no "+s.cfg.Header+" header")
	}
	protected, rest, ok1 := strings.Cut(v, ".")
	payloadPart, sigPart, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sigPart, ".") || protected == "" {
		return time.Time{}, fail(name, ErrMalformed, s.cfg.Header+" is not a compact JWS")
	}
	if payloadPart != "" {
		return time.Time{}, fail(name, ErrMalformed, s.cfg.Header+" payload is not detached")
	}
	if sigPart == "" {
		return time.Time{}, fail(name, ErrMissingSignature, s.cfg.Header+" has no signature")
	}
	raw, err := base64.RawURLEncoding.DecodeString(protected)
	if err != nil {
		return time.Time{}, fail(name, ErrMalformed, "JWS header is not base64url")
	}
	var h jwsHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return time.Time{}, fail(name, ErrMalformed, "JWS header is not JSON")
	}
	for _, c := range h.Crit {
		if c != "b64" {
			return time.Time{}, fail(name, ErrMalformed, "JWS header has an unknown critical parameter")
		}
	}
	if !slices.Contains(s.cfg.Algorithms, h.Alg) {
		return time.Time{}, fail(name, ErrBadSignature, "JWS algorithm not accepted")
	}
	sig, err := base64.RawURLEncoding.DecodeString(sigPart)
	if err != nil {
		return time.Time{}, fail(name, ErrBadSignature, "JWS signature is not base64url")
	}
	keys, err := jwsKeys(k, h.Kid, keyFamily(h.Alg))
	if err != nil {
		return time.Time{}, fail(name, ErrNoKey, "JWKS does not parse")
	}
	if len(keys) == 0 {
		return time.Time{}, fail(name, ErrNoKey, "no key for the JWS")
	}
	var input []byte
	if h.B64 != nil && !*h.B64 {
		input = bytes.Join([][]byte{[]byte(protected), r.Body}, []byte{'.'})
	} else {
		input = make([]byte, 0, len(protected)+1+base64.RawURLEncoding.EncodedLen(len(r.Body)))
		input = append(append(input, protected...), '.')
		input = base64.RawURLEncoding.AppendEncode(input, r.Body)
	}
	for _, pk := range keys {
		if verifyJWS(h.Alg, pk, input, sig) {
			return time.Time{}, nil
		}
	}
	return time.Time{}, fail(name, ErrBadSignature, "no key verifies the JWS")
}

// jwsKeys returns the trusted keys of the family: those with the kid when
// any has it, otherwise all of them.
func jwsKeys(k Keys, kid, family string) ([]crypto.PublicKey, error) {
	var all, exact []crypto.PublicKey
	if len(k.JWKS) > 0 {
		set, err := parseJWKS(k.JWKS)
		if err != nil {
			return nil, err
		}
		for _, e := range set {
			if !keyFits(family, e.key) {
				continue
			}
			all = append(all, e.key)
			if kid != "" && e.kid == kid {
				exact = append(exact, e.key)
			}
		}
	}
	for id, pk := range k.KeysByID {
		if !keyFits(family, pk) {
			continue
		}
		all = append(all, pk)
		if kid != "" && id == kid {
			exact = append(exact, pk)
		}
	}
	for _, pk := range k.PublicKeys {
		if keyFits(family, pk) {
			all = append(all, pk)
		}
	}
	if len(exact) > 0 {
		return exact, nil
	}
	return all, nil
}

func jwsHash(alg string) crypto.Hash {
	switch alg[len(alg)-3:] {
	case "384":
		return crypto.SHA384
	case "512":
		return crypto.SHA512
	default:
		return crypto.SHA256
	}
}

// verifyJWS checks a JWS signature (RFC 7518 §3) over input.
func verifyJWS(alg string, pk crypto.PublicKey, input, sig []byte) bool {
	if alg == "EdDSA" {
		ek, ok := pk.(ed25519.PublicKey)
		return ok && len(ek) == ed25519.PublicKeySize && ed25519.Verify(ek, input, sig)
	}
	hh := jwsHash(alg)
	d := hh.New()
	d.Write(input)
	digest := d.Sum(nil)
	switch key := pk.(type) {
	case *rsa.PublicKey:
		if strings.HasPrefix(alg, "PS") {
			return rsa.VerifyPSS(key, hh, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
		return strings.HasPrefix(alg, "RS") && rsa.VerifyPKCS1v15(key, hh, digest, sig) == nil
	case *ecdsa.PublicKey:
		size := (key.Curve.Params().BitSize + 7) / 8
		if !strings.HasPrefix(alg, "ES") || len(sig) != 2*size {
			return false
		}
		rr := new(big.Int).SetBytes(sig[:size])
		ss := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(key, digest, rr, ss)
	default:
		return false
	}
}
