package verify

import (
	"crypto"
	"errors"
	"net/http"
	"strings"
	"time"
)

// CompositeConfig describes a signature header that lists a timestamp and
// one or more signatures, each signing "{timestamp}{MessageSeparator}{body}":
// Stripe's "t=..,v1=..,v1=.." and Paddle's "ts=..;h1=..;h1=..".
type CompositeConfig struct {
	// Name of the scheme for logs and metrics; default "composite-hmac".
	Name string
	// Header carries the composite value. Required.
	Header string
	// ItemSeparator separates the key=value items. Required.
	ItemSeparator string
	// TimestampKey and SignatureKey name the items. Required.
	TimestampKey string
	SignatureKey string
	// MessageSeparator goes between the timestamp and the body.
	MessageSeparator string
	// Hash is crypto.SHA256 (default), crypto.SHA384 or crypto.SHA512.
	Hash crypto.Hash
	// Encoding of each signature; default Hex.
	Encoding Encoding
}

// Composite verifies a timestamp-and-signature-list header. Any one listed
// signature matching any one secret is enough (senders list several during a
// secret rotation); the tolerance window applies to the timestamp.
type Composite struct {
	cfg    CompositeConfig
	header string
}

var _ Scheme = (*Composite)(nil)

// NewComposite validates cfg, fills its defaults and returns the scheme.
func NewComposite(cfg CompositeConfig) (*Composite, error) {
	switch {
	case cfg.Header == "":
		return nil, errors.New("verify: CompositeConfig.Header: required")
	case cfg.ItemSeparator == "":
		return nil, errors.New("verify: CompositeConfig.ItemSeparator: required")
	case cfg.TimestampKey == "" || cfg.SignatureKey == "":
		return nil, errors.New("verify: CompositeConfig.TimestampKey and SignatureKey: required")
	}
	if cfg.Name == "" {
		cfg.Name = "composite-hmac"
	}
	if cfg.Hash == 0 {
		cfg.Hash = crypto.SHA256
	}
	if cfg.Encoding == 0 {
		cfg.Encoding = Hex
	}
	if err := checkMACHash("CompositeConfig", cfg.Hash); err != nil {
		return nil, err
	}
	if err := checkEncoding("CompositeConfig", cfg.Encoding); err != nil {
		return nil, err
	}
	return &Composite{cfg: cfg, header: http.CanonicalHeaderKey(cfg.Header)}, nil
}

// NewStripe returns Stripe's scheme: Stripe-Signature "t=..,v1=.." over
// "{t}.{body}", HMAC-SHA256 hex, keyed by the whole "whsec_..." secret string.
func NewStripe() *Composite {
	return must(NewComposite(CompositeConfig{
		Name: "stripe", Header: "Stripe-Signature", ItemSeparator: ",",
		TimestampKey: "t", SignatureKey: "v1", MessageSeparator: ".",
	}))
}

// NewPaddle returns Paddle Billing's scheme: Paddle-Signature "ts=..;h1=.."
// over "{ts}:{body}", HMAC-SHA256 hex.
func NewPaddle() *Composite {
	return must(NewComposite(CompositeConfig{
		Name: "paddle", Header: "Paddle-Signature", ItemSeparator: ";",
		TimestampKey: "ts", SignatureKey: "h1", MessageSeparator: ":",
	}))
}

// Name implements Scheme.
func (s *Composite) Name() string { return s.cfg.Name }

// Verify implements Scheme.
func (s *Composite) Verify(r *Request, k Keys, tolerance time.Duration) (time.Time, error) {
	v := header(r.Header, s.header)
	if strings.TrimSpace(v) == "" {
		return time.Time{}, fail(s.cfg.Name, ErrMissingSignature, "no "+s.cfg.Header+" header")
	}
	ts, nsig := "", 0
	for rest := v; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, s.cfg.ItemSeparator)
		key, val, _ := strings.Cut(item, "=")
		switch strings.TrimSpace(key) {
		case s.cfg.TimestampKey:
			if ts == "" {
				ts = strings.TrimSpace(val)
			}
		case s.cfg.SignatureKey:
			nsig++
		}
	}
	if ts == "" {
		return time.Time{}, fail(s.cfg.Name, ErrMalformed, "no "+s.cfg.TimestampKey+" item in "+s.cfg.Header)
	}
	if nsig == 0 {
		return time.Time{}, fail(s.cfg.Name, ErrMissingSignature, "no "+s.cfg.SignatureKey+" item in "+s.cfg.Header)
	}
	if !hasSecret(k) {
		return time.Time{}, fail(s.cfg.Name, ErrNoKey, "no secret")
	}
	st := getMAC(s.cfg.Hash)
	defer putMAC(st)
	st.scratch = append(append(st.scratch[:0], ts...), s.cfg.MessageSeparator...)
	size := s.cfg.Hash.Size()
	for _, secret := range k.Secrets {
		if len(secret) == 0 {
			continue
		}
		mac := st.sum(secret, st.scratch, r.Body)
		for rest := v; rest != ""; {
			var item string
			item, rest, _ = strings.Cut(rest, s.cfg.ItemSeparator)
			key, val, _ := strings.Cut(item, "=")
			if strings.TrimSpace(key) != s.cfg.SignatureKey {
				continue
			}
			if want, ok := st.decodeSig(s.cfg.Encoding, val, size); ok && equal(mac, want) {
				at, ok := parseTimestamp(ts)
				if !ok {
					return time.Time{}, fail(s.cfg.Name, ErrMalformed, s.cfg.TimestampKey+" is not a timestamp")
				}
				return at, window(s.cfg.Name, r.Now, at, tolerance)
			}
		}
	}
	return time.Time{}, fail(s.cfg.Name, ErrBadSignature, "no signature matches a secret")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
