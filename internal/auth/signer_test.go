package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSignerPEMFormats(t *testing.T) {
	rsaKey := rsaKeys()[0]
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	sec1, err := x509.MarshalECPrivateKey(p256)
	require.NoError(t, err)
	// openssl ecparam -genkey writes an EC PARAMETERS block before the key.
	params := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}})

	for name, tc := range map[string]struct {
		pem []byte
		alg string
	}{
		"PKCS#8 RSA":     {pkcs8PEM(t, rsaKey), "RS256"},
		"PKCS#1 RSA":     {pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), "RS256"},
		"PKCS#8 P-256":   {pkcs8PEM(t, p256), "ES256"},
		"SEC 1 P-256":    {append(params, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...), "ES256"},
		"PKCS#8 P-384":   {pkcs8PEM(t, newPrivateKey(t, "ES384", 0)), "ES384"},
		"PKCS#8 Ed25519": {pkcs8PEM(t, newPrivateKey(t, "EdDSA", 0)), "EdDSA"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := NewSignerFromPEM(tc.pem, "kid-1")
			require.NoError(t, err)
			assert.Equal(t, tc.alg, s.Algorithm())
			assert.Equal(t, "kid-1", s.KeyID())
			v, _ := jwksVerifier(t, Config{Issuer: "https://hub.example.com"}, s)
			token, err := s.Sign(Identity{Tenant: "acme", Subject: "ops-1", Role: RoleOps}, testAudience, "https://hub.example.com", time.Minute)
			require.NoError(t, err)
			id, err := v.Verify(token)
			require.NoError(t, err)
			assert.Equal(t, Identity{Tenant: "acme", Subject: "ops-1", Role: RoleOps, Expires: id.Expires, IssuedAt: id.IssuedAt, KeyID: "kid-1"}, id)
		})
	}
}

func TestSignerRefusesKeys(t *testing.T) {
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	require.NoError(t, err)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(&rsaKeys()[0].PublicKey)
	require.NoError(t, err)
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: []byte{1}})

	for name, tc := range map[string]struct {
		pem  []byte
		want string
	}{
		"P-521":          {pkcs8PEM(t, p521), "P-521"},
		"RSA 1024":       {pkcs8PEM(t, small), "1024 bits"},
		"encrypted":      {encrypted, "encrypted"},
		"encrypted p8":   {pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), "encrypted"},
		"public key":     {pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), "no PEM private key"},
		"not PEM":        {[]byte("-----BEGIN nothing"), "no PEM private key"},
		"corrupt PKCS8":  {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 0x01}}), "private key"},
		"corrupt PKCS#1": {pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{0x30}}), "private key"},
	} {
		_, err := NewSignerFromPEM(tc.pem, "k")
		if assert.Error(t, err, name) {
			assert.Contains(t, err.Error(), tc.want, name)
		}
	}
}

func TestSignClaims(t *testing.T) {
	s := newSigner(t, "EdDSA", "", 0)
	require.NotEmpty(t, s.KeyID(), "an empty kid becomes the key's thumbprint")
	before := time.Now().Truncate(time.Second)
	token, err := s.Sign(Identity{Tenant: "acme", Subject: "svc", Role: RoleService, KeyID: "ignored"}, "aud-x", "iss-y", 90*time.Second)
	require.NoError(t, err)

	var c jwt.MapClaims
	tok, _, err := jwt.NewParser().ParseUnverified(token, &c)
	require.NoError(t, err)
	assert.Equal(t, s.KeyID(), tok.Header["kid"])
	assert.Equal(t, "EdDSA", tok.Header["alg"])
	assert.Equal(t, "svc", c["sub"])
	assert.Equal(t, "acme", c["tenant"])
	assert.Equal(t, "service", c["role"])
	assert.Equal(t, "iss-y", c["iss"])
	aud, err := c.GetAudience()
	require.NoError(t, err)
	assert.Equal(t, jwt.ClaimStrings{"aud-x"}, aud)
	iat, err := c.GetIssuedAt()
	require.NoError(t, err)
	exp, err := c.GetExpirationTime()
	require.NoError(t, err)
	assert.False(t, iat.Before(before))
	assert.Equal(t, 90*time.Second, exp.Sub(iat.Time))

	token, err = s.Sign(driver, "aud", "", time.Minute)
	require.NoError(t, err)
	c = jwt.MapClaims{}
	_, _, err = jwt.NewParser().ParseUnverified(token, &c)
	require.NoError(t, err)
	assert.NotContains(t, c, "iss", "no iss when empty")
}

func TestSignRefuses(t *testing.T) {
	s := NewHS256Signer(testSecret)
	for _, tc := range []struct {
		id   Identity
		aud  string
		ttl  time.Duration
		want string
	}{
		{Identity{Tenant: "A/B", Subject: "x", Role: RoleDriver}, "a", time.Hour, "tenant"},
		{Identity{Tenant: "acme", Subject: "x/y", Role: RoleDriver}, "a", time.Hour, "sub"},
		{Identity{Tenant: "acme", Subject: "x", Role: "admin"}, "a", time.Hour, "role"},
		{driver, "", time.Hour, "audience"},
	} {
		_, err := s.Sign(tc.id, tc.aud, "", tc.ttl)
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}
	expired, err := s.Sign(driver, testAudience, "", -time.Minute)
	require.NoError(t, err, "tests make expired tokens with a negative ttl")
	_, err = newVerifier(t, Config{HS256Secret: testSecret}).Verify(expired)
	assert.ErrorIs(t, err, ErrExpired)

	_, err = NewHS256Signer([]byte("short")).Sign(driver, "a", "", time.Hour)
	assert.ErrorContains(t, err, "at least 32 bytes")
	_, err = s.PublicJWKS()
	assert.Error(t, err, "an HS256 secret is never published")
}
