// Package auth verifies and signs the JWTs that identify drivers, dispatchers, operators and
// services: the MQTT CONNECT password and the HTTP bearer token.
//
// A token carries sub (driver or user id), tenant, role, exp (required), iat, aud and, when the
// hub is configured with one, iss. Keys are an HS256 shared secret (development) and RSA, EC
// and Ed25519 public keys from a JSON Web Key Set file or URL, rotated by kid.
package auth

import (
	"errors"
	"time"
)

// Role is what a token's holder may do.
type Role string

// Roles.
const (
	RoleDriver     Role = "driver"
	RoleDispatcher Role = "dispatcher"
	RoleOps        Role = "ops"
	RoleService    Role = "service"
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	switch r {
	case RoleDriver, RoleDispatcher, RoleOps, RoleService:
		return true
	}
	return false
}

// Identity is who a verified token speaks for.
type Identity struct {
	Tenant   string
	Subject  string
	Role     Role
	Expires  time.Time
	IssuedAt time.Time // zero when the token has no iat
	KeyID    string    // the token's kid header; empty for a token without one
}

// maxSubject is the longest subject ValidSubject accepts.
const maxSubject = 64

// ValidSubject reports whether s is 1-64 of [A-Za-z0-9_-]. Subjects appear in MQTT topics and
// NATS subjects, so nothing else is allowed.
func ValidSubject(s string) bool {
	if len(s) == 0 || len(s) > maxSubject {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// Errors of Verify. Each error Verify returns matches exactly one of them with errors.Is.
var (
	ErrMissing     = errors.New("token missing")
	ErrMalformed   = errors.New("token malformed")
	ErrSignature   = errors.New("token signature invalid")
	ErrExpired     = errors.New("token expired")
	ErrNotYetValid = errors.New("token not yet valid")
	ErrAudience    = errors.New("token audience not accepted")
	ErrIssuer      = errors.New("token issuer not accepted")
	ErrUnknownKID  = errors.New("token key id unknown")
	ErrAlgorithm   = errors.New("token algorithm not accepted")
	ErrClaims      = errors.New("token claims invalid")
)

// Reason maps an error of Verify to a short label for metrics and logs: "missing", "malformed",
// "bad_signature", "expired", "not_yet_valid", "audience", "issuer", "unknown_kid", "algorithm",
// "claims", or "other" for any other error. A nil error is "ok".
func Reason(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrMissing):
		return "missing"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrSignature):
		return "bad_signature"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrNotYetValid):
		return "not_yet_valid"
	case errors.Is(err, ErrAudience):
		return "audience"
	case errors.Is(err, ErrIssuer):
		return "issuer"
	case errors.Is(err, ErrUnknownKID):
		return "unknown_kid"
	case errors.Is(err, ErrAlgorithm):
		return "algorithm"
	case errors.Is(err, ErrClaims):
		return "claims"
	}
	return "other"
}

// verifyError is an error of Verify: one sentinel and what went wrong. It never holds the
// token or a key.
type verifyError struct {
	kind   error
	detail string
}

func (e *verifyError) Error() string {
	if e.detail == "" {
		return e.kind.Error()
	}
	return e.kind.Error() + ": " + e.detail
}

func (e *verifyError) Unwrap() error { return e.kind }

func fail(kind error, detail string) error { return &verifyError{kind: kind, detail: detail} }
