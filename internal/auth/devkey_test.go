package auth

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/secret"
)

func TestDevSecret(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "hub")
	s1, path, err := DevSecret(dataDir)
	require.NoError(t, err)
	assert.True(t, filepath.IsAbs(path))
	assert.Equal(t, filepath.Join(dataDir, "dev", "jwt.secret"), path)
	assert.Len(t, s1, 64, "32 random bytes, hex")

	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	di, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), di.Mode().Perm())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(s1)+"\n", string(raw))

	s2, path2, err := DevSecret(dataDir)
	require.NoError(t, err)
	assert.Equal(t, s1, s2, "the second call reuses the file")
	assert.Equal(t, path, path2)

	viaRef, err := secret.Resolve("file:" + path)
	require.NoError(t, err)
	assert.Equal(t, s1, viaRef, "a file: reference to the dev secret names the same key")

	token, err := NewHS256Signer(s1).Sign(driver, testAudience, "", time.Minute)
	require.NoError(t, err)
	_, err = newVerifier(t, Config{HS256Secret: viaRef}).Verify(token)
	assert.NoError(t, err)

	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary files left behind")
}

func TestDevSecretConcurrentFirstUse(t *testing.T) {
	dataDir := t.TempDir()
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	for i := range got {
		wg.Go(func() {
			s, _, err := DevSecret(dataDir)
			assert.NoError(t, err)
			got[i] = s
		})
	}
	wg.Wait()
	for _, s := range got[1:] {
		assert.Equal(t, got[0], s, "everyone agrees on one secret")
	}
}

func TestDevSecretRefusesShortFile(t *testing.T) {
	dataDir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dataDir, "dev"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, "dev", "jwt.secret"), []byte("short\n"), 0o600))
	_, _, err := DevSecret(dataDir)
	assert.ErrorContains(t, err, "at least 32 bytes")
}
