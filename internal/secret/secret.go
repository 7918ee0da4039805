// Package secret resolves secret references: "env:NAME" (an environment variable of the hub's
// process) or "file:/absolute/path" (a file's contents, trailing newline trimmed). References
// are stored in PostgreSQL; the secrets themselves never are, and never reach a log.
package secret

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrBadRef is a reference that is neither env:NAME nor file:/path.
var ErrBadRef = errors.New("secret ref must be env:NAME or file:/absolute/path")

// Ref is a parsed secret reference.
type Ref struct {
	Scheme string // "env" or "file"
	Name   string // variable name or absolute path
}

// Parse checks a reference's syntax.
func Parse(s string) (Ref, error) {
	scheme, name, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return Ref{}, fmt.Errorf("%w, got %q", ErrBadRef, s)
	}
	switch scheme {
	case "env":
		for i, c := range name {
			if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
				return Ref{}, fmt.Errorf("%w, got %q (bad variable name)", ErrBadRef, s)
			}
		}
	case "file":
		if !filepath.IsAbs(name) {
			return Ref{}, fmt.Errorf("%w, got %q (path must be absolute)", ErrBadRef, s)
		}
	default:
		return Ref{}, fmt.Errorf("%w, got %q", ErrBadRef, s)
	}
	return Ref{Scheme: scheme, Name: name}, nil
}

// String is the reference as written.
func (r Ref) String() string { return r.Scheme + ":" + r.Name }

// Resolve reads the secret. Errors name the reference, never the secret.
func (r Ref) Resolve() ([]byte, error) {
	switch r.Scheme {
	case "env":
		v, ok := os.LookupEnv(r.Name)
		if !ok || v == "" {
			return nil, fmt.Errorf("secret %s: variable not set", r)
		}
		return []byte(v), nil
	case "file":
		b, err := os.ReadFile(r.Name)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", r, err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, fmt.Errorf("secret %s: file is empty", r)
		}
		return b, nil
	}
	return nil, ErrBadRef
}

// Resolve parses and resolves s in one step.
func Resolve(s string) ([]byte, error) {
	r, err := Parse(s)
	if err != nil {
		return nil, err
	}
	return r.Resolve()
}
