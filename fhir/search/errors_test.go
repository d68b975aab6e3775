package search

import (
	"errors"
	"net/url"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

func checkError(t *testing.T, err error, code models.IssueType, status int) *fhir.Error {
	t.Helper()
	var fe *fhir.Error
	if !errors.As(err, &fe) {
		t.Fatalf("got %v, want a *fhir.Error", err)
	}
	if fe.Code != code || fe.HTTPStatus() != status {
		t.Errorf("got %s %d (%s), want %s %d", fe.Code.Code(), fe.HTTPStatus(), fe.Diagnostics, code.Code(), status)
	}
	return fe
}

// Malformed values are refused whether or not the client asked for strict
// handling.
func TestParseErrors(t *testing.T) {
	notSupported := fhir.CodeNotSupported
	tests := []struct {
		name  string
		typ   string
		query string
		param string // Expression
		code  models.IssueType
	}{
		{"empty value", "Patient", "name=", "name", fhir.CodeInvalid},
		{"empty alternative", "Patient", "name=a,,b", "name", fhir.CodeInvalid},
		{"value folding to nothing", "Patient", "name=%20%20", "name", fhir.CodeInvalid},
		{"bad date", "Patient", "birthdate=2024-13-01", "birthdate", fhir.CodeInvalid},
		{"date that is not a date", "Patient", "birthdate=yesterday", "birthdate", fhir.CodeInvalid},
		{"unknown prefix", "Patient", "birthdate=xx2024", "birthdate", fhir.CodeInvalid},
		{"prefix in capitals", "Patient", "birthdate=GT2024", "birthdate", fhir.CodeInvalid},
		{"prefix without a value", "RiskAssessment", "probability=gt", "probability", fhir.CodeInvalid},
		{"bad number", "RiskAssessment", "probability=1,5x", "probability", fhir.CodeInvalid},
		{"number that overflows", "RiskAssessment", "probability=1e999", "probability", fhir.CodeInvalid},
		{"not-a-number words", "RiskAssessment", "probability=NaN", "probability", fhir.CodeInvalid},
		{"quantity with two parts", "Observation", "value-quantity=5|mg", "value-quantity", fhir.CodeInvalid},
		{"quantity with a system and no code", "Observation", "value-quantity=5|http://unitsofmeasure.org|", "value-quantity", fhir.CodeInvalid},
		{"token with two bars", "Observation", "code=a|b|c", "code", fhir.CodeInvalid},
		{"token of a lone bar", "Observation", "code=|", "code", fhir.CodeInvalid},
		{":of-type without a value", "Patient", "identifier:of-type=sys|MR", "identifier:of-type", fhir.CodeInvalid},
		{":missing not a boolean", "Patient", "name:missing=yes", "name:missing", fhir.CodeInvalid},
		{"unknown modifier for a string", "Patient", "name:text=x", "name:text", fhir.CodeInvalid},
		{"unknown modifier for a date", "Patient", "birthdate:exact=2020", "birthdate:exact", fhir.CodeInvalid},
		{"unknown modifier for a token", "Patient", "gender:contains=f", "gender:contains", fhir.CodeInvalid},
		{"token :in is not supported", "Observation", "code:in=http://example.org/vs", "code:in", notSupported},
		{"token :not-in is not supported", "Observation", "code:not-in=http://example.org/vs", "code:not-in", notSupported},
		{"token :above is not supported", "Observation", "code:above=x", "code:above", notSupported},
		{"token :below is not supported", "Observation", "code:below=x", "code:below", notSupported},
		{"reference :below is not supported", "Observation", "subject:below=Patient/1", "subject:below", notSupported},
		{"reference that is not one", "Observation", "subject=Patient/a/b", "subject", fhir.CodeInvalid},
		{"reference to a type the parameter cannot hold", "Observation", "patient=Group/1", "patient", fhir.CodeInvalid},
		{"type modifier the parameter cannot hold", "Observation", "patient:Group=1", "patient:Group", fhir.CodeInvalid},
		{"bad id in a reference", "Observation", "subject=a%20b", "subject", fhir.CodeInvalid},
		{"composite with too few parts", "Observation", "code-value-quantity=8480-6", "code-value-quantity", fhir.CodeInvalid},
		{"composite with a bad part", "Observation", "code-value-quantity=8480-6$big", "code-value-quantity", fhir.CodeInvalid},
		{"bad _id", "Patient", "_id=a%20b", "_id", fhir.CodeInvalid},
		{"_id with a modifier", "Patient", "_id:not=a", "_id:not", fhir.CodeInvalid},
		{"_count not a number", "Patient", "_count=ten", "_count", fhir.CodeInvalid},
		{"_count negative", "Patient", "_count=-1", "_count", fhir.CodeInvalid},
		{"_count twice", "Patient", "_count=1&_count=2", "_count", fhir.CodeInvalid},
		{"_offset negative", "Patient", "_offset=-5", "_offset", fhir.CodeInvalid},
		{"unknown sort parameter", "Patient", "_sort=colour", "_sort", fhir.CodeInvalid},
		{"empty sort key", "Patient", "_sort=name,", "_sort", fhir.CodeInvalid},
		{"sort by a composite", "Observation", "_sort=code-value-quantity", "_sort", fhir.CodeInvalid},
		{"_summary unknown", "Patient", "_summary=some", "_summary", fhir.CodeInvalid},
		{"_total unknown", "Patient", "_total=all", "_total", fhir.CodeInvalid},
		{"_type not a type", "", "_type=patient", "_type", fhir.CodeInvalid},
		{"_elements not an element", "Patient", "_elements=name%3Bdrop", "_elements", fhir.CodeInvalid},
		{"_include of a non-reference", "Observation", "_include=Observation:code", "_include", fhir.CodeInvalid},
		{"_include malformed", "Observation", "_include=subject", "_include", fhir.CodeInvalid},
		{"_include with an unknown modifier", "Observation", "_include:deep=Observation:subject", "_include:deep", fhir.CodeInvalid},
		{"_include to a type the parameter cannot hold", "Observation", "_include=Observation:patient:Group", "_include", fhir.CodeInvalid},
		{"chain through a non-reference", "Patient", "name.family=x", "name.family", fhir.CodeInvalid},
		{"chain with nothing after the dot", "Observation", "patient.=x", "patient.", fhir.CodeInvalid},
		{"chain with a modifier that is not a type", "Observation", "patient:missing.name=x", "patient:missing.name", fhir.CodeInvalid},
		{"chain with a malformed end", "Observation", "patient.birthdate=soon", "patient.birthdate", fhir.CodeInvalid},
		{"chain on a parameter of any type needs a type", "List", "item.name=x", "item.name", fhir.CodeInvalid},
		{"result parameter inside a chain", "Observation", "patient._count=1", "patient._count", fhir.CodeInvalid},
		{"_has malformed", "Patient", "_has:Observation:patient=x", "_has:Observation:patient", fhir.CodeInvalid},
		{"_has through a non-reference", "Patient", "_has:Observation:code:date=2020", "_has:Observation:code:date", fhir.CodeInvalid},
		{"_has through a reference to another type", "Organization", "_has:Observation:patient:code=x", "_has:Observation:patient:code", fhir.CodeInvalid},
		{"chains nested too deeply", "Observation", "patient.organization.name.a.b.c.d=x", "patient.organization.name.a.b.c.d", fhir.CodeInvalid},
		{"_has nested too deeply", "Patient", "_has:Observation:patient:_has:Observation:patient:_has:Observation:patient:_has:Observation:patient:_has:Observation:patient:code=x",
			"_has:Observation:patient:_has:Observation:patient:_has:Observation:patient:_has:Observation:patient:_has:Observation:patient:code", fhir.CodeInvalid},
	}
	for _, tt := range tests {
		for _, strict := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := parse(tt.typ, tt.query, strict)
				fe := checkError(t, err, tt.code, 400)
				if len(fe.Expression) != 1 || fe.Expression[0] != tt.param {
					t.Errorf("Expression = %v, want [%s]", fe.Expression, tt.param)
				}
			})
		}
	}
}

func TestParseErrorKeepsValuesOutOfDiagnostics(t *testing.T) {
	_, err := Parse("Patient", url.Values{"birthdate": {"1970 Jane Doe"}}, testParams, Options{})
	fe := checkError(t, err, fhir.CodeInvalid, 400)
	if want := `search parameter "birthdate": not a valid date`; fe.Diagnostics != want {
		t.Errorf("Diagnostics = %q, want %q", fe.Diagnostics, want)
	}
}
