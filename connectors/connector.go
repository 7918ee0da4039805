// Package connectors pushes order status back to the stores: a domain event a store wants
// synced (assigned, picked up, delivered, failed, cancelled) becomes a Job on
// outbound.{platform}.{tenant}; each platform has its own pool of workers (a bulkhead) that
// calls its Connector through a circuit breaker per (platform, store), retries with
// exponential backoff and full jitter, and gives up to the dead letters after bounded attempts.
//
// A Connector speaks one platform's API. It is given everything it needs in the Job and the
// Target; it answers nil when the status is on the platform (including when it already was),
// and a *PlatformError that says whether trying again can help.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Statuses a store is told about.
const (
	StatusAssigned  = "assigned"  // a driver accepted the order (OrderAssigned)
	StatusPickedUp  = "picked_up" // the driver has the parcel (PickedUp)
	StatusDelivered = "delivered" // DeliveryCompleted
	StatusFailed    = "failed"    // DeliveryFailed
	StatusCancelled = "cancelled" // the hub cancelled it (OrderCancelled not sent by the store itself)
)

// ValidStatus reports whether s is one of the statuses above.
func ValidStatus(s string) bool {
	switch s {
	case StatusAssigned, StatusPickedUp, StatusDelivered, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// Job is one status to push to one store: the message on outbound.{platform}.{tenant}. Its ID
// is the domain event's id, so a job published twice, or replayed from the dead letters, is
// recognised and applied once.
type Job struct {
	ID          string    `json:"id"` // the domain event's id; the idempotency key
	Tenant      string    `json:"tenant"`
	Platform    string    `json:"platform"`
	StoreID     string    `json:"store_id"`
	OrderID     string    `json:"order_id"`     // the hub's order id
	ExternalRef string    `json:"external_ref"` // the platform's order id (Shopify: numeric id or gid)
	Status      string    `json:"status"`       // Status*
	Event       string    `json:"event"`        // the domain event type it comes from
	DriverID    string    `json:"driver_id,omitempty"`
	Tracking    Tracking  `json:"tracking"`
	Reason      string    `json:"reason,omitempty"` // failed, cancelled: why
	OccurredAt  time.Time `json:"occurred_at"`
}

// Tracking is what a store shows its customer about the delivery.
type Tracking struct {
	Company string `json:"company"` // the carrier name shown to the customer
	Number  string `json:"number"`  // the hub's job id
	URL     string `json:"url,omitempty"`
}

// Validate reports what a job misses.
func (j Job) Validate() error {
	var missing []string
	for name, v := range map[string]string{"id": j.ID, "tenant": j.Tenant, "platform": j.Platform,
		"store_id": j.StoreID, "order_id": j.OrderID, "external_ref": j.ExternalRef} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", ErrInvalidJob, strings.Join(slices.Sorted(slices.Values(missing)), ", "))
	}
	if !ValidStatus(j.Status) {
		return fmt.Errorf("%w: status: must be assigned, picked_up, delivered, failed or cancelled, got %q", ErrInvalidJob, j.Status)
	}
	return nil
}

// Target is the store a job goes to, as its connector needs it.
type Target struct {
	StoreID    string
	ExternalID string // the store's id on its platform (Shopify: the shop domain)
	APIBase    string // the platform's API address for this store, without a trailing slash
	Credential []byte // the resolved API credential (token, key, "user:secret", signing secret)
}

// Connector pushes one status to one platform.
type Connector interface {
	// Platform is the platform name as stores are registered with it ("shopify").
	Platform() string
	// DefaultBase is the API address to use when a store has none configured, or "" when the
	// platform has no address of its own (the generic webhook).
	DefaultBase(t Target) string
	// Push makes the job's status true on the platform. It is called again for the same job
	// after a failure, so it must not apply a status twice: it uses the platform's idempotency
	// key, or reads before it writes. Errors are *PlatformError whenever the platform answered.
	Push(ctx context.Context, t Target, j Job) error
}

// Errors.
var (
	ErrInvalidJob = errors.New("invalid connector job")
	// ErrNoEndpoint: the store has no API address and its platform has none of its own.
	ErrNoEndpoint = errors.New("store has no API endpoint")
	// ErrNoCredential: the store's API credential is missing or cannot be resolved.
	ErrNoCredential = errors.New("store API credential unavailable")
)

// PlatformError is a failed call to a platform.
type PlatformError struct {
	Platform   string
	Op         string        // what was attempted ("fulfillmentCreate", "PUT /v2/orders/1")
	Status     int           // the HTTP status; 0 when there was no answer
	RetryAfter time.Duration // the platform's Retry-After, or the wait its throttle asks for
	Throttled  bool          // a rate limit (429, or THROTTLED inside a 200)
	Permanent  bool          // trying again cannot help (4xx other than 408 and 429, a user error)
	Excerpt    string        // the start of the answer, for the dead letters
	Err        error         // the transport error, when there was no answer
}

func (e *PlatformError) Error() string {
	var b strings.Builder
	b.WriteString(e.Platform)
	if e.Op != "" {
		b.WriteString(" " + e.Op)
	}
	if e.Status != 0 {
		b.WriteString(": HTTP " + strconv.Itoa(e.Status))
	}
	if e.Throttled {
		b.WriteString(": throttled")
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Excerpt != "" && e.Err == nil {
		b.WriteString(": " + clip(e.Excerpt, 200))
	}
	return b.String()
}

func (e *PlatformError) Unwrap() error { return e.Err }

// Retryable reports whether err may succeed when tried again: anything but a permanent
// platform answer or an invalid job.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrInvalidJob) || errors.Is(err, ErrNoEndpoint) {
		return false
	}
	var pe *PlatformError
	if errors.As(err, &pe) {
		return !pe.Permanent
	}
	return true
}

// PermanentStatus reports whether an HTTP status means that trying again cannot help: every
// 4xx but 408 (timeout) and 429 (rate limit); 409 (conflict) is left to the connector.
func PermanentStatus(status int) bool {
	return status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
}

// ExcerptLimit is how much of an answer a PlatformError keeps.
const ExcerptLimit = 2 << 10

// HTTPError builds the PlatformError of a non-2xx answer: permanence from the status, the
// wait from Retry-After (seconds or an HTTP date), the start of the body as excerpt.
func HTTPError(platform, op string, resp *http.Response, body []byte) *PlatformError {
	e := &PlatformError{Platform: platform, Op: op, Status: resp.StatusCode, Excerpt: clip(string(body), ExcerptLimit)}
	e.Throttled = resp.StatusCode == http.StatusTooManyRequests
	e.Permanent = PermanentStatus(resp.StatusCode)
	e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return e
}

// ParseRetryAfter reads a Retry-After value: delay seconds (fractions allowed, as Shopify
// sends them) or an HTTP date. Zero when absent or unreadable; at most an hour.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs != secs {
			return 0
		}
		d = time.Duration(min(secs, 3600) * float64(time.Second))
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	}
	return max(0, min(d, time.Hour))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
