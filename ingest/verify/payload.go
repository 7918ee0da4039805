package verify

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/valyala/fastjson"
)

// MaxDecodedPayload bounds the decompressed size of a gzip body when fields
// are read from it; a larger payload is ErrMalformed.
const MaxDecodedPayload = 16 << 20

// header returns the first value of the header canon (already in canonical
// form). When the caller's map was not built with canonical names it falls
// back to a case-insensitive scan.
func header(h http.Header, canon string) string {
	if v := h[canon]; len(v) > 0 {
		return v[0]
	}
	for k, v := range h {
		if len(v) > 0 && strings.EqualFold(k, canon) {
			return v[0]
		}
	}
	return ""
}

// payload returns the body to read fields from: the raw body, or its gzip
// decoding when the request says Content-Encoding: gzip. Signatures are never
// checked over it.
func payload(r *Request) ([]byte, error) {
	ce := strings.ToLower(strings.TrimSpace(header(r.Header, "Content-Encoding")))
	if ce != "gzip" && ce != "x-gzip" {
		return r.Body, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.Body))
	if err != nil {
		return nil, fail("payload", ErrMalformed, "gzip body does not decode")
	}
	b, err := io.ReadAll(io.LimitReader(zr, MaxDecodedPayload+1))
	if err != nil {
		return nil, fail("payload", ErrMalformed, "gzip body does not decode")
	}
	if len(b) > MaxDecodedPayload {
		return nil, fail("payload", ErrMalformed, "decoded body too large")
	}
	return b, nil
}

var jsonParsers fastjson.ParserPool

// jsonFields parses body once and returns the string form of each path ("" when
// absent). A path is a list of object keys and array indexes ("data", "0",
// "topic"). Numbers come back in their literal form. ok is false when body is
// not JSON.
func jsonFields(body []byte, paths ...[]string) (vals []string, ok bool) {
	p := jsonParsers.Get()
	defer jsonParsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, false
	}
	vals = make([]string, len(paths))
	for i, path := range paths {
		vals[i] = scalar(v.Get(path...))
	}
	return vals, true
}

func scalar(v *fastjson.Value) string {
	if v == nil {
		return ""
	}
	switch v.Type() {
	case fastjson.TypeString:
		return string(v.GetStringBytes())
	case fastjson.TypeNumber, fastjson.TypeTrue, fastjson.TypeFalse:
		return v.String()
	default:
		return ""
	}
}

// bodyField reads one field of the decoded JSON payload.
func bodyField(r *Request, path ...string) (string, error) {
	b, err := payload(r)
	if err != nil {
		return "", err
	}
	vals, ok := jsonFields(b, path)
	if !ok {
		return "", fail("payload", ErrMalformed, "body is not JSON")
	}
	return vals[0], nil
}

// formField reads one field of a form-encoded payload.
func formField(r *Request, name string) (string, error) {
	b, err := payload(r)
	if err != nil {
		return "", err
	}
	q, err := url.ParseQuery(string(b))
	if err != nil {
		return "", fail("payload", ErrMalformed, "body is not form-encoded")
	}
	return q.Get(name), nil
}

// derive returns the hex SHA-256 of the parts, each followed by a NUL byte so
// that no two different part lists hash alike.
func derive(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// bodyHash is the hex SHA-256 of the decoded payload.
func bodyHash(r *Request) (string, error) {
	b, err := payload(r)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

func parseForm(b []byte) (url.Values, error) { return url.ParseQuery(string(b)) }
