package sim

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRateProfiles(t *testing.T) {
	d := 120 * time.Second
	flat := Config{Rate: 10, Duration: d}
	lunch := Config{Rate: 10, Duration: d, Lunch: true}
	for _, at := range []time.Duration{0, 39 * time.Second, 81 * time.Second, 119 * time.Second} {
		assert.Equal(t, 10.0, flat.RateAt(at))
		assert.Equal(t, 10.0, lunch.RateAt(at), "outside the middle third: 1x (%s)", at)
	}
	// the middle third is 40 s - 80 s: a ramp over 40-50 s, 3x over 50-70 s, back over 70-80 s
	assert.InDelta(t, 20.0, lunch.RateAt(45*time.Second), 1e-9)
	assert.InDelta(t, 30.0, lunch.RateAt(50*time.Second), 1e-9)
	assert.InDelta(t, 30.0, lunch.RateAt(60*time.Second), 1e-9)
	assert.InDelta(t, 30.0, lunch.RateAt(69*time.Second), 1e-9)
	assert.InDelta(t, 20.0, lunch.RateAt(75*time.Second), 1e-9)

	ramp := Config{Rate: 100, RampTo: 1100, Duration: 10 * time.Second}
	assert.InDelta(t, 100.0, ramp.RateAt(0), 1e-9)
	assert.InDelta(t, 600.0, ramp.RateAt(5*time.Second), 1e-9)
	assert.InDelta(t, 1100.0, ramp.RateAt(10*time.Second), 1e-9)

	burst := Config{Rate: 20, Duration: time.Minute, Burst: Burst{Rate: 1000, At: 20 * time.Second, For: 10 * time.Second}}
	assert.Equal(t, 20.0, burst.RateAt(19*time.Second))
	assert.Equal(t, 1000.0, burst.RateAt(20*time.Second))
	assert.Equal(t, 1000.0, burst.RateAt(29*time.Second))
	assert.Equal(t, 20.0, burst.RateAt(30*time.Second))
}

// count is how many webhooks the schedule of c holds over its Duration.
func count(c Config) int {
	n := 0
	for e := time.Duration(0); e < c.Duration; e = c.nextDue(e) {
		n++
	}
	return n
}

// The schedule follows the integral of the rate: 10/s for 120 s is 1,200 webhooks; the lunch
// profile adds the area of its peak (2x over 20 s and 1x over 20 s of ramps: 600).
func TestScheduleFollowsTheRate(t *testing.T) {
	assert.Equal(t, 1200, count(Config{Rate: 10, Duration: 120 * time.Second}))
	assert.InDelta(t, 1800, count(Config{Rate: 10, Duration: 120 * time.Second, Lunch: true}), 3)
	assert.InDelta(t, 6000, count(Config{Rate: 100, RampTo: 1100, Duration: 10 * time.Second}), 3)
	assert.InDelta(t, 20*50+1000*10, count(Config{Rate: 20, Duration: time.Minute, Burst: Burst{Rate: 1000, At: 20 * time.Second, For: 10 * time.Second}}), 3)
}

// schedule sends every due webhook, open loop, and stops at the end of the phase or with ctx.
func TestScheduleSendsOnTime(t *testing.T) {
	cfg := Config{Rate: 200, Duration: 300 * time.Millisecond}
	start := time.Now()
	var dues []time.Time
	n := schedule(context.Background(), cfg, start, func(i int, due time.Time) {
		assert.Equal(t, len(dues), i)
		dues = append(dues, due)
	})
	assert.Equal(t, 60, n)
	assert.Len(t, dues, 60)
	assert.Equal(t, start, dues[0])
	assert.Equal(t, start.Add(5*time.Millisecond), dues[1])

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.LessOrEqual(t, schedule(ctx, Config{Rate: 1}, time.Now().Add(time.Hour), func(int, time.Time) {}), 0)
}

func TestCityGraphs(t *testing.T) {
	for _, city := range []string{"andorra", "grid"} {
		g, err := Graph(city)
		if assert.NoError(t, err, city) {
			assert.Greater(t, g.Len(), 100, city)
			assert.InDelta(t, 42.5, g.Center().Lat, 0.1, city)
		}
	}
	_, err := Graph("paris")
	assert.Error(t, err)
}

func TestScenarios(t *testing.T) {
	for _, name := range []string{"a", "b", "c", "d"} {
		c, err := Scenario(name)
		if assert.NoError(t, err) {
			c.HTTPBase, c.MQTTURL = "http://127.0.0.1:8080", "ws://127.0.0.1:8083/mqtt"
			assert.NoError(t, c.Validate(), name)
		}
	}
	_, err := Scenario("e")
	assert.ErrorIs(t, err, ErrUnknownScenario)
	assert.ErrorContains(t, Config{}.Validate(), "sim.HTTPBase")
}

func TestLunchRepeatsWithoutAnEnd(t *testing.T) {
	c := Config{Rate: 10, Lunch: true}
	third := LunchPeriod / 3
	for cycle := range 3 {
		base := time.Duration(cycle) * LunchPeriod
		if got := c.RateAt(base + third/2); got != 10 {
			t.Errorf("cycle %d, before lunch: %v, want 10", cycle, got)
		}
		if got := c.RateAt(base + third + third/2); got != 10*LunchPeak {
			t.Errorf("cycle %d, at the peak: %v, want %v", cycle, got, 10*LunchPeak)
		}
		if got := c.RateAt(base + 2*third + third/2); got != 10 {
			t.Errorf("cycle %d, after lunch: %v, want 10", cycle, got)
		}
	}
}
