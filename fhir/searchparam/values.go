package searchparam

import (
	"encoding/json"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/fhirpath"
	"github.com/oncofhir/oncofhir/fhir/search"
)

// stringEntries: a string, or the parts of a HumanName or an Address.
func (x *extractor) stringEntries(out []fhir.IndexEntry, code string, n fhirpath.Node) []fhir.IndexEntry {
	switch v := n.Value.(type) {
	case string:
		return x.appendString(out, code, v)
	case map[string]any:
		var parts []string
		// HumanName, in the order a name is written.
		parts = appendStrings(parts, v["prefix"])
		parts = appendStrings(parts, v["given"])
		parts = appendStrings(parts, v["family"])
		parts = appendStrings(parts, v["suffix"])
		// Address.
		parts = appendStrings(parts, v["line"])
		for _, k := range [...]string{"city", "district", "state", "postalCode", "country"} {
			parts = appendStrings(parts, v[k])
		}
		for _, p := range parts {
			out = x.appendString(out, code, p)
		}
		if text, _ := v["text"].(string); text != "" {
			out = x.appendString(out, code, text)
		} else if len(parts) > 1 {
			out = x.appendString(out, code, strings.Join(parts, " "))
		}
	}
	return out
}

func (x *extractor) appendString(out []fhir.IndexEntry, code, s string) []fhir.IndexEntry {
	if s == "" {
		return out
	}
	return append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeString, Text: x.fold(s), Code: s})
}

// appendStrings appends v if it is a non-empty string, or its non-empty
// string items if it is an array.
func appendStrings(dst []string, v any) []string {
	switch v := v.(type) {
	case string:
		if v != "" {
			dst = append(dst, v)
		}
	case []any:
		for _, item := range v {
			if s, ok := item.(string); ok && s != "" {
				dst = append(dst, s)
			}
		}
	}
	return dst
}

// contactSystems are the codes of ContactPoint.system.
var contactSystems = map[string]bool{"phone": true, "fax": true, "email": true, "pager": true, "url": true, "sms": true, "other": true}

// tokenEntries: a primitive, a Coding, a CodeableConcept, an Identifier or
// a ContactPoint, told apart by the node's type when the expression gives
// it, else by the element name and the members present.
func (x *extractor) tokenEntries(out []fhir.IndexEntry, code string, n fhirpath.Node) []fhir.IndexEntry {
	switch v := n.Value.(type) {
	case string:
		if v != "" {
			out = append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeToken, Code: v})
		}
	case bool:
		c := "false"
		if v {
			c = "true"
		}
		out = append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeToken, Code: c})
	case json.Number:
		out = append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeToken, Code: string(v)})
	case map[string]any:
		switch complexType(n, v) {
		case "CodeableConcept":
			out = x.codeableConcept(out, code, v)
		case "Coding":
			out = x.coding(out, code, v)
		case "Identifier":
			out = x.identifier(out, code, v)
		case "ContactPoint":
			if value, _ := v["value"].(string); value != "" {
				out = append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeToken, Code: value})
			}
		}
	}
	return out
}

// complexType names the data type of a token node: its Type when one of
// those a token reads, else what its element name and members imply.
func complexType(n fhirpath.Node, v map[string]any) string {
	switch n.Type {
	case "CodeableConcept", "Coding", "Identifier", "ContactPoint":
		return n.Type
	}
	switch n.Name { // in R4, an object element so named has that type
	case "identifier", "masterIdentifier":
		return "Identifier"
	case "telecom":
		return "ContactPoint"
	}
	if _, ok := v["coding"]; ok {
		return "CodeableConcept"
	}
	if value, ok := v["value"].(string); ok && value != "" {
		system, _ := v["system"].(string)
		if _, rank := v["rank"]; rank || contactSystems[system] {
			return "ContactPoint"
		}
		return "Identifier"
	}
	if _, ok := v["code"]; ok {
		return "Coding"
	}
	if _, ok := v["system"]; ok {
		return "Coding"
	}
	if _, ok := v["text"]; ok {
		return "CodeableConcept"
	}
	if _, ok := v["display"]; ok {
		return "Coding"
	}
	return ""
}

func (x *extractor) coding(out []fhir.IndexEntry, code string, v map[string]any) []fhir.IndexEntry {
	system, _ := v["system"].(string)
	c, _ := v["code"].(string)
	display, _ := v["display"].(string)
	if system == "" && c == "" && display == "" {
		return out
	}
	e := fhir.IndexEntry{Param: code, Kind: fhir.TypeToken, System: system, Code: c}
	if display != "" {
		e.Text = x.fold(display)
	}
	return append(out, e)
}

func (x *extractor) codeableConcept(out []fhir.IndexEntry, code string, v map[string]any) []fhir.IndexEntry {
	start := len(out)
	if codings, ok := v["coding"].([]any); ok {
		for _, c := range codings {
			if m, ok := c.(map[string]any); ok {
				out = x.coding(out, code, m)
			}
		}
	}
	text, _ := v["text"].(string)
	if text == "" {
		return out
	}
	folded := x.fold(text)
	for _, e := range out[start:] {
		if e.Text == folded {
			return out
		}
	}
	return append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeToken, Text: folded})
}

func (x *extractor) identifier(out []fhir.IndexEntry, code string, v map[string]any) []fhir.IndexEntry {
	value, _ := v["value"].(string)
	if value == "" {
		return out
	}
	system, _ := v["system"].(string)
	e := fhir.IndexEntry{Param: code, Kind: fhir.TypeToken, System: system, Code: value}
	typ, _ := v["type"].(map[string]any)
	if text, _ := typ["text"].(string); text != "" {
		e.Text = x.fold(text)
	}
	out = append(out, e)
	if codings, ok := typ["coding"].([]any); ok {
		for _, c := range codings {
			m, _ := c.(map[string]any)
			tc, _ := m["code"].(string)
			if tc == "" {
				continue
			}
			ts, _ := m["system"].(string)
			out = append(out, fhir.IndexEntry{Param: code + ":of-type", Kind: fhir.TypeToken, System: ts, Code: tc, Text: value})
		}
	}
	return out
}

// referenceEntries: a Reference (its reference and its identifier), or a
// canonical or uri.
func (x *extractor) referenceEntries(out []fhir.IndexEntry, code string, n fhirpath.Node) []fhir.IndexEntry {
	switch v := n.Value.(type) {
	case string:
		out = x.appendReference(out, code, v)
		if url, _, versioned := strings.Cut(v, "|"); versioned && url != "" {
			out = x.appendReference(out, code, url)
		}
	case map[string]any:
		if ref, _ := v["reference"].(string); ref != "" {
			out = x.appendReference(out, code, ref)
		}
		if id, ok := v["identifier"].(map[string]any); ok {
			if value, _ := id["value"].(string); value != "" {
				system, _ := id["system"].(string)
				out = append(out, fhir.IndexEntry{Param: code + ":identifier", Kind: fhir.TypeReference, System: system, Code: value, Text: value})
			}
		}
	}
	return out
}

// appendReference appends the entry of a reference string: Type/id for a
// resource on this server, the string as written for any other URL, nothing
// for a reference to a contained resource.
func (x *extractor) appendReference(out []fhir.IndexEntry, code, ref string) []fhir.IndexEntry {
	if ref == "" || ref[0] == '#' {
		return out
	}
	local := ref
	if x.basePrefix != "" && strings.HasPrefix(ref, x.basePrefix) {
		local = ref[len(x.basePrefix):]
	}
	if typ, key, ok := localReference(local); ok {
		return append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeReference, System: typ, Code: key})
	}
	return append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeReference, Code: ref})
}

// localReference reads "Type/id" or "Type/id/_history/version" into the
// type and "Type/id".
func localReference(s string) (typ, key string, ok bool) {
	typ, rest, ok := strings.Cut(s, "/")
	if !ok || !fhir.ValidTypeName(typ) {
		return "", "", false
	}
	id, version, hasVersion := strings.Cut(rest, "/_history/")
	if !fhir.ValidID(id) || hasVersion && !fhir.ValidID(version) {
		return "", "", false
	}
	return typ, typ + "/" + id, true
}

// fold is search.Fold, remembered for the resource: a display or a name
// is often selected by several parameters.
func (x *extractor) fold(s string) string {
	if f, ok := x.folds[s]; ok {
		return f
	}
	if x.folds == nil {
		x.folds = make(map[string]string, 8)
	}
	f := search.Fold(s)
	x.folds[s] = f
	return f
}
