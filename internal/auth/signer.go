package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pilotx/dispatchhub/internal/store"
)

// Signer issues tokens, for the token command and for tests.
type Signer struct {
	method jwt.SigningMethod
	key    any // HS256: the secret; otherwise a crypto.Signer
	pub    crypto.PublicKey
	kid    string
}

// NewHS256Signer signs with an HS256 shared secret (no kid). Sign refuses a secret shorter
// than MinHS256SecretLen, as a Verifier does.
func NewHS256Signer(secret []byte) *Signer {
	return &Signer{method: jwt.SigningMethodHS256, key: slices.Clone(secret)}
}

// NewSignerFromPEM reads an unencrypted PEM private key, PKCS#8 ("PRIVATE KEY"), PKCS#1
// ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY"), and signs with RS256 (RSA, 2048 bits or
// more), ES256 (P-256), ES384 (P-384) or EdDSA (Ed25519). An empty kid becomes the key's
// RFC 7638 thumbprint, which PublicJWKS publishes as well.
func NewSignerFromPEM(pemBytes []byte, kid string) (*Signer, error) {
	key, err := parsePrivateKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("auth: private key: %w", err)
	}
	s := &Signer{key: key}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, fmt.Errorf("auth: private key: RSA key of %d bits, must be %d-%d", bits, minRSABits, maxRSABits)
		}
		s.method, s.pub = jwt.SigningMethodRS256, &k.PublicKey
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			s.method = jwt.SigningMethodES256
		case elliptic.P384():
			s.method = jwt.SigningMethodES384
		default:
			return nil, fmt.Errorf("auth: private key: EC curve %s, must be P-256 or P-384", k.Curve.Params().Name)
		}
		s.pub = &k.PublicKey
	case ed25519.PrivateKey:
		s.method, s.pub = jwt.SigningMethodEdDSA, k.Public()
	default:
		return nil, fmt.Errorf("auth: private key: %T is not an RSA, ECDSA or Ed25519 key", key)
	}
	if kid == "" {
		j, err := publicJWK(s.pub, "", "")
		if err != nil {
			return nil, fmt.Errorf("auth: private key: %w", err)
		}
		kid = j.thumbprint()
	}
	s.kid = kid
	return s, nil
}

func parsePrivateKey(data []byte) (any, error) {
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no PEM private key block found")
		}
		if _, encrypted := block.Headers["DEK-Info"]; encrypted || block.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("encrypted private keys are not supported")
		}
		switch block.Type {
		case "PRIVATE KEY":
			return x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(block.Bytes)
		}
		// Other blocks (EC PARAMETERS, CERTIFICATE, ...) are skipped.
	}
}

// KeyID is the kid the signer puts in the token header; empty for HS256.
func (s *Signer) KeyID() string { return s.kid }

// Algorithm is the JWS algorithm the signer uses, such as "RS256".
func (s *Signer) Algorithm() string { return s.method.Alg() }

// Sign issues a token for id (Tenant, Subject and Role; the other fields are ignored) with
// aud, iss (when not empty), iat now and exp now+ttl. A ttl of zero or less makes a token
// that is already expired, which tests use.
func (s *Signer) Sign(id Identity, audience, issuer string, ttl time.Duration) (string, error) {
	switch {
	case !store.ValidTenantID(id.Tenant):
		return "", fmt.Errorf("auth: sign: tenant: must be 1-40 of a-z, 0-9 and '-', got %q", id.Tenant)
	case !ValidSubject(id.Subject):
		return "", fmt.Errorf("auth: sign: sub: must be 1-64 of A-Z, a-z, 0-9, '_' and '-', got %q", id.Subject)
	case !id.Role.Valid():
		return "", fmt.Errorf("auth: sign: role: must be one of driver, dispatcher, ops, service, got %q", id.Role)
	case audience == "":
		return "", errors.New("auth: sign: audience: must not be empty")
	}
	if secret, ok := s.key.([]byte); ok && len(secret) < MinHS256SecretLen {
		return "", fmt.Errorf("auth: sign: hs256 secret: must be at least %d bytes, got %d", MinHS256SecretLen, len(secret))
	}
	now := time.Now()
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   id.Subject,
			Audience:  jwt.ClaimStrings{audience},
			Issuer:    issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Tenant: id.Tenant,
		Role:   id.Role,
	}
	t := jwt.NewWithClaims(s.method, c)
	if s.kid != "" {
		t.Header["kid"] = s.kid
	}
	signed, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return signed, nil
}

// PublicJWKS is a JSON Web Key Set holding the signer's public key, its kid and algorithm.
// It is an error for an HS256 signer, whose key must stay secret.
func (s *Signer) PublicJWKS() ([]byte, error) {
	if s.pub == nil {
		return nil, errors.New("auth: an HS256 signer has no public key")
	}
	j, err := publicJWK(s.pub, s.kid, s.method.Alg())
	if err != nil {
		return nil, err
	}
	return json.Marshal(struct {
		Keys []jwk `json:"keys"`
	}{[]jwk{j}})
}
