package roads

import (
	"math"
	"math/rand/v2"
)

// GPS models a phone's position fixes: Gaussian noise with a standard
// deviation of NoiseM metres north and east, and a probability Dropout that a
// fix is not sent at all.
type GPS struct {
	NoiseM  float64 // standard deviation of the error along each axis, metres
	Dropout float64 // probability in [0, 1] that a fix is lost
}

// Observe is a fix of the true position p and whether it is sent. It always
// draws the same three numbers from rng, whether the fix is dropped or not,
// so that a seeded run stays reproducible whatever the settings.
func (g GPS) Observe(p Point, rng *rand.Rand) (fix Point, send bool) {
	drop := rng.Float64()
	north, east := rng.NormFloat64(), rng.NormFloat64()
	if g.NoiseM > 0 {
		cos := math.Max(math.Cos(p.Lat*deg), 1e-6)
		fix = Point{
			Lat: p.Lat + north*g.NoiseM/metersPerDegLat,
			Lng: p.Lng + east*g.NoiseM/(metersPerDegLat*cos),
		}
	} else {
		fix = p
	}
	return fix, drop >= g.Dropout
}
