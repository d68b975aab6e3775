package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func testSD(t *testing.T, typ, elements string) *structureDefinition {
	t.Helper()
	var sd structureDefinition
	src := `{"type":"` + typ + `","kind":"resource","snapshot":{"element":[{"path":"` + typ + `"},` + elements + `]}}`
	if err := json.Unmarshal([]byte(src), &sd); err != nil {
		t.Fatal(err)
	}
	return &sd
}

func testSchema(typ string, props ...string) any {
	p := map[string]any{}
	for _, name := range props {
		p[name] = map[string]any{}
	}
	return map[string]any{"definitions": map[string]any{typ: map[string]any{"properties": p}}}
}

const resourceBase = `{"path":"Thing.id","isSummary":true},{"path":"Thing.meta","isSummary":true},` +
	`{"path":"Thing.implicitRules","isSummary":true},{"path":"Thing.language"},{"path":"Thing.text"}`

func TestBuildSummary(t *testing.T) {
	sd := testSD(t, "Thing", resourceBase+`,
		{"path":"Thing.status","min":1,"isSummary":true},
		{"path":"Thing.note"},
		{"path":"Thing.part","min":1},
		{"path":"Thing.part.code","min":1,"isSummary":true},
		{"path":"Thing.value[x]","isSummary":true,"type":[{"code":"Quantity"},{"code":"string"},{"code":"Coding"}]},
		{"path":"Thing.extra","isSummary":true}`)
	schema := testSchema("Thing", "id", "meta", "implicitRules", "_implicitRules", "language", "text",
		"status", "note", "part", "valueQuantity", "valueString", "_valueString")
	got, err := buildSummary(map[string]*structureDefinition{"Thing": sd}, []string{"Thing"}, schema)
	if err != nil {
		t.Fatal(err)
	}
	want := []summaryElement{
		{name: "id"}, {name: "meta"}, {name: "implicitRules"},
		{name: "status", min: 1},
		{name: "part", min: 1, mandatoryOnly: true},             // not summary, but mandatory
		{name: "value", choice: []string{"Quantity", "String"}}, // valueCoding is not in the schema
		// extra is not in the schema; part.code is not top-level
	}
	if !reflect.DeepEqual(got["Thing"], want) {
		t.Errorf("got  %+v\nwant %+v", got["Thing"], want)
	}
	src := string(got.source())
	if !strings.Contains(src, `"Thing": {{name: "id"}, {name: "meta"}, {name: "implicitRules"}, {name: "status", min: 1}, `+
		`{name: "part", min: 1, mandatoryOnly: true}, {name: "value", choice: []string{"Quantity", "String"}}},`) {
		t.Errorf("source:\n%s", src)
	}
}

func TestBuildSummaryRefusesMisreadSnapshot(t *testing.T) {
	sd := testSD(t, "Thing", `{"path":"Thing.id","isSummary":true},{"path":"Thing.meta"}`)
	schema := testSchema("Thing", "id", "meta")
	if _, err := buildSummary(map[string]*structureDefinition{"Thing": sd}, []string{"Thing"}, schema); err == nil {
		t.Error("no error for a snapshot without summary meta and implicitRules")
	}
}
