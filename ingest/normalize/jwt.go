package normalize

import (
	"encoding/base64"
	"strings"
)

// looksLikeJWT reports whether s has the shape of a compact JWS: three base64url segments.
func looksLikeJWT(s string) bool {
	if strings.Count(s, ".") != 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '=') {
			return false
		}
	}
	return true
}

// jwtPayload decodes the payload segment of a compact JWS WITHOUT verifying it: the edge
// verified the signature before the body got here. It returns the payload text or a reason.
func jwtPayload(token string) (string, string) {
	parts := strings.Split(token, ".")
	seg := strings.TrimRight(parts[1], "=")
	payload, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil || len(payload) == 0 {
		return "", "JWT payload is not base64url"
	}
	return string(payload), ""
}
