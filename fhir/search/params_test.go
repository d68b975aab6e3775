package search

import (
	"net/url"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// r4 is a handful of real R4 search parameters, with their types and
// reference targets.
type r4 map[string]map[string]Param

var testParams = func() r4 {
	ref := func(code string, targets ...string) Param {
		return Param{Code: code, Type: fhir.TypeReference, Targets: targets}
	}
	p := func(code string, typ fhir.ParamType) Param { return Param{Code: code, Type: typ} }
	codeQuantity := []Param{{Code: "code", Type: fhir.TypeToken}, {Code: "value-quantity", Type: fhir.TypeQuantity}}
	return r4{
		"Resource": {
			"_lastUpdated": p("_lastUpdated", fhir.TypeDate),
			"_tag":         p("_tag", fhir.TypeToken),
			"_security":    p("_security", fhir.TypeToken),
			"_profile":     p("_profile", fhir.TypeURI),
		},
		"Patient": {
			"name":                 p("name", fhir.TypeString),
			"family":               p("family", fhir.TypeString),
			"birthdate":            p("birthdate", fhir.TypeDate),
			"gender":               p("gender", fhir.TypeToken),
			"identifier":           p("identifier", fhir.TypeToken),
			"organization":         ref("organization", "Organization"),
			"general-practitioner": ref("general-practitioner", "Organization", "Practitioner", "PractitionerRole"),
		},
		"Observation": {
			"code":           p("code", fhir.TypeToken),
			"date":           p("date", fhir.TypeDate),
			"patient":        ref("patient", "Patient"),
			"subject":        ref("subject", "Group", "Device", "Patient", "Location"),
			"value-quantity": p("value-quantity", fhir.TypeQuantity),
			"code-value-quantity": {Code: "code-value-quantity", Type: fhir.TypeComposite,
				Components: codeQuantity},
			"component-code-value-quantity": {Code: "component-code-value-quantity", Type: fhir.TypeComposite,
				Components: codeQuantity},
		},
		"Organization":   {"name": p("name", fhir.TypeString)},
		"Location":       {"name": p("name", fhir.TypeString), "near": p("near", fhir.TypeSpecial)},
		"RiskAssessment": {"probability": p("probability", fhir.TypeNumber)},
		"ValueSet":       {"url": p("url", fhir.TypeURI)},
		// R4 lists every resource type as a target of List.item; this
		// copy lists none, which means the same.
		"List": {"item": ref("item")},
	}
}()

func (r r4) Lookup(typ, code string) (Param, bool) {
	if p, ok := r[typ][code]; ok {
		return p, true
	}
	p, ok := r["Resource"][code]
	return p, ok
}

var (
	testNow  = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	testBase = "https://fhir.example.org/r4"
)

// parse runs Parse on a raw query string with the test parameters.
func parse(typ, query string, strict bool) (*Parsed, error) {
	values, err := url.ParseQuery(query)
	if err != nil {
		panic(err)
	}
	return Parse(typ, values, testParams, Options{Strict: strict, Now: testNow, BaseURL: testBase + "/"})
}

func mustParse(t *testing.T, typ, query string) *Parsed {
	t.Helper()
	p, err := parse(typ, query, true)
	if err != nil {
		t.Fatalf("Parse(%s?%s): %v", typ, query, err)
	}
	return p
}

// ms is the Unix millisecond of an RFC 3339 time.
func ms(s string) float64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return float64(t.UnixMilli())
}

func ptr[T any](v T) *T { return &v }
