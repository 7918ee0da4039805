package secret

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for _, ok := range []string{"env:SHOPIFY_SECRET", "env:_X1", "file:/run/secrets/s"} {
		_, err := Parse(ok)
		assert.NoError(t, err, ok)
	}
	for _, bad := range []string{"", "env:", "env:1X", "env:A-B", "file:relative/p", "vault:x", "plain"} {
		_, err := Parse(bad)
		assert.ErrorIs(t, err, ErrBadRef, bad)
	}
}

func TestResolve(t *testing.T) {
	t.Setenv("DH_TEST_SECRET", "s3cr3t")
	b, err := Resolve("env:DH_TEST_SECRET")
	require.NoError(t, err)
	assert.Equal(t, "s3cr3t", string(b))

	p := filepath.Join(t.TempDir(), "s")
	require.NoError(t, os.WriteFile(p, []byte("from-file\n"), 0o600))
	b, err = Resolve("file:" + p)
	require.NoError(t, err)
	assert.Equal(t, "from-file", string(b))

	_, err = Resolve("env:DH_TEST_MISSING_SECRET")
	assert.ErrorContains(t, err, "env:DH_TEST_MISSING_SECRET")
	require.NoError(t, os.WriteFile(p, []byte("\n"), 0o600))
	_, err = Resolve("file:" + p)
	assert.ErrorContains(t, err, "empty")
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"env:A", "file:/x", "env:", "file:x", ":", "env:A:B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		if r.String() != s {
			t.Fatalf("round trip %q -> %q", s, r.String())
		}
	})
}
