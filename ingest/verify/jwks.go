package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
)

// jwk is the subset of RFC 7517 members needed for signature keys.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

type keyWithID struct {
	kid string
	alg string
	key crypto.PublicKey
}

// ParseJWKS parses a JSON Web Key Set and returns its signature keys by kid
// (RSA, EC P-256/384/521 and Ed25519). Keys whose "use" is not "sig" and keys
// of other types are skipped; a kid-less key is returned under "".
func ParseJWKS(doc []byte) (map[string]crypto.PublicKey, error) {
	ks, err := parseJWKS(doc)
	if err != nil {
		return nil, err
	}
	out := make(map[string]crypto.PublicKey, len(ks))
	for _, k := range ks {
		if _, dup := out[k.kid]; !dup {
			out[k.kid] = k.key
		}
	}
	return out, nil
}

func parseJWKS(doc []byte) ([]keyWithID, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, errors.New("verify: JWKS is not a JSON key set")
	}
	var out []keyWithID
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pk, err := k.publicKey()
		if err != nil {
			continue
		}
		out = append(out, keyWithID{kid: k.Kid, alg: k.Alg, key: pk})
	}
	return out, nil
}

func (k jwk) publicKey() (crypto.PublicKey, error) {
	b64 := base64.RawURLEncoding
	switch k.Kty {
	case "RSA":
		n, err1 := b64.DecodeString(k.N)
		e, err2 := b64.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA key")
		}
		exp := 0
		for _, c := range e {
			exp = exp<<8 | int(c)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, errors.New("unsupported curve")
		}
		x, err1 := b64.DecodeString(k.X)
		y, err2 := b64.DecodeString(k.Y)
		size := (curve.Params().BitSize + 7) / 8
		if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
			return nil, errors.New("bad EC key")
		}
		point := append(append([]byte{4}, x...), y...)
		return ecdsa.ParseUncompressedPublicKey(curve, point)
	case "OKP":
		x, err := b64.DecodeString(k.X)
		if k.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("bad OKP key")
		}
		return ed25519.PublicKey(x), nil
	default:
		return nil, errors.New("unsupported key type")
	}
}

// ParsePublicKey parses a PEM "PUBLIC KEY" (PKIX) or "RSA PUBLIC KEY"
// (PKCS #1) block, as platforms publish them (Adobe Commerce, eBay, Wix).
// A PEM body without its armour lines is accepted too.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		switch block.Type {
		case "PUBLIC KEY":
			return x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			return x509.ParsePKCS1PublicKey(block.Bytes)
		default:
			return nil, fmt.Errorf("verify: ParsePublicKey: PEM block %q, want PUBLIC KEY or RSA PUBLIC KEY", block.Type)
		}
	}
	der, err := base64.StdEncoding.DecodeString(string(compactBase64(data)))
	if err != nil {
		return nil, errors.New("verify: ParsePublicKey: neither PEM nor base64 DER")
	}
	if pk, err := x509.ParsePKIXPublicKey(der); err == nil {
		return pk, nil
	}
	return x509.ParsePKCS1PublicKey(der)
}

func compactBase64(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c != '\n' && c != '\r' && c != ' ' && c != '\t' {
			out = append(out, c)
		}
	}
	return out
}
