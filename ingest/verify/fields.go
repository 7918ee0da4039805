package verify

import (
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// FieldHMACConfig describes a signature over fields of the body rather than
// the body itself (Ecwid: base64 HMAC-SHA256 of "{eventCreated}.{eventId}").
type FieldHMACConfig struct {
	// Header carries the signature. Required.
	Header string
	// Template is the signed string: literal text and {path} placeholders
	// naming JSON body fields (dot-separated). Required.
	Template string
	// Hash is crypto.SHA256 (default), crypto.SHA384 or crypto.SHA512.
	Hash crypto.Hash
	// Encoding of the signature; default Base64.
	Encoding Encoding
}

// FieldHMAC verifies a field signature. It does not authenticate the rest of
// the body: presets using it set BodyAuthenticated false. Fields are read
// from the decoded payload.
type FieldHMAC struct {
	cfg    FieldHMACConfig
	header string
	lits   []string   // literal text before each field, then the tail
	paths  [][]string // field paths, len(lits)-1 of them
	name   string
}

var _ Scheme = (*FieldHMAC)(nil)

// NewFieldHMAC validates cfg, fills its defaults and returns the scheme.
func NewFieldHMAC(cfg FieldHMACConfig) (*FieldHMAC, error) {
	if cfg.Header == "" {
		return nil, errors.New("verify: FieldHMACConfig.Header: required")
	}
	if cfg.Hash == 0 {
		cfg.Hash = crypto.SHA256
	}
	if cfg.Encoding == 0 {
		cfg.Encoding = Base64
	}
	if err := checkMACHash("FieldHMACConfig", cfg.Hash); err != nil {
		return nil, err
	}
	if err := checkEncoding("FieldHMACConfig", cfg.Encoding); err != nil {
		return nil, err
	}
	s := &FieldHMAC{cfg: cfg, header: http.CanonicalHeaderKey(cfg.Header), name: "hmac-fields-" + hashName(cfg.Hash) + "-" + cfg.Encoding.String()}
	rest := cfg.Template
	for {
		lit, after, found := strings.Cut(rest, "{")
		if !found {
			s.lits = append(s.lits, rest)
			break
		}
		field, tail, ok := strings.Cut(after, "}")
		if !ok || field == "" {
			return nil, fmt.Errorf("verify: FieldHMACConfig.Template: unbalanced or empty {} in %q", cfg.Template)
		}
		s.lits = append(s.lits, lit)
		s.paths = append(s.paths, splitPath(field))
		rest = tail
	}
	if len(s.paths) == 0 {
		return nil, errors.New("verify: FieldHMACConfig.Template: want at least one {field}")
	}
	return s, nil
}

// Name implements Scheme.
func (s *FieldHMAC) Name() string { return s.name }

// Verify implements Scheme.
func (s *FieldHMAC) Verify(r *Request, k Keys, _ time.Duration) (time.Time, error) {
	v := strings.TrimSpace(header(r.Header, s.header))
	if v == "" {
		return time.Time{}, fail(s.name, ErrMissingSignature, "no "+s.cfg.Header+" header")
	}
	body, err := payload(r)
	if err != nil {
		return time.Time{}, err
	}
	vals, ok := jsonFields(body, s.paths...)
	if !ok {
		return time.Time{}, fail(s.name, ErrMalformed, "body is not JSON")
	}
	for _, f := range vals {
		if f == "" {
			return time.Time{}, fail(s.name, ErrMalformed, "body lacks a signed field")
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
	b := st.scratch[:0]
	for i, f := range vals {
		b = append(append(b, s.lits[i]...), f...)
	}
	st.scratch = append(b, s.lits[len(s.lits)-1]...)
	for _, secret := range k.Secrets {
		if len(secret) > 0 && equal(st.sum(secret, st.scratch), want) {
			return time.Time{}, nil
		}
	}
	return time.Time{}, fail(s.name, ErrBadSignature, "no secret matches")
}

// MercadoPagoConfig describes Mercado Pago's notification signature.
type MercadoPagoConfig struct {
	// Header "x-signature" ("ts=..,v1=.."), RequestIDHeader "x-request-id"
	// and QueryParam "data.id" by default.
	Header          string
	RequestIDHeader string
	QueryParam      string
}

// MercadoPago verifies the hex HMAC-SHA256 of the manifest
// "id:{data.id};request-id:{x-request-id};ts:{ts};", where data.id comes from
// the notification URL's query (lower-cased) and a part whose value is absent
// is left out, as the platform documents. The body is not covered
// (BodyAuthenticated false); the ts is, and the tolerance window applies.
type MercadoPago struct {
	cfg    MercadoPagoConfig
	header string
	ridHdr string
}

var _ Scheme = (*MercadoPago)(nil)

// NewMercadoPago fills cfg's defaults and returns the scheme.
func NewMercadoPago(cfg MercadoPagoConfig) (*MercadoPago, error) {
	if cfg.Header == "" {
		cfg.Header = "x-signature"
	}
	if cfg.RequestIDHeader == "" {
		cfg.RequestIDHeader = "x-request-id"
	}
	if cfg.QueryParam == "" {
		cfg.QueryParam = "data.id"
	}
	return &MercadoPago{cfg: cfg, header: http.CanonicalHeaderKey(cfg.Header), ridHdr: http.CanonicalHeaderKey(cfg.RequestIDHeader)}, nil
}

// Name implements Scheme.
func (s *MercadoPago) Name() string { return "mercadopago" }

// Verify implements Scheme.
func (s *MercadoPago) Verify(r *Request, k Keys, tolerance time.Duration) (time.Time, error) {
	const name = "mercadopago"
	v := header(r.Header, s.header)
	if strings.TrimSpace(v) == "" {
		return time.Time{}, fail(name, ErrMissingSignature, "no "+s.cfg.Header+" header")
	}
	ts, nsig := "", 0
	for item := range strings.SplitSeq(v, ",") {
		key, val, _ := strings.Cut(item, "=")
		switch strings.TrimSpace(key) {
		case "ts":
			if ts == "" {
				ts = strings.TrimSpace(val)
			}
		case "v1":
			nsig++
		}
	}
	if ts == "" {
		return time.Time{}, fail(name, ErrMalformed, "no ts item in "+s.cfg.Header)
	}
	if nsig == 0 {
		return time.Time{}, fail(name, ErrMissingSignature, "no v1 item in "+s.cfg.Header)
	}
	var id string
	if r.URL != "" {
		u, err := url.Parse(r.URL)
		if err != nil {
			return time.Time{}, fail(name, ErrMalformed, "request URL does not parse")
		}
		id = strings.ToLower(u.Query().Get(s.cfg.QueryParam))
	}
	rid := strings.TrimSpace(header(r.Header, s.ridHdr))
	if !hasSecret(k) {
		return time.Time{}, fail(name, ErrNoKey, "no secret")
	}
	st := getMAC(crypto.SHA256)
	defer putMAC(st)
	b := st.scratch[:0]
	if id != "" {
		b = append(append(append(b, "id:"...), id...), ';')
	}
	if rid != "" {
		b = append(append(append(b, "request-id:"...), rid...), ';')
	}
	st.scratch = append(append(append(b, "ts:"...), ts...), ';')
	for _, secret := range k.Secrets {
		if len(secret) == 0 {
			continue
		}
		mac := st.sum(secret, st.scratch)
		for item := range strings.SplitSeq(v, ",") {
			key, val, _ := strings.Cut(item, "=")
			if strings.TrimSpace(key) != "v1" {
				continue
			}
			if want, ok := st.decodeSig(Hex, val, crypto.SHA256.Size()); ok && equal(mac, want) {
				at, ok := parseTimestamp(ts)
				if !ok {
					return time.Time{}, fail(name, ErrMalformed, "ts is not a timestamp")
				}
				return at, window(name, r.Now, at, tolerance)
			}
		}
	}
	return time.Time{}, fail(name, ErrBadSignature, "no signature matches a secret")
}
