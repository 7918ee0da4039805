package sim

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fastjson"

	"github.com/pilotx/dispatchhub/geo"
	"github.com/pilotx/dispatchhub/internal/sim/roads"
)

const offerPayload = `{"type":"AssignmentOffered","event_id":"ev-1","order_id":"0193a1b2-0000-7000-8000-000000000001",` +
	`"id":"0193a1b2-0000-7000-8000-000000000001","store_id":"st-1","external_ref":"5900000001123","job_id":"job-1",` +
	`"driver_id":"d00007","expires_at":"2026-01-01T12:00:30Z","distance_m":412.5,"status":"offered",` +
	`"pickup":{"point":{"lat":42.5,"lng":1.52}},"dropoff":{"line1":"Carrer Major 3","point":{"lat":42.51,"lng":1.53}},"items":[]}`

func TestParseJobAndEvent(t *testing.T) {
	m, err := parseJob([]byte(offerPayload))
	require.NoError(t, err)
	assert.Equal(t, "ev-1", m.ID)
	assert.Equal(t, "AssignmentOffered", m.Type)
	assert.Equal(t, "0193a1b2-0000-7000-8000-000000000001", m.OrderID)
	assert.Equal(t, "st-1", m.Store)
	assert.Equal(t, "5900000001123", m.External)
	assert.Equal(t, "job-1", m.JobID)
	assert.Equal(t, 412.5, *m.Meters)
	assert.Equal(t, roads.Point{Lat: 42.5, Lng: 1.52}, *m.Pickup)
	assert.Equal(t, roads.Point{Lat: 42.51, Lng: 1.53}, *m.Dropoff)

	rej, err := parseJob([]byte(`{"type":"ReplyRejected","event_id":"ev-2","driver_id":"d00007","job_id":"job-1","action":"accept","code":"offer_closed"}`))
	require.NoError(t, err)
	assert.Equal(t, "offer_closed", rej.Code)
	assert.Equal(t, "accept", rej.Action)
	assert.Empty(t, rej.OrderID)

	env := `{"id":"ev-9","tenant":"sim","type":"OrderAssigned","aggregate_type":"order","aggregate_id":"o-9","version":3,` +
		`"payload":{"id":"o-9","store_id":"st-1","external_ref":"42","job_id":"job-9","driver_id":"d00001","pickup":{"point":{"lat":91,"lng":0}}}}`
	e, err := parseEvent([]byte(env))
	require.NoError(t, err)
	assert.Equal(t, message{ID: "ev-9", Type: "OrderAssigned", OrderID: "o-9", Store: "st-1", External: "42", JobID: "job-9", Driver: "d00001"}, e,
		"a point off Earth is no point")

	for _, bad := range []string{``, `[]`, `{"type":1}`, `{}`, `{"id":"x"}`} {
		_, err := parseEvent([]byte(bad))
		assert.Error(t, err, bad)
	}
	_, err = parseJob([]byte(`{"event_id":"x"}`))
	assert.Error(t, err, "no type")
}

// A fix the simulator writes is one the hub accepts, and the watcher reads its ts and seq back.
func TestFixPayloadRoundTrip(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	raw := fixPayload(nil, roads.Point{Lat: 42.5071234, Lng: 1.5224567}, at, 8.3, 271.4, 5, 77)
	fix, err := geo.DecodeFix(raw, at, time.Minute)
	require.NoError(t, err, "%s", raw)
	assert.InDelta(t, 42.5071234, fix.Lat, 1e-7)
	assert.Equal(t, at.UnixMilli(), fix.At)
	assert.InDelta(t, 8.3, fix.Speed, 1e-9)
	var p fastjson.Parser
	got, seq, err := parseFix(&p, raw)
	require.NoError(t, err)
	assert.True(t, at.Equal(got))
	assert.Equal(t, uint64(77), seq)
	for _, bad := range []string{`{}`, `{"ts":"x","seq":1}`, `{"ts":"2026-01-02T03:04:05Z"}`, `{"ts":"2026-01-02T03:04:05Z","seq":-1}`, `1`} {
		_, _, err := parseFix(&p, []byte(bad))
		assert.Error(t, err, bad)
	}
}

func TestDriverIDs(t *testing.T) {
	assert.Equal(t, "d00001", driverID(0))
	assert.Equal(t, "d123456", driverID(123455))
	assert.Equal(t, 41, driverIndex("d00042", 50))
	assert.Equal(t, 123455, driverIndex("d123456", 200000))
	for _, id := range []string{"d00051", "d000042", "x00001", "d0001", "d00000", "d-0001", ""} {
		assert.Equal(t, -1, driverIndex(id, 50), id)
	}
}

// The payloads the hub sends (jobs, events, fixes) are outside input: no input panics.
func FuzzParsers(f *testing.F) {
	f.Add([]byte(offerPayload))
	f.Add([]byte(`{"id":"e","type":"OrderCreated","aggregate_type":"order","aggregate_id":"o","payload":{"pickup":{"point":{"lat":1e400}}}}`))
	f.Add(fixPayload(nil, roads.Point{Lat: 1, Lng: 2}, time.Now(), 1, 2, 3, 4))
	f.Add([]byte(`{"type":"X","distance_m":-1,"dropoff":{"point":null}}`))
	var p fastjson.Parser
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := parseJob(b); err == nil {
			assert.NotEmpty(t, m.Type)
			if m.Meters != nil {
				assert.GreaterOrEqual(t, *m.Meters, 0.0)
			}
		}
		if m, err := parseEvent(b); err == nil {
			assert.NotEmpty(t, m.ID)
		}
		_, _, _ = parseFix(&p, b)
		_ = driverIndex(string(b), 1000)
	})
}
