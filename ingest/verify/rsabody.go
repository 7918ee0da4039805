package verify

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"time"
)

// RSABodyConfig describes an RSA PKCS #1 v1.5 signature of the raw body
// (Adobe Commerce webhooks: x-adobe-commerce-webhook-signature, SHA-256,
// base64).
type RSABodyConfig struct {
	// Header carries the signature. Required.
	Header string
	// Hash is crypto.SHA256 (default), crypto.SHA384 or crypto.SHA512.
	Hash crypto.Hash
}

// RSABody verifies the body with the *rsa.PublicKey entries of
// Keys.PublicKeys; any one verifying is enough.
type RSABody struct {
	cfg    RSABodyConfig
	header string
	name   string
}

var _ Scheme = (*RSABody)(nil)

// NewRSABody validates cfg, fills its defaults and returns the scheme.
func NewRSABody(cfg RSABodyConfig) (*RSABody, error) {
	if cfg.Header == "" {
		return nil, errors.New("verify: RSABodyConfig.Header: required")
	}
	if cfg.Hash == 0 {
		cfg.Hash = crypto.SHA256
	}
	if err := checkMACHash("RSABodyConfig", cfg.Hash); err != nil {
		return nil, err
	}
	return &RSABody{cfg: cfg, header: http.CanonicalHeaderKey(cfg.Header), name: "rsa-" + hashName(cfg.Hash) + "-body"}, nil
}

// Name implements Scheme.
func (s *RSABody) Name() string { return s.name }

// Verify implements Scheme.
func (s *RSABody) Verify(r *Request, k Keys, _ time.Duration) (time.Time, error) {
	v := strings.TrimSpace(header(r.Header, s.header))
	if v == "" {
		return time.Time{}, fail(s.name, ErrMissingSignature, "no "+s.cfg.Header+" header")
	}
	var keys []*rsa.PublicKey
	for _, pk := range k.PublicKeys {
		if rk, ok := pk.(*rsa.PublicKey); ok {
			keys = append(keys, rk)
		}
	}
	if len(keys) == 0 {
		return time.Time{}, fail(s.name, ErrNoKey, "no RSA public key")
	}
	sig, err := decodeBase64Any(v)
	if err != nil {
		return time.Time{}, fail(s.name, ErrBadSignature, "signature is not base64")
	}
	h := s.cfg.Hash.New()
	h.Write(r.Body)
	digest := h.Sum(nil)
	for _, rk := range keys {
		if rsa.VerifyPKCS1v15(rk, s.cfg.Hash, digest, sig) == nil {
			return time.Time{}, nil
		}
	}
	return time.Time{}, fail(s.name, ErrBadSignature, "no key verifies")
}

// decodeBase64Any decodes standard or URL-safe base64, padded or not.
func decodeBase64Any(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	return pickBase64(s).DecodeString(s)
}
