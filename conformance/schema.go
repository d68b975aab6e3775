package conformance

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed fhir.schema.json.gz
var schemaGzip []byte

// schemaID is the id of the R4 JSON schema; a resource type's schema is
// schemaID + "#/definitions/" + type.
const schemaID = "http://hl7.org/fhir/json-schema/4.0"

// resourceKeyword marks the schema of a nested resource (contained, a
// Bundle entry, a Parameters resource). It replaces the schema's
// ResourceList, a oneOf over every resource type, which is slow to evaluate
// and whose failures name none of the real problems: the nested resource
// is validated against the definition its resourceType names instead.
const resourceKeyword = "x-oncofhir-resource"

// FHIR's integer types are 32-bit (integer: -2,147,483,648 … 2,147,483,647).
const (
	minInt32 = -2147483648
	maxInt32 = 2147483647
)

// schemaDocument returns the embedded R4 JSON schema, decoded without loss
// of numeric precision, with the adjustments below. Each narrows or
// restates what the specification says and the schema does not enforce:
//
//   - ResourceList becomes an object checked by resourceKeyword;
//   - complex types and backbone elements (definitions with properties)
//     must be JSON objects, and xhtml a string;
//   - integer, positiveInt and unsignedInt must be 32-bit integers in their
//     range (the schema gives them a pattern, which JSON schema applies to
//     strings only);
//   - items of repeating primitives and of their "_" companions may be
//     null, which FHIR JSON uses to keep the two arrays aligned;
//   - the FHIR version enumerations (CapabilityStatement.fhirVersion,
//     StructureDefinition.fhirVersion, ImplementationGuide.fhirVersion)
//     accept 4.0.1: the schema stops at 4.0.0, though R4's own FHIR-version
//     code system (valuesets.json) has 4.0.1, the version of R4 itself.
func schemaDocument() (map[string]any, error) {
	zr, err := gzip.NewReader(bytes.NewReader(schemaGzip))
	if err != nil {
		return nil, fmt.Errorf("conformance: embedded schema: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("conformance: embedded schema: %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("conformance: embedded schema: %w", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("conformance: embedded schema is not an object")
	}
	defs, ok := doc["definitions"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("conformance: embedded schema has no definitions")
	}

	defs["ResourceList"] = map[string]any{"type": "object", resourceKeyword: true}
	defs["xhtml"] = map[string]any{"type": "string"}
	integerRange := map[string][2]int64{
		"integer":     {minInt32, maxInt32},
		"positiveInt": {1, maxInt32},
		"unsignedInt": {0, maxInt32},
	}
	for name, r := range integerRange {
		defs[name] = map[string]any{"type": "integer", "minimum": r[0], "maximum": r[1]}
	}
	nullable := map[string]bool{}
	for name, d := range defs {
		patchDefinition(name, d, integerRange, nullable)
	}
	for name := range nullable {
		orig, _ := defs[name].(map[string]any)
		cp := make(map[string]any, len(orig))
		for k, v := range orig {
			cp[k] = v
		}
		switch t := orig["type"].(type) {
		case string:
			cp["type"] = []any{t, "null"}
		default:
			cp["type"] = []any{"object", "null"}
		}
		defs[name+orNull] = cp
	}
	return doc, nil
}

// orNull suffixes the added definitions that also accept null.
const orNull = "OrNull"

// patchDefinition applies the adjustments to one definition and its inline
// subschemas, and records in nullable the definitions whose null-accepting
// copy it now refers to.
func patchDefinition(name string, d any, integerRange map[string][2]int64, nullable map[string]bool) {
	sch, ok := d.(map[string]any)
	if !ok {
		return
	}
	props, hasProps := sch["properties"].(map[string]any)
	if hasProps {
		if _, typed := sch["type"]; !typed {
			sch["type"] = "object"
		}
	}
	for pname, p := range props {
		ps, ok := p.(map[string]any)
		if !ok {
			continue
		}
		patchInline(ps, integerRange)
		addFHIRVersion(ps)
		if items, ok := ps["items"].(map[string]any); ok {
			addFHIRVersion(items)
		}
		if ps["type"] != "array" {
			continue
		}
		items, ok := ps["items"].(map[string]any)
		if !ok {
			continue
		}
		if ref, ok := items["$ref"].(string); ok {
			target := strings.TrimPrefix(ref, "#/definitions/")
			if target == "Element" || isPrimitive(target) {
				nullable[target] = true
				ps["items"] = map[string]any{"$ref": "#/definitions/" + target + orNull}
			}
			continue
		}
		if enum, ok := items["enum"].([]any); ok && !strings.HasPrefix(pname, "_") {
			items["enum"] = append(append([]any(nil), enum...), nil)
		}
	}
}

// patchInline narrows an inline primitive (the schema copies primitives
// into choice elements such as valueInteger) the way the definitions are.
func patchInline(ps map[string]any, integerRange map[string][2]int64) {
	if ps["type"] != "number" {
		return
	}
	pat, _ := ps["pattern"].(string)
	for name, r := range integerRange {
		if pat == primitivePatterns[name] {
			delete(ps, "pattern")
			ps["type"], ps["minimum"], ps["maximum"] = "integer", r[0], r[1]
			return
		}
	}
}

func isPrimitive(def string) bool {
	return def != "" && def[0] >= 'a' && def[0] <= 'z'
}

// primitivePatterns are the patterns of the integer primitives as the
// schema writes them.
var primitivePatterns = map[string]string{
	"integer":     `^-?([0]|([1-9][0-9]*))$`,
	"positiveInt": `^[1-9][0-9]*$`,
	"unsignedInt": `^[0]|([1-9][0-9]*)$`,
}

// addFHIRVersion adds 4.0.1 to an enumeration of FHIR versions.
func addFHIRVersion(sch map[string]any) {
	enum, ok := sch["enum"].([]any)
	if !ok || !slices.Contains(enum, any("4.0.0")) || slices.Contains(enum, any("4.0.1")) {
		return
	}
	sch["enum"] = append(slices.Clone(enum), "4.0.1")
}
