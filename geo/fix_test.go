package geo

import (
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestDecodeFix(t *testing.T) {
	ms := now.UnixMilli()
	fix, err := DecodeFix([]byte(`{"lat":38.7223,"lng":-9.1393,"ts":`+itoa(ms)+`,"speed":8.5,"heading":270,"accuracy":4}`), now, 30*time.Second)
	require.NoError(t, err)
	assert.Equal(t, Fix{Lat: 38.7223, Lng: -9.1393, At: ms, Speed: 8.5, Heading: 270, Accuracy: 4}, fix)

	fix, err = DecodeFix([]byte(`{"lng":180,"lat":-90,"ts":"2026-11-25T11:59:58Z"}`), now, 30*time.Second)
	require.NoError(t, err)
	assert.Equal(t, ms-2000, fix.At)
	assert.True(t, math.IsNaN(fix.Speed) && math.IsNaN(fix.Heading) && math.IsNaN(fix.Accuracy), "absent optionals are NaN")

	fix, err = DecodeFix([]byte(`{"lat":0,"lng":0,"ts":`+itoa(now.Unix())+`,"heading":360,"speed":null}`), now, 0)
	require.NoError(t, err)
	assert.Equal(t, ms, fix.At, "seconds are read as seconds")
	assert.Zero(t, fix.Heading, "360 is north")

	bad := map[string]*FixError{
		`not json`: ErrFixJSON,
		`[1,2]`:    ErrFixJSON,
		`{"lat":"38","lng":1,"ts":1764072000000}`:             ErrFixLat,
		`{"lat":90.0001,"lng":1,"ts":1764072000000}`:          ErrFixLat,
		`{"lng":1,"ts":1764072000000}`:                        ErrFixLat,
		`{"lat":1,"lng":-180.5,"ts":1764072000000}`:           ErrFixLng,
		`{"lat":1,"lng":1}`:                                   ErrFixTime,
		`{"lat":1,"lng":1,"ts":"yesterday"}`:                  ErrFixTime,
		`{"lat":1,"lng":1,"ts":-5}`:                           ErrFixTime,
		`{"lat":1,"lng":1,"ts":100}`:                          ErrFixTime,
		`{"lat":1,"lng":1,"ts":1e300}`:                        ErrFixTime,
		`{"lat":1,"lng":1,"ts":1864072000000}`:                ErrFixFuture,
		`{"lat":1,"lng":1,"ts":1764072000000,"speed":-1}`:     ErrFixSpeed,
		`{"lat":1,"lng":1,"ts":1764072000000,"heading":400}`:  ErrFixHeading,
		`{"lat":1,"lng":1,"ts":1764072000000,"accuracy":"x"}`: ErrFixAccuracy,
	}
	for payload, want := range bad {
		_, err := DecodeFix([]byte(payload), now, 30*time.Second)
		var fe *FixError
		require.True(t, errors.As(err, &fe), payload)
		assert.Equal(t, want.Reason, fe.Reason, payload)
	}
	big := make([]byte, MaxFixPayload+1)
	_, err = DecodeFix(big, now, 0)
	assert.Equal(t, ErrFixTooLarge, err)
}

func TestDecodeFixDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are asserted in the race-free pass of make test")
	}
	payload := []byte(`{"lat":38.7223,"lng":-9.1393,"ts":1764072000000,"speed":8.5,"heading":270,"accuracy":4}`)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := DecodeFix(payload, now, time.Minute); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func TestFixJSONRoundTrip(t *testing.T) {
	in := Fix{Lat: 38.7223, Lng: -9.1393, At: 1764072000000, Speed: 8.5, Heading: math.NaN(), Accuracy: 4}
	out, err := DecodeFix(in.JSON(), now, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, in.Lat, out.Lat)
	assert.Equal(t, in.At, out.At)
	assert.Equal(t, in.Speed, out.Speed)
	assert.True(t, math.IsNaN(out.Heading))
	assert.JSONEq(t, `{"lat":38.7223,"lng":-9.1393,"ts":1764072000000,"speed":8.5,"accuracy":4}`, string(in.JSON()))
}

func FuzzDecodeFix(f *testing.F) {
	for _, s := range []string{`{"lat":1,"lng":2,"ts":1764072000000}`, `{"lat":-90,"lng":180,"ts":"2026-11-25T11:59:58Z","heading":360}`, `{}`, `[]`, `{"lat":1e308}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		fix, err := DecodeFix(payload, now, 30*time.Second)
		if err != nil {
			return
		}
		if fix.Lat < -90 || fix.Lat > 90 || fix.Lng < -180 || fix.Lng > 180 || math.IsNaN(fix.Lat) || math.IsNaN(fix.Lng) {
			t.Fatalf("accepted out-of-range fix %+v from %q", fix, payload)
		}
		if fix.At > now.Add(30*time.Second).UnixMilli() {
			t.Fatalf("accepted future fix %+v", fix)
		}
		again, err := DecodeFix(fix.JSON(), now, 30*time.Second)
		if err != nil || again.Lat != fix.Lat || again.Lng != fix.Lng || again.At != fix.At {
			t.Fatalf("canonical JSON does not round-trip: %+v -> %s -> %+v, %v", fix, fix.JSON(), again, err)
		}
	})
}

func BenchmarkDecodeFix(b *testing.B) {
	payload := []byte(`{"lat":38.7223,"lng":-9.1393,"ts":1764072000000,"speed":8.5,"heading":270,"accuracy":4}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeFix(payload, now, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
