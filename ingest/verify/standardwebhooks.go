package verify

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"time"
)

// StandardWebhooksConfig describes a Standard Webhooks sender
// (https://www.standardwebhooks.com): headers {prefix}-id, {prefix}-timestamp
// and {prefix}-signature, the signature a space-separated list of
// "v1,<base64 HMAC-SHA256>" (and "v1a,<base64 Ed25519>") over
// "{id}.{timestamp}.{body}", the secret "whsec_" + base64.
type StandardWebhooksConfig struct {
	// Name of the scheme; default "standard-webhooks".
	Name string
	// HeaderPrefixes are tried in order; the first whose signature header is
	// present is used. Default {"webhook", "svix"}.
	HeaderPrefixes []string
}

// StandardWebhooks verifies Standard Webhooks and Svix deliveries. Secrets
// are "whsec_"-prefixed (or bare) base64; ed25519.PublicKey entries of
// Keys.PublicKeys verify "v1a" signatures.
type StandardWebhooks struct {
	name                string
	prefixes            []string
	ids, stamps, sigHdr []string
}

var _ Scheme = (*StandardWebhooks)(nil)

// NewStandardWebhooks validates cfg, fills its defaults and returns the scheme.
func NewStandardWebhooks(cfg StandardWebhooksConfig) (*StandardWebhooks, error) {
	if cfg.Name == "" {
		cfg.Name = "standard-webhooks"
	}
	if len(cfg.HeaderPrefixes) == 0 {
		cfg.HeaderPrefixes = []string{"webhook", "svix"}
	}
	s := &StandardWebhooks{name: cfg.Name, prefixes: cfg.HeaderPrefixes}
	for _, p := range cfg.HeaderPrefixes {
		if p == "" || strings.ContainsAny(p, " :\t") {
			return nil, errors.New("verify: StandardWebhooksConfig.HeaderPrefixes: want non-empty header name prefixes such as \"webhook\" or \"svix\"")
		}
		s.ids = append(s.ids, http.CanonicalHeaderKey(p+"-id"))
		s.stamps = append(s.stamps, http.CanonicalHeaderKey(p+"-timestamp"))
		s.sigHdr = append(s.sigHdr, http.CanonicalHeaderKey(p+"-signature"))
	}
	return s, nil
}

// Name implements Scheme.
func (s *StandardWebhooks) Name() string { return s.name }

// Verify implements Scheme.
func (s *StandardWebhooks) Verify(r *Request, k Keys, tolerance time.Duration) (time.Time, error) {
	i, sigs := -1, ""
	for j := range s.sigHdr {
		if v := strings.TrimSpace(header(r.Header, s.sigHdr[j])); v != "" {
			i, sigs = j, v
			break
		}
	}
	if i < 0 {
		return time.Time{}, fail(s.name, ErrMissingSignature, "no "+s.prefixes[0]+"-signature header")
	}
	id := strings.TrimSpace(header(r.Header, s.ids[i]))
	ts := strings.TrimSpace(header(r.Header, s.stamps[i]))
	if id == "" || ts == "" {
		return time.Time{}, fail(s.name, ErrMalformed, "no "+s.prefixes[i]+"-id or "+s.prefixes[i]+"-timestamp header")
	}
	nv1, nv1a := 0, 0
	for item := range strings.FieldsSeq(sigs) {
		switch version, _, _ := strings.Cut(item, ","); version {
		case "v1":
			nv1++
		case "v1a":
			nv1a++
		}
	}
	if nv1+nv1a == 0 {
		return time.Time{}, fail(s.name, ErrMissingSignature, "no v1 or v1a signature")
	}
	var edKeys []ed25519.PublicKey
	for _, pk := range k.PublicKeys {
		if ek, ok := pk.(ed25519.PublicKey); ok && len(ek) == ed25519.PublicKeySize {
			edKeys = append(edKeys, ek)
		}
	}
	st := getMAC(crypto.SHA256)
	defer putMAC(st)
	st.scratch = append(append(append(append(st.scratch[:0], id...), '.'), ts...), '.')
	matched, usable := false, len(edKeys) > 0
	if nv1 > 0 {
	secrets:
		for _, secret := range k.Secrets {
			key, ok := st.base64Key(strings.TrimPrefix(strings.TrimSpace(string(secret)), "whsec_"))
			if !ok {
				continue
			}
			usable = true
			mac := st.sum(key, st.scratch, r.Body)
			for item := range strings.FieldsSeq(sigs) {
				version, val, _ := strings.Cut(item, ",")
				if version != "v1" {
					continue
				}
				if want, ok := st.decodeSig(Base64, val, sha256.Size); ok && equal(mac, want) {
					matched = true
					break secrets
				}
			}
		}
	}
	if !matched && nv1a > 0 && len(edKeys) > 0 {
		msg := bytes.Join([][]byte{st.scratch, r.Body}, nil)
		var sig [ed25519.SignatureSize + 4]byte // base64 decoding needs slack
	keys:
		for item := range strings.FieldsSeq(sigs) {
			version, val, _ := strings.Cut(item, ",")
			if version != "v1a" {
				continue
			}
			b, ok := decodeBase64Into(sig[:], val, ed25519.SignatureSize)
			if !ok {
				continue
			}
			for _, ek := range edKeys {
				if ed25519.Verify(ek, msg, b) {
					matched = true
					break keys
				}
			}
		}
	}
	if !matched {
		if !usable {
			return time.Time{}, fail(s.name, ErrNoKey, "no whsec_ secret or Ed25519 key")
		}
		return time.Time{}, fail(s.name, ErrBadSignature, "no signature matches a key")
	}
	at, ok := parseTimestamp(ts)
	if !ok {
		return time.Time{}, fail(s.name, ErrMalformed, s.prefixes[i]+"-timestamp is not a timestamp")
	}
	return at, window(s.name, r.Now, at, tolerance)
}
