package shopify

import (
	"math"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/pilotx/dispatchhub/connectors"
)

// maxThrottleWait bounds the wait a throttled answer asks for, as connectors.ParseRetryAfter
// bounds Retry-After.
const maxThrottleWait = time.Hour

// decode reads the body of a GraphQL answer that came with HTTP 2xx and returns its data, or
// the *connectors.PlatformError it carries:
//   - errors[] with extensions.code THROTTLED: throttled, retryable, waiting for the cost bucket
//     to hold the query again (see throttleWait);
//   - errors[] with INTERNAL_SERVER_ERROR: retryable;
//   - any other top-level errors (a query the schema refuses, an invalid id): permanent;
//   - a body that is not JSON, or has no data object: retryable (a proxy's answer, a truncated
//     body).
func decode(op string, body []byte) (gjson.Result, error) {
	if !gjson.ValidBytes(body) {
		return gjson.Result{}, &connectors.PlatformError{Platform: Platform, Op: op, Status: http.StatusOK,
			Excerpt: "not JSON: " + excerpt(body)}
	}
	answer := gjson.ParseBytes(body)
	if errs := answer.Get("errors"); errs.Exists() && errs.Type != gjson.Null && !(errs.IsArray() && len(errs.Array()) == 0) {
		return gjson.Result{}, graphQLError(op, answer, errs)
	}
	data := answer.Get("data")
	if !data.IsObject() {
		return gjson.Result{}, &connectors.PlatformError{Platform: Platform, Op: op, Status: http.StatusOK,
			Excerpt: "no data: " + excerpt(body)}
	}
	return data, nil
}

// graphQLError is the error of an answer with top-level errors.
func graphQLError(op string, answer, errs gjson.Result) *connectors.PlatformError {
	e := &connectors.PlatformError{Platform: Platform, Op: op, Status: http.StatusOK, Excerpt: excerpt([]byte(errs.Raw))}
	internal := false
	if errs.IsArray() {
		errs.ForEach(func(_, item gjson.Result) bool {
			switch item.Get("extensions.code").String() {
			case "THROTTLED":
				e.Throttled = true
			case "INTERNAL_SERVER_ERROR":
				internal = true
			}
			return true
		})
	}
	if e.Throttled {
		e.RetryAfter = throttleWait(answer.Get("extensions.cost"))
	}
	e.Permanent = !e.Throttled && !internal
	return e
}

// throttleWait is how long until the cost bucket holds the query that was refused:
// ceil((requestedQueryCost - currentlyAvailable) / restoreRate) seconds, at least 1 s, at most
// an hour; 1 s when the answer does not say.
func throttleWait(cost gjson.Result) time.Duration {
	requested := cost.Get("requestedQueryCost").Float()
	available := cost.Get("throttleStatus.currentlyAvailable").Float()
	rate := cost.Get("throttleStatus.restoreRate").Float()
	if !(rate > 0) {
		return time.Second
	}
	secs := math.Ceil((requested - available) / rate)
	switch {
	case !(secs > 1): // also NaN
		return time.Second
	case secs >= maxThrottleWait.Seconds():
		return maxThrottleWait
	}
	return time.Duration(secs) * time.Second
}

// excerpt is the start of b that a PlatformError keeps, cut on a rune boundary.
func excerpt(b []byte) string {
	n := connectors.ExcerptLimit
	if len(b) <= n {
		return string(b)
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n])
}
