package roads

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestGPSNoise(t *testing.T) {
	for _, p := range []Point{{Lat: 42.5, Lng: 1.52}, {Lat: 0, Lng: 0}, {Lat: -65, Lng: 120}} {
		gps := GPS{NoiseM: 5, Dropout: 0.02}
		rng := rand.New(rand.NewPCG(13, 14))
		const n = 20000
		var sumN, sumE, sqN, sqE float64
		sent := 0
		for range n {
			fix, send := gps.Observe(p, rng)
			if send {
				sent++
			}
			north := (fix.Lat - p.Lat) * metersPerDegLat
			east := (fix.Lng - p.Lng) * metersPerDegLat * math.Cos(p.Lat*deg)
			sumN, sumE = sumN+north, sumE+east
			sqN, sqE = sqN+north*north, sqE+east*east
		}
		meanN, meanE := sumN/n, sumE/n
		sdN, sdE := math.Sqrt(sqN/n-meanN*meanN), math.Sqrt(sqE/n-meanE*meanE)
		t.Logf("at %v: mean %.3f m north, %.3f m east; sigma %.3f, %.3f m; %d of %d sent", p, meanN, meanE, sdN, sdE, sent, n)
		if math.Abs(meanN) > 0.25 || math.Abs(meanE) > 0.25 {
			t.Errorf("at %v: mean error %.3f, %.3f m, want about 0", p, meanN, meanE)
		}
		for _, sd := range []float64{sdN, sdE} {
			if sd < 4 || sd > 6 {
				t.Errorf("at %v: sigma %.3f m, want 5 within 20%%", p, sd)
			}
		}
		if lost := float64(n-sent) / n; math.Abs(lost-0.02) > 0.006 {
			t.Errorf("at %v: %.4f of fixes dropped, want about 0.02", p, lost)
		}
	}
}

func TestGPSDeterministic(t *testing.T) {
	p := Point{Lat: 42.5, Lng: 1.52}
	a, b := rand.New(rand.NewPCG(1, 1)), rand.New(rand.NewPCG(1, 1))
	noisy, exact := GPS{NoiseM: 5, Dropout: 0.5}, GPS{}
	for range 100 {
		f1, s1 := noisy.Observe(p, a)
		f2, s2 := noisy.Observe(p, b)
		if f1 != f2 || s1 != s2 {
			t.Fatal("same seed, different fixes")
		}
	}
	// The rng advances by as much whatever the settings.
	exact.Observe(p, a)
	noisy.Observe(p, b)
	if a.Uint64() != b.Uint64() {
		t.Fatal("Observe draws a different amount of randomness with other settings")
	}
	if fix, send := exact.Observe(p, a); fix != p || !send {
		t.Fatalf("no noise, no dropout: %v, %v", fix, send)
	}
}
