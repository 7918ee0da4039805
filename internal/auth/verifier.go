package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rs/zerolog"

	"github.com/pilotx/dispatchhub/internal/store"
)

// MinHS256SecretLen is the shortest HS256 secret accepted: as long as the SHA-256 output
// (RFC 7518 section 3.2).
const MinHS256SecretLen = 32

// Defaults of Config.
const (
	DefaultAudience                  = "dispatchhub"
	DefaultJWKSRefresh               = 5 * time.Minute
	DefaultUnknownKIDRefreshInterval = 10 * time.Second
	defaultHTTPTimeout               = 10 * time.Second
)

// maxTokenLen bounds the work an outside token can cause before its signature is checked.
const maxTokenLen = 16 << 10

// supportedAlgs are the algorithms Config.Algorithms may name.
var supportedAlgs = []string{"HS256", "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}

// Config configures a Verifier. At least one key source is required: HS256Secret, JWKSFile or
// JWKSURL.
type Config struct {
	Audience    string // required: the token's aud must contain it
	Issuer      string // optional; when set, the token's iss must equal it
	HS256Secret []byte // nil: HS256 is refused; otherwise at least MinHS256SecretLen bytes
	// JWKSFile is a JSON Web Key Set file of public keys (RSA, EC P-256/P-384, Ed25519), each
	// with a "kid". It is read by NewVerifier and re-read by Run.
	JWKSFile string
	// JWKSURL is a JSON Web Key Set served over HTTP(S), fetched by Run.
	JWKSURL string
	// JWKSRefresh is how often Run re-reads JWKSFile and re-fetches JWKSURL (default 5m).
	JWKSRefresh time.Duration
	// UnknownKIDRefreshInterval is the least time between two refreshes caused by tokens
	// with an unknown kid (default 10s).
	UnknownKIDRefreshInterval time.Duration
	// Algorithms is the allow-list. Empty: HS256 when HS256Secret is set, plus RS256, RS384,
	// RS512, PS256, ES256, ES384 and EdDSA when a key set is configured. "none" never.
	Algorithms []string
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// HTTPClient fetches JWKSURL (default: a client with a 10s timeout).
	HTTPClient *http.Client
}

// validate checks c and returns the algorithm allow-list it implies.
func (c *Config) validate() ([]string, error) {
	if c.Audience == "" {
		return nil, errors.New("auth: audience: must not be empty")
	}
	if c.HS256Secret != nil && len(c.HS256Secret) < MinHS256SecretLen {
		return nil, fmt.Errorf("auth: hs256 secret: must be at least %d bytes, got %d", MinHS256SecretLen, len(c.HS256Secret))
	}
	if c.JWKSURL != "" {
		u, err := url.Parse(c.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("auth: jwks_url: must be an http:// or https:// URL, got %q", c.JWKSURL)
		}
	}
	if c.JWKSRefresh < 0 {
		return nil, fmt.Errorf("auth: jwks_refresh: must be positive, got %s", c.JWKSRefresh)
	}
	if c.UnknownKIDRefreshInterval < 0 {
		return nil, fmt.Errorf("auth: unknown kid refresh interval: must be positive, got %s", c.UnknownKIDRefreshInterval)
	}
	if c.Leeway < 0 {
		return nil, fmt.Errorf("auth: leeway: must not be negative, got %s", c.Leeway)
	}
	hasSecret := c.HS256Secret != nil
	hasKeySet := c.JWKSFile != "" || c.JWKSURL != ""
	if !hasSecret && !hasKeySet {
		return nil, errors.New("auth: no key source: set an HS256 secret, a JWKS file or a JWKS URL")
	}
	if len(c.Algorithms) == 0 {
		var algs []string
		if hasSecret {
			algs = append(algs, "HS256")
		}
		if hasKeySet {
			algs = append(algs, asymmetricAlgs...)
		}
		return algs, nil
	}
	algs := make([]string, 0, len(c.Algorithms))
	for _, a := range c.Algorithms {
		switch {
		case !slices.Contains(supportedAlgs, a):
			return nil, fmt.Errorf("auth: algorithms: must be some of %s, got %q", strings.Join(supportedAlgs, ", "), a)
		case a == "HS256" && !hasSecret:
			return nil, errors.New("auth: algorithms: HS256 needs an HS256 secret")
		case a != "HS256" && !hasKeySet:
			return nil, fmt.Errorf("auth: algorithms: %s needs a JWKS file or URL", a)
		}
		if !slices.Contains(algs, a) {
			algs = append(algs, a)
		}
	}
	return algs, nil
}

// Verifier checks tokens. Verify is safe for concurrent use and never does I/O; Run keeps the
// key set fresh.
type Verifier struct {
	cfg       Config
	log       zerolog.Logger
	allowed   []string
	secret    any // the HS256 secret as a []byte boxed once; nil when HS256 is refused
	parser    *jwt.Parser
	keyfunc   jwt.Keyfunc
	keys      atomic.Pointer[keySet]
	kick      chan struct{} // Verify asks Run for a refresh; 1-buffered
	client    *http.Client
	ownClient bool

	running       atomic.Bool
	urlLoaded     atomic.Bool
	refreshErrors atomic.Uint64

	mu       sync.Mutex // guards the state of the key sources below
	fileKeys map[string]*publicKey
	fileData []byte
	urlKeys  map[string]*publicKey
	urlETag  string
	urlErr   error
}

// keySet is an immutable snapshot of the verification keys, replaced as a whole on refresh.
type keySet struct {
	byKID map[string]*publicKey
	only  *publicKey // the key of a set of exactly one; used for tokens without kid
}

// NewVerifier validates cfg, fills its defaults and reads cfg.JWKSFile. It does not fetch
// cfg.JWKSURL: Run does.
func NewVerifier(cfg Config, log zerolog.Logger) (*Verifier, error) {
	allowed, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if cfg.JWKSRefresh == 0 {
		cfg.JWKSRefresh = DefaultJWKSRefresh
	}
	if cfg.UnknownKIDRefreshInterval == 0 {
		cfg.UnknownKIDRefreshInterval = DefaultUnknownKIDRefreshInterval
	}
	v := &Verifier{
		cfg:     cfg,
		log:     log.With().Str("component", "auth").Logger(),
		allowed: allowed,
		kick:    make(chan struct{}, 1),
		client:  cfg.HTTPClient,
	}
	if cfg.HS256Secret != nil && slices.Contains(allowed, "HS256") {
		v.secret = slices.Clone(cfg.HS256Secret) // boxed here, not on every Verify
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: defaultHTTPTimeout}
		v.ownClient = true
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(allowed),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	v.parser = jwt.NewParser(opts...)
	v.keyfunc = v.key
	v.keys.Store(&keySet{})
	if cfg.JWKSFile != "" {
		if _, err := v.loadFile(); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// claims are the claims of a dispatchhub token.
type claims struct {
	jwt.RegisteredClaims
	Tenant string `json:"tenant"`
	Role   Role   `json:"role"`
}

// Verify checks token's signature and claims and returns who it speaks for. It never blocks:
// a kid missing from the key set is ErrUnknownKID and asks Run to refresh the key set.
func (v *Verifier) Verify(token string) (Identity, error) {
	if token == "" {
		return Identity{}, fail(ErrMissing, "")
	}
	if len(token) > maxTokenLen {
		return Identity{}, fail(ErrMalformed, "longer than "+strconv.Itoa(maxTokenLen)+" bytes")
	}
	var c claims
	tok, err := v.parser.ParseWithClaims(token, &c, v.keyfunc)
	if err != nil {
		return Identity{}, v.classify(tok, &c, err)
	}
	switch {
	case !store.ValidTenantID(c.Tenant):
		return Identity{}, fail(ErrClaims, "tenant: must be 1-40 of a-z, 0-9 and '-', got "+strconv.Quote(clip(c.Tenant)))
	case !ValidSubject(c.Subject):
		return Identity{}, fail(ErrClaims, "sub: must be 1-64 of A-Z, a-z, 0-9, '_' and '-', got "+strconv.Quote(clip(c.Subject)))
	case !c.Role.Valid():
		return Identity{}, fail(ErrClaims, "role: must be one of driver, dispatcher, ops, service, got "+strconv.Quote(clip(string(c.Role))))
	}
	id := Identity{Tenant: c.Tenant, Subject: c.Subject, Role: c.Role, Expires: c.ExpiresAt.Time}
	if c.IssuedAt != nil {
		id.IssuedAt = c.IssuedAt.Time
	}
	id.KeyID, _ = tok.Header["kid"].(string)
	return id, nil
}

// classify turns an error of the JWT parser into one of the package's errors.
func (v *Verifier) classify(tok *jwt.Token, c *claims, err error) error {
	var ve *verifyError
	if errors.As(err, &ve) {
		return ve // from key
	}
	if errors.Is(err, jwt.ErrTokenMalformed) {
		return fail(ErrMalformed, err.Error())
	}
	if tok != nil {
		alg, ok := tok.Header["alg"].(string)
		switch {
		case !ok:
			return fail(ErrMalformed, "alg header missing")
		case tok.Method == nil || !slices.Contains(v.allowed, alg):
			return fail(ErrAlgorithm, strconv.Quote(clip(alg))+" is not one of "+strings.Join(v.allowed, ", "))
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fail(ErrSignature, "")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.ExpiresAt == nil:
		return fail(ErrClaims, "exp: required")
	case errors.Is(err, jwt.ErrTokenExpired):
		return fail(ErrExpired, "exp "+c.ExpiresAt.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return fail(ErrNotYetValid, "nbf "+c.NotBefore.UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fail(ErrNotYetValid, "iat "+c.IssuedAt.UTC().Format(time.RFC3339)+" is in the future")
	case errors.Is(err, jwt.ErrTokenInvalidAudience),
		errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && len(c.Audience) == 0:
		return fail(ErrAudience, "aud must contain "+strconv.Quote(v.cfg.Audience))
	case errors.Is(err, jwt.ErrTokenInvalidIssuer),
		errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.Issuer == "":
		return fail(ErrIssuer, "iss must be "+strconv.Quote(v.cfg.Issuer))
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return fail(ErrClaims, err.Error())
	}
	return fail(ErrMalformed, err.Error())
}

// key is the jwt.Keyfunc: the key that may verify t, chosen by algorithm family and kid.
func (v *Verifier) key(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if strings.HasPrefix(alg, "HS") {
		// HMAC tokens only ever get the configured secret, never a key of the key set.
		if alg == "HS256" && v.secret != nil {
			return v.secret, nil
		}
		return nil, fail(ErrAlgorithm, alg+" is not accepted")
	}
	raw, has := t.Header["kid"]
	kid, isString := raw.(string)
	if has && !isString {
		return nil, fail(ErrMalformed, "kid header is not a string")
	}
	ks := v.keys.Load()
	var k *publicKey
	switch {
	case kid != "":
		if k = ks.byKID[kid]; k == nil {
			v.requestRefresh()
			return nil, fail(ErrUnknownKID, "kid "+strconv.Quote(clip(kid)))
		}
	case ks.only != nil:
		k = ks.only
	default:
		if len(ks.byKID) == 0 {
			v.requestRefresh()
		}
		return nil, fail(ErrUnknownKID, "no kid, and the key set holds "+strconv.Itoa(len(ks.byKID))+" keys")
	}
	if !k.fits(alg) {
		return nil, fail(ErrAlgorithm, alg+" does not fit the "+k.kind.String()+" key "+strconv.Quote(clip(k.kid)))
	}
	return k.key, nil
}

// requestRefresh asks Run to refresh the key set, without blocking.
func (v *Verifier) requestRefresh() {
	if v.cfg.JWKSFile == "" && v.cfg.JWKSURL == "" {
		return
	}
	select {
	case v.kick <- struct{}{}:
	default:
	}
}

// Check reports readiness: an error while a configured JWKS URL has never loaded.
func (v *Verifier) Check(_ context.Context) error {
	if v.cfg.JWKSURL == "" || v.urlLoaded.Load() {
		return nil
	}
	v.mu.Lock()
	last := v.urlErr
	v.mu.Unlock()
	if last != nil {
		return fmt.Errorf("auth: jwks_url %s not loaded yet: %w", redact(v.cfg.JWKSURL), last)
	}
	return fmt.Errorf("auth: jwks_url %s not loaded yet", redact(v.cfg.JWKSURL))
}

// RefreshErrors is the number of key set refreshes that failed since NewVerifier.
func (v *Verifier) RefreshErrors() uint64 { return v.refreshErrors.Load() }

// redact hides credentials and the query of a URL before it reaches a log line or an error.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	return u.Redacted()
}
