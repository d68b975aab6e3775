package synth

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"time"
)

// splitmix64 scrambles a 64-bit value; it turns a seed and a patient's
// position into well-spread PCG state.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// patientRand is the random stream of the patient at position i: it depends
// on the seed and i only, never on how many patients are generated.
func patientRand(seed int64, i int) *rand.Rand {
	s := splitmix64(uint64(seed))
	return rand.New(rand.NewPCG(s, splitmix64(s^splitmix64(uint64(i)))))
}

// seedTag is four letters derived from the seed. It goes into every MRN so
// that Bundles from different seeds never claim the same patient.
func seedTag(seed int64) string {
	x := splitmix64(uint64(seed) ^ 0x6d726e) // "mrn"
	var b [4]byte
	for i := range b {
		b[i] = 'A' + byte(x%26)
		x /= 26
	}
	return string(b[:])
}

const hexDigits = "0123456789abcdef"

// newURN is a urn:uuid: with a random (version 4, RFC 4122 variant) UUID.
func newURN(r *rand.Rand) string {
	var u [16]byte
	a, b := r.Uint64(), r.Uint64()
	for i := range 8 {
		u[i] = byte(a >> (8 * i))
		u[8+i] = byte(b >> (8 * i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	out := make([]byte, 0, 45)
	out = append(out, "urn:uuid:"...)
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexDigits[c>>4], hexDigits[c&0x0f])
	}
	return string(out)
}

// normal draws from a normal distribution clamped to [lo, hi].
func normal(r *rand.Rand, mean, sd, lo, hi float64) float64 {
	return min(max(mean+sd*r.NormFloat64(), lo), hi)
}

// decimal formats v with exactly places decimals, as FHIR decimal text.
func decimal(v float64, places int) json.Number {
	return json.Number(strconv.FormatFloat(v, 'f', places, 64))
}

// dateTime formats t as a FHIR dateTime (also a valid instant): seconds and
// a time zone, Z for UTC.
func dateTime(t time.Time) string { return t.Format(time.RFC3339) }

func date(t time.Time) string { return t.Format(time.DateOnly) }

// clinicTime is a time during office hours (08:00 to 16:00) on t's day.
func clinicTime(r *rand.Rand, t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 8, 0, 0, 0, t.Location()).Add(time.Duration(r.IntN(8*60)) * time.Minute)
}

func minutes(n int) time.Duration { return time.Duration(n) * time.Minute }
