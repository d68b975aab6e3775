package scope

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"patient/Observation.rs", "patient/*.rs", "user/*.cruds", "system/Patient.d",
		"patient/Observation.read", "user/*.write", "patient/*.*",
		"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
		"patient/Observation.s?code=http%3A%2F%2Floinc.org%7C1234-5&date=ge2020-01-01",
		"patient/Condition.rs?category:not=a,b", "patient/*.rs?_security=R",
		"launch", "launch/patient", "launch/encounter", "openid", "fhirUser", "profile",
		"offline_access", "online_access",
		"", "email", "patient/Observation.dus", "patient/Observation.rrs", "patient/Observation.",
		"patient/observation.rs", "patient/Observation.read?x=y", "patient/Observation.rs?",
		"patient/Observation.rs?=x", "patient/Observation.rs?a=%2", "patient/Observation.rs?a=b&",
		"user/.rs", "system/*.", "patient/*.s?a=b?c", "patient//.r", "patient/Obs\x00.r",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrUnknown) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q): error %v wraps neither ErrUnknown nor ErrMalformed", in, err)
			}
			return
		}
		out := s.String()
		if out != in {
			t.Fatalf("Parse(%q).String() = %q", in, out)
		}
		again, err := Parse(out)
		if err != nil || again != s {
			t.Fatalf("Parse(%q) = %+v, %v; want %+v", out, again, err, s)
		}
		if !s.IsResource() {
			return
		}
		if s.Ops == "" || !orderedSubset(s.Ops, allOps) {
			t.Fatalf("Parse(%q).Ops = %q, not an ordered subset of cruds", in, s.Ops)
		}
		if !s.Covers(s) || !s.Covers(s.AsV2()) || !s.AsV2().Covers(s) {
			t.Fatalf("%q does not cover itself in both versions", in)
		}
		if v2 := s.AsV2().String(); !Strategy([]string{in}, v2) {
			t.Fatalf("Strategy([%q], %q) = false", in, v2)
		}
		_ = Describe(s)
	})
}

// orderedSubset reports whether sub's letters appear in all, once each, in order.
func orderedSubset(sub, all string) bool {
	for i := 0; i < len(sub); i++ {
		j := strings.IndexByte(all, sub[i])
		if j < 0 {
			return false
		}
		all = all[j+1:]
	}
	return true
}
