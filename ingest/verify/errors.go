package verify

import "errors"

// Sentinel errors returned (wrapped) by every scheme and preset. Match them
// with errors.Is.
var (
	// ErrMissingSignature: the request carries no signature, token or
	// credential where the scheme expects one.
	ErrMissingSignature = errors.New("missing signature")
	// ErrBadSignature: a signature or token is present but does not verify
	// with any of the store's keys.
	ErrBadSignature = errors.New("bad signature")
	// ErrStale: the signature verifies but its signed timestamp lies outside
	// the tolerance window, in either direction.
	ErrStale = errors.New("timestamp outside tolerance")
	// ErrMalformed: a signature header, signed timestamp or body cannot be
	// parsed (the edge answers 400).
	ErrMalformed = errors.New("malformed request")
	// ErrNoKey: the store has no key material usable by the scheme.
	ErrNoKey = errors.New("no usable verification key")
)

// Reason returns the short metric label of a verification error:
// "missing_signature", "bad_signature", "stale", "malformed" or "no_key";
// "other" for an error that wraps none of the sentinels and "" for nil.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrMissingSignature):
		return "missing_signature"
	case errors.Is(err, ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, ErrStale):
		return "stale"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrNoKey):
		return "no_key"
	default:
		return "other"
	}
}

// verifyError carries a sentinel, the name of the scheme or preset that
// failed and a fixed description. The description is always a constant or a
// header name chosen by the code, never a value taken from the request or
// from the keys, so that no secret or signature can reach a log.
type verifyError struct {
	where  string
	kind   error
	detail string
}

func (e *verifyError) Error() string {
	s := "verify " + e.where + ": " + e.kind.Error()
	if e.detail != "" {
		s += ": " + e.detail
	}
	return s
}

func (e *verifyError) Unwrap() error { return e.kind }

func fail(where string, kind error, detail string) error {
	return &verifyError{where: where, kind: kind, detail: detail}
}
