package verify

import (
	"crypto"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// parseTimestamp reads a signed timestamp: Unix seconds (optionally with a
// fraction), Unix milliseconds (13 digits and more, as Walmart and Mercado
// Pago send) or RFC 3339.
func parseTimestamp(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if allDigits(intPart) && len(intPart) <= 16 && (!hasFrac || (allDigits(frac) && frac != "")) {
		n, err := strconv.ParseInt(intPart, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		if n >= 1e11 && !hasFrac { // 1e11 s is in the year 5138; 1e11 ms is 1973
			return time.UnixMilli(n).UTC(), true
		}
		var nsec int64
		if hasFrac {
			if len(frac) > 9 {
				frac = frac[:9]
			}
			f, _ := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
			nsec = f
		}
		return time.Unix(n, nsec).UTC(), true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// window checks a verified, signed timestamp against the request's time.
func window(where string, now, at time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if now.IsZero() {
		return fail(where, ErrStale, "request has no receipt time")
	}
	d := now.Sub(at)
	if d > tolerance {
		return fail(where, ErrStale, "signed timestamp too old")
	}
	if d < -tolerance {
		return fail(where, ErrStale, "signed timestamp in the future")
	}
	return nil
}

// TimestampHMACConfig describes an HMAC over a timestamp header and the raw
// body (Spree: "{timestamp}.{body}"; Klaviyo: "{body}{timestamp}").
type TimestampHMACConfig struct {
	// Header carries the signature; TimestampHeader the signed timestamp.
	// Both required.
	Header          string
	TimestampHeader string
	// Hash is crypto.SHA256 (default), crypto.SHA384 or crypto.SHA512.
	Hash crypto.Hash
	// Encoding of the signature: Hex or Base64. Required.
	Encoding Encoding
	// Prefix is stripped from the signature when present.
	Prefix string
	// Separator goes between the timestamp and the body.
	Separator string
	// BodyFirst signs body, separator, timestamp instead of timestamp,
	// separator, body.
	BodyFirst bool
	// KeyEncodings as in HMACConfig; default {KeyRaw}.
	KeyEncodings []KeyEncoding
}

// TimestampHMAC verifies an HMAC over a signed timestamp header and the body,
// and enforces the tolerance window on that timestamp.
type TimestampHMAC struct {
	cfg      TimestampHMACConfig
	header   string
	tsHeader string
	sep      []byte
	name     string
}

var _ Scheme = (*TimestampHMAC)(nil)

// NewTimestampHMAC validates cfg, fills its defaults and returns the scheme.
func NewTimestampHMAC(cfg TimestampHMACConfig) (*TimestampHMAC, error) {
	if cfg.Header == "" {
		return nil, errors.New("verify: TimestampHMACConfig.Header: required")
	}
	if cfg.TimestampHeader == "" {
		return nil, errors.New("verify: TimestampHMACConfig.TimestampHeader: required")
	}
	if cfg.Hash == 0 {
		cfg.Hash = crypto.SHA256
	}
	if err := checkMACHash("TimestampHMACConfig", cfg.Hash); err != nil {
		return nil, err
	}
	if err := checkEncoding("TimestampHMACConfig", cfg.Encoding); err != nil {
		return nil, err
	}
	if len(cfg.KeyEncodings) == 0 {
		cfg.KeyEncodings = []KeyEncoding{KeyRaw}
	}
	if err := checkKeyEncodings("TimestampHMACConfig", cfg.KeyEncodings); err != nil {
		return nil, err
	}
	return &TimestampHMAC{
		cfg:      cfg,
		header:   http.CanonicalHeaderKey(cfg.Header),
		tsHeader: http.CanonicalHeaderKey(cfg.TimestampHeader),
		sep:      []byte(cfg.Separator),
		name:     "hmac-timestamp-" + hashName(cfg.Hash) + "-" + cfg.Encoding.String(),
	}, nil
}

// Name implements Scheme.
func (s *TimestampHMAC) Name() string { return s.name }

// Verify implements Scheme.
func (s *TimestampHMAC) Verify(r *Request, k Keys, tolerance time.Duration) (time.Time, error) {
	v := trimPrefixFold(strings.TrimSpace(header(r.Header, s.header)), s.cfg.Prefix)
	if v == "" {
		return time.Time{}, fail(s.name, ErrMissingSignature, "no "+s.cfg.Header+" header")
	}
	ts := header(r.Header, s.tsHeader)
	if ts == "" {
		return time.Time{}, fail(s.name, ErrMissingSignature, "no "+s.cfg.TimestampHeader+" header")
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
	first, second := r.Body, []byte(nil)
	if s.cfg.BodyFirst {
		st.scratch = append(append(st.scratch[:0], s.sep...), ts...)
		second = st.scratch
	} else {
		st.scratch = append(append(st.scratch[:0], ts...), s.sep...)
		first, second = st.scratch, r.Body
	}
	usable := false
	for _, secret := range k.Secrets {
		for _, ke := range s.cfg.KeyEncodings {
			key, ok := st.keyFor(secret, ke)
			if !ok {
				continue
			}
			usable = true
			if equal(st.sum(key, first, second), want) {
				at, ok := parseTimestamp(ts)
				if !ok {
					return time.Time{}, fail(s.name, ErrMalformed, s.cfg.TimestampHeader+" is not a timestamp")
				}
				return at, window(s.name, r.Now, at, tolerance)
			}
		}
	}
	if !usable {
		return time.Time{}, fail(s.name, ErrNoKey, "no secret decodes")
	}
	return time.Time{}, fail(s.name, ErrBadSignature, "no secret matches")
}
