package verify

import (
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// Encoding is how a signature travels on the wire.
type Encoding int

const (
	// Hex is hexadecimal, either case.
	Hex Encoding = iota + 1
	// Base64 is standard base64; padding is optional and the URL alphabet is
	// accepted too.
	Base64
)

func (e Encoding) String() string {
	switch e {
	case Hex:
		return "hex"
	case Base64:
		return "base64"
	default:
		return fmt.Sprintf("Encoding(%d)", int(e))
	}
}

// KeyEncoding is how a configured secret becomes the MAC key.
type KeyEncoding int

const (
	// KeyRaw uses the secret's bytes as they are.
	KeyRaw KeyEncoding = iota + 1
	// KeyHex hex-decodes the secret (Squarespace).
	KeyHex
	// KeyBase64 base64-decodes the secret.
	KeyBase64
)

func (e KeyEncoding) String() string {
	switch e {
	case KeyRaw:
		return "raw"
	case KeyHex:
		return "hex"
	case KeyBase64:
		return "base64"
	default:
		return fmt.Sprintf("KeyEncoding(%d)", int(e))
	}
}

// maxMACSize is the largest digest handled (SHA-512).
const maxMACSize = sha512.Size

// maxBlockSize is the largest hash block size handled (SHA-512).
const maxBlockSize = sha512.BlockSize

func hashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA1:
		return "sha1"
	case crypto.SHA256:
		return "sha256"
	case crypto.SHA384:
		return "sha384"
	case crypto.SHA512:
		return "sha512"
	default:
		return h.String()
	}
}

func checkMACHash(where string, h crypto.Hash) error {
	switch h {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
		return nil
	default:
		return fmt.Errorf("verify: %s.Hash: got %v, want crypto.SHA256, crypto.SHA384 or crypto.SHA512", where, h)
	}
}

func checkEncoding(where string, e Encoding) error {
	if e != Hex && e != Base64 {
		return fmt.Errorf("verify: %s.Encoding: got %v, want Hex or Base64", where, e)
	}
	return nil
}

func checkKeyEncodings(where string, es []KeyEncoding) error {
	for _, e := range es {
		if e != KeyRaw && e != KeyHex && e != KeyBase64 {
			return fmt.Errorf("verify: %s.KeyEncodings: got %v, want KeyRaw, KeyHex or KeyBase64", where, e)
		}
	}
	return nil
}

// macState is a pooled HMAC computation: a plain digest plus the scratch
// buffers of the HMAC construction (RFC 2104), so that verifying a request
// allocates nothing once the pool is warm. crypto/hmac allocates its keyed
// state per call, which is what this avoids.
type macState struct {
	h       crypto.Hash
	d       hash.Hash
	k       [maxBlockSize]byte
	pad     [maxBlockSize]byte
	out     [maxMACSize]byte
	sig     [maxMACSize + 4]byte // decoded signature from the request (base64 decoding needs slack)
	scratch []byte               // signed prefixes built by the schemes
	key     []byte               // decoded secrets (KeyHex, KeyBase64, whsec_)
}

var macPools = map[crypto.Hash]*sync.Pool{
	crypto.SHA256: {New: func() any { return &macState{h: crypto.SHA256, d: sha256.New()} }},
	crypto.SHA384: {New: func() any { return &macState{h: crypto.SHA384, d: sha512.New384()} }},
	crypto.SHA512: {New: func() any { return &macState{h: crypto.SHA512, d: sha512.New()} }},
}

func getMAC(h crypto.Hash) *macState {
	return macPools[h].Get().(*macState)
}

func putMAC(st *macState) {
	clear(st.k[:])
	clear(st.pad[:])
	clear(st.out[:])
	clear(st.sig[:])
	clear(st.key)
	st.key = st.key[:0]
	if cap(st.scratch) > 4096 {
		st.scratch = nil // do not pin large buffers in the pool
	} else {
		st.scratch = st.scratch[:0]
	}
	st.d.Reset()
	macPools[st.h].Put(st)
}

// sum returns HMAC(key, parts...) in st.out. The result is valid until the
// next call.
func (st *macState) sum(key []byte, parts ...[]byte) []byte {
	d := st.d
	bs := d.BlockSize()
	clear(st.k[:])
	if len(key) > bs {
		d.Reset()
		d.Write(key)
		d.Sum(st.k[:0])
	} else {
		copy(st.k[:], key)
	}
	for i := 0; i < bs; i++ {
		st.pad[i] = st.k[i] ^ 0x36
	}
	d.Reset()
	d.Write(st.pad[:bs])
	for _, p := range parts {
		d.Write(p)
	}
	inner := d.Sum(st.out[:0])
	for i := 0; i < bs; i++ {
		st.pad[i] = st.k[i] ^ 0x5c
	}
	d.Reset()
	d.Write(st.pad[:bs])
	d.Write(inner)
	return d.Sum(st.out[:0])
}

// digest returns the plain hash of parts in st.out.
func (st *macState) digest(parts ...[]byte) []byte {
	st.d.Reset()
	for _, p := range parts {
		st.d.Write(p)
	}
	return st.d.Sum(st.out[:0])
}

// decodeSig decodes a signature of the expected size into st.sig. It reports
// false for anything that is not exactly one well-formed signature.
func (st *macState) decodeSig(enc Encoding, s string, size int) ([]byte, bool) {
	s = strings.TrimSpace(s)
	switch enc {
	case Hex:
		if len(s) != 2*size {
			return nil, false
		}
		n, err := hex.Decode(st.sig[:size], []byte(s))
		if err != nil || n != size {
			return nil, false
		}
		return st.sig[:size], true
	case Base64:
		return decodeBase64Into(st.sig[:], s, size)
	}
	return nil, false
}

// decodeBase64Into decodes s, in any of the four base64 alphabets, into dst
// (which needs a few bytes of slack beyond size for padded input)
// and reports whether it is exactly size bytes.
func decodeBase64Into(dst []byte, s string, size int) ([]byte, bool) {
	if len(s) == 0 || len(s) > base64.StdEncoding.EncodedLen(size)+2 {
		return nil, false
	}
	enc := pickBase64(s)
	if enc.DecodedLen(len(s)) > len(dst) {
		return nil, false
	}
	n, err := enc.Decode(dst, []byte(s))
	if err != nil || n != size {
		return nil, false
	}
	return dst[:n], true
}

// keyFor returns the MAC key for secret under encoding e, decoding into the
// state's key buffer; ok is false when the secret does not decode.
func (st *macState) keyFor(secret []byte, e KeyEncoding) ([]byte, bool) {
	switch e {
	case KeyHex:
		s := strings.TrimSpace(string(secret))
		need := hex.DecodedLen(len(s))
		st.key = growKey(st.key, need)
		n, err := hex.Decode(st.key[:need], []byte(s))
		if err != nil || n == 0 {
			return nil, false
		}
		return st.key[:n], true
	case KeyBase64:
		return st.base64Key(strings.TrimSpace(string(secret)))
	default:
		return secret, len(secret) > 0
	}
}

func (st *macState) base64Key(s string) ([]byte, bool) {
	enc := pickBase64(s)
	need := enc.DecodedLen(len(s))
	st.key = growKey(st.key, need)
	n, err := enc.Decode(st.key[:need], []byte(s))
	if err != nil || n == 0 {
		return nil, false
	}
	return st.key[:n], true
}

func growKey(b []byte, n int) []byte {
	if cap(b) < n {
		clear(b[:cap(b)])
		return make([]byte, n)
	}
	return b[:n]
}

// equal is the one comparison of secret-derived bytes used by the HMAC
// schemes: constant-time in the content.
func equal(a, b []byte) bool { return hmac.Equal(a, b) }

// tokenEqual compares two tokens in constant time, without leaking their
// lengths, by comparing their SHA-256 digests.
func tokenEqual(got, want string) bool {
	if want == "" {
		return false
	}
	a := sha256.Sum256([]byte(got))
	b := sha256.Sum256([]byte(want))
	return hmac.Equal(a[:], b[:])
}

// hasSecret reports whether k holds at least one non-empty secret.
func hasSecret(k Keys) bool {
	for _, s := range k.Secrets {
		if len(s) > 0 {
			return true
		}
	}
	return false
}

// pickBase64 chooses the base64 alphabet and padding that s is written in.
func pickBase64(s string) *base64.Encoding {
	urlSafe := strings.ContainsAny(s, "-_")
	padded := strings.HasSuffix(s, "=")
	switch {
	case urlSafe && padded:
		return base64.URLEncoding
	case urlSafe:
		return base64.RawURLEncoding
	case !padded && len(s)%4 != 0:
		return base64.RawStdEncoding
	default:
		return base64.StdEncoding
	}
}
