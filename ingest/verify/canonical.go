package verify

import (
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// CanonicalRequestConfig describes an HMAC over a canonical request (Walmart
// performance notifications):
//
//	METHOD "\n" PATH?QUERY "\n" TIMESTAMP "\n" hex(sha256(body))
type CanonicalRequestConfig struct {
	// SignatureHeader and TimestampHeader; defaults "WM_SEC.SIGNATURE" and
	// "WM_SEC.TIMESTAMP".
	SignatureHeader string
	TimestampHeader string
	// Hash of the HMAC: crypto.SHA256 (default), crypto.SHA384 or crypto.SHA512.
	Hash crypto.Hash
	// Encoding of the signature; default Base64.
	Encoding Encoding
}

// CanonicalRequest verifies an HMAC over the canonical request; the
// timestamp is signed and the tolerance window applies.
type CanonicalRequest struct {
	cfg       CanonicalRequestConfig
	sigHeader string
	tsHeader  string
	name      string
}

var _ Scheme = (*CanonicalRequest)(nil)

// NewCanonicalRequest validates cfg, fills its defaults and returns the scheme.
func NewCanonicalRequest(cfg CanonicalRequestConfig) (*CanonicalRequest, error) {
	if cfg.SignatureHeader == "" {
		cfg.SignatureHeader = "WM_SEC.SIGNATURE"
	}
	if cfg.TimestampHeader == "" {
		cfg.TimestampHeader = "WM_SEC.TIMESTAMP"
	}
	if cfg.Hash == 0 {
		cfg.Hash = crypto.SHA256
	}
	if cfg.Encoding == 0 {
		cfg.Encoding = Base64
	}
	if err := checkMACHash("CanonicalRequestConfig", cfg.Hash); err != nil {
		return nil, err
	}
	if err := checkEncoding("CanonicalRequestConfig", cfg.Encoding); err != nil {
		return nil, err
	}
	if strings.ContainsAny(cfg.SignatureHeader+cfg.TimestampHeader, " :\t") {
		return nil, errors.New("verify: CanonicalRequestConfig: header names must be HTTP tokens")
	}
	return &CanonicalRequest{
		cfg:       cfg,
		sigHeader: http.CanonicalHeaderKey(cfg.SignatureHeader),
		tsHeader:  http.CanonicalHeaderKey(cfg.TimestampHeader),
		name:      "hmac-canonical-request-" + hashName(cfg.Hash) + "-" + cfg.Encoding.String(),
	}, nil
}

// Name implements Scheme.
func (s *CanonicalRequest) Name() string { return s.name }

// Verify implements Scheme.
func (s *CanonicalRequest) Verify(r *Request, k Keys, tolerance time.Duration) (time.Time, error) {
	v := strings.TrimSpace(header(r.Header, s.sigHeader))
	if v == "" {
		return time.Time{}, fail(s.name, ErrMissingSignature, "no "+s.cfg.SignatureHeader+" header")
	}
	ts := strings.TrimSpace(header(r.Header, s.tsHeader))
	if ts == "" {
		return time.Time{}, fail(s.name, ErrMissingSignature, "no "+s.cfg.TimestampHeader+" header")
	}
	u, err := url.Parse(r.URL)
	if err != nil || r.URL == "" {
		return time.Time{}, fail(s.name, ErrMalformed, "request URL does not parse")
	}
	if !hasSecret(k) {
		return time.Time{}, fail(s.name, ErrNoKey, "no secret")
	}
	method := strings.ToUpper(r.Method)
	if method == "" {
		method = http.MethodPost
	}
	st := getMAC(s.cfg.Hash)
	defer putMAC(st)
	want, ok := st.decodeSig(s.cfg.Encoding, v, s.cfg.Hash.Size())
	if !ok {
		return time.Time{}, fail(s.name, ErrBadSignature, "signature is not a "+s.cfg.Encoding.String()+" "+hashName(s.cfg.Hash)+" value")
	}
	bodySum := sha256.Sum256(r.Body)
	b := append(st.scratch[:0], method...)
	b = append(b, '\n')
	b = append(b, u.RequestURI()...)
	b = append(b, '\n')
	b = append(b, ts...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, bodySum[:])
	st.scratch = b
	for _, secret := range k.Secrets {
		if len(secret) > 0 && equal(st.sum(secret, st.scratch), want) {
			at, ok := parseTimestamp(ts)
			if !ok {
				return time.Time{}, fail(s.name, ErrMalformed, s.cfg.TimestampHeader+" is not a timestamp")
			}
			return at, window(s.name, r.Now, at, tolerance)
		}
	}
	return time.Time{}, fail(s.name, ErrBadSignature, "no secret matches")
}
