package auth

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVerifyHS256(t *testing.T) {
	v := newVerifier(t, Config{HS256Secret: testSecret})
	token, err := NewHS256Signer(testSecret).Sign(driver, testAudience, "", time.Hour)
	require.NoError(t, err)

	id, err := v.Verify(token)
	require.NoError(t, err)
	assert.Equal(t, "acme", id.Tenant)
	assert.Equal(t, "drv_42", id.Subject)
	assert.Equal(t, RoleDriver, id.Role)
	assert.Empty(t, id.KeyID)
	assert.WithinDuration(t, time.Now().Add(time.Hour), id.Expires, 2*time.Second)
	assert.WithinDuration(t, time.Now(), id.IssuedAt, 2*time.Second)
}

func TestVerifyRejects(t *testing.T) {
	hs := NewHS256Signer(testSecret)
	other := NewHS256Signer([]byte("another secret of thirty-two bytes!!"))
	now := time.Now()
	good := signRaw(t, hs, nil, goodClaims())
	parts := strings.Split(good, ".")
	noneToken := b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + "."

	cases := []struct {
		name  string
		token string
		want  error
		in    string // the error message must contain it
	}{
		{"empty", "", ErrMissing, ""},
		{"one segment", "abc", ErrMalformed, ""},
		{"four segments", good + ".x", ErrMalformed, ""},
		{"header not base64", "***." + parts[1] + "." + parts[2], ErrMalformed, ""},
		{"header not JSON", b64("nope") + "." + parts[1] + "." + parts[2], ErrMalformed, ""},
		{"claims not JSON", parts[0] + "." + b64("[1,2") + "." + parts[2], ErrMalformed, ""},
		{"tenant not a string", signRaw(t, hs, nil, goodClaims("tenant", 7)), ErrMalformed, ""},
		{"too long", parts[0] + "." + strings.Repeat("A", maxTokenLen) + "." + parts[2], ErrMalformed, "longer than"},
		{"alg missing", b64(`{"typ":"JWT"}`) + "." + parts[1] + "." + parts[2], ErrMalformed, "alg"},
		{"expired", signRaw(t, hs, nil, goodClaims("exp", now.Add(-time.Minute).Unix())), ErrExpired, ""},
		{"not yet valid", signRaw(t, hs, nil, goodClaims("nbf", now.Add(time.Hour).Unix())), ErrNotYetValid, "nbf"},
		{"issued in the future", signRaw(t, hs, nil, goodClaims("iat", now.Add(time.Hour).Unix())), ErrNotYetValid, "iat"},
		{"bad signature", signRaw(t, other, nil, goodClaims()), ErrSignature, ""},
		{"tampered claims", parts[0] + "." + b64(`{"sub":"boss","tenant":"acme","role":"ops","aud":"dispatchhub","exp":9999999999}`) + "." + parts[2], ErrSignature, ""},
		{"signature removed", parts[0] + "." + parts[1] + ".", ErrSignature, ""},
		{"alg none", noneToken, ErrAlgorithm, "none"},
		{"alg None", b64(`{"alg":"None"}`) + "." + parts[1] + ".", ErrAlgorithm, ""},
		{"alg HS384", signRaw(t, &Signer{method: jwt.SigningMethodHS384, key: testSecret}, nil, goodClaims()), ErrAlgorithm, "HS384"},
		{"alg unknown", b64(`{"alg":"XS999"}`) + "." + parts[1] + "." + parts[2], ErrAlgorithm, ""},
		{"wrong aud", signRaw(t, hs, nil, goodClaims("aud", "someone-else")), ErrAudience, ""},
		{"wrong aud list", signRaw(t, hs, nil, goodClaims("aud", []string{"a", "b"})), ErrAudience, ""},
		{"missing aud", signRaw(t, hs, nil, goodClaims("aud", nil)), ErrAudience, ""},
		{"missing exp", signRaw(t, hs, nil, goodClaims("exp", nil)), ErrClaims, "exp"},
		{"exp not a number", signRaw(t, hs, nil, goodClaims("exp", "tomorrow")), ErrMalformed, ""},
		{"tenant with slash", signRaw(t, hs, nil, goodClaims("tenant", "A/B")), ErrClaims, "tenant"},
		{"tenant upper case", signRaw(t, hs, nil, goodClaims("tenant", "Acme")), ErrClaims, "tenant"},
		{"tenant missing", signRaw(t, hs, nil, goodClaims("tenant", nil)), ErrClaims, "tenant"},
		{"sub with slash", signRaw(t, hs, nil, goodClaims("sub", "drv/42")), ErrClaims, "sub"},
		{"sub with wildcard", signRaw(t, hs, nil, goodClaims("sub", "drv+")), ErrClaims, "sub"},
		{"sub too long", signRaw(t, hs, nil, goodClaims("sub", strings.Repeat("a", 65))), ErrClaims, "sub"},
		{"sub missing", signRaw(t, hs, nil, goodClaims("sub", nil)), ErrClaims, "sub"},
		{"role admin", signRaw(t, hs, nil, goodClaims("role", "admin")), ErrClaims, "role"},
		{"role missing", signRaw(t, hs, nil, goodClaims("role", nil)), ErrClaims, "role"},
	}
	v := newVerifier(t, Config{HS256Secret: testSecret})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := v.Verify(tc.token)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.want, "%v", err)
			assert.Contains(t, err.Error(), tc.in)
			assert.Equal(t, Identity{}, id)
			if tc.token != "" {
				assert.NotContains(t, err.Error(), tc.token, "the error never holds the token")
			}
		})
	}
}

func TestVerifyIssuer(t *testing.T) {
	hs := NewHS256Signer(testSecret)
	withIss := newVerifier(t, Config{HS256Secret: testSecret, Issuer: "https://id.example.com"})
	withoutIss := newVerifier(t, Config{HS256Secret: testSecret})

	right, err := hs.Sign(driver, testAudience, "https://id.example.com", time.Hour)
	require.NoError(t, err)
	wrong, err := hs.Sign(driver, testAudience, "https://evil.example.com", time.Hour)
	require.NoError(t, err)
	none, err := hs.Sign(driver, testAudience, "", time.Hour)
	require.NoError(t, err)

	_, err = withIss.Verify(right)
	assert.NoError(t, err)
	_, err = withIss.Verify(wrong)
	assert.ErrorIs(t, err, ErrIssuer)
	_, err = withIss.Verify(none)
	assert.ErrorIs(t, err, ErrIssuer, "iss is required when configured")

	for _, tok := range []string{right, wrong, none} {
		_, err = withoutIss.Verify(tok)
		assert.NoError(t, err, "iss is not checked when not configured")
	}
}

func TestVerifyLeeway(t *testing.T) {
	hs := NewHS256Signer(testSecret)
	justExpired := signRaw(t, hs, nil, goodClaims("exp", time.Now().Add(-10*time.Second).Unix()))
	_, err := newVerifier(t, Config{HS256Secret: testSecret}).Verify(justExpired)
	assert.ErrorIs(t, err, ErrExpired)
	_, err = newVerifier(t, Config{HS256Secret: testSecret, Leeway: 30 * time.Second}).Verify(justExpired)
	assert.NoError(t, err)
}

func TestHS256RefusedWithoutSecret(t *testing.T) {
	rs := newSigner(t, "RS256", "k1", 0)
	v, _ := jwksVerifier(t, Config{}, rs)
	token, err := NewHS256Signer(testSecret).Sign(driver, testAudience, "", time.Hour)
	require.NoError(t, err)
	_, err = v.Verify(token)
	assert.ErrorIs(t, err, ErrAlgorithm)

	// An explicit allow-list without HS256 refuses it even when a secret is set.
	v2, _ := jwksVerifier(t, Config{HS256Secret: testSecret, Algorithms: []string{"RS256"}}, rs)
	_, err = v2.Verify(token)
	assert.ErrorIs(t, err, ErrAlgorithm)
}

// TestHSWithPublicKeyAttack: a token that says HS256 and names an RSA key's kid, with the
// public key's bytes as HMAC secret, must never verify.
func TestHSWithPublicKeyAttack(t *testing.T) {
	rs := newSigner(t, "RS256", "k1", 0)
	der, err := x509.MarshalPKIXPublicKey(rs.pub)
	require.NoError(t, err)
	jwks, err := rs.PublicJWKS()
	require.NoError(t, err)
	secrets := map[string][]byte{
		"PKIX PEM":  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		"PKIX DER":  der,
		"PKCS1 PEM": pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKeys()[0].PublicKey)}),
		"JWKS JSON": jwks,
	}
	withSecret, _ := jwksVerifier(t, Config{HS256Secret: testSecret}, rs)
	withoutSecret, _ := jwksVerifier(t, Config{}, rs)
	for name, secret := range secrets {
		forged := signRaw(t, &Signer{method: jwt.SigningMethodHS256, key: secret}, map[string]any{"kid": "k1"}, goodClaims())
		_, err := withoutSecret.Verify(forged)
		assert.ErrorIs(t, err, ErrAlgorithm, name)
		_, err = withSecret.Verify(forged)
		assert.ErrorIs(t, err, ErrSignature, name)
	}
}

// TestKeySetConformance runs the same checks over every asymmetric algorithm.
func TestKeySetConformance(t *testing.T) {
	for _, alg := range []string{"RS256", "PS256", "ES256", "ES384", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			signer := newSigner(t, alg, "current", 0)
			impostor := newSigner(t, alg, "current", 1) // same kid, another key
			spare := newSigner(t, alg, "spare", 2)
			v, _ := jwksVerifier(t, Config{}, signer, spare)

			token, err := signer.Sign(driver, testAudience, "", time.Hour)
			require.NoError(t, err)
			id, err := v.Verify(token)
			require.NoError(t, err)
			assert.Equal(t, "current", id.KeyID)
			assert.Equal(t, driver.Subject, id.Subject)

			_, err = v.Verify(signRaw(t, impostor, nil, goodClaims()))
			assert.ErrorIs(t, err, ErrSignature, "same kid, other key")

			_, err = v.Verify(signRaw(t, signer, map[string]any{"kid": "nobody"}, goodClaims()))
			assert.ErrorIs(t, err, ErrUnknownKID)

			_, err = v.Verify(signRaw(t, signer, map[string]any{"kid": nil}, goodClaims()))
			assert.ErrorIs(t, err, ErrUnknownKID, "no kid while the set holds two keys")

			_, err = v.Verify(signRaw(t, signer, map[string]any{"kid": 7}, goodClaims()))
			assert.ErrorIs(t, err, ErrMalformed, "kid must be a string")

			_, err = v.Verify(signRaw(t, signer, nil, goodClaims("exp", time.Now().Add(-time.Hour).Unix())))
			assert.ErrorIs(t, err, ErrExpired)

			_, err = v.Verify(signRaw(t, signer, nil, goodClaims("role", "root")))
			assert.ErrorIs(t, err, ErrClaims)

			single, _ := jwksVerifier(t, Config{}, signer)
			_, err = single.Verify(signRaw(t, signer, map[string]any{"kid": nil}, goodClaims()))
			assert.NoError(t, err, "no kid is fine while the set holds one key")

			only, _ := jwksVerifier(t, Config{Algorithms: []string{"RS256"}}, signer)
			_, err = only.Verify(token)
			if alg == "RS256" {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrAlgorithm, "outside the allow-list")
			}
		})
	}
}

// TestAlgorithmMustFitKey: a kid's key is only used with algorithms of its own family.
func TestAlgorithmMustFitKey(t *testing.T) {
	rs := newSigner(t, "RS256", "rsa", 0)
	es256 := newSigner(t, "ES256", "p256", 0)
	es384 := newSigner(t, "ES384", "p384", 0)
	ed := newSigner(t, "EdDSA", "ed", 0)
	v, _ := jwksVerifier(t, Config{}, rs, es256, es384, ed)

	for _, tc := range []struct {
		signer *Signer
		kid    string
	}{
		{es256, "rsa"}, {ed, "rsa"}, {rs, "p256"}, {es384, "p256"}, {es256, "p384"}, {rs, "ed"}, {es256, "ed"},
	} {
		token := signRaw(t, tc.signer, map[string]any{"kid": tc.kid}, goodClaims())
		_, err := v.Verify(token)
		assert.ErrorIs(t, err, ErrAlgorithm, "%s with kid %s", tc.signer.Algorithm(), tc.kid)
	}

	// A JWK's own "alg" narrows it further: an RS256 key does not verify PS256.
	ps := newSigner(t, "PS256", "rsa", 0)
	_, err := v.Verify(signRaw(t, ps, nil, goodClaims()))
	assert.ErrorIs(t, err, ErrAlgorithm)
}

func TestVerifyNeverBlocks(t *testing.T) {
	rs := newSigner(t, "RS256", "k1", 0)
	v, _ := jwksVerifier(t, Config{}, rs)
	token := signRaw(t, rs, map[string]any{"kid": "k2"}, goodClaims())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			_, err := v.Verify(token)
			if !errors.Is(err, ErrUnknownKID) {
				panic(err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Verify blocked while nobody runs the refresh")
	}
}

func TestReason(t *testing.T) {
	for err, want := range map[error]string{
		ErrMissing: "missing", ErrMalformed: "malformed", ErrSignature: "bad_signature", ErrExpired: "expired",
		ErrNotYetValid: "not_yet_valid", ErrAudience: "audience", ErrIssuer: "issuer", ErrUnknownKID: "unknown_kid",
		ErrAlgorithm: "algorithm", ErrClaims: "claims",
	} {
		assert.Equal(t, want, Reason(err))
		assert.Equal(t, want, Reason(fmt.Errorf("mqtt connect: %w", err)))
		assert.Equal(t, want, Reason(fail(err, "detail")))
	}
	assert.Equal(t, "other", Reason(errors.New("boom")))
	assert.Equal(t, "ok", Reason(nil))

	v := newVerifier(t, Config{HS256Secret: testSecret})
	_, err := v.Verify("")
	assert.Equal(t, "missing", Reason(err))
	_, err = v.Verify("x.y.z")
	assert.Equal(t, "malformed", Reason(err))
}

func TestValidSubjectAndRole(t *testing.T) {
	for _, s := range []string{"a", "drv_42", "A-b_C", strings.Repeat("z", 64)} {
		assert.True(t, ValidSubject(s), s)
	}
	for _, s := range []string{"", "a/b", "a+b", "a#", "a.b", "a b", "é", strings.Repeat("z", 65)} {
		assert.False(t, ValidSubject(s), s)
	}
	for _, r := range []Role{RoleDriver, RoleDispatcher, RoleOps, RoleService} {
		assert.True(t, r.Valid())
	}
	for _, r := range []Role{"", "admin", "Driver"} {
		assert.False(t, r.Valid())
	}
}

func TestNewVerifierConfig(t *testing.T) {
	rs := newSigner(t, "RS256", "k1", 0)
	dir := t.TempDir()
	good := dir + "/good.json"
	writeJWKS(t, good, rs)
	bad := dir + "/bad.json"
	require.NoError(t, os.WriteFile(bad, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"x"}]}`), 0o600))

	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Audience: "dispatchhub"}, "no key source"},
		{Config{HS256Secret: testSecret}, "audience: must not be empty"},
		{Config{Audience: "a", HS256Secret: []byte("short")}, "at least 32 bytes, got 5"},
		{Config{Audience: "a", HS256Secret: testSecret, Algorithms: []string{"none"}}, `got "none"`},
		{Config{Audience: "a", HS256Secret: testSecret, Algorithms: []string{"HS512"}}, `got "HS512"`},
		{Config{Audience: "a", HS256Secret: testSecret, Algorithms: []string{"RS256"}}, "RS256 needs a JWKS file or URL"},
		{Config{Audience: "a", JWKSFile: good, Algorithms: []string{"HS256"}}, "HS256 needs an HS256 secret"},
		{Config{Audience: "a", JWKSURL: "ftp://keys.example.com/jwks"}, "jwks_url: must be an http:// or https:// URL"},
		{Config{Audience: "a", JWKSFile: dir + "/absent.json"}, "absent.json"},
		{Config{Audience: "a", JWKSFile: bad}, `kty "oct"`},
		{Config{Audience: "a", HS256Secret: testSecret, Leeway: -time.Second}, "leeway"},
	} {
		_, err := NewVerifier(tc.cfg, zerolog.Nop())
		if assert.Error(t, err, tc.want) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}

	v := newVerifier(t, Config{HS256Secret: testSecret})
	assert.Equal(t, []string{"HS256"}, v.allowed)
	v = newVerifier(t, Config{JWKSFile: good})
	assert.Equal(t, asymmetricAlgs, v.allowed)
	v = newVerifier(t, Config{JWKSURL: "https://id.example.com/jwks", HS256Secret: testSecret})
	assert.Equal(t, append([]string{"HS256"}, asymmetricAlgs...), v.allowed)
	assert.Equal(t, DefaultJWKSRefresh, v.cfg.JWKSRefresh)
	assert.Equal(t, DefaultUnknownKIDRefreshInterval, v.cfg.UnknownKIDRefreshInterval)
}
