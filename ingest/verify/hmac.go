package verify

import (
	"crypto"
	"errors"
	"net/http"
	"strings"
	"time"
)

// HMACConfig describes an HMAC over the raw body, optionally preceded by the
// value of another header (Deliveroo signs "{sequence guid} {body}").
type HMACConfig struct {
	// Header carries the signature. Required.
	Header string
	// Hash is crypto.SHA256 (default), crypto.SHA384 or crypto.SHA512.
	Hash crypto.Hash
	// Encoding of the signature: Hex or Base64. Required.
	Encoding Encoding
	// Prefix is stripped from the header value when present ("sha256=").
	Prefix string
	// KeyEncodings say how a secret becomes the key; each is tried in turn.
	// Default {KeyRaw}.
	KeyEncodings []KeyEncoding
	// PartHeader, when set, names a header whose value is signed before the
	// body, followed by PartSeparator.
	PartHeader    string
	PartSeparator string
}

// HMAC verifies an HMAC of the raw body (Shopify, WooCommerce, Squarespace,
// Uber Eats, Deliveroo...).
type HMAC struct {
	cfg        HMACConfig
	header     string
	partHeader string
	sep        []byte
	name       string
}

var _ Scheme = (*HMAC)(nil)

// NewHMAC validates cfg, fills its defaults and returns the scheme.
func NewHMAC(cfg HMACConfig) (*HMAC, error) {
	if cfg.Header == "" {
		return nil, errors.New("verify: HMACConfig.Header: required")
	}
	if cfg.Hash == 0 {
		cfg.Hash = crypto.SHA256
	}
	if err := checkMACHash("HMACConfig", cfg.Hash); err != nil {
		return nil, err
	}
	if err := checkEncoding("HMACConfig", cfg.Encoding); err != nil {
		return nil, err
	}
	if len(cfg.KeyEncodings) == 0 {
		cfg.KeyEncodings = []KeyEncoding{KeyRaw}
	}
	if err := checkKeyEncodings("HMACConfig", cfg.KeyEncodings); err != nil {
		return nil, err
	}
	s := &HMAC{
		cfg:    cfg,
		header: http.CanonicalHeaderKey(cfg.Header),
		sep:    []byte(cfg.PartSeparator),
		name:   "hmac-" + hashName(cfg.Hash) + "-" + cfg.Encoding.String(),
	}
	if cfg.PartHeader != "" {
		s.partHeader = http.CanonicalHeaderKey(cfg.PartHeader)
		s.name = "hmac-" + hashName(cfg.Hash) + "-header-body-" + cfg.Encoding.String()
	}
	return s, nil
}

// Name implements Scheme.
func (s *HMAC) Name() string { return s.name }

// Verify implements Scheme.
func (s *HMAC) Verify(r *Request, k Keys, _ time.Duration) (time.Time, error) {
	v := strings.TrimSpace(header(r.Header, s.header))
	v = trimPrefixFold(v, s.cfg.Prefix)
	if v == "" {
		return time.Time{}, fail(s.name, ErrMissingSignature, "no "+s.cfg.Header+" header")
	}
	var part string
	if s.partHeader != "" {
		if part = header(r.Header, s.partHeader); part == "" {
			return time.Time{}, fail(s.name, ErrMissingSignature, "no "+s.cfg.PartHeader+" header")
		}
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
	var pre []byte
	if s.partHeader != "" {
		st.scratch = append(append(st.scratch[:0], part...), s.sep...)
		pre = st.scratch
	}
	usable := false
	for _, secret := range k.Secrets {
		for _, ke := range s.cfg.KeyEncodings {
			key, ok := st.keyFor(secret, ke)
			if !ok {
				continue
			}
			usable = true
			if equal(st.sum(key, pre, r.Body), want) {
				return time.Time{}, nil
			}
		}
	}
	if !usable {
		return time.Time{}, fail(s.name, ErrNoKey, "no secret decodes")
	}
	return time.Time{}, fail(s.name, ErrBadSignature, "no secret matches")
}

func trimPrefixFold(s, prefix string) string {
	if prefix != "" && len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):]
	}
	return s
}
