package cli_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/auth"
	"github.com/pilotx/dispatchhub/internal/cli"
)

// tokenEnv points the token command at a fresh data directory and away from any key the
// environment might configure.
func tokenEnv(t *testing.T) (dataDir string) {
	dataDir = t.TempDir()
	t.Setenv("DISPATCHHUB_DATA_DIR", dataDir)
	t.Setenv("DISPATCHHUB_AUTH_HS256_SECRET_REF", "")
	t.Setenv("DISPATCHHUB_AUTH_PRIVATE_KEY_FILE", "")
	t.Setenv("DISPATCHHUB_AUTH_PRIVATE_KEY_ID", "")
	t.Setenv("DISPATCHHUB_AUTH_ISSUER", "")
	return dataDir
}

// issue runs the token command and returns the token it printed.
func issue(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := run(t, append([]string{"token"}, args...)...)
	require.Equal(t, cli.ExitOK, code, stderr)
	assert.Empty(t, stderr)
	require.True(t, strings.HasSuffix(stdout, "\n"), "a newline ends the token")
	token := strings.TrimSuffix(stdout, "\n")
	require.NotContains(t, token, "\n", "nothing but the token on stdout")
	require.Equal(t, 2, strings.Count(token, "."), "a JWS compact token: %q", stdout)
	return token
}

func verifier(t *testing.T, cfg auth.Config) *auth.Verifier {
	t.Helper()
	if cfg.Audience == "" {
		cfg.Audience = "dispatchhub"
	}
	v, err := auth.NewVerifier(cfg, zerolog.Nop())
	require.NoError(t, err)
	return v
}

func TestTokenWithSecretRef(t *testing.T) {
	dataDir := tokenEnv(t)
	secret := "a-shared-secret-of-more-than-32-bytes"
	t.Setenv("TOKEN_TEST_JWT_SECRET", secret)
	t.Setenv("DISPATCHHUB_AUTH_HS256_SECRET_REF", "env:TOKEN_TEST_JWT_SECRET")
	t.Setenv("DISPATCHHUB_AUTH_ISSUER", "https://hub.example.com")

	token := issue(t, "--tenant", "acme", "--role", "dispatcher", "--sub", "disp_1", "--ttl", "2h")
	id, err := verifier(t, auth.Config{HS256Secret: []byte(secret), Issuer: "https://hub.example.com"}).Verify(token)
	require.NoError(t, err)
	assert.Equal(t, "acme", id.Tenant)
	assert.Equal(t, "disp_1", id.Subject)
	assert.Equal(t, auth.RoleDispatcher, id.Role)
	assert.WithinDuration(t, time.Now().Add(2*time.Hour), id.Expires, 5*time.Second)

	_, err = verifier(t, auth.Config{HS256Secret: []byte("another-secret-of-more-than-32-bytes")}).Verify(token)
	assert.ErrorIs(t, err, auth.ErrSignature)
	assert.NoFileExists(t, filepath.Join(dataDir, "dev", "jwt.secret"), "a configured secret needs no development key")
}

func TestTokenWithDevKey(t *testing.T) {
	dataDir := tokenEnv(t)
	first := issue(t, "--tenant", "acme", "--role", "driver", "--sub", "drv-42")
	keyFile := filepath.Join(dataDir, "dev", "jwt.secret")
	require.FileExists(t, keyFile)
	key1, err := os.ReadFile(keyFile)
	require.NoError(t, err)

	second := issue(t, "--tenant", "acme", "--role", "driver", "--sub", "drv-42", "--ttl", "720h")
	key2, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	assert.Equal(t, key1, key2, "the second call reuses the key")

	secret, path, err := auth.DevSecret(dataDir)
	require.NoError(t, err)
	assert.Equal(t, keyFile, path)
	v := verifier(t, auth.Config{HS256Secret: secret})
	for _, token := range []string{first, second} {
		id, err := v.Verify(token)
		require.NoError(t, err)
		assert.Equal(t, auth.Identity{Tenant: "acme", Subject: "drv-42", Role: auth.RoleDriver, Expires: id.Expires, IssuedAt: id.IssuedAt}, id)
	}
}

func TestTokenWithPrivateKey(t *testing.T) {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	for alg, key := range map[string]any{"EdDSA": edKey, "ES256": ecKey} {
		t.Run(alg, func(t *testing.T) {
			tokenEnv(t)
			der, err := x509.MarshalPKCS8PrivateKey(key)
			require.NoError(t, err)
			pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
			keyFile := filepath.Join(t.TempDir(), "signing.pem")
			require.NoError(t, os.WriteFile(keyFile, pemBytes, 0o600))
			t.Setenv("DISPATCHHUB_AUTH_PRIVATE_KEY_FILE", keyFile)
			t.Setenv("DISPATCHHUB_AUTH_PRIVATE_KEY_ID", "hub-2024")
			// The private key comes before a shared secret.
			t.Setenv("TOKEN_TEST_JWT_SECRET", "a-shared-secret-of-more-than-32-bytes")
			t.Setenv("DISPATCHHUB_AUTH_HS256_SECRET_REF", "env:TOKEN_TEST_JWT_SECRET")

			token := issue(t, "--tenant", "acme", "--role", "ops", "--sub", "ops-1")

			signer, err := auth.NewSignerFromPEM(pemBytes, "hub-2024")
			require.NoError(t, err)
			jwks, err := signer.PublicJWKS()
			require.NoError(t, err)
			jwksFile := filepath.Join(t.TempDir(), "jwks.json")
			require.NoError(t, os.WriteFile(jwksFile, jwks, 0o600))
			id, err := verifier(t, auth.Config{JWKSFile: jwksFile}).Verify(token)
			require.NoError(t, err)
			assert.Equal(t, "hub-2024", id.KeyID)
			assert.Equal(t, auth.RoleOps, id.Role)
			assert.Equal(t, "ops-1", id.Subject)
		})
	}
}

func TestTokenRejects(t *testing.T) {
	tokenEnv(t)
	ok := []string{"--tenant", "acme", "--role", "driver", "--sub", "drv-1"}
	with := func(flag, value string) []string {
		args := append([]string{"token"}, ok...)
		for i := 1; i < len(args); i += 2 {
			if args[i] == flag {
				args[i+1] = value
				return args
			}
		}
		return append(args, flag, value)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{with("--role", "admin"), `role: must be one of driver, dispatcher, ops, service, got "admin"`},
		{with("--tenant", "A/B"), `tenant: must be 1-40 of a-z, 0-9 and '-'`},
		{with("--tenant", "-acme"), `tenant: must be`},
		{with("--sub", "drv/1"), `sub: must be 1-64 of A-Z, a-z, 0-9, '_' and '-', got "drv/1"`},
		{with("--sub", "drv+"), `sub: must be`},
		{with("--ttl", "30s"), "ttl: must be between 1m and 720h (30 days), got 30s"},
		{with("--ttl", "721h"), "ttl: must be between 1m and 720h (30 days), got 721h0m0s"},
		{with("--ttl", "soon"), `invalid argument "soon" for "--ttl"`},
		{[]string{"token", "--tenant", "acme", "--sub", "drv-1"}, `required flag(s) "role" not set`},
		{append(with("--role", "ops"), "extra"), `unknown command "extra"`},
	} {
		code, stdout, stderr := run(t, tc.args...)
		assert.Equal(t, cli.ExitError, code, "%v", tc.args)
		assert.Empty(t, stdout, "%v", tc.args)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
		assert.Contains(t, stderr, tc.want, "%v", tc.args)
	}

	t.Setenv("DISPATCHHUB_AUTH_HS256_SECRET_REF", "env:TOKEN_TEST_UNSET_SECRET")
	code, stdout, stderr := run(t, append([]string{"token"}, ok...)...)
	assert.Equal(t, cli.ExitError, code)
	assert.Empty(t, stdout)
	assert.Equal(t, "auth.hs256_secret_ref: secret env:TOKEN_TEST_UNSET_SECRET: variable not set\n", stderr)

	t.Setenv("DISPATCHHUB_AUTH_HS256_SECRET_REF", "")
	t.Setenv("DISPATCHHUB_AUTH_PRIVATE_KEY_FILE", filepath.Join(t.TempDir(), "absent.pem"))
	code, _, stderr = run(t, append([]string{"token"}, ok...)...)
	assert.Equal(t, cli.ExitError, code)
	assert.Contains(t, stderr, "auth.private_key_file")
	assert.Equal(t, 1, strings.Count(stderr, "\n"))
}
