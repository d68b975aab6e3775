package fhirpath

import (
	"reflect"
	"strings"
	"testing"
)

type evalCase struct {
	name     string
	resource string // JSON
	expr     string
	want     []string // render()ed
}

func runEvalCases(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Compile(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Eval(decode(t, tc.resource))
			if err != nil {
				t.Fatal(err)
			}
			if g := render(got); !reflect.DeepEqual(g, tc.want) {
				t.Errorf("%s\n got %q\nwant %q", tc.expr, g, tc.want)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"path through arrays flattens, in document order", patientJSON, "Patient.name.given",
			[]string{`"Peter"`, `"James"`, `"Jim"`, `"Peter"`}},
		{"an element missing from some items is skipped", patientJSON, "Patient.name.family",
			[]string{`"Chalmers"`, `"Windsor"`}},
		{"a missing element is empty", patientJSON, "Patient.photo.url", []string{}},
		{"a path starting with another type is empty", patientJSON, "Observation.code", []string{}},
		{"the root node is typed by resourceType", patientJSON, "Patient.id", []string{`"p1"`}},
		{"Resource matches any resource", patientJSON, "Resource.id", []string{`"p1"`}},
		{"DomainResource does not match a Bundle", bundleJSON, "DomainResource.id", []string{}},
		{"a relative path starts from the resource", patientJSON, "gender", []string{`"male"`}},
		{"primitive extensions (_birthDate) are not navigated", patientJSON, "Patient.birthDate.extension", []string{}},
		{"a nested resource is typed by its resourceType", bundleJSON, "Bundle.entry.resource.id",
			[]string{`"c1"`, `"p2"`}},
		{"indexer picks one item", patientJSON, "Patient.name[1].given", []string{`"Jim"`}},
		{"indexer out of range is empty", patientJSON, "Patient.name[7]", []string{}},
		{"Bundle-composition: the first entry's resource", bundleJSON, "Bundle.entry[0].resource",
			[]string{`Composition:{"id":"c1","resourceType":"Composition","status":"final"}`}},
		{"delimited identifier", patientJSON, "Patient.`gender`", []string{`"male"`}},
		{"a date literal followed by a function", patientJSON, "@1974-12-25.exists()", []string{`boolean:true`}},
		{"comments are ignored", patientJSON, "Patient.gender // trailing\n /* block */", []string{`"male"`}},
	})
}

func TestChoiceTypes(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"choice element navigated without its suffix, typed by it", observationJSON, "Observation.value.unit",
			[]string{`"mmHg"`}},
		{"as(Type) keeps that type", observationJSON, "Observation.value.as(Quantity).code", []string{`"mm[Hg]"`}},
		{"as operator in parentheses", observationJSON, "(Observation.value as Quantity).value", []string{`120`}},
		{"as another type is empty", observationJSON, "Observation.value.as(CodeableConcept)", []string{}},
		{"as over many items filters them", observationJSON, "Observation.component.value as Quantity",
			[]string{`Quantity:{"unit":"mmHg","value":120.0}`, `Quantity:{"unit":"mmHg","value":80}`}},
		{"ofType", observationJSON, "Observation.component.value.ofType(string)", []string{`string:"sitting"`}},
		{"System.String matches a FHIR string", observationJSON, "Observation.component.value.ofType(System.String)",
			[]string{`string:"sitting"`}},
		{"is Type on a choice", observationJSON, "Observation.value is Quantity", []string{`boolean:true`}},
		{"is(Type) function", observationJSON, "Observation.value.is(FHIR.Quantity)", []string{`boolean:true`}},
		{"is another type", observationJSON, "Observation.value is Range", []string{`boolean:false`}},
		{"is on empty is empty", observationJSON, "Observation.bodySite is CodeableConcept", []string{}},
		{"primitive suffix keeps the FHIR lower-case name", observationJSON, "Observation.effective",
			[]string{`dateTime:"2021-03-04T10:00:00Z"`}},
		{"as(dateTime)", observationJSON, "(Observation.effective as dateTime)", []string{`dateTime:"2021-03-04T10:00:00Z"`}},
		{"DateTime (system type) matches dateTime", observationJSON, "effective.as(DateTime) | effective.as(Period)",
			[]string{`dateTime:"2021-03-04T10:00:00Z"`}},
		{"a code is a string", patientJSON, "Patient.extension.value.ofType(string)",
			[]string{`code:"F"`, `string:"Jo"`}},
		{"boolean choice", patientJSON, "Patient.deceased", []string{`boolean:false`}},
		{"countMax is not a choice of count", medicationRequestJSON,
			"MedicationRequest.dosageInstruction.timing.repeat.count", []string{}},
		{"an unknown-typed string is a string", patientJSON, "Patient.gender is string", []string{`boolean:true`}},
	})
}

func TestFunctions(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"extension(url).value", patientJSON, "Patient.extension('http://example.org/fhir/StructureDefinition/nickname').value",
			[]string{`string:"Jo"`}},
		{"extension.where(url = ...)", patientJSON,
			"Patient.extension.where(url = 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex').value",
			[]string{`code:"F"`}},
		{"extension with an unknown url is empty", patientJSON, "Patient.extension('http://nowhere')", []string{}},
		{"first()", patientJSON, "Patient.name.first().family", []string{`"Chalmers"`}},
		{"first() of empty", patientJSON, "Patient.photo.first()", []string{}},
		{"last()", patientJSON, "Patient.name.given.last()", []string{`"Peter"`}},
		{"tail(), skip(), take()", patientJSON, "Patient.name.given.tail().skip(1).take(1)", []string{`"Jim"`}},
		{"exists()", patientJSON, "Patient.name.exists()", []string{`boolean:true`}},
		{"exists() on missing", patientJSON, "Patient.photo.exists()", []string{`boolean:false`}},
		{"exists(criteria)", patientJSON, "Patient.telecom.exists(system = 'email')", []string{`boolean:true`}},
		{"empty()", patientJSON, "Patient.photo.empty()", []string{`boolean:true`}},
		{"not()", patientJSON, "Patient.active.not()", []string{`boolean:false`}},
		{"not() of empty is empty", patientJSON, "Patient.photo.not()", []string{}},
		{"where(x = 'y')", patientJSON, "Patient.telecom.where(system='email').value", []string{`"peter@example.org"`}},
		{"where with no match", patientJSON, "Patient.telecom.where(system='fax')", []string{}},
		{"where with $this", patientJSON, "Patient.name.given.where($this = 'Jim')", []string{`"Jim"`}},
		{"where with $index", patientJSON, "Patient.name.where($index = 2).family", []string{`"Windsor"`}},
		{"select()", patientJSON, "Patient.name.select(given.first())", []string{`"Peter"`, `"Jim"`, `"Peter"`}},
		{"all()", patientJSON, "Patient.telecom.all(value.exists())", []string{`boolean:true`}},
		{"count()", patientJSON, "Patient.name.given.count()", []string{`integer:4`}},
		{"distinct()", patientJSON, "Patient.name.given.distinct()", []string{`"Peter"`, `"James"`, `"Jim"`}},
		{"hasValue() on a primitive", patientJSON, "Patient.birthDate.hasValue()", []string{`boolean:true`}},
		{"hasValue() on an object", patientJSON, "Patient.managingOrganization.hasValue()", []string{`boolean:false`}},
		{"combine() keeps duplicates", patientJSON, "Patient.name[0].given.combine(Patient.name[2].given)",
			[]string{`"Peter"`, `"James"`, `"Peter"`}},
		{"union() drops them", patientJSON, "Patient.name[0].given.union(Patient.name[2].given)",
			[]string{`"Peter"`, `"James"`}},
		{"string functions", patientJSON, "Patient.telecom[1].value.startsWith('peter') and Patient.gender.upper() = 'MALE'",
			[]string{`boolean:true`}},
		{"%resource", observationJSON, "Observation.component.where(%resource.status = 'final').code.text",
			[]string{`"position"`}},
		{"%context", patientJSON, "%context.id", []string{`"p1"`}},
	})
}

func TestOperators(t *testing.T) {
	runEvalCases(t, []evalCase{
		{"union drops duplicates", patientJSON, "Patient.name.given | Patient.name.family",
			[]string{`"Peter"`, `"James"`, `"Jim"`, `"Chalmers"`, `"Windsor"`}},
		{"union across resource types", patientJSON, "Patient.gender | Group.type", []string{`"male"`}},
		{"union of objects compares them by value", observationJSON, "Observation.component.value | Observation.value",
			[]string{`Quantity:{"unit":"mmHg","value":120.0}`, `Quantity:{"unit":"mmHg","value":80}`,
				`string:"sitting"`, `Quantity:{"code":"mm[Hg]","system":"http://unitsofmeasure.org","unit":"mmHg","value":120}`}},
		{"numbers equal by value", observationJSON, "Observation.component[0].value.value = 120", []string{`boolean:true`}},
		{"= on empty is empty", patientJSON, "Patient.photo = 'x'", []string{}},
		{"!= across types is true", patientJSON, "Patient.gender != false", []string{`boolean:true`}},
		{"~ ignores case", patientJSON, "Patient.gender ~ 'MALE'", []string{`boolean:true`}},
		{"and with empty is empty", patientJSON, "Patient.active and Patient.photo.exists().not().where(false)", []string{}},
		{"false and empty is false", patientJSON, "false and Patient.photo", []string{`boolean:false`}},
		{"or with empty and true is true", patientJSON, "Patient.photo or true", []string{`boolean:true`}},
		{"xor", patientJSON, "true xor Patient.active", []string{`boolean:false`}},
		{"implies", patientJSON, "Patient.photo.exists() implies false", []string{`boolean:true`}},
		{"in", patientJSON, "'Jim' in Patient.name.given", []string{`boolean:true`}},
		{"contains", patientJSON, "Patient.name.given contains 'Bob'", []string{`boolean:false`}},
		{"comparison of dates as text", patientJSON, "Patient.birthDate < @2000-01-01", []string{`boolean:true`}},
		{"dates of different precision are not ordered", patientJSON, "Patient.birthDate > @1974", []string{}},
		{"integer arithmetic", patientJSON, "1 + 2 * 3 - 7 div 2 + 7 mod 4", []string{`integer:7`}},
		{"division gives a decimal", patientJSON, "5 / 2", []string{`decimal:2.5`}},
		{"division by zero is empty", patientJSON, "5 / 0", []string{}},
		{"unary minus", patientJSON, "-(2 + 3)", []string{`integer:-5`}},
		{"string concatenation", patientJSON, "Patient.name[0].family & ', ' & Patient.name[1].family", []string{`string:"Chalmers, "`}},
		{"is binds tighter than |", observationJSON, "Observation.value as Quantity | Observation.value as Range",
			[]string{`Quantity:{"code":"mm[Hg]","system":"http://unitsofmeasure.org","unit":"mmHg","value":120}`}},
	})
}

func TestNilAndEmptyResources(t *testing.T) {
	for _, res := range []map[string]any{nil, {}} {
		for _, src := range []string{"Patient.name", "name.given | %resource.id", "subject.resolve()", "exists()", "$this.id"} {
			got, err := MustCompile(src).Eval(res)
			if err != nil {
				t.Errorf("%s on %v: %v", src, res, err)
			}
			if src == "exists()" && !reflect.DeepEqual(render(got), []string{`boolean:true`}) {
				t.Errorf("exists() on the root: %q", render(got))
			} else if src != "exists()" && len(got) != 0 {
				t.Errorf("%s on %v: %q, want empty", src, res, render(got))
			}
		}
	}
}

func TestEvalErrors(t *testing.T) {
	res := decode(t, patientJSON)
	for name, src := range map[string]string{
		"boolean operator on several items": "Patient.name.given and true",
		"comparing a string with a number":  "Patient.gender < 3",
		"is on several items":               "Patient.name is HumanName",
		"string function on several items":  "Patient.name.given.startsWith('P')",
		"indexer that is not an integer":    "Patient.name['a']",
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := MustCompile(src).Eval(res); err == nil {
				t.Errorf("%s: got %q, want an error", src, render(got))
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	deep := strings.Repeat("(", 300)
	long := strings.Repeat("a | ", 6000) + "a"
	for name, src := range map[string]string{
		"trailing dot":          "Patient.",
		"unknown function":      "Patient.name.memberOf('http://x')",
		"wrong argument count":  "Patient.name.where()",
		"unterminated string":   "Patient.name.where(use = 'x)",
		"unclosed indexer":      "Patient.name[0",
		"unknown constant":      "%patient.name",
		"quantity literal":      "Observation.value > 4 'mg'",
		"bad date literal":      "@20x",
		"two terms":             "Patient name",
		"nesting too deep":      deep + "1",
		"too long":              long,
		"type argument missing": "Observation.value.as()",
		"stray character":       "Patient.name ^ 2",
		"$total":                "$total",
		"empty":                 "",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Compile(src); err == nil {
				t.Errorf("Compile(%q) succeeded, want an error", src)
			}
		})
	}
}
