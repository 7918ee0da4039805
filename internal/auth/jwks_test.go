package auth

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// describeJWKS is what parseJWKS made of a key set, as text for a golden file.
func describeJWKS(data []byte) string {
	keys, skipped, err := parseJWKS(data)
	var b strings.Builder
	for _, kid := range slices.Sorted(maps.Keys(keys)) {
		k := keys[kid]
		alg := k.alg
		if alg == "" {
			alg = "any"
		}
		fmt.Fprintf(&b, "key %s: %s, alg %s\n", kid, k.kind, alg)
	}
	for _, s := range skipped {
		fmt.Fprintf(&b, "skipped %s\n", s)
	}
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
	}
	return b.String()
}

func TestParseJWKSGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/jwks/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			got := describeJWKS(data)
			golden := strings.TrimSuffix(file, ".json") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create the golden file")
			assert.Equal(t, string(want), got)
		})
	}
}

func TestThumbprintRFC7638(t *testing.T) {
	j := jwk{
		Kty: "RSA",
		N:   "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
		E:   "AQAB",
	}
	assert.Equal(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", j.thumbprint())
}

// TestPublicJWKSRoundTrip: what a signer publishes is what a verifier reads.
func TestPublicJWKSRoundTrip(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "ES384", "EdDSA"} {
		s := newSigner(t, alg, "", 0)
		data, err := s.PublicJWKS()
		require.NoError(t, err)
		keys, skipped, err := parseJWKS(data)
		require.NoError(t, err, alg)
		assert.Empty(t, skipped)
		require.Contains(t, keys, s.KeyID(), "the default kid is the thumbprint")
		k := keys[s.KeyID()]
		assert.Equal(t, alg, k.alg)
		assert.True(t, keyEqual(s.pub, k.key), alg)
		assert.NotContains(t, string(data), `"d"`, "no private material")
	}
}

func FuzzParseJWKS(f *testing.F) {
	files, _ := filepath.Glob("testdata/jwks/*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"k","n":"AQAB","e":"AQAB"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, _, err := parseJWKS(data)
		if err != nil {
			if keys != nil {
				t.Fatal("keys with an error")
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("no keys and no error")
		}
		for kid, k := range keys {
			if kid == "" || kid != k.kid || k.key == nil {
				t.Fatalf("bad key %q: %+v", kid, k)
			}
			if k.alg != "" && !k.fits(k.alg) {
				t.Fatalf("key %q does not fit its own alg %s", kid, k.alg)
			}
		}
	})
}
