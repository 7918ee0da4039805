// Package jobtopic is what a job event looks like on a driver's tenants/{t}/drivers/{d}/jobs
// topic (DESIGN.md, "MQTT topics"): which events go there, and the message made of one. The
// realtime bridge publishes it for every replica's broker; the dispatch engine publishes offers
// directly into its own broker, marked with DirectHeader, and that broker's bridge then leaves
// them out.
package jobtopic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pilotx/dispatchhub/internal/outbox"
)

// ErrInvalid marks an event that can never be published.
var ErrInvalid = errors.New("invalid event")

// DirectHeader is the outbox event header that names the replica whose engine published a job
// event to its driver directly.
const DirectHeader = "direct-jobs"

// Is reports whether events of type t go to the driver they name.
func Is(t string) bool {
	switch t {
	case "AssignmentOffered", "OrderAssigned", "AssignmentChanged", "OrderCancelled", "ReplyRejected":
		return true
	}
	return false
}

// Message returns the driver a job event names, the message for its jobs topic (the event's
// payload with "type", "event_id" and, for an order's event, "order_id" set) and its
// "expires_at" (zero when absent). A payload that is not an object, or whose driver_id is
// missing, not a string or empty (an order cancelled before any driver had it) names no
// driver.
func Message(ev *outbox.Event) (driver string, payload []byte, expires time.Time, err error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(ev.Payload, &fields); err != nil || fields == nil {
		return "", nil, expires, nil
	}
	raw, ok := fields["driver_id"]
	if !ok || json.Unmarshal(raw, &driver) != nil || driver == "" {
		return "", nil, expires, nil
	}
	if !ValidLevel(driver) {
		return "", nil, expires, fmt.Errorf("%w: driver id %q", ErrInvalid, driver)
	}
	if raw, ok := fields["expires_at"]; ok {
		_ = json.Unmarshal(raw, &expires) // not a time: the message does not expire
	}
	fields["type"] = jsonString(ev.Type)
	fields["event_id"] = jsonString(ev.ID)
	if ev.AggregateType == "order" {
		fields["order_id"] = jsonString(ev.AggregateID)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fields); err != nil {
		return "", nil, expires, fmt.Errorf("%w: job payload: %v", ErrInvalid, err)
	}
	return driver, bytes.TrimSuffix(buf.Bytes(), []byte("\n")), expires, nil
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

// ValidLevel reports whether s can be one MQTT topic level: not empty, valid UTF-8, no level
// separator, no wildcard, no NUL. Anything else could reach another tenant's or driver's topic.
func ValidLevel(s string) bool {
	return s != "" && utf8.ValidString(s) && !strings.ContainsAny(s, "/+#\x00")
}
