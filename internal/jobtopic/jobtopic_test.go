package jobtopic

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/outbox"
)

func TestIs(t *testing.T) {
	for _, typ := range []string{"AssignmentOffered", "OrderAssigned", "AssignmentChanged", "OrderCancelled", "ReplyRejected"} {
		assert.True(t, Is(typ), typ)
	}
	for _, typ := range []string{"OrderCreated", "PickedUp", "DeliveryCompleted", "DriverOnline", ""} {
		assert.False(t, Is(typ), typ)
	}
}

func TestMessage(t *testing.T) {
	expires := time.Date(2026, 11, 26, 12, 0, 30, 0, time.UTC)
	ev := outbox.Event{ID: "ev-1", Type: "AssignmentOffered", AggregateType: "order", AggregateID: "o-1",
		Payload: json.RawMessage(`{"id":"o-1","job_id":"j-1","driver_id":"d1","expires_at":"2026-11-26T12:00:30Z","note":"<ring>"}`)}
	driver, payload, exp, err := Message(&ev)
	require.NoError(t, err)
	assert.Equal(t, "d1", driver)
	assert.True(t, exp.Equal(expires))
	var got map[string]any
	require.NoError(t, json.Unmarshal(payload, &got))
	assert.Equal(t, map[string]any{"id": "o-1", "job_id": "j-1", "driver_id": "d1", "expires_at": "2026-11-26T12:00:30Z",
		"note": "<ring>", "type": "AssignmentOffered", "event_id": "ev-1", "order_id": "o-1"}, got)
	assert.Contains(t, string(payload), `"note":"<ring>"`, "not HTML-escaped")

	// A driver's event (ReplyRejected) names no order.
	rej := outbox.Event{ID: "ev-2", Type: "ReplyRejected", AggregateType: "driver", AggregateID: "d1", Payload: json.RawMessage(`{"driver_id":"d1"}`)}
	_, payload, exp, err = Message(&rej)
	require.NoError(t, err)
	assert.NotContains(t, string(payload), "order_id")
	assert.True(t, exp.IsZero())

	for name, raw := range map[string]string{"not an object": `[1]`, "no driver": `{"id":"o"}`, "empty driver": `{"driver_id":""}`, "driver not a string": `{"driver_id":7}`} {
		e := outbox.Event{ID: "x", Type: "OrderCancelled", AggregateType: "order", AggregateID: "o", Payload: json.RawMessage(raw)}
		driver, payload, _, err := Message(&e)
		require.NoError(t, err, name)
		assert.Empty(t, driver, name)
		assert.Nil(t, payload, name)
	}
	for _, bad := range []string{"a/b", "+", "#", "x\x00"} {
		raw, _ := json.Marshal(map[string]string{"driver_id": bad})
		e := outbox.Event{ID: "x", Type: "OrderAssigned", Payload: raw}
		_, _, _, err := Message(&e)
		assert.True(t, errors.Is(err, ErrInvalid), "driver %q: %v", bad, err)
	}
}
