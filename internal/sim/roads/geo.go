package roads

import "math"

// earthRadiusM is the mean Earth radius in metres used by Distance.
const earthRadiusM = 6371008.8

// metersPerDegLat is the length of one degree of latitude (and of longitude at
// the equator) on the sphere of radius earthRadiusM.
const metersPerDegLat = earthRadiusM * math.Pi / 180

// Point is a WGS84 position in degrees.
type Point struct{ Lat, Lng float64 }

// Distance is the great-circle (haversine) distance between a and b in metres.
func Distance(a, b Point) float64 {
	return haversine(a.Lat*deg, a.Lng*deg, math.Cos(a.Lat*deg), b.Lat*deg, b.Lng*deg, math.Cos(b.Lat*deg))
}

const deg = math.Pi / 180

// haversine takes latitudes and longitudes in radians with the cosines of the
// latitudes precomputed, so that A* can reuse them for every node.
func haversine(lat1, lng1, cos1, lat2, lng2, cos2 float64) float64 {
	sLat := math.Sin((lat2 - lat1) / 2)
	sLng := math.Sin((lng2 - lng1) / 2)
	h := sLat*sLat + cos1*cos2*sLng*sLng
	if h > 1 {
		h = 1
	}
	return 2 * earthRadiusM * math.Asin(math.Sqrt(h))
}

// bearing is the initial great-circle bearing from a to b in degrees [0, 360).
func bearing(a, b Point) float64 {
	lat1, lat2 := a.Lat*deg, b.Lat*deg
	dLng := (b.Lng - a.Lng) * deg
	y := math.Sin(dLng) * math.Cos(lat2)
	x := math.Cos(lat1)*math.Sin(lat2) - math.Sin(lat1)*math.Cos(lat2)*math.Cos(dLng)
	d := math.Atan2(y, x) / deg
	d = math.Mod(d+360, 360)
	if d >= 360 { // Mod of a tiny negative number plus 360 can round to 360
		d = 0
	}
	return d
}

// offset moves p by north and east metres on a local flat approximation,
// accurate for the few kilometres of a city.
func offset(p Point, north, east float64) Point {
	return Point{
		Lat: p.Lat + north/metersPerDegLat,
		Lng: p.Lng + east/(metersPerDegLat*math.Cos(p.Lat*deg)),
	}
}
