package scope

import (
	"errors"
	"reflect"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
)

func TestParse(t *testing.T) {
	const lab = "category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	tests := []struct {
		name string
		in   string
		want Scope
	}{
		{"v2 read and search", "patient/Observation.rs", Scope{Level: "patient", Type: "Observation", Ops: "rs"}},
		{"v2 every letter", "user/Condition.cruds", Scope{Level: "user", Type: "Condition", Ops: "cruds"}},
		{"v2 one letter", "system/Patient.d", Scope{Level: "system", Type: "Patient", Ops: "d"}},
		{"v2 wildcard type", "patient/*.rs", Scope{Level: "patient", Type: "*", Ops: "rs"}},
		{"v1 read is rs", "patient/Observation.read", Scope{Level: "patient", Type: "Observation", Ops: "rs", V1: true}},
		{"v1 write is cud", "user/*.write", Scope{Level: "user", Type: "*", Ops: "cud", V1: true}},
		{"v1 star is cruds", "patient/*.*", Scope{Level: "patient", Type: "*", Ops: "cruds", V1: true}},
		{"granular query kept as written", "patient/Observation.rs?" + lab,
			Scope{Level: "patient", Type: "Observation", Ops: "rs", Query: lab}},
		{"granular query with several pairs and escapes", "patient/Observation.s?code=http%3A%2F%2Floinc.org%7C1234-5&date=ge2020-01-01",
			Scope{Level: "patient", Type: "Observation", Ops: "s", Query: "code=http%3A%2F%2Floinc.org%7C1234-5&date=ge2020-01-01"}},
		{"granular query with modifier and OR values", "patient/Condition.rs?category:not=a,b",
			Scope{Level: "patient", Type: "Condition", Ops: "rs", Query: "category:not=a,b"}},
		{"launch", "launch", Scope{Name: "launch"}},
		{"launch/patient", "launch/patient", Scope{Name: "launch/patient"}},
		{"launch/encounter", "launch/encounter", Scope{Name: "launch/encounter"}},
		{"openid", "openid", Scope{Name: "openid"}},
		{"fhirUser", "fhirUser", Scope{Name: "fhirUser"}},
		{"profile", "profile", Scope{Name: "profile"}},
		{"offline_access", "offline_access", Scope{Name: "offline_access"}},
		{"online_access", "online_access", Scope{Name: "online_access"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if got.String() != tt.in {
				t.Fatalf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"other OAuth scope is unknown", "email", ErrUnknown},
		{"other launch context is unknown", "launch/imagingstudy", ErrUnknown},
		{"level is case-sensitive", "Patient/Observation.rs", ErrUnknown},
		{"unknown level", "group/Observation.rs", ErrUnknown},
		{"empty token", "", ErrUnknown},
		{"fhirUser is case-sensitive", "fhiruser", ErrUnknown},
		{"out of order ops", "patient/Observation.dus", ErrMalformed},
		{"repeated op", "patient/Observation.rrs", ErrMalformed},
		{"empty ops", "patient/Observation.", ErrMalformed},
		{"no ops", "patient/Observation", ErrMalformed},
		{"unknown op letter", "patient/Observation.rx", ErrMalformed},
		{"upper-case ops", "patient/Observation.RS", ErrMalformed},
		{"v1 word in wrong case", "patient/Observation.Read", ErrMalformed},
		{"lower-case type", "patient/observation.rs", ErrMalformed},
		{"type with digit", "patient/Observation2.rs", ErrMalformed},
		{"empty type", "patient/.rs", ErrMalformed},
		{"type with dot", "patient/Obs.ervation.rs", ErrMalformed},
		{"query with v1 ops", "patient/Observation.read?category=laboratory", ErrMalformed},
		{"empty query", "patient/Observation.rs?", ErrMalformed},
		{"query without =", "patient/Observation.rs?category", ErrMalformed},
		{"query with empty name", "patient/Observation.rs?=laboratory", ErrMalformed},
		{"query with empty value", "patient/Observation.rs?category=", ErrMalformed},
		{"query with empty pair", "patient/Observation.rs?category=a&", ErrMalformed},
		{"query with bad escape", "patient/Observation.rs?code=%zz", ErrMalformed},
		{"query with truncated escape", "patient/Observation.rs?code=a%2", ErrMalformed},
		{"query with plus", "patient/Observation.rs?date=2020-01-01T00:00:00+01:00", ErrMalformed},
		{"query with second ?", "patient/Observation.rs?a=b?c=d", ErrMalformed},
		{"query with two =", "patient/Observation.rs?a=b=c", ErrMalformed},
		{"query name starting with digit", "patient/Observation.rs?1a=b", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse(%q) = %+v, %v; want %v", tt.in, s, err, tt.want)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	scopes, unknown, err := ParseList("  launch/patient openid fhirUser email patient/*.rs patient/*.rs\tpatient/Observation.read offline_access ")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Join(scopes), "launch/patient openid fhirUser patient/*.rs patient/Observation.read offline_access"; got != want {
		t.Errorf("scopes = %q, want %q (each once, unknown dropped)", got, want)
	}
	if !reflect.DeepEqual(unknown, []string{"email"}) {
		t.Errorf("unknown = %q, want [email]", unknown)
	}

	scopes, unknown, err = ParseList("openid patient/Observation.dus foo patient/Condition.sr")
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("malformed scope: err = %v, want ErrMalformed", err)
	}
	if Join(scopes) != "openid" || !reflect.DeepEqual(unknown, []string{"foo"}) {
		t.Errorf("malformed scope: scopes %q unknown %q, want the rest still sorted", Join(scopes), unknown)
	}
}

func TestPermission(t *testing.T) {
	s, _ := Parse("user/MedicationRequest.write")
	p, ok := s.Permission()
	if !ok || p != (fhir.Permission{Level: "user", Type: "MedicationRequest", Ops: "cud"}) {
		t.Errorf("v1 write: Permission() = %+v, %v", p, ok)
	}
	if _, ok := (Scope{Name: OpenID}).Permission(); ok {
		t.Error("openid has a Permission")
	}
}

func TestVersions(t *testing.T) {
	s, _ := Parse("patient/Observation.rs")
	if v1, ok := s.AsV1(); !ok || v1.String() != "patient/Observation.read" {
		t.Errorf("rs AsV1 = %q, %v", v1, ok)
	}
	s, _ = Parse("patient/Observation.r")
	if _, ok := s.AsV1(); ok {
		t.Error("r alone has a v1 word")
	}
	s, _ = Parse("patient/Observation.rs?category=laboratory")
	if _, ok := s.AsV1(); ok {
		t.Error("a granular scope has a v1 form")
	}
	s, _ = Parse("system/*.*")
	if got := s.AsV2().String(); got != "system/*.cruds" {
		t.Errorf("AsV2 of system/*.* = %q", got)
	}
}
