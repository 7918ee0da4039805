package geo

import "math"

// EarthRadius is the mean radius of the Earth in metres (IUGG R1), the sphere every distance
// of the package is measured on.
const EarthRadius = 6371008.8

const degree = math.Pi / 180

// Haversine returns the great-circle distance in metres between two points given in degrees.
// It is exact on the sphere of EarthRadius up to rounding, whichever way the shorter arc
// goes: across the antimeridian (179.99 to -179.99 is about 2.2 km at the equator) and at
// the poles (every longitude of latitude ±90 is the same point). It does not allocate.
func Haversine(lat1, lng1, lat2, lng2 float64) float64 {
	φ1, φ2 := lat1*degree, lat2*degree
	return haversine(φ1, math.Cos(φ1), lng1*degree, φ2, math.Cos(φ2), lng2*degree)
}

// haversine is Haversine on radians with the cosines of the latitudes computed by the
// caller, so that the index can keep them with each driver. Haversine and the index share
// it, so that a distance the index reports is bit for bit what Haversine returns.
func haversine(φ1, cosφ1, λ1, φ2, cosφ2, λ2 float64) float64 {
	// sin² of half the difference has period 2π in λ2-λ1, so longitudes that wrap around
	// the antimeridian need no normalisation.
	sφ := math.Sin((φ2 - φ1) / 2)
	sλ := math.Sin((λ2 - λ1) / 2)
	h := sφ*sφ + cosφ1*cosφ2*sλ*sλ
	if h > 1 { // rounding near the antipode
		h = 1
	}
	return 2 * EarthRadius * math.Asin(math.Sqrt(h))
}

// vec3 is a point of the unit sphere in Cartesian coordinates.
type vec3 struct{ x, y, z float64 }

func unitVec(φ, λ float64) vec3 {
	cosφ := math.Cos(φ)
	return vec3{cosφ * math.Cos(λ), cosφ * math.Sin(λ), math.Sin(φ)}
}

func (a vec3) dot(b vec3) float64 { return a.x*b.x + a.y*b.y + a.z*b.z }

func (a vec3) add(b vec3) vec3 { return vec3{a.x + b.x, a.y + b.y, a.z + b.z} }

func (a vec3) sub(b vec3) vec3 { return vec3{a.x - b.x, a.y - b.y, a.z - b.z} }

func (a vec3) cross(b vec3) vec3 {
	return vec3{a.y*b.z - a.z*b.y, a.z*b.x - a.x*b.z, a.x*b.y - a.y*b.x}
}

func (a vec3) norm() float64 { return math.Sqrt(a.dot(a)) }

// angle returns the angle between a and b in radians, accurate for small angles too.
func angle(a, b vec3) float64 { return math.Atan2(a.cross(b).norm(), a.dot(b)) }

// arcDistance returns the angular distance in radians from p to the shorter great-circle
// arc from a to b (a and b less than π apart).
func arcDistance(p, a, b vec3) float64 {
	// a×b = ½(a+b)×(b-a), but for a short arc a×b loses the digits that the difference
	// b-a keeps: the normal would tilt by 1e-16/|a×b|, a centimetre at resolution 15.
	n := a.add(b).cross(b.sub(a))
	if l := n.norm(); l > 0 {
		n = vec3{n.x / l, n.y / l, n.z / l}
		// The foot of p on the great circle lies on the arc when it is on the inner side of
		// both a and b: (n×a)·p ≥ 0 and (b×n)·p ≥ 0.
		if n.cross(a).dot(p) >= 0 && b.cross(n).dot(p) >= 0 {
			return math.Asin(math.Min(1, math.Abs(n.dot(p))))
		}
	}
	return math.Min(angle(p, a), angle(p, b))
}
