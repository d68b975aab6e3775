package scope

import (
	"strings"
	"testing"
)

const (
	labQuery   = "category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	vitalQuery = "category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"
)

func TestStrategy(t *testing.T) {
	tests := []struct {
		name      string
		granted   string // space-separated
		requested string
		want      bool
	}{
		// Wildcards and ops.
		{"patient/*.rs covers a type's rs", "patient/*.rs", "patient/Observation.rs", true},
		{"patient/*.rs covers a type's r alone", "patient/*.rs", "patient/Observation.r", true},
		{"patient/*.rs covers a granular request", "patient/*.rs", "patient/Observation.rs?" + labQuery, true},
		{"patient/*.rs covers itself", "patient/*.rs", "patient/*.rs", true},
		{"patient/*.cruds covers any patient-level scope", "patient/*.cruds", "patient/MedicationRequest.cud", true},
		{"patient/*.cruds covers patient/*.*", "patient/*.cruds", "patient/*.*", true},
		{"a type covers fewer ops of itself", "patient/Observation.cruds", "patient/Observation.s", true},
		{"patient/*.rs does not cover write", "patient/*.rs", "patient/Observation.rsu", false},
		{"patient/*.rs does not cover create", "patient/*.rs", "patient/Observation.c", false},
		{"a type does not cover another type", "patient/Condition.rs", "patient/Observation.rs", false},
		{"a type does not cover the wildcard", "patient/Observation.rs", "patient/*.rs", false},
		{"r does not cover rs", "patient/Observation.r", "patient/Observation.rs", false},
		{"ops in separate grants do not add up", "patient/Observation.r patient/Observation.s", "patient/Observation.rs", false},

		// v1 and v2 are the same permissions.
		{"v1 read covers v2 rs", "patient/Observation.read", "patient/Observation.rs", true},
		{"v2 rs covers v1 read", "patient/Observation.rs", "patient/Observation.read", true},
		{"v1 read covers v2 s", "patient/Observation.read", "patient/Observation.s", true},
		{"v1 read does not cover v1 write", "patient/Observation.read", "patient/Observation.write", false},
		{"v1 write covers v2 cud", "patient/*.write", "patient/Condition.cud", true},
		{"v1 write does not cover read", "patient/*.write", "patient/Condition.r", false},
		{"v1 star covers v2 cruds", "user/*.*", "user/Observation.cruds", true},
		{"v2 cud covers v1 write", "user/Observation.cud", "user/Observation.write", true},
		{"v1 read covers a granular v2 request", "patient/Observation.read", "patient/Observation.rs?" + labQuery, true},

		// Levels never cover each other.
		{"user does not cover patient", "user/*.cruds", "patient/Observation.r", false},
		{"patient does not cover user", "patient/*.cruds", "user/Observation.r", false},
		{"system does not cover patient", "system/*.cruds", "patient/Observation.r", false},
		{"system does not cover user", "system/*.cruds", "user/Observation.r", false},
		{"user does not cover system", "user/*.cruds", "system/Observation.r", false},
		{"system covers system", "system/*.rs", "system/Observation.rs", true},

		// Granular scopes.
		{"granular covers the same query", "patient/Observation.rs?" + labQuery, "patient/Observation.rs?" + labQuery, true},
		{"granular covers fewer ops with the same query", "patient/Observation.rs?" + labQuery, "patient/Observation.s?" + labQuery, true},
		{"granular does not cover the whole type", "patient/Observation.rs?" + labQuery, "patient/Observation.rs", false},
		{"granular does not cover another category", "patient/Observation.rs?" + labQuery, "patient/Observation.rs?" + vitalQuery, false},
		{"granular does not cover a narrower query", "patient/Observation.rs?category=laboratory", "patient/Observation.rs?category=laboratory&code=x", false},
		{"granular ignores pair order", "patient/Observation.rs?a=1&b=2", "patient/Observation.rs?b=2&a=1", true},
		{"granular ignores escapes", "patient/Observation.rs?" + labQuery, "patient/Observation.rs?category=http%3A%2F%2Fterminology.hl7.org%2FCodeSystem%2Fobservation-category%7Claboratory", true},
		{"granular wildcard covers a type with that query", "patient/*.rs?_security=N", "patient/Condition.r?_security=N", true},
		{"granular values are case-sensitive", "patient/Observation.rs?category=laboratory", "patient/Observation.rs?category=Laboratory", false},
		{"granular does not cover another type", "patient/Observation.rs?category=laboratory", "patient/Condition.rs?category=laboratory", false},

		// Non-resource scopes cover only themselves.
		{"openid covers openid", "openid fhirUser", "openid", true},
		{"fhirUser covers fhirUser", "openid fhirUser", "fhirUser", true},
		{"launch does not cover launch/patient", "launch", "launch/patient", false},
		{"launch/patient does not cover launch", "launch/patient", "launch", false},
		{"offline_access does not cover online_access", "offline_access", "online_access", false},
		{"patient/*.cruds does not cover launch/patient", "patient/*.cruds", "launch/patient", false},
		{"openid does not cover a resource scope", "openid", "patient/Patient.r", false},

		// What does not parse.
		{"an unknown request is never covered", "email", "email", false},
		{"a malformed request is never covered", "patient/Observation.dus", "patient/Observation.dus", false},
		{"malformed grants are ignored", "patient/*.sr patient/Observation.rs", "patient/Observation.r", true},
		{"nothing granted covers nothing", "", "openid", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Strategy(strings.Fields(tt.granted), tt.requested); got != tt.want {
				t.Fatalf("Strategy(%q, %q) = %v, want %v", tt.granted, tt.requested, got, tt.want)
			}
		})
	}
}

// The fosite ScopeStrategy type, written out so the test proves the
// signature without importing fosite.
var _ func(haystack []string, needle string) bool = Strategy

func TestSubset(t *testing.T) {
	original := strings.Fields("launch/patient openid fhirUser offline_access patient/*.read patient/Condition.rs?category=problem-list-item")
	tests := []struct {
		name      string
		requested string
		want      bool
	}{
		{"the same grant", strings.Join(original, " "), true},
		{"no scope keeps the grant", "", true},
		{"one type out of the wildcard", "patient/Observation.rs", true},
		{"v2 form of a v1 grant", "patient/*.rs offline_access", true},
		{"dropping offline_access", "openid fhirUser patient/*.read", true},
		{"the granular scope alone", "patient/Condition.r?category=problem-list-item", true},
		{"more ops than granted", "patient/Observation.cruds", false},
		{"a scope never granted", "online_access", false},
		{"another level", "user/Observation.rs", false},
		{"a granular scope's type without its query", "patient/Condition.rs launch/patient", true}, // covered by patient/*.read
		{"an unknown scope", "openid email", false},
		{"a malformed scope", "patient/Observation.sr", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Subset(original, strings.Fields(tt.requested)); got != tt.want {
				t.Fatalf("Subset(%q) = %v, want %v", tt.requested, got, tt.want)
			}
		})
	}
	if Subset(strings.Fields("patient/Condition.rs?category=problem-list-item"), []string{"patient/Condition.rs"}) {
		t.Error("a granular grant refreshed into the whole type")
	}
}

func TestNarrow(t *testing.T) {
	tests := []struct {
		name      string
		requested string
		kept      string
		want      string
	}{
		{"everything kept",
			"launch/patient openid fhirUser patient/*.rs", "launch/patient openid fhirUser patient/*.rs",
			"launch/patient openid fhirUser patient/*.rs"},
		{"types picked out of a v2 wildcard stay v2",
			"patient/*.rs", "patient/Observation.rs patient/Condition.rs",
			"patient/Observation.rs patient/Condition.rs"},
		{"types picked out of a v1 wildcard come back v1",
			"patient/*.read openid", "patient/Observation.rs patient/Condition.read openid",
			"patient/Observation.read patient/Condition.read openid"},
		{"v1 kept under a v2 request comes back v2",
			"patient/Observation.rs", "patient/Observation.read",
			"patient/Observation.rs"},
		{"ops without a v1 word stay v2 under a v1 request",
			"patient/*.read", "patient/Observation.r",
			"patient/Observation.r"},
		{"a granular scope out of a v1 request is v2",
			"patient/Observation.read", "patient/Observation.rs?" + labQuery,
			"patient/Observation.rs?" + labQuery},
		{"scopes not requested are dropped",
			"patient/Observation.rs openid", "patient/*.rs user/Observation.rs openid offline_access patient/Observation.rsu",
			"openid"},
		{"unknown and malformed kept tokens are dropped",
			"openid patient/*.rs", "email openid patient/Observation.dus",
			"openid"},
		{"duplicates are granted once",
			"patient/*.read", "patient/Observation.rs patient/Observation.read",
			"patient/Observation.read"},
		{"nothing kept grants nothing",
			"openid patient/*.rs", "",
			""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(Narrow(strings.Fields(tt.requested), strings.Fields(tt.kept)), " ")
			if got != tt.want {
				t.Fatalf("Narrow(%q, %q) = %q, want %q", tt.requested, tt.kept, got, tt.want)
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	got := Permissions(strings.Fields("launch/patient openid patient/*.read user/Observation.cud?" + labQuery + " email patient/Observation.dus patient/*.rs system/Patient.*"))
	want := []string{
		"patient/*.rs",
		"user/Observation.cud?" + labQuery,
		"system/Patient.cruds",
	}
	if len(got) != len(want) {
		t.Fatalf("Permissions = %+v, want %q", got, want)
	}
	for i, p := range got {
		s := Scope{Level: p.Level, Type: p.Type, Ops: p.Ops, Query: p.Query}
		if s.String() != want[i] {
			t.Errorf("Permissions[%d] = %+v, want %q", i, p, want[i])
		}
	}
	if Permissions(strings.Fields("openid fhirUser launch")) != nil {
		t.Error("non-resource scopes gave permissions")
	}
}

func TestScopesSupported(t *testing.T) {
	got := ScopesSupported()
	seen := map[string]bool{}
	for _, s := range got {
		if _, err := Parse(s); err != nil {
			t.Errorf("advertised %q does not parse: %v", s, err)
		}
		if seen[s] {
			t.Errorf("%q advertised twice", s)
		}
		seen[s] = true
	}
	for _, s := range []string{"launch", "launch/patient", "openid", "fhirUser", "offline_access", "online_access",
		"patient/*.rs", "user/*.rs", "system/*.rs", "patient/*.cruds", "patient/*.read", "system/*.read"} {
		if !seen[s] {
			t.Errorf("%q not advertised", s)
		}
	}
}
