package search

import (
	"reflect"
	"strings"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
)

func TestParseResultParameters(t *testing.T) {
	tests := []struct {
		name  string
		typ   string
		query string
		check func(p *Parsed) any // what is compared
		want  any
	}{
		{"_count defaults to 20", "Patient", "",
			func(p *Parsed) any { return [2]int{p.Count, p.Query.Limit} }, [2]int{20, 20}},
		{"_count sets the limit", "Patient", "_count=50",
			func(p *Parsed) any { return [2]int{p.Count, p.Query.Limit} }, [2]int{50, 50}},
		{"_count=0 asks for the total only", "Patient", "_count=0",
			func(p *Parsed) any { return p.Count }, 0},
		{"_count above 1000 is capped", "Patient", "_count=5000",
			func(p *Parsed) any { return [2]int{p.Count, p.Query.Limit} }, [2]int{1000, 1000}},
		{"_count beyond an int is capped", "Patient", "_count=99999999999999999999999",
			func(p *Parsed) any { return p.Count }, 1000},
		{"_offset", "Patient", "_offset=40",
			func(p *Parsed) any { return p.Query.Offset }, 40},
		{"_sort with several keys and -", "Observation", "_sort=-date,code,_lastUpdated",
			func(p *Parsed) any { return p.Query.Sort }, []fhir.SortKey{
				{Param: "date", Type: "date", Desc: true}, {Param: "code", Type: "token"}, {Param: "_lastUpdated", Type: "date"}}},
		{"_summary", "Patient", "_summary=count",
			func(p *Parsed) any { return p.Summary }, "count"},
		{"_total", "Patient", "_total=accurate",
			func(p *Parsed) any { return p.Total }, "accurate"},
		{"_elements", "Patient", "_elements=identifier,name&_elements=birthDate",
			func(p *Parsed) any { return p.Elements }, []string{"identifier", "name", "birthDate"}},
		{"_type", "", "_type=Patient,Observation",
			func(p *Parsed) any { return p.Types }, []string{"Patient", "Observation"}},
		{"_include", "Observation", "_include=Observation:subject:Patient&_include=Observation:patient",
			func(p *Parsed) any { return p.Include }, []Include{
				{Source: "Observation", Param: "subject", Target: "Patient"}, {Source: "Observation", Param: "patient"}}},
		{"_include:iterate", "Observation", "_include:iterate=Patient:general-practitioner",
			func(p *Parsed) any { return p.Include }, []Include{{Source: "Patient", Param: "general-practitioner", Iterate: true}}},
		{"_include wildcard", "Observation", "_include=*",
			func(p *Parsed) any { return p.Include }, []Include{{Source: "*", Param: "*"}}},
		{"_revinclude", "Patient", "_revinclude=Observation:subject",
			func(p *Parsed) any { return p.RevInclude }, []Include{{Source: "Observation", Param: "subject"}}},
		{"_revinclude:iterate", "Patient", "_revinclude:iterate=Observation:patient",
			func(p *Parsed) any { return p.RevInclude }, []Include{{Source: "Observation", Param: "patient", Iterate: true}}},
		{"_format and _pretty are the HTTP layer's", "Patient", "_format=json&_pretty=true",
			func(p *Parsed) any { return len(p.Unknown) + len(p.Query.Clauses) }, 0},
		{"_id is a list of ids", "Patient", "_id=a,b.1",
			func(p *Parsed) any { return p.Query.IDs }, []string{"a", "b.1"}},
		{"repeated _id intersects", "Patient", "_id=a,b&_id=b,c",
			func(p *Parsed) any { return p.Query.IDs }, []string{"b"}},
		{"_id lists with nothing in common find nothing", "Patient", "_id=a&_id=b",
			func(p *Parsed) any { return p.Query.IDs }, []string{""}},
		{"the query names its type", "Observation", "code=x",
			func(p *Parsed) any { return p.Query.Type }, "Observation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.check(mustParse(t, tt.typ, tt.query))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s?%s: got %+v, want %+v", tt.typ, tt.query, got, tt.want)
			}
		})
	}
}

func TestParseChains(t *testing.T) {
	name := func(v string) []fhir.Clause {
		return []fhir.Clause{{Param: "name", Type: "string", Values: []fhir.Value{{Code: v}}}}
	}
	t.Run("chain with a type modifier", func(t *testing.T) {
		p := mustParse(t, "Observation", "subject:Patient.name=Sm%C3%ADth")
		want := []Chain{{Param: "subject", Targets: []*Parsed{{Query: fhir.Query{Type: "Patient", Clauses: name("smith")}}}}}
		if !reflect.DeepEqual(p.Chains, want) {
			t.Errorf("got %+v, want %+v", p.Chains, want)
		}
		if len(p.Query.Clauses) != 0 {
			t.Errorf("a chain adds no clause of its own: %+v", p.Query.Clauses)
		}
	})
	t.Run("chain without a modifier: every target that knows the parameter", func(t *testing.T) {
		p := mustParse(t, "Observation", "subject.name=smith")
		want := []Chain{{Param: "subject", Targets: []*Parsed{
			{Query: fhir.Query{Type: "Patient", Clauses: name("smith")}},
			{Query: fhir.Query{Type: "Location", Clauses: name("smith")}}}}}
		if !reflect.DeepEqual(p.Chains, want) {
			t.Errorf("got %+v, want %+v", p.Chains, want)
		}
	})
	t.Run("chain with one target", func(t *testing.T) {
		p := mustParse(t, "Observation", "patient.birthdate=2000")
		if len(p.Chains) != 1 || len(p.Chains[0].Targets) != 1 || p.Chains[0].Targets[0].Query.Type != "Patient" {
			t.Fatalf("got %+v", p.Chains)
		}
	})
	t.Run("chain of several levels", func(t *testing.T) {
		p := mustParse(t, "Observation", "patient.organization.name=acme")
		want := []Chain{{Param: "patient", Targets: []*Parsed{{
			Query: fhir.Query{Type: "Patient"},
			Chains: []Chain{{Param: "organization", Targets: []*Parsed{
				{Query: fhir.Query{Type: "Organization", Clauses: name("acme")}}}}}}}}}
		if !reflect.DeepEqual(p.Chains, want) {
			t.Errorf("got %+v, want %+v", p.Chains, want)
		}
	})
	t.Run("chain to _id", func(t *testing.T) {
		p := mustParse(t, "Observation", "patient._id=a,b")
		if got := p.Chains[0].Targets[0].Query.IDs; !reflect.DeepEqual(got, []string{"a", "b"}) {
			t.Errorf("got %v", got)
		}
	})
	t.Run("repeated chain is AND", func(t *testing.T) {
		p := mustParse(t, "Observation", "patient.name=a&patient.name=b")
		if len(p.Chains) != 2 {
			t.Errorf("got %d chains, want 2", len(p.Chains))
		}
	})
	t.Run("_has", func(t *testing.T) {
		p := mustParse(t, "Patient", "_has:Observation:patient:code=1234-5")
		want := []Has{{Param: "patient", Inner: &Parsed{Query: fhir.Query{Type: "Observation", Clauses: []fhir.Clause{
			{Param: "code", Type: "token", Values: []fhir.Value{{AnySystem: true, Code: "1234-5"}}}}}}}}
		if !reflect.DeepEqual(p.Has, want) {
			t.Errorf("got %+v, want %+v", p.Has, want)
		}
	})
	t.Run("nested _has", func(t *testing.T) {
		p := mustParse(t, "Organization", "_has:Patient:organization:_has:Observation:patient:code=x")
		if len(p.Has) != 1 || len(p.Has[0].Inner.Has) != 1 || p.Has[0].Inner.Has[0].Inner.Query.Type != "Observation" {
			t.Fatalf("got %+v", p.Has)
		}
	})
	t.Run("_has ending in a chain", func(t *testing.T) {
		p := mustParse(t, "Patient", "_has:Observation:patient:subject:Patient.name=x")
		if len(p.Has) != 1 || len(p.Has[0].Inner.Chains) != 1 {
			t.Fatalf("got %+v", p.Has)
		}
	})
	t.Run("inner queries have no limit", func(t *testing.T) {
		p := mustParse(t, "Patient", "_has:Observation:patient:code=x")
		if p.Has[0].Inner.Query.Limit != 0 || p.Has[0].Inner.Count != 0 {
			t.Errorf("inner limit %d, count %d", p.Has[0].Inner.Query.Limit, p.Has[0].Inner.Count)
		}
	})
}

func TestParseUnknown(t *testing.T) {
	tests := []struct {
		name, typ, query string
	}{
		{"unknown parameter", "Patient", "colour=blue"},
		{"unknown parameter with a modifier", "Patient", "colour:exact=blue"},
		{"special parameter", "Location", "near=42|-71|10|km"},
		{"chain ending in an unknown parameter", "Observation", "patient.colour=blue"},
		{"chain through an unknown parameter", "Observation", "colour.name=blue"},
		{"_has on an unknown parameter", "Patient", "_has:Observation:colour:code=x"},
		{"_has ending in an unknown parameter", "Patient", "_has:Observation:patient:colour=x"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is ignored when lenient", func(t *testing.T) {
			p, err := parse(tt.typ, tt.query+"&"+tt.query, false)
			if err != nil {
				t.Fatal(err)
			}
			key, _, _ := strings.Cut(tt.query, "=")
			if !reflect.DeepEqual(p.Unknown, []string{key}) {
				t.Errorf("Unknown = %v, want [%s]", p.Unknown, key)
			}
			if len(p.Query.Clauses)+len(p.Chains)+len(p.Has) != 0 {
				t.Errorf("an ignored parameter left criteria: %+v", p)
			}
		})
		t.Run(tt.name+" is refused when strict", func(t *testing.T) {
			_, err := parse(tt.typ, tt.query, true)
			checkError(t, err, fhir.CodeInvalid, 400)
		})
	}
}
