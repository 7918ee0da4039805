package verify

import (
	"crypto"
	"errors"
	"net/http"
	"strings"
	"time"
)

// SecretDigestConfig describes a plain hash (not an HMAC) of the secret
// followed by the raw body (Recharge: hex SHA-256 of secret ‖ body).
type SecretDigestConfig struct {
	// Header carries the digest. Required.
	Header string
	// Hash is crypto.SHA256 (default), crypto.SHA384 or crypto.SHA512.
	Hash crypto.Hash
	// Encoding of the digest; default Hex.
	Encoding Encoding
}

// SecretDigest verifies hash(secret ‖ body).
type SecretDigest struct {
	cfg    SecretDigestConfig
	header string
	name   string
}

var _ Scheme = (*SecretDigest)(nil)

// NewSecretDigest validates cfg, fills its defaults and returns the scheme.
func NewSecretDigest(cfg SecretDigestConfig) (*SecretDigest, error) {
	if cfg.Header == "" {
		return nil, errors.New("verify: SecretDigestConfig.Header: required")
	}
	if cfg.Hash == 0 {
		cfg.Hash = crypto.SHA256
	}
	if cfg.Encoding == 0 {
		cfg.Encoding = Hex
	}
	if err := checkMACHash("SecretDigestConfig", cfg.Hash); err != nil {
		return nil, err
	}
	if err := checkEncoding("SecretDigestConfig", cfg.Encoding); err != nil {
		return nil, err
	}
	return &SecretDigest{cfg: cfg, header: http.CanonicalHeaderKey(cfg.Header), name: hashName(cfg.Hash) + "-secret-body-" + cfg.Encoding.String()}, nil
}

// Name implements Scheme.
func (s *SecretDigest) Name() string { return s.name }

// Verify implements Scheme.
func (s *SecretDigest) Verify(r *Request, k Keys, _ time.Duration) (time.Time, error) {
	v := strings.TrimSpace(header(r.Header, s.header))
	if v == "" {
		return time.Time{}, fail(s.name, ErrMissingSignature, "no "+s.cfg.Header+" header")
	}
	if !hasSecret(k) {
		return time.Time{}, fail(s.name, ErrNoKey, "no secret")
	}
	st := getMAC(s.cfg.Hash)
	defer putMAC(st)
	want, ok := st.decodeSig(s.cfg.Encoding, v, s.cfg.Hash.Size())
	if !ok {
		return time.Time{}, fail(s.name, ErrBadSignature, "digest is not a "+s.cfg.Encoding.String()+" "+hashName(s.cfg.Hash)+" value")
	}
	for _, secret := range k.Secrets {
		if len(secret) > 0 && equal(st.digest(secret, r.Body), want) {
			return time.Time{}, nil
		}
	}
	return time.Time{}, fail(s.name, ErrBadSignature, "no secret matches")
}
