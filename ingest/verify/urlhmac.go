package verify

import (
	"crypto"
	"errors"
	"net/http"
	"strings"
	"time"
)

// URLHMACConfig describes an HMAC over the notification URL followed by the
// raw body (Square).
type URLHMACConfig struct {
	// Header carries the signature. Required.
	Header string
	// Hash is crypto.SHA256 (default), crypto.SHA384 or crypto.SHA512.
	Hash crypto.Hash
	// Encoding of the signature; default Base64.
	Encoding Encoding
}

// URLHMAC verifies HMAC(secret, Request.URL ‖ body). Request.URL must be the
// notification URL exactly as registered on the platform, query included.
type URLHMAC struct {
	cfg    URLHMACConfig
	header string
	name   string
}

var _ Scheme = (*URLHMAC)(nil)

// NewURLHMAC validates cfg, fills its defaults and returns the scheme.
func NewURLHMAC(cfg URLHMACConfig) (*URLHMAC, error) {
	if cfg.Header == "" {
		return nil, errors.New("verify: URLHMACConfig.Header: required")
	}
	if cfg.Hash == 0 {
		cfg.Hash = crypto.SHA256
	}
	if cfg.Encoding == 0 {
		cfg.Encoding = Base64
	}
	if err := checkMACHash("URLHMACConfig", cfg.Hash); err != nil {
		return nil, err
	}
	if err := checkEncoding("URLHMACConfig", cfg.Encoding); err != nil {
		return nil, err
	}
	return &URLHMAC{
		cfg:    cfg,
		header: http.CanonicalHeaderKey(cfg.Header),
		name:   "hmac-url-body-" + hashName(cfg.Hash) + "-" + cfg.Encoding.String(),
	}, nil
}

// Name implements Scheme.
func (s *URLHMAC) Name() string { return s.name }

// Verify implements Scheme.
func (s *URLHMAC) Verify(r *Request, k Keys, _ time.Duration) (time.Time, error) {
	v := strings.TrimSpace(header(r.Header, s.header))
	if v == "" {
		return time.Time{}, fail(s.name, ErrMissingSignature, "no "+s.cfg.Header+" header")
	}
	if r.URL == "" {
		return time.Time{}, fail(s.name, ErrMalformed, "request has no URL")
	}
	if !hasSecret(k) {
		return time.Time{}, fail(s.name, ErrNoKey, "no secret")
	}
	st := getMAC(s.cfg.Hash)
	defer putMAC(st)
	want, ok := st.decodeSig(s.cfg.Encoding, v, s.cfg.Hash.Size())
	if !ok {
		return time.Time{}, fail(s.name, ErrBadSignature, "signature is not a "+s.cfg.Encoding.String()+" "+hashName(s.cfg.Hash)+" value")
	}
	st.scratch = append(st.scratch[:0], r.URL...)
	for _, secret := range k.Secrets {
		if len(secret) > 0 && equal(st.sum(secret, st.scratch, r.Body), want) {
			return time.Time{}, nil
		}
	}
	return time.Time{}, fail(s.name, ErrBadSignature, "no secret matches")
}
