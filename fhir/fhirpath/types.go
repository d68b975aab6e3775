package fhirpath

import (
	"encoding/json"
	"strings"
)

// primitiveTypes are the FHIR R4 primitive types; their names start with a
// lower-case letter.
var primitiveTypes = []string{
	"base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
	"instant", "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt",
	"uri", "url", "uuid",
}

// complexChoiceTypes are the complex types that occur in an R4 choice
// element (every type of a path ending in [x] in the R4 resource and data
// type StructureDefinitions).
var complexChoiceTypes = []string{
	"Address", "Age", "Annotation", "Attachment", "CodeableConcept", "Coding", "ContactDetail",
	"ContactPoint", "Contributor", "Count", "DataRequirement", "Distance", "Dosage", "Duration",
	"Expression", "HumanName", "Identifier", "Meta", "Money", "ParameterDefinition", "Period",
	"Quantity", "Range", "Ratio", "Reference", "RelatedArtifact", "SampledData", "Signature",
	"Timing", "TriggerDefinition", "UsageContext",
}

// choiceTypes maps the suffix of a choice element's JSON name to its FHIR
// type: "DateTime" → "dateTime", "Quantity" → "Quantity". Only these
// suffixes make a choice: Timing.repeat.countMax is not count of type Max.
var choiceTypes = func() map[string]string {
	m := map[string]string{}
	for _, t := range primitiveTypes {
		m[strings.ToUpper(t[:1])+t[1:]] = t
	}
	for _, t := range complexChoiceTypes {
		m[t] = t
	}
	return m
}()

// parentType is the FHIR type each type specialises, where that matters for
// is/as: a code is a string, an Age is a Quantity.
var parentType = map[string]string{
	"code": "string", "id": "string", "markdown": "string",
	"url": "uri", "canonical": "uri", "oid": "uri", "uuid": "uri",
	"unsignedInt": "integer", "positiveInt": "integer",
	"Age": "Quantity", "Count": "Quantity", "Distance": "Quantity", "Duration": "Quantity",
	"MoneyQuantity": "Quantity", "SimpleQuantity": "Quantity",
}

// systemTypes maps the FHIRPath system types to the FHIR primitives that
// convert to them.
var systemTypes = map[string][]string{
	"Boolean":  {"boolean"},
	"String":   {"string", "code", "id", "markdown", "uri", "url", "canonical", "oid", "uuid", "base64Binary"},
	"Integer":  {"integer", "unsignedInt", "positiveInt"},
	"Decimal":  {"decimal"},
	"Date":     {"date"},
	"DateTime": {"dateTime", "instant"},
	"Time":     {"time"},
}

// nonDomainResources are the resources that are not DomainResources.
var nonDomainResources = map[string]bool{"Bundle": true, "Binary": true, "Parameters": true}

// typeOf returns the node's FHIR type, or the one its JSON value implies
// when it is not known.
func typeOf(n Node) string {
	if n.Type != "" {
		return n.Type
	}
	switch v := n.Value.(type) {
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			return "decimal"
		}
		return "integer"
	case float64:
		return "decimal"
	case map[string]any:
		rt, _ := v["resourceType"].(string)
		return rt
	}
	return ""
}

func isResource(n Node) bool {
	m, ok := n.Value.(map[string]any)
	if !ok {
		return false
	}
	rt, _ := m["resourceType"].(string)
	return rt != ""
}

// isType reports whether the node is of the type named by spec, a type
// name optionally qualified by FHIR. or System., or one of its subtypes.
func isType(n Node, spec string) bool {
	t := typeOf(n)
	if t == "" {
		return false
	}
	name, system := spec, false
	if rest, ok := strings.CutPrefix(spec, "System."); ok {
		name, system = rest, true
	} else if rest, ok := strings.CutPrefix(spec, "FHIR."); ok {
		name = rest
	}
	if prims, ok := systemTypes[name]; ok {
		for _, p := range prims {
			if t == p {
				return true
			}
		}
		return false
	}
	if system {
		return false
	}
	switch name {
	case "Resource":
		return isResource(n)
	case "DomainResource":
		return isResource(n) && !nonDomainResources[t]
	}
	for ; t != ""; t = parentType[t] {
		if t == name {
			return true
		}
	}
	return false
}

// fhirTypeName is the FHIR name a type specifier gives a node whose type was
// unknown: FHIR.Quantity → Quantity, System.String → string.
func fhirTypeName(spec string) string {
	name, system := spec, false
	if rest, ok := strings.CutPrefix(spec, "System."); ok {
		name, system = rest, true
	} else if rest, ok := strings.CutPrefix(spec, "FHIR."); ok {
		name = rest
	}
	if prims, ok := systemTypes[name]; ok {
		return prims[0]
	}
	if system {
		return ""
	}
	return name
}

// kindOf describes a node for error messages without quoting its value,
// which may hold personal data.
func kindOf(n Node) string {
	if t := typeOf(n); t != "" {
		return t
	}
	switch n.Value.(type) {
	case map[string]any:
		return "an object"
	}
	return "a value"
}
