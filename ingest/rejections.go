package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// Rejection is a refused webhook kept for debugging: enough to see what the platform sent and
// why it was refused, never a secret (credential headers are dropped, query values masked).
type Rejection struct {
	At          time.Time         `json:"at"`
	Platform    string            `json:"platform"`
	StoreID     string            `json:"store_id"`
	Tenant      string            `json:"tenant,omitempty"`
	Remote      string            `json:"remote"`
	Status      int               `json:"status"`
	Reason      string            `json:"reason"`
	Detail      string            `json:"detail,omitempty"`
	Path        string            `json:"path"`
	Headers     map[string]string `json:"headers"`
	BodyExcerpt string            `json:"body_excerpt,omitempty"`
	BodySize    int               `json:"body_size"`
}

const (
	rejectionExcerpt  = 512
	rejectionHeaderMx = 256
)

// rejectionsKey is the Redis list of the latest rejections, newest first.
func rejectionsKey(prefix string) string { return prefix + "webhooks:rejected" }

// sensitiveHeader reports whether a header may carry a credential.
func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	if n == "authorization" || n == "cookie" || n == "proxy-authorization" {
		return true
	}
	for _, w := range []string{"token", "secret", "password", "api-key", "apikey"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// keepHeaders copies the headers worth keeping for a rejection: credentials dropped, values capped.
func keepHeaders(h http.Header) map[string]string { return headersWithout(h, rejectionHeaderMx) }

// storedHeaderMx caps a header value stored with an accepted event: long enough for every
// signature header (Saleor's JWS, eBay's), so a stored event can be verified again.
const storedHeaderMx = 8 << 10

// storedHeaders copies the headers kept with an accepted event in inbound_events.
func storedHeaders(h http.Header) map[string]string { return headersWithout(h, storedHeaderMx) }

func headersWithout(h http.Header, capLen int) map[string]string {
	out := make(map[string]string, len(h))
	for name, vals := range h {
		if sensitiveHeader(name) || len(vals) == 0 {
			continue
		}
		v := strings.Join(vals, ", ")
		if len(v) > capLen {
			v = v[:capLen] + "…"
		}
		out[name] = v
	}
	return out
}

// maskQuery replaces every query value of path with "***" (secret-URL platforms put tokens there).
func maskQuery(path string) string {
	p, q, ok := strings.Cut(path, "?")
	if !ok {
		return path
	}
	parts := strings.Split(q, "&")
	for i, kv := range parts {
		if k, _, has := strings.Cut(kv, "="); has {
			parts[i] = k + "=***"
		}
	}
	return p + "?" + strings.Join(parts, "&")
}

func excerpt(body []byte) string {
	if len(body) > rejectionExcerpt {
		body = body[:rejectionExcerpt]
	}
	if !utf8.Valid(body) {
		return fmt.Sprintf("(%d bytes, not UTF-8)", len(body))
	}
	return string(body)
}

// recordRejection pushes r onto the capped list (best effort: Redis down loses only the debug copy).
func recordRejection(ctx context.Context, rdb redis.UniversalClient, prefix string, keep int, r Rejection) error {
	if keep <= 0 {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	key := rejectionsKey(prefix)
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, key, b)
		p.LTrim(ctx, key, 0, int64(keep-1))
		return nil
	})
	return err
}

// ListRejections reads the latest rejections, newest first (for `dispatchhub webhooks rejected`).
func ListRejections(ctx context.Context, rdb redis.UniversalClient, prefix string, limit int) ([]Rejection, error) {
	if limit <= 0 {
		limit = 50
	}
	vals, err := rdb.LRange(ctx, rejectionsKey(prefix), 0, int64(limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("read rejections: %w", err)
	}
	out := make([]Rejection, 0, len(vals))
	for _, v := range vals {
		var r Rejection
		if json.Unmarshal([]byte(v), &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}
