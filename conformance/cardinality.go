package conformance

import (
	"fmt"

	"github.com/oncofhir/oncofhir/fhir"
)

// checkCardinality reports the required elements (min ≥ 1 in the R4
// StructureDefinitions) missing from a decoded resource: its own, those of
// each backbone element and complex data type present in it, and those of
// nested resources and of every extension. An element counts as present
// with its value or with only its "_" companion (a primitive carrying just
// extensions, such as a data-absent-reason); null and [] do not count. A
// choice element (value[x]) is present with any of its types.
//
// The schema has already reported what has the wrong shape; the walk
// ignores what it cannot read.
func checkCardinality(is *issues, inst any, resourceType string) {
	w := walker{is: is, path: []string{resourceType}}
	if obj, ok := inst.(map[string]any); ok {
		w.object(obj, resourceType)
	}
}

type walker struct {
	is   *issues
	path []string
}

func (w *walker) value(v any, key string) {
	switch x := v.(type) {
	case map[string]any:
		w.object(x, key)
	case []any:
		for i, item := range x {
			w.path = append(w.path, index(i))
			w.value(item, key)
			w.path = w.path[:len(w.path)-1]
		}
	}
}

// object checks obj as an instance of the structure key ("" when it has no
// required elements and leads to none: its extensions are still checked).
func (w *walker) object(obj map[string]any, key string) {
	if key == "Resource" {
		key = ""
		if rt, _ := obj["resourceType"].(string); IsResourceType(rt) {
			key = rt
		}
	}
	st := structures[key]
	if st != nil && len(w.is.list) < maxCollected {
		for _, r := range st.required {
			if n := r.count(obj); n < r.min {
				name := r.name
				if r.choice != nil {
					name += "[x]"
				}
				w.path = append(w.path, name)
				w.is.add(w.path, fhir.CodeRequired, fmt.Sprintf("required element missing (minimum cardinality %d)", r.min))
				w.path = w.path[:len(w.path)-1]
			}
		}
	}
	for name, child := range obj {
		switch child.(type) {
		case map[string]any, []any:
		default:
			continue
		}
		ck := ""
		if st != nil {
			ck = st.children[name]
		}
		if ck == "" && (name == "extension" || name == "modifierExtension") {
			ck = "Extension"
		}
		w.path = append(w.path, name)
		w.value(child, ck)
		w.path = w.path[:len(w.path)-1]
	}
}

// count is how many occurrences of the element obj holds.
func (r requirement) count(obj map[string]any) int {
	if r.choice == nil {
		return occurrences(obj[r.name], obj["_"+r.name])
	}
	n := 0
	for _, suffix := range r.choice {
		n += occurrences(obj[r.name+suffix], obj["_"+r.name+suffix])
	}
	return n
}

// occurrences counts the positions where an element has a value, an
// extension companion or both: FHIR JSON aligns a repeating primitive and
// its "_" array with nulls.
func occurrences(value, ext any) int {
	va, vb := asList(value), asList(ext)
	n := 0
	for i := 0; i < max(len(va), len(vb)); i++ {
		if i < len(va) && va[i] != nil || i < len(vb) && vb[i] != nil {
			n++
		}
	}
	return n
}

func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}
