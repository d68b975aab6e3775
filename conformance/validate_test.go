package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

var shared struct {
	once sync.Once
	v    *Validator
	err  error
}

// testValidator is one Validator for the package's tests, so that each
// schema is compiled once.
func testValidator(tb testing.TB) *Validator {
	tb.Helper()
	shared.once.Do(func() { shared.v, shared.err = NewValidator() })
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.v
}

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// edit returns a testdata resource changed by fn (numbers kept as written).
func edit(tb testing.TB, name string, fn func(o map[string]any)) string {
	tb.Helper()
	d := json.NewDecoder(bytes.NewReader(readTestdata(tb, name)))
	d.UseNumber()
	var o map[string]any
	if err := d.Decode(&o); err != nil {
		tb.Fatal(err)
	}
	fn(o)
	b, err := json.Marshal(o)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

type wantIssue struct {
	code models.IssueType
	expr string
}

func (w wantIssue) String() string { return w.code.Code() + " " + w.expr }

func required(expr string) wantIssue { return wantIssue{fhir.CodeRequired, expr} }
func value(expr string) wantIssue    { return wantIssue{fhir.CodeValue, expr} }

func TestValidate(t *testing.T) {
	v := testValidator(t)
	for _, tc := range []struct {
		name string
		typ  string
		body string
		want []wantIssue // nil: valid
	}{
		{name: "valid Patient passes", typ: "Patient", body: string(readTestdata(t, "patient.json"))},
		{name: "valid Observation passes", typ: "Observation", body: string(readTestdata(t, "observation.json"))},
		{name: "transaction Bundle passes", typ: "Bundle", body: string(readTestdata(t, "bundle-transaction.json"))},
		{name: "minimal Patient passes", typ: "Patient", body: `{"resourceType":"Patient"}`},

		// Minimum cardinality (StructureDefinitions).
		{
			name: "Observation without status → required Observation.status",
			typ:  "Observation",
			body: edit(t, "observation.json", func(o map[string]any) { delete(o, "status") }),
			want: []wantIssue{required("Observation.status")},
		},
		{
			name: "Observation without code → required Observation.code",
			typ:  "Observation",
			body: edit(t, "observation.json", func(o map[string]any) { delete(o, "code") }),
			want: []wantIssue{required("Observation.code")},
		},
		{
			name: "component without code → required at its index",
			typ:  "Observation",
			body: edit(t, "observation.json", func(o map[string]any) {
				delete(o["component"].([]any)[1].(map[string]any), "code")
			}),
			want: []wantIssue{required("Observation.component[1].code")},
		},
		{
			name: "text without status → required Patient.text.status",
			typ:  "Patient",
			body: `{"resourceType":"Patient","text":{"div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}`,
			want: []wantIssue{required("Patient.text.status")},
		},
		{
			name: "extension without url → required, wherever it is",
			typ:  "Patient",
			body: `{"resourceType":"Patient","extension":[{"valueString":"x"}],"name":[{"family":"X","_family":{"extension":[{"valueCode":"y"}]}}]}`,
			want: []wantIssue{required("Patient.extension[0].url"), required("Patient.name[0]._family.extension[0].url")},
		},
		{
			name: "required primitive present only as its _ extension is accepted",
			typ:  "Observation",
			body: edit(t, "observation.json", func(o map[string]any) {
				delete(o, "status")
				o["_status"] = map[string]any{"extension": []any{map[string]any{
					"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}}}
			}),
		},
		{
			name: "required choice element satisfied by any of its types",
			typ:  "Library",
			body: `{"resourceType":"Library","status":"active","type":{"text":"x"},"useContext":[
				{"code":{"code":"focus"},"valueCodeableConcept":{"text":"a"}},
				{"code":{"code":"focus"},"valueReference":{"reference":"Group/1"}}]}`,
		},
		{
			name: "required choice element missing → named value[x]",
			typ:  "Library",
			body: `{"resourceType":"Library","status":"active","type":{"text":"x"},"useContext":[{"code":{"code":"focus"}}]}`,
			want: []wantIssue{required("Library.useContext[0].value[x]")},
		},
		{
			name: "transaction entry request without method → required at its index",
			typ:  "Bundle",
			body: `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"GET","url":"Patient/1"}},{"request":{"url":"Patient"}}]}`,
			want: []wantIssue{required("Bundle.entry[1].request.method")},
		},
		{
			name: "Bundle without type → required Bundle.type",
			typ:  "Bundle",
			body: `{"resourceType":"Bundle"}`,
			want: []wantIssue{required("Bundle.type")},
		},
		{
			name: "empty array does not satisfy a minimum",
			typ:  "Appointment",
			body: `{"resourceType":"Appointment","status":"booked","participant":[]}`,
			want: []wantIssue{required("Appointment.participant")},
		},

		// Nested resources.
		{
			name: "contained resources are accepted",
			typ:  "Patient",
			body: `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"org","name":"Clinic"}],"managingOrganization":{"reference":"#org"}}`,
		},
		{
			name: "invalid contained resource is refused at its index",
			typ:  "Patient",
			body: `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"org"},{"resourceType":"Observation","code":{"text":"x"},"status":"done"}]}`,
			want: []wantIssue{value("Patient.contained[1].status")},
		},
		{
			name: "nested resource missing its own required element",
			typ:  "Bundle",
			body: `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Observation","code":{"text":"x"}}}]}`,
			want: []wantIssue{required("Bundle.entry[0].resource.status")},
		},
		{
			name: "nested resource without resourceType → required",
			typ:  "Bundle",
			body: `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"id":"x"}}]}`,
			want: []wantIssue{required("Bundle.entry[0].resource.resourceType")},
		},
		{
			name: "nested resource of an unknown type → value",
			typ:  "Bundle",
			body: `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Spaceship"}}]}`,
			want: []wantIssue{value("Bundle.entry[0].resource.resourceType")},
		},

		// Schema: unknown elements, types, formats, codes.
		{
			name: "unknown element is named",
			typ:  "Patient",
			body: `{"resourceType":"Patient","favouriteColour":"blue"}`,
			want: []wantIssue{value("Patient.favouriteColour")},
		},
		{
			name: "unknown element in a data type is named",
			typ:  "Patient",
			body: `{"resourceType":"Patient","name":[{"family":"X","middle":"Y"}]}`,
			want: []wantIssue{value("Patient.name[0].middle")},
		},
		{
			name: "unknown element with an odd name is quoted",
			typ:  "Patient",
			body: `{"resourceType":"Patient","a b":1}`,
			want: []wantIssue{value("Patient.`a b`")},
		},
		{
			name: "birthDate 1970-13-45 → value Patient.birthDate",
			typ:  "Patient",
			body: `{"resourceType":"Patient","birthDate":"1970-13-45"}`,
			want: []wantIssue{value("Patient.birthDate")},
		},
		{
			name: "gender 42 → value Patient.gender",
			typ:  "Patient",
			body: `{"resourceType":"Patient","gender":42}`,
			want: []wantIssue{value("Patient.gender")},
		},
		{
			name: "gender outside its value set → value",
			typ:  "Patient",
			body: `{"resourceType":"Patient","gender":"f"}`,
			want: []wantIssue{value("Patient.gender")},
		},
		{
			name: "repeating element sent as a single value → value",
			typ:  "Patient",
			body: `{"resourceType":"Patient","name":{"family":"X"}}`,
			want: []wantIssue{value("Patient.name")},
		},
		{
			name: "single element sent as an array → value",
			typ:  "Patient",
			body: `{"resourceType":"Patient","birthDate":["1970"]}`,
			want: []wantIssue{value("Patient.birthDate")},
		},
		{
			name: "complex element sent as a string → value",
			typ:  "Patient",
			body: `{"resourceType":"Patient","maritalStatus":"M"}`,
			want: []wantIssue{value("Patient.maritalStatus")},
		},
		{
			name: "null element → value",
			typ:  "Patient",
			body: `{"resourceType":"Patient","active":null}`,
			want: []wantIssue{value("Patient.active")},
		},
		{
			name: "empty string → value",
			typ:  "Patient",
			body: `{"resourceType":"Patient","name":[{"family":""}]}`,
			want: []wantIssue{value("Patient.name[0].family")},
		},
		{
			name: "bad dateTime in a choice element → value",
			typ:  "Observation",
			body: edit(t, "observation.json", func(o map[string]any) { o["effectiveDateTime"] = "yesterday" }),
			want: []wantIssue{value("Observation.effectiveDateTime")},
		},
		{
			name: "fractional integer → value",
			typ:  "Patient",
			body: `{"resourceType":"Patient","multipleBirthInteger":1.5}`,
			want: []wantIssue{value("Patient.multipleBirthInteger")},
		},
		{
			name: "integer beyond 32 bits → value",
			typ:  "Patient",
			body: `{"resourceType":"Patient","multipleBirthInteger":2147483648}`,
			want: []wantIssue{value("Patient.multipleBirthInteger")},
		},
		{
			name: "positiveInt 0 → value",
			typ:  "Patient",
			body: `{"resourceType":"Patient","telecom":[{"system":"phone","value":"1","rank":0}]}`,
			want: []wantIssue{value("Patient.telecom[0].rank")},
		},
		{
			name: "wrong resourceType const → value",
			typ:  "Patient",
			body: `{"resourceType":"Observation"}`,
			want: []wantIssue{value("Patient.resourceType")},
		},
		{
			name: "missing resourceType → required",
			typ:  "Patient",
			body: `{"id":"x"}`,
			want: []wantIssue{required("Patient.resourceType")},
		},

		// What FHIR JSON allows and a naive check would refuse.
		{
			name: "_birthDate primitive extension is accepted",
			typ:  "Patient",
			body: `{"resourceType":"Patient","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}}`,
		},
		{
			name: "repeating primitive aligned with nulls is accepted",
			typ:  "Patient",
			body: `{"resourceType":"Patient","name":[{"given":["Pat",null],"_given":[null,{"extension":[{"url":"http://example.org/x","valueString":"y"}]}]}]}`,
		},
		{
			name: "decimals 1.50 and 1e2 are accepted",
			typ:  "Observation",
			body: `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50},
				"component":[{"code":{"text":"y"},"valueQuantity":{"value":1e2}}]}`,
		},
		{
			name: "decimal beyond float64 precision is accepted",
			typ:  "Observation",
			body: `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":12345678901234567890.12345678901234567890}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := v.ValidateAll(tc.typ, []byte(tc.body))
			var got []string
			for _, e := range errs {
				if len(e.Expression) != 1 {
					t.Errorf("issue %q has expressions %v, want one", e.Diagnostics, e.Expression)
					continue
				}
				if !strings.HasPrefix(e.Diagnostics, e.Expression[0]+": ") {
					t.Errorf("diagnostics %q do not start with the element", e.Diagnostics)
				}
				got = append(got, wantIssue{e.Code, e.Expression[0]}.String())
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, w.String())
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("issues = %v, want %v", got, want)
				for _, e := range errs {
					t.Logf("  %s", e.Diagnostics)
				}
			}
		})
	}
}

func TestValidateBodyAndType(t *testing.T) {
	v := testValidator(t)
	for _, tc := range []struct {
		name       string
		typ, body  string
		wantCode   models.IssueType
		wantStatus int
	}{
		{"body that is not an object → structure 400", "Patient", `["Patient"]`, fhir.CodeStructure, http.StatusBadRequest},
		{"malformed JSON → structure 400", "Patient", `{"resourceType":`, fhir.CodeStructure, http.StatusBadRequest},
		{"unknown resource type → not-supported 404", "Spaceship", `{"resourceType":"Spaceship"}`, fhir.CodeNotSupported, http.StatusNotFound},
		{"abstract type → not-supported 404", "DomainResource", `{"resourceType":"DomainResource"}`, fhir.CodeNotSupported, http.StatusNotFound},
		{"missing required element → 422", "Observation", `{"resourceType":"Observation","code":{"text":"x"}}`, fhir.CodeRequired, http.StatusUnprocessableEntity},
		{"unknown element → 422", "Patient", `{"resourceType":"Patient","x":1}`, fhir.CodeValue, http.StatusUnprocessableEntity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Validate(tc.typ, []byte(tc.body))
			fe := fhir.AsError(err)
			if err == nil || fe.Code != tc.wantCode || fe.HTTPStatus() != tc.wantStatus {
				t.Fatalf("Validate = %v, want code %s, status %d", err, tc.wantCode.Code(), tc.wantStatus)
			}
		})
	}
}

func TestValidateReturnsIssues(t *testing.T) {
	v := testValidator(t)
	body := `{"resourceType":"Observation","a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12}`
	err := v.Validate("Observation", []byte(body))
	var is Issues
	if !errors.As(err, &is) {
		t.Fatalf("Validate = %T %v, want Issues", err, err)
	}
	if len(is) != MaxIssues {
		t.Errorf("got %d issues, want MaxIssues = %d", len(is), MaxIssues)
	}
	if first := fhir.AsError(err); first != is[0] {
		t.Errorf("fhir.AsError = %v, want the first issue %v", first, is[0])
	}
	if is[0].Expression[0] != "Observation.a" {
		t.Errorf("first issue at %v, want the issues ordered by path", is[0].Expression)
	}
	oo := string(fhir.OperationOutcome(is...))
	if !strings.Contains(oo, `"expression":["Observation.a"]`) || !strings.Contains(oo, `"code":"value"`) {
		t.Errorf("OperationOutcome = %s", oo)
	}
	if err := v.Validate("Patient", readTestdata(t, "patient.json")); err != nil {
		t.Errorf("Validate(valid Patient) = %v, want nil", err)
	}
}

// The diagnostics go to the client and the log: they name the element and
// the rule, never the value, which may be PHI.
func TestDiagnosticsDoNotEchoValues(t *testing.T) {
	v := testValidator(t)
	const secret = "Zz9SECRETz"
	body := `{"resourceType":"Patient","birthDate":"` + secret + `","gender":"` + secret + `",
		"telecom":[{"system":"` + secret + `","value":"x"}],"id":"` + secret + `!","multipleBirthInteger":"` + secret + `",
		"contained":[{"resourceType":"` + secret + `"}],"meta":{"lastUpdated":"` + secret + `"}}`
	errs := v.ValidateAll("Patient", []byte(body))
	if len(errs) < 6 {
		t.Fatalf("got %d issues, want one per bad element: %v", len(errs), errs)
	}
	for _, e := range errs {
		if strings.Contains(e.Diagnostics, secret) || strings.Contains(e.Error(), secret) {
			t.Errorf("diagnostics echo the value: %q", e.Diagnostics)
		}
	}
}

// Every resource type's schema compiles, and a resource with nothing but
// its resourceType fails only for its required elements.
func TestEveryResourceType(t *testing.T) {
	v := testValidator(t)
	for _, rt := range ResourceTypes() {
		errs := v.ValidateAll(rt, []byte(`{"resourceType":"`+rt+`"}`))
		for _, e := range errs {
			if e.Code != fhir.CodeRequired || len(e.Expression) != 1 || strings.Count(e.Expression[0], ".") != 1 ||
				!strings.HasPrefix(e.Expression[0], rt+".") {
				t.Errorf("%s: unexpected issue %s %v: %s", rt, e.Code.Code(), e.Expression, e.Diagnostics)
			}
		}
	}
}

func TestValidateConcurrently(t *testing.T) {
	v, err := NewValidator() // fresh: compilation races with validation
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string][]byte{
		"Patient":     readTestdata(t, "patient.json"),
		"Observation": readTestdata(t, "observation.json"),
		"Bundle":      readTestdata(t, "bundle-transaction.json"),
	}
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		for typ, body := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := v.Validate(typ, body); err != nil {
					t.Errorf("Validate(%s) = %v", typ, err)
				}
			}()
		}
	}
	wg.Wait()
}

func TestPrepare(t *testing.T) {
	v := testValidator(t)
	if err := v.Prepare("Patient", "Observation"); err != nil {
		t.Errorf("Prepare = %v", err)
	}
	if err := v.Prepare("Spaceship"); err == nil {
		t.Error("Prepare(Spaceship) = nil, want an error")
	}
}

func TestFHIRVersion401IsAccepted(t *testing.T) {
	v := testValidator(t)
	for _, tc := range []struct{ typ, body string }{
		{"StructureDefinition", `{"resourceType":"StructureDefinition","url":"http://example.org/sd","name":"X","status":"draft","kind":"resource","abstract":false,"type":"Patient","fhirVersion":"4.0.1"}`},
		{"ImplementationGuide", `{"resourceType":"ImplementationGuide","url":"http://example.org/ig","name":"X","status":"draft","packageId":"x","fhirVersion":["4.0.1"]}`},
	} {
		if err := v.Validate(tc.typ, []byte(tc.body)); err != nil {
			t.Errorf("%s with fhirVersion 4.0.1: %v", tc.typ, err)
		}
	}
	if err := v.Validate("StructureDefinition", []byte(`{"resourceType":"StructureDefinition","url":"http://example.org/sd","name":"X","status":"draft","kind":"resource","abstract":false,"type":"Patient","fhirVersion":"9.9.9"}`)); err == nil {
		t.Error("fhirVersion 9.9.9 accepted")
	}
}
