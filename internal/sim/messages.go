package sim

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/pilotx/dispatchhub/internal/sim/roads"
)

// message is a job (on a driver's jobs topic) or a domain event (on the events topics) as the
// simulator reads it.
type message struct {
	ID       string // the event's id
	Type     string // AssignmentOffered, OrderAssigned, ...
	OrderID  string
	Store    string // the order's store id
	External string // the order's external_ref (its id on the platform)
	JobID    string
	Driver   string
	Action   string // of ReplyRejected: the refused action
	Code     string // of ReplyRejected
	Reason   string // of AssignmentChanged
	Meters   *float64
	Pickup   *roads.Point
	Dropoff  *roads.Point
}

// wireJob is the payload of a job message, and the payload of an order's event: the order's
// snapshot with the job's fields.
type wireJob struct {
	Type        string    `json:"type"`
	EventID     string    `json:"event_id"`
	OrderID     string    `json:"order_id"`
	ID          string    `json:"id"`
	StoreID     string    `json:"store_id"`
	ExternalRef string    `json:"external_ref"`
	JobID       string    `json:"job_id"`
	DriverID    string    `json:"driver_id"`
	Action      string    `json:"action"`
	Code        string    `json:"code"`
	Reason      string    `json:"reason"`
	Meters      *float64  `json:"distance_m"`
	Pickup      *wireAddr `json:"pickup"`
	Dropoff     *wireAddr `json:"dropoff"`
}

type wireAddr struct {
	Point *struct {
		Lat *float64 `json:"lat"`
		Lng *float64 `json:"lng"`
	} `json:"point"`
}

// point is the address's coordinates when it has valid ones.
func (a *wireAddr) point() *roads.Point {
	if a == nil || a.Point == nil || a.Point.Lat == nil || a.Point.Lng == nil {
		return nil
	}
	p := roads.Point{Lat: *a.Point.Lat, Lng: *a.Point.Lng}
	if !(p.Lat >= -90 && p.Lat <= 90 && p.Lng >= -180 && p.Lng <= 180) {
		return nil
	}
	return &p
}

// errNotObject is a payload that is not a JSON object.
var errNotObject = errors.New("payload is not a JSON object")

// parseJob reads a message of a driver's jobs topic.
func parseJob(payload []byte) (message, error) {
	var w wireJob
	if err := json.Unmarshal(payload, &w); err != nil {
		return message{}, err
	}
	if w.Type == "" {
		return message{}, errors.New("job message without a type")
	}
	m := w.message()
	m.ID = w.EventID
	return m, nil
}

func (w *wireJob) message() message {
	m := message{
		Type: w.Type, OrderID: w.OrderID, Store: w.StoreID, External: w.ExternalRef, JobID: w.JobID, Driver: w.DriverID,
		Action: w.Action, Code: w.Code, Reason: w.Reason, Meters: w.Meters, Pickup: w.Pickup.point(), Dropoff: w.Dropoff.point(),
	}
	if m.OrderID == "" && w.Type != "ReplyRejected" {
		m.OrderID = w.ID
	}
	if m.Meters != nil && (math.IsNaN(*m.Meters) || *m.Meters < 0) {
		m.Meters = nil
	}
	return m
}

// parseEvent reads a domain event of tenants/{t}/events/{Type}: the outbox envelope, whose
// payload is the order's snapshot for an order's event.
func parseEvent(payload []byte) (message, error) {
	var env struct {
		ID            string          `json:"id"`
		Type          string          `json:"type"`
		AggregateType string          `json:"aggregate_type"`
		AggregateID   string          `json:"aggregate_id"`
		Payload       json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		return message{}, err
	}
	if env.ID == "" || env.Type == "" {
		return message{}, errors.New("event without an id or a type")
	}
	var w wireJob
	if len(env.Payload) > 0 && env.Payload[0] == '{' {
		if err := json.Unmarshal(env.Payload, &w); err != nil {
			return message{}, err
		}
	}
	w.Type = env.Type
	m := w.message()
	m.ID = env.ID
	if env.AggregateType == "order" {
		m.OrderID = env.AggregateID
	}
	return m, nil
}

// fixPayload writes a location fix: the hub's fields, ts in RFC 3339 with nanoseconds (so the
// watcher measures latency to the nanosecond), and seq, the driver's sequence number of the
// fix (other fields are allowed and ignored by the hub).
func fixPayload(buf []byte, p roads.Point, at time.Time, speed, heading, accuracy float64, seq uint64) []byte {
	buf = append(buf, `{"lat":`...)
	buf = strconv.AppendFloat(buf, p.Lat, 'f', 7, 64)
	buf = append(buf, `,"lng":`...)
	buf = strconv.AppendFloat(buf, p.Lng, 'f', 7, 64)
	buf = append(buf, `,"ts":"`...)
	buf = at.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","speed":`...)
	buf = strconv.AppendFloat(buf, speed, 'f', 1, 64)
	buf = append(buf, `,"heading":`...)
	buf = strconv.AppendFloat(buf, heading, 'f', 0, 64)
	buf = append(buf, `,"accuracy":`...)
	buf = strconv.AppendFloat(buf, accuracy, 'f', 1, 64)
	buf = append(buf, `,"seq":`...)
	buf = strconv.AppendUint(buf, seq, 10)
	return append(buf, '}')
}

// parseFix reads the ts and seq of a fix the simulator sent.
func parseFix(p *fastjson.Parser, payload []byte) (at time.Time, seq uint64, err error) {
	v, err := p.ParseBytes(payload)
	if err != nil {
		return at, 0, err
	}
	if v.Type() != fastjson.TypeObject {
		return at, 0, errNotObject
	}
	ts := v.GetStringBytes("ts")
	if ts == nil {
		return at, 0, errors.New("fix without a ts string")
	}
	if at, err = time.Parse(time.RFC3339Nano, string(ts)); err != nil {
		return at, 0, err
	}
	sv := v.Get("seq")
	if sv == nil {
		return at, 0, errors.New("fix without a seq")
	}
	if seq, err = sv.Uint64(); err != nil {
		return at, 0, err
	}
	return at, seq, nil
}

// driverIndex is the index of a driver id of this run ("d00042" → 41), or -1.
func driverIndex(id string, drivers int) int {
	digits, ok := strings.CutPrefix(id, "d")
	if !ok || len(digits) < 5 {
		return -1
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 || n > drivers || driverID(n-1) != id {
		return -1
	}
	return n - 1
}

// driverID is the id (token subject) of driver i: d00001, d00002, ...
func driverID(i int) string {
	s := strconv.Itoa(i + 1)
	if len(s) < 5 {
		s = strings.Repeat("0", 5-len(s)) + s
	}
	return "d" + s
}
