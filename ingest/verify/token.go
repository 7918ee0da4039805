package verify

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// TokenKind says where a static credential travels.
type TokenKind int

const (
	// TokenBasic is HTTP basic auth; the expected token is "user:password".
	TokenBasic TokenKind = iota + 1
	// TokenBearer is "Authorization: Bearer <token>".
	TokenBearer
	// TokenHeader is a header whose whole value is the token (DoorDash's
	// configured Authorization value, BigCommerce's custom header).
	TokenHeader
	// TokenURL is a token in the URL: a query parameter, or the last path
	// segment.
	TokenURL
)

func (k TokenKind) String() string {
	switch k {
	case TokenBasic:
		return "basic-auth"
	case TokenBearer:
		return "bearer-token"
	case TokenHeader:
		return "header-token"
	case TokenURL:
		return "secret-url"
	default:
		return fmt.Sprintf("TokenKind(%d)", int(k))
	}
}

// TokenConfig describes a static-credential scheme.
type TokenConfig struct {
	Kind TokenKind
	// Header for TokenBasic and TokenBearer (default "Authorization") and
	// TokenHeader (required).
	Header string
	// QueryParam carries a TokenURL token (default "token") unless
	// PathSegment is set, in which case the URL's last path segment does.
	QueryParam  string
	PathSegment bool
}

// Token verifies a static credential against Keys.Token and every secret of
// Keys.Secrets, in constant time and without leaking its length. It does not
// authenticate the body: presets using it set BodyAuthenticated false.
type Token struct {
	cfg    TokenConfig
	header string
	name   string
}

var _ Scheme = (*Token)(nil)

// NewToken validates cfg, fills its defaults and returns the scheme.
func NewToken(cfg TokenConfig) (*Token, error) {
	switch cfg.Kind {
	case TokenBasic, TokenBearer:
		if cfg.Header == "" {
			cfg.Header = "Authorization"
		}
	case TokenHeader:
		if cfg.Header == "" {
			return nil, errors.New("verify: TokenConfig.Header: required for TokenHeader")
		}
	case TokenURL:
		if cfg.QueryParam == "" && !cfg.PathSegment {
			cfg.QueryParam = "token"
		}
	default:
		return nil, fmt.Errorf("verify: TokenConfig.Kind: got %v, want TokenBasic, TokenBearer, TokenHeader or TokenURL", cfg.Kind)
	}
	return &Token{cfg: cfg, header: http.CanonicalHeaderKey(cfg.Header), name: cfg.Kind.String()}, nil
}

// NewBasicAuth returns the basic-auth scheme on the Authorization header.
func NewBasicAuth() *Token { return must(NewToken(TokenConfig{Kind: TokenBasic})) }

// NewBearerToken returns the bearer-token scheme on the Authorization header.
func NewBearerToken() *Token { return must(NewToken(TokenConfig{Kind: TokenBearer})) }

// NewHeaderToken returns the scheme comparing the whole value of header.
func NewHeaderToken(header string) (*Token, error) {
	return NewToken(TokenConfig{Kind: TokenHeader, Header: header})
}

// NewSecretURL returns the scheme reading the token from the query parameter
// param ("token" when empty).
func NewSecretURL(param string) *Token {
	return must(NewToken(TokenConfig{Kind: TokenURL, QueryParam: param}))
}

// Name implements Scheme.
func (s *Token) Name() string { return s.name }

// Verify implements Scheme.
func (s *Token) Verify(r *Request, k Keys, _ time.Duration) (time.Time, error) {
	got, err := s.presented(r)
	if err != nil {
		return time.Time{}, err
	}
	usable := false
	if k.Token != "" {
		usable = true
		if tokenEqual(got, k.Token) {
			return time.Time{}, nil
		}
	}
	for _, secret := range k.Secrets {
		if len(secret) == 0 {
			continue
		}
		usable = true
		if tokenEqual(got, string(secret)) {
			return time.Time{}, nil
		}
	}
	if !usable {
		return time.Time{}, fail(s.name, ErrNoKey, "no token")
	}
	return time.Time{}, fail(s.name, ErrBadSignature, "token does not match")
}

// presented extracts the credential the request carries.
func (s *Token) presented(r *Request) (string, error) {
	switch s.cfg.Kind {
	case TokenURL:
		u, err := url.Parse(r.URL)
		if err != nil {
			return "", fail(s.name, ErrMalformed, "request URL does not parse")
		}
		var tok string
		if s.cfg.PathSegment {
			p := strings.TrimRight(u.Path, "/")
			tok = p[strings.LastIndexByte(p, '/')+1:]
		} else {
			tok = u.Query().Get(s.cfg.QueryParam)
		}
		if tok == "" {
			return "", fail(s.name, ErrMissingSignature, "no token in the URL")
		}
		return tok, nil
	}
	v := strings.TrimSpace(header(r.Header, s.header))
	if v == "" {
		return "", fail(s.name, ErrMissingSignature, "no "+s.cfg.Header+" header")
	}
	switch s.cfg.Kind {
	case TokenBasic:
		scheme, cred, _ := strings.Cut(v, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return "", fail(s.name, ErrMissingSignature, "no basic credentials in "+s.cfg.Header)
		}
		b, err := decodeBase64Any(cred)
		if err != nil {
			return "", fail(s.name, ErrBadSignature, "basic credentials are not base64")
		}
		return string(b), nil
	case TokenBearer:
		scheme, tok, _ := strings.Cut(v, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", fail(s.name, ErrMissingSignature, "no bearer token in "+s.cfg.Header)
		}
		return strings.TrimSpace(tok), nil
	default:
		return v, nil
	}
}
