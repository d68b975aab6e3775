package synth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode"
)

// The R4 definitions live beside the repository (../shared/fhir-r4), not in
// it; the conformance check below skips when they are absent.
var r4Dir = filepath.Join("..", "..", "..", "shared", "fhir-r4")

// schema is the subset of JSON Schema (draft-06) that fhir.schema.json uses.
type schema struct {
	Ref                  string             `json:"$ref"`
	Type                 string             `json:"type"`
	Pattern              string             `json:"pattern"`
	Enum                 []string           `json:"enum"`
	Const                *string            `json:"const"`
	Items                *schema            `json:"items"`
	Properties           map[string]*schema `json:"properties"`
	AdditionalProperties *bool              `json:"additionalProperties"`
	Required             []string           `json:"required"`
	OneOf                []*schema          `json:"oneOf"`
}

// r4 checks resources against the R4 JSON Schema (element names, types,
// primitive formats, required codes) and against the minimum cardinalities
// of the resource StructureDefinitions, which the schema does not carry.
type r4 struct {
	defs     map[string]*schema
	patterns map[string]*regexp.Regexp
	elements map[string]bool     // every element path of the checked types
	mins     map[string][]string // element path → children with min ≥ 1
}

var (
	r4Once sync.Once
	r4Defs *r4
	r4Err  error
)

func loadR4(t *testing.T) *r4 {
	t.Helper()
	if _, err := os.Stat(r4Dir); err != nil {
		t.Skipf("R4 definitions not found at %s", r4Dir)
	}
	r4Once.Do(func() { r4Defs, r4Err = readR4(r4Dir) })
	if r4Err != nil {
		t.Fatal(r4Err)
	}
	return r4Defs
}

func readR4(dir string) (*r4, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "fhir.schema.json"))
	if err != nil {
		return nil, err
	}
	var root struct {
		Definitions map[string]*schema `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &root); err != nil {
		return nil, fmt.Errorf("fhir.schema.json: %w", err)
	}
	raw, err = os.ReadFile(filepath.Join(dir, "profiles-resources.json"))
	if err != nil {
		return nil, err
	}
	var profiles struct {
		Entry []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
				Kind         string `json:"kind"`
				Derivation   string `json:"derivation"`
				Snapshot     struct {
					Element []struct {
						Path string `json:"path"`
						Min  int    `json:"min"`
					} `json:"element"`
				} `json:"snapshot"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &profiles); err != nil {
		return nil, fmt.Errorf("profiles-resources.json: %w", err)
	}
	v := &r4{defs: root.Definitions, patterns: map[string]*regexp.Regexp{}, elements: map[string]bool{}, mins: map[string][]string{}}
	for _, e := range profiles.Entry {
		sd := e.Resource
		if sd.ResourceType != "StructureDefinition" || sd.Kind != "resource" || sd.Derivation == "constraint" {
			continue
		}
		for _, el := range sd.Snapshot.Element {
			v.elements[el.Path] = true
			if dot := strings.LastIndexByte(el.Path, '.'); dot > 0 && el.Min > 0 {
				v.mins[el.Path[:dot]] = append(v.mins[el.Path[:dot]], el.Path[dot+1:])
			}
		}
	}
	return v, nil
}

// childPath is the element path of member key of the element at path, or
// "" when key leads into a data type, where cardinality is not tracked.
func (v *r4) childPath(path, key string) string {
	if path == "" {
		return ""
	}
	p := path + "." + key
	if v.elements[p] {
		return p
	}
	for i, c := range key {
		if i > 0 && unicode.IsUpper(c) && v.elements[path+"."+key[:i]+"[x]"] {
			return path + "." + key[:i] + "[x]"
		}
	}
	return ""
}

func (v *r4) check(x any, s *schema, path, loc string, errs *[]string) {
	fail := func(format string, args ...any) {
		*errs = append(*errs, loc+": "+fmt.Sprintf(format, args...))
	}
	if s.Ref != "" {
		name := strings.TrimPrefix(s.Ref, "#/definitions/")
		if name == "ResourceList" {
			obj, _ := x.(map[string]any)
			rt, _ := obj["resourceType"].(string)
			def := v.defs[rt]
			if def == nil {
				fail("unknown resourceType %q", rt)
				return
			}
			v.check(x, def, rt, loc+"("+rt+")", errs)
			return
		}
		def := v.defs[name]
		if def == nil {
			fail("schema has no definition %s", name)
			return
		}
		v.check(x, def, path, loc, errs)
	}
	if s.Const != nil && x != *s.Const {
		fail("%v, want %q", x, *s.Const)
	}
	if s.Enum != nil {
		str, _ := x.(string)
		if !contains(s.Enum, str) {
			fail("%v is not one of %v", x, s.Enum)
		}
	}
	if s.Pattern != "" {
		var text string
		switch y := x.(type) {
		case string:
			text = y
		case json.Number:
			text = y.String()
		}
		re := v.patterns[s.Pattern]
		if re == nil {
			var err error
			if re, err = regexp.Compile(s.Pattern); err != nil {
				fail("pattern %q: %v", s.Pattern, err)
				return
			}
			v.patterns[s.Pattern] = re
		}
		if _, isBool := x.(bool); !isBool && !re.MatchString(text) {
			fail("%q does not match %s", text, s.Pattern)
		}
	}
	switch s.Type {
	case "string":
		if _, ok := x.(string); !ok {
			fail("%v is not a string", x)
		}
	case "number":
		if _, ok := x.(json.Number); !ok {
			fail("%v is not a number", x)
		}
	case "boolean":
		if _, ok := x.(bool); !ok {
			fail("%v is not a boolean", x)
		}
	case "array":
		arr, ok := x.([]any)
		if !ok || len(arr) == 0 {
			fail("want a non-empty array, got %v", x)
			return
		}
		for i, e := range arr {
			v.check(e, s.Items, path, fmt.Sprintf("%s[%d]", loc, i), errs)
		}
	}
	if s.Properties == nil {
		return
	}
	obj, ok := x.(map[string]any)
	if !ok || len(obj) == 0 {
		fail("want a non-empty object, got %v", x)
		return
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := s.Properties[k]
		if p == nil {
			fail("unknown element %q", k)
			continue
		}
		v.check(obj[k], p, v.childPath(path, k), loc+"."+k, errs)
	}
	for _, k := range s.Required {
		if _, ok := obj[k]; !ok {
			fail("missing %s", k)
		}
	}
	for _, k := range v.mins[path] {
		if !hasElement(obj, k) {
			fail("missing %s (min 1 at %s)", k, path)
		}
	}
}

func hasElement(obj map[string]any, name string) bool {
	if base, ok := strings.CutSuffix(name, "[x]"); ok {
		for k := range obj {
			if rest, ok := strings.CutPrefix(k, base); ok && rest != "" && unicode.IsUpper(rune(rest[0])) {
				return true
			}
		}
		return false
	}
	_, ok := obj[name]
	return ok
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func TestBundlesConformToR4(t *testing.T) {
	v := loadR4(t)
	for i, b := range Generate(Options{Seed: 21, Patients: 20, Start: testStart}) {
		var x any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&x); err != nil {
			t.Fatal(err)
		}
		var errs []string
		v.check(x, v.defs["Bundle"], "Bundle", "Bundle", &errs)
		for _, e := range errs {
			t.Errorf("patient %d: %s", i, e)
		}
		if len(errs) > 0 {
			break
		}
	}
}

// The checker itself must reject what it is there to catch.
func TestR4CheckCatchesMistakes(t *testing.T) {
	v := loadR4(t)
	cases := []struct{ name, doc, want string }{
		{"Observation without status", `{"resourceType":"Observation","code":{"text":"x"}}`, "missing status"},
		{"unknown element", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valu":1}`, `unknown element "valu"`},
		{"code outside its value set", `{"resourceType":"Encounter","status":"done","class":{"code":"AMB"}}`, "done is not one of"},
		{"dateTime without time zone", `{"resourceType":"Condition","subject":{"reference":"x"},"onsetDateTime":"2024-01-01T10:00:00"}`, "does not match"},
		{"choice element missing", `{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"x"}}`, "missing medication[x]"},
		{"backbone element missing", `{"resourceType":"Appointment","status":"booked","participant":[{"actor":{"display":"x"}}]}`, "participant[0]: missing status"},
		{"empty array", `{"resourceType":"Patient","name":[]}`, "non-empty array"},
		{"decimal as string", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":"13.5"}}`, "is not a number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var x any
			d := json.NewDecoder(strings.NewReader(c.doc))
			d.UseNumber()
			if err := d.Decode(&x); err != nil {
				t.Fatal(err)
			}
			var errs []string
			rt := x.(map[string]any)["resourceType"].(string)
			v.check(x, v.defs[rt], rt, rt, &errs)
			if !strings.Contains(strings.Join(errs, "\n"), c.want) {
				t.Errorf("got %q, want an error with %q", errs, c.want)
			}
		})
	}
}
