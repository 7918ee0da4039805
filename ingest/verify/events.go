package verify

import "net/http"

// EventIDFromHeader returns the value of the first of the named headers that
// is present, "" when none is.
func EventIDFromHeader(names ...string) func(*Request) (string, error) {
	canon := canonAll(names)
	return func(r *Request) (string, error) {
		for _, n := range canon {
			if v := header(r.Header, n); v != "" {
				return v, nil
			}
		}
		return "", nil
	}
}

// EventIDFromBody returns the JSON body field at path (dot-separated object
// keys and array indexes, "data.id"); numbers are returned in their literal
// form.
func EventIDFromBody(path string) func(*Request) (string, error) {
	p := splitPath(path)
	return func(r *Request) (string, error) { return bodyField(r, p...) }
}

// EventIDFromBodyHash derives the id as the hex SHA-256 of the whole decoded
// payload. A platform that re-sends the same bytes on retry gets the same id.
func EventIDFromBodyHash() func(*Request) (string, error) {
	return bodyHash
}

// EventIDFromHeaderAndBody derives the id as the hex SHA-256 of the named
// header's value and the decoded payload, for platforms whose different
// topics may carry identical bodies (Recharge, Saleor, Commerce Layer).
func EventIDFromHeaderAndBody(name string) func(*Request) (string, error) {
	canon := http.CanonicalHeaderKey(name)
	return func(r *Request) (string, error) {
		b, err := payload(r)
		if err != nil {
			return "", err
		}
		return derive([]byte(header(r.Header, canon)), b), nil
	}
}

// EventIDFirst returns the first non-empty id of fns, in order. When all are
// empty it returns the first error met, if any.
func EventIDFirst(fns ...func(*Request) (string, error)) func(*Request) (string, error) {
	return func(r *Request) (string, error) {
		var first error
		for _, f := range fns {
			id, err := f(r)
			if err != nil {
				if first == nil {
					first = err
				}
				continue
			}
			if id != "" {
				return id, nil
			}
		}
		return "", first
	}
}

// EventTypeFromHeader returns the value of the named header.
func EventTypeFromHeader(name string) func(*Request) string {
	canon := http.CanonicalHeaderKey(name)
	return func(r *Request) string { return header(r.Header, canon) }
}

// EventTypeFromBody returns the JSON body field at path, "" when the body is
// not JSON or has no such field.
func EventTypeFromBody(path string) func(*Request) string {
	p := splitPath(path)
	return func(r *Request) string {
		v, _ := bodyField(r, p...)
		return v
	}
}

func canonAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = http.CanonicalHeaderKey(n)
	}
	return out
}
