package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTBodyConfig describes a body that is itself a signed JWT (Wix).
type JWTBodyConfig struct {
	// Methods are the accepted JWS algorithms; default {"RS256"}. Only
	// asymmetric algorithms are allowed: RS*, PS*, ES* and EdDSA.
	Methods []string
}

// JWTBody verifies a JWT body with the trusted keys of Keys.PublicKeys and
// Keys.KeysByID. The token's iat and exp are signed: a token issued more than
// tolerance in the future or expired more than tolerance ago is ErrStale.
type JWTBody struct {
	methods []string
}

var _ Scheme = (*JWTBody)(nil)

// NewJWTBody validates cfg, fills its defaults and returns the scheme.
func NewJWTBody(cfg JWTBodyConfig) (*JWTBody, error) {
	if len(cfg.Methods) == 0 {
		cfg.Methods = []string{"RS256"}
	}
	for _, m := range cfg.Methods {
		if keyFamily(m) == "" {
			return nil, fmt.Errorf("verify: JWTBodyConfig.Methods: got %q, want RS256/384/512, PS256/384/512, ES256/384/512 or EdDSA", m)
		}
	}
	return &JWTBody{methods: cfg.Methods}, nil
}

// Name implements Scheme.
func (s *JWTBody) Name() string { return "jwt-body" }

// Verify implements Scheme.
func (s *JWTBody) Verify(r *Request, k Keys, tolerance time.Duration) (time.Time, error) {
	const name = "jwt-body"
	tok := strings.TrimSpace(string(r.Body))
	if strings.Count(tok, ".") != 2 || strings.HasSuffix(tok, ".") {
		return time.Time{}, fail(name, ErrMissingSignature, "body is not a signed JWT")
	}
	var keys []jwt.VerificationKey
	for _, pk := range trustedKeys(k) {
		for _, m := range s.methods {
			if keyFits(keyFamily(m), pk) {
				keys = append(keys, pk)
				break
			}
		}
	}
	if len(keys) == 0 {
		return time.Time{}, fail(name, ErrNoKey, "no public key for "+strings.Join(s.methods, ","))
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	now := r.Now
	p := jwt.NewParser(
		jwt.WithValidMethods(s.methods),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(tolerance),
		jwt.WithIssuedAt(),
	)
	claims := jwt.MapClaims{}
	_, err := p.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) {
		return jwt.VerificationKeySet{Keys: keys}, nil
	})
	var signedAt time.Time
	if iat, e := claims.GetIssuedAt(); e == nil && iat != nil {
		signedAt = iat.Time
	}
	switch {
	case err == nil:
		if now.IsZero() {
			return signedAt, fail(name, ErrStale, "request has no receipt time")
		}
		return signedAt, nil
	case errors.Is(err, jwt.ErrTokenMalformed):
		return time.Time{}, fail(name, ErrMalformed, "JWT does not parse")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return time.Time{}, fail(name, ErrBadSignature, "no key verifies the JWT")
	case errors.Is(err, jwt.ErrTokenExpired):
		return signedAt, fail(name, ErrStale, "JWT expired")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued), errors.Is(err, jwt.ErrTokenNotValidYet):
		return signedAt, fail(name, ErrStale, "JWT issued in the future")
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return time.Time{}, fail(name, ErrMalformed, "JWT claims are invalid")
	default:
		return time.Time{}, fail(name, ErrBadSignature, "JWT does not verify")
	}
}

// trustedKeys lists the configured public keys: PublicKeys, then KeysByID.
func trustedKeys(k Keys) []crypto.PublicKey {
	out := make([]crypto.PublicKey, 0, len(k.PublicKeys)+len(k.KeysByID))
	out = append(out, k.PublicKeys...)
	for _, pk := range k.KeysByID {
		out = append(out, pk)
	}
	return out
}

// keyFamily maps a JWS alg to the key type it needs: "rsa", "ec", "ed" or ""
// for anything not accepted (none, HS*).
func keyFamily(alg string) string {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return "rsa"
	case "ES256", "ES384", "ES512":
		return "ec"
	case "EdDSA":
		return "ed"
	default:
		return ""
	}
}

func keyFits(family string, pk crypto.PublicKey) bool {
	switch pk.(type) {
	case *rsa.PublicKey:
		return family == "rsa"
	case *ecdsa.PublicKey:
		return family == "ec"
	case ed25519.PublicKey:
		return family == "ed"
	default:
		return false
	}
}
