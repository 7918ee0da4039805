package verify

import (
	"crypto"
	"net/http"
	"time"
)

// DefaultTolerance is the window used when a caller passes a tolerance <= 0
// to a scheme that signs a timestamp (Stripe's and Standard Webhooks' default).
const DefaultTolerance = 5 * time.Minute

// Request is an inbound webhook as the edge received it.
type Request struct {
	Method string
	// URL is the full URL the platform called, scheme://host/path?query, as
	// configured on the platform's side (Square signs it; Walmart's canonical
	// request uses its path and query; secret-URL schemes read a token from it).
	URL string
	// Header holds the request headers. Lookups are case-insensitive.
	Header http.Header
	// Body is the raw body exactly as received (still compressed when the
	// request has a Content-Encoding).
	Body []byte
	// Now is the time of receipt; schemes that sign a timestamp compare
	// against it.
	Now time.Time
}

// Keys is a store's verification material, resolved by the caller from secret
// refs and store settings.
type Keys struct {
	// Secrets are the active shared secrets, newest first. Several are present
	// during a rotation; any one verifying is enough.
	Secrets [][]byte
	// PublicKeys are trusted public keys (*rsa.PublicKey, *ecdsa.PublicKey,
	// ed25519.PublicKey), for example Adobe Commerce's or a Wix app's key.
	PublicKeys []crypto.PublicKey
	// KeysByID are trusted public keys by key id (eBay's kid, a JWS kid). They
	// are configured, never fetched by this package.
	KeysByID map[string]crypto.PublicKey
	// JWKS is a JSON Web Key Set document (Saleor's /.well-known/jwks.json)
	// supplied by the caller.
	JWKS []byte
	// Token is the expected static token of basic, bearer, header-token and
	// secret-URL schemes, and eBay's verification token. Secrets are accepted
	// as tokens too, so that a token can be rotated like a secret.
	Token string
}

// Result is what a preset reports about a verified request.
type Result struct {
	// EventID is the de-duplication id (a header, a body field or derived, as
	// documented per preset).
	EventID   string
	EventType string
	// SignedAt is the signed timestamp, zero unless the scheme signs one.
	SignedAt time.Time
	// BodyAuthenticated is false when the signature does not cover the body
	// (field signatures, tokens, basic auth, secret URLs): treat the payload
	// as a hint and re-read the resource from the platform before acting.
	BodyAuthenticated bool
}

// Handshake is the answer to a request that a platform sends to test or
// verify the endpoint; the edge sends it as is and stores nothing.
type Handshake struct {
	Status      int
	ContentType string
	Body        []byte
}

// Scheme verifies the signature (or token) of a request.
type Scheme interface {
	// Name is a stable, lower-case name for logs and metrics.
	Name() string
	// Verify checks r with the keys k. Schemes that sign a timestamp return
	// it and fail with ErrStale when it is further than tolerance from r.Now
	// (DefaultTolerance when tolerance <= 0); the others return a zero time
	// and ignore tolerance.
	Verify(r *Request, k Keys, tolerance time.Duration) (signedAt time.Time, err error)
}

// Preset is what the edge knows about one platform.
type Preset struct {
	// Platform is the lower-case id used in the route: shopify, woocommerce...
	Platform string
	Scheme   Scheme
	// EventID returns the de-duplication id; platforms without one get a
	// derived id (see Notes and the EventID* helpers).
	EventID func(r *Request) (string, error)
	// EventType returns the platform's event type or topic, "" when absent.
	EventType func(r *Request) string
	// Handshake answers the platform's endpoint test or verification request
	// and returns nil for anything else; nil when the platform has none.
	Handshake func(r *Request, k Keys) *Handshake
	// BodyAuthenticated tells whether the scheme covers the raw body.
	BodyAuthenticated bool
	// TimestampSigned tells whether the scheme signs a timestamp and so
	// enforces the tolerance window.
	TimestampSigned bool
	// Confidence is "C" (confirmed in the platform's docs or code), "P" (seen
	// in third-party code only) or "U" (unverified: the preset's choice is
	// explained in Notes and can be replaced by configuration).
	Confidence string
	Notes      string
}
