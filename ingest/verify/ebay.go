package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1" // eBay's notification keys declare SHA1 digests
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// EbayConfig describes eBay's notification signature.
type EbayConfig struct {
	// Header carries the signature; default "X-EBAY-SIGNATURE".
	Header string
}

// Ebay verifies eBay's X-EBAY-SIGNATURE: base64 of a JSON object
// {"alg","kid","signature","digest"} whose signature (base64, DER for ECDSA)
// covers the raw body with the declared digest (SHA1, eBay's default, or
// SHA256). The key is Keys.KeysByID[kid]: configured by the caller (eBay's
// getPublicKey, cached), never fetched here.
type Ebay struct {
	cfg    EbayConfig
	header string
}

var _ Scheme = (*Ebay)(nil)

// NewEbay fills cfg's defaults and returns the scheme.
func NewEbay(cfg EbayConfig) (*Ebay, error) {
	if cfg.Header == "" {
		cfg.Header = "X-EBAY-SIGNATURE"
	}
	return &Ebay{cfg: cfg, header: http.CanonicalHeaderKey(cfg.Header)}, nil
}

// Name implements Scheme.
func (s *Ebay) Name() string { return "ebay" }

type ebaySignature struct {
	Alg       string `json:"alg"`
	Kid       string `json:"kid"`
	Signature string `json:"signature"`
	Digest    string `json:"digest"`
}

// Verify implements Scheme.
func (s *Ebay) Verify(r *Request, k Keys, _ time.Duration) (time.Time, error) {
	const name = "ebay"
	v := strings.TrimSpace(header(r.Header, s.header))
	if v == "" {
		return time.Time{}, fail(name, ErrMissingSignature, "no "+s.cfg.Header+" header")
	}
	raw, err := decodeBase64Any(v)
	if err != nil {
		return time.Time{}, fail(name, ErrMalformed, s.cfg.Header+" is not base64")
	}
	var es ebaySignature
	if err := json.Unmarshal(raw, &es); err != nil {
		return time.Time{}, fail(name, ErrMalformed, s.cfg.Header+" is not a JSON object")
	}
	if es.Kid == "" {
		return time.Time{}, fail(name, ErrMalformed, s.cfg.Header+" has no kid")
	}
	if es.Signature == "" {
		return time.Time{}, fail(name, ErrMissingSignature, s.cfg.Header+" has no signature")
	}
	var digest []byte
	var hash crypto.Hash
	switch strings.ToUpper(strings.ReplaceAll(es.Digest, "-", "")) {
	case "", "SHA1":
		sum := sha1.Sum(r.Body) // the platform's choice; a forgery would need a second preimage
		digest, hash = sum[:], crypto.SHA1
	case "SHA256":
		sum := sha256.Sum256(r.Body)
		digest, hash = sum[:], crypto.SHA256
	default:
		return time.Time{}, fail(name, ErrBadSignature, "digest not accepted")
	}
	pk, ok := k.KeysByID[es.Kid]
	if !ok || pk == nil {
		return time.Time{}, fail(name, ErrNoKey, "no key configured for the signature's kid")
	}
	sig, err := decodeBase64Any(es.Signature)
	if err != nil {
		return time.Time{}, fail(name, ErrBadSignature, "signature is not base64")
	}
	alg := strings.ToUpper(es.Alg)
	switch key := pk.(type) {
	case *ecdsa.PublicKey:
		if (alg == "" || strings.HasPrefix(alg, "EC") || strings.HasPrefix(alg, "ES")) && ecdsa.VerifyASN1(key, digest, sig) {
			return time.Time{}, nil
		}
	case *rsa.PublicKey:
		if (alg == "" || strings.HasPrefix(alg, "RS")) && rsa.VerifyPKCS1v15(key, hash, digest, sig) == nil {
			return time.Time{}, nil
		}
	}
	return time.Time{}, fail(name, ErrBadSignature, "key does not verify the signature")
}
