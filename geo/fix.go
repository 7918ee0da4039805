// Package geo holds the geometry of dispatch: location fixes, distances and the H3 index of
// drivers. It is pure: no I/O, no clocks of its own (callers pass the time).
package geo

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fastjson"
)

// Fix is one GPS position reported by a driver's app.
type Fix struct {
	Lat, Lng float64
	// At is when the phone took the fix, in Unix milliseconds.
	At int64
	// Optional readings; NaN when the app did not send them.
	Speed    float64 // m/s
	Heading  float64 // degrees clockwise from north, [0, 360)
	Accuracy float64 // metres, 1 sigma
}

// MaxFixPayload is the largest location payload accepted.
const MaxFixPayload = 1024

// FixError says why a payload is not a usable fix. Reason is a short metric label.
type FixError struct{ Reason string }

func (e *FixError) Error() string { return "invalid location fix: " + e.Reason }

// Reasons a fix is refused, shared so that no error is allocated on the hot path.
var (
	ErrFixTooLarge = &FixError{"too_large"}
	ErrFixJSON     = &FixError{"json"}
	ErrFixLat      = &FixError{"lat"}
	ErrFixLng      = &FixError{"lng"}
	ErrFixTime     = &FixError{"ts"}
	ErrFixFuture   = &FixError{"future"}
	ErrFixSpeed    = &FixError{"speed"}
	ErrFixHeading  = &FixError{"heading"}
	ErrFixAccuracy = &FixError{"accuracy"}
)

var parsers fastjson.ParserPool

// DecodeFix parses a driver's location payload:
//
//	{"lat":38.72,"lng":-9.14,"ts":1764000000000,"speed":8.3,"heading":270,"accuracy":5}
//
// lat, lng and ts are required. ts is Unix milliseconds, Unix seconds (values below 1e11) or
// an RFC 3339 string. A fix more than maxSkew ahead of now is refused (a phone with a wrong
// clock would otherwise poison staleness checks). speed, heading and accuracy are optional.
// It does not allocate for a valid payload.
func DecodeFix(payload []byte, now time.Time, maxSkew time.Duration) (Fix, error) {
	fix := Fix{Speed: math.NaN(), Heading: math.NaN(), Accuracy: math.NaN()}
	if len(payload) > MaxFixPayload {
		return fix, ErrFixTooLarge
	}
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(payload)
	if err != nil || v.Type() != fastjson.TypeObject {
		return fix, ErrFixJSON
	}
	var ok bool
	if fix.Lat, ok = number(v.Get("lat")); !ok || fix.Lat < -90 || fix.Lat > 90 {
		return fix, ErrFixLat
	}
	if fix.Lng, ok = number(v.Get("lng")); !ok || fix.Lng < -180 || fix.Lng > 180 {
		return fix, ErrFixLng
	}
	if fix.At, ok = timestamp(v.Get("ts")); !ok {
		return fix, ErrFixTime
	}
	if fix.At > now.Add(maxSkew).UnixMilli() {
		return fix, ErrFixFuture
	}
	if s := v.Get("speed"); s != nil && s.Type() != fastjson.TypeNull {
		if fix.Speed, ok = number(s); !ok || fix.Speed < 0 || fix.Speed > 340 {
			return fix, ErrFixSpeed
		}
	}
	if h := v.Get("heading"); h != nil && h.Type() != fastjson.TypeNull {
		if fix.Heading, ok = number(h); !ok || fix.Heading < 0 || fix.Heading > 360 {
			return fix, ErrFixHeading
		}
		if fix.Heading == 360 {
			fix.Heading = 0
		}
	}
	if a := v.Get("accuracy"); a != nil && a.Type() != fastjson.TypeNull {
		if fix.Accuracy, ok = number(a); !ok || fix.Accuracy < 0 || fix.Accuracy > 1e6 {
			return fix, ErrFixAccuracy
		}
	}
	return fix, nil
}

func number(v *fastjson.Value) (float64, bool) {
	if v == nil || v.Type() != fastjson.TypeNumber {
		return 0, false
	}
	f, err := v.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// timestamp reads ts as Unix ms, Unix s or RFC 3339; it must be after 2001 and finite.
func timestamp(v *fastjson.Value) (int64, bool) {
	if v == nil {
		return 0, false
	}
	var ms int64
	switch v.Type() {
	case fastjson.TypeNumber:
		f, err := v.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 || f > 1e15 {
			return 0, false
		}
		if f < 1e11 {
			f *= 1000 // seconds
		}
		ms = int64(f)
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		t, err := time.Parse(time.RFC3339Nano, string(b))
		if err != nil {
			return 0, false
		}
		ms = t.UnixMilli()
	default:
		return 0, false
	}
	return ms, ms >= 978307200000 // 2001-01-01
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 160); return &b }}

// AppendJSON appends the fix as the canonical JSON the hub passes on (NATS loc.*, Redis):
// {"lat":..,"lng":..,"ts":..[,"speed":..][,"heading":..][,"accuracy":..]}.
func (f Fix) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"lat":`...)
	dst = strconv.AppendFloat(dst, f.Lat, 'f', -1, 64)
	dst = append(dst, `,"lng":`...)
	dst = strconv.AppendFloat(dst, f.Lng, 'f', -1, 64)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, f.At, 10)
	if !math.IsNaN(f.Speed) {
		dst = append(dst, `,"speed":`...)
		dst = strconv.AppendFloat(dst, f.Speed, 'f', -1, 64)
	}
	if !math.IsNaN(f.Heading) {
		dst = append(dst, `,"heading":`...)
		dst = strconv.AppendFloat(dst, f.Heading, 'f', -1, 64)
	}
	if !math.IsNaN(f.Accuracy) {
		dst = append(dst, `,"accuracy":`...)
		dst = strconv.AppendFloat(dst, f.Accuracy, 'f', -1, 64)
	}
	return append(dst, '}')
}

// JSON returns the canonical JSON of the fix.
func (f Fix) JSON() []byte {
	bp := bufs.Get().(*[]byte)
	out := append([]byte(nil), f.AppendJSON((*bp)[:0])...)
	bufs.Put(bp)
	return out
}
