package searchparam

import (
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/oncofhir/oncofhir/conformance"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/search"
)

func TestEveryParameterIsRegisteredOrReported(t *testing.T) {
	r := registry(t)
	defs, err := conformance.SearchParameters()
	if err != nil {
		t.Fatal(err)
	}
	reported := map[[2]string]bool{}
	for _, u := range r.Unsupported() {
		reported[[2]string{u.Code, u.Base}] = true
	}
	types := conformance.ResourceTypes()
	registered := 0
	for _, d := range defs {
		for _, base := range d.Base {
			if reported[[2]string{d.Code, base}] {
				for _, typ := range expand(base, types) {
					if _, ok := r.Lookup(typ, d.Code); ok {
						t.Errorf("%s %s: both registered and reported unsupported", typ, d.Code)
					}
				}
				continue
			}
			for _, typ := range expand(base, types) {
				p, ok := r.Lookup(typ, d.Code)
				if !ok {
					t.Errorf("%s %s (%s): neither registered nor reported", typ, d.Code, d.URL)
					continue
				}
				registered++
				if p.Type != fhir.ParamType(d.Type) || !slices.Equal(p.Targets, d.Target) || len(p.Components) != len(d.Component) {
					t.Errorf("%s %s: looked up %+v, defined %+v", typ, d.Code, p, d)
				}
			}
		}
	}
	t.Logf("%d parameters registered over %d types, %d reported", registered, len(types), len(r.Unsupported()))
}

func expand(base string, types []string) []string {
	switch base {
	case "Resource":
		return types
	case "DomainResource":
		return slices.DeleteFunc(slices.Clone(types), func(t string) bool {
			return t == "Bundle" || t == "Binary" || t == "Parameters"
		})
	}
	return []string{base}
}

func TestUnsupported(t *testing.T) {
	var got [][2]string
	for _, u := range registry(t).Unsupported() {
		if u.Reason == "" {
			t.Errorf("%s %s: no reason", u.Base, u.Code)
		}
		got = append(got, [2]string{u.Base, u.Code})
	}
	want := [][2]string{
		{"Bundle", "composition"}, {"Bundle", "message"},
		{"DomainResource", "_text"},
		{"InsurancePlan", "phonetic"},
		{"Location", "near"},
		{"Organization", "phonetic"}, {"Patient", "phonetic"}, {"Person", "phonetic"}, {"Practitioner", "phonetic"},
		{"RelatedPerson", "phonetic"},
		{"Resource", "_content"}, {"Resource", "_query"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unsupported:\n got  %v\n want %v", got, want)
	}
}

func TestLookup(t *testing.T) {
	r := registry(t)
	var _ search.Params = r
	tests := []struct {
		name      string
		typ, code string
		want      search.Param
		found     bool
	}{
		{"base parameter on any type", "Observation", "_lastUpdated", search.Param{Code: "_lastUpdated", Type: fhir.TypeDate}, true},
		{"base parameter across types", "", "_tag", search.Param{Code: "_tag", Type: fhir.TypeToken}, true},
		{"type parameter across types", "", "name", search.Param{}, false},
		{"string", "Patient", "family", search.Param{Code: "family", Type: fhir.TypeString}, true},
		{"reference with targets", "Observation", "encounter",
			// The targets are those of the definition, shared by its bases.
			search.Param{Code: "encounter", Type: fhir.TypeReference, Targets: []string{"Encounter", "EpisodeOfCare"}}, true},
		{"composite with components", "Observation", "code-value-quantity", search.Param{
			Code: "code-value-quantity", Type: fhir.TypeComposite,
			Components: []search.Param{{Code: "code", Type: fhir.TypeToken}, {Code: "value-quantity", Type: fhir.TypeQuantity}},
		}, true},
		{"composite with a reference part", "DocumentReference", "relationship", search.Param{
			Code: "relationship", Type: fhir.TypeComposite,
			Components: []search.Param{
				{Code: "relatesto", Type: fhir.TypeReference, Targets: []string{"DocumentReference"}},
				{Code: "relation", Type: fhir.TypeToken},
			},
		}, true},
		{"special", "Location", "near", search.Param{}, false},
		{"phonetic", "Patient", "phonetic", search.Param{}, false},
		{"DomainResource parameter on Bundle", "Bundle", "_text", search.Param{}, false},
		{"another type's parameter", "Patient", "code", search.Param{}, false},
		{"unknown type", "Nothing", "_id", search.Param{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := r.Lookup(tt.typ, tt.code)
			if ok != tt.found || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Lookup(%q, %q) = %+v, %v; want %+v, %v", tt.typ, tt.code, got, ok, tt.want, tt.found)
			}
		})
	}
}

func TestParams(t *testing.T) {
	r := registry(t)
	ps := r.Params("Patient")
	if !sort.SliceIsSorted(ps, func(i, j int) bool { return ps[i].Code < ps[j].Code }) {
		t.Error("not sorted by code")
	}
	byCode := map[string]Def{}
	for _, p := range ps {
		byCode[p.Code] = p
	}
	for _, code := range []string{"_id", "_lastUpdated", "_profile", "_security", "_source", "_tag", "birthdate", "name", "identifier", "general-practitioner"} {
		if _, ok := byCode[code]; !ok {
			t.Errorf("Patient lacks %s", code)
		}
	}
	if _, ok := byCode["phonetic"]; ok {
		t.Error("Patient advertises phonetic")
	}
	want := Def{
		Code:          "birthdate",
		Definition:    "http://hl7.org/fhir/SearchParameter/individual-birthdate",
		Type:          fhir.TypeDate,
		Documentation: "The patient's date of birth",
	}
	if got := byCode["birthdate"]; got != want {
		t.Errorf("birthdate = %+v, want %+v", got, want)
	}
	if got := len(ps); got != 28 { // 6 of every resource, 22 of Patient's own but phonetic
		t.Errorf("Patient has %d parameters, want 28", got)
	}
	if r.Params("Nothing") != nil {
		t.Error("Params of an unknown type")
	}
}

func TestBranchesFor(t *testing.T) {
	tests := []struct{ expr, base, want string }{
		{"Patient.birthDate | Person.birthDate | RelatedPerson.birthDate", "Person", "Person.birthDate"},
		{"(ActivityDefinition.useContext.value as Quantity) | (ActivityDefinition.useContext.value as Range)", "ActivityDefinition",
			"(ActivityDefinition.useContext.value as Quantity) | (ActivityDefinition.useContext.value as Range)"},
		{"AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient) | Observation.subject.where(resolve() is Patient)", "CarePlan",
			"CarePlan.subject.where(resolve() is Patient)"},
		{"Observation | Observation.component", "Observation", "Observation | Observation.component"},
		{"Resource.meta.tag", "Resource", "Resource.meta.tag"},
		{"Patient.telecom.where(system='a|b') | Person.telecom", "Patient", "Patient.telecom.where(system='a|b')"},
		// An operator looser than '|' at the top level: kept whole.
		{"Patient.deceased.exists() and Patient.deceased != false", "Patient", "Patient.deceased.exists() and Patient.deceased != false"},
		{"Patient.a = Patient.b | Person.c", "Patient", "Patient.a = Patient.b | Person.c"},
		// A branch that does not start with a type: kept whole.
		{"%resource.x | Patient.y", "Patient", "%resource.x | Patient.y"},
	}
	for _, tt := range tests {
		if got := branchesFor(tt.expr, tt.base); got != tt.want {
			t.Errorf("branchesFor(%q, %s) = %q, want %q", tt.expr, tt.base, got, tt.want)
		}
	}
}
