package loadgen

import (
	"strconv"

	"github.com/valyala/fastjson"
)

// probe is what a fix carries for the measurement, in its extra field "probe": the index of
// the driver that sent it, its sequence number (1, 2, ... per driver) and the send time in
// Unix ns.
type probe struct {
	Driver int
	Seq    uint64
	SentNs int64
}

// fix is a driver's position report as the hub validates it (geo.DecodeFix).
type fix struct {
	Lat, Lng float64
	TsMs     int64 // Unix ms
	Speed    float64
	Heading  float64
	Accuracy float64
	Probe    probe
}

// appendFix appends the JSON of f to dst, e.g.
// {"lat":52.520008,"lng":13.404954,"ts":1700000000000,"speed":8.3,"heading":90,"accuracy":5,"probe":{"drv":12,"seq":3,"sent_ns":1700000000000000000}}.
func appendFix(dst []byte, f fix) []byte {
	dst = append(dst, `{"lat":`...)
	dst = strconv.AppendFloat(dst, f.Lat, 'f', 6, 64)
	dst = append(dst, `,"lng":`...)
	dst = strconv.AppendFloat(dst, f.Lng, 'f', 6, 64)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, f.TsMs, 10)
	dst = append(dst, `,"speed":`...)
	dst = strconv.AppendFloat(dst, f.Speed, 'f', 1, 64)
	dst = append(dst, `,"heading":`...)
	dst = strconv.AppendFloat(dst, f.Heading, 'f', 0, 64)
	dst = append(dst, `,"accuracy":`...)
	dst = strconv.AppendFloat(dst, f.Accuracy, 'f', 0, 64)
	dst = append(dst, `,"probe":{"drv":`...)
	dst = strconv.AppendInt(dst, int64(f.Probe.Driver), 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, f.Probe.Seq, 10)
	dst = append(dst, `,"sent_ns":`...)
	dst = strconv.AppendInt(dst, f.Probe.SentNs, 10)
	return append(dst, "}}"...)
}

// probeParser reads the probe of received fixes; it is not safe for concurrent use.
type probeParser struct{ p fastjson.Parser }

// parse returns the probe of a fix payload; false when there is none.
func (pp *probeParser) parse(payload []byte) (probe, bool) {
	v, err := pp.p.ParseBytes(payload)
	if err != nil {
		return probe{}, false
	}
	pv := v.Get("probe")
	if pv == nil || pv.Type() != fastjson.TypeObject {
		return probe{}, false
	}
	drv, seq, sent := pv.Get("drv"), pv.Get("seq"), pv.Get("sent_ns")
	if drv == nil || seq == nil || sent == nil {
		return probe{}, false
	}
	d, err1 := drv.Int()
	s, err2 := seq.Uint64()
	t, err3 := sent.Int64()
	if err1 != nil || err2 != nil || err3 != nil {
		return probe{}, false
	}
	return probe{Driver: d, Seq: s, SentNs: t}, true
}
