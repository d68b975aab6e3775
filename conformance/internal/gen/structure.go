package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type structureDefinition struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Kind         string `json:"kind"`
	Abstract     bool   `json:"abstract"`
	Derivation   string `json:"derivation"`
	Snapshot     struct {
		Element []elementDefinition `json:"element"`
	} `json:"snapshot"`
}

type elementDefinition struct {
	Path             string `json:"path"`
	Min              int    `json:"min"`
	Max              string `json:"max"`
	IsSummary        bool   `json:"isSummary"`
	ContentReference string `json:"contentReference"`
	Type             []struct {
		Code string `json:"code"`
	} `json:"type"`
}

// structureDefinitions reads the base StructureDefinitions of resources
// and complex data types (profiles that constrain a type are left out),
// keyed by type.
func structureDefinitions(dir string) (map[string]*structureDefinition, error) {
	sds := map[string]*structureDefinition{}
	for _, file := range []string{"profiles-resources.json", "profiles-types.json"} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return nil, err
		}
		var bundle struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		for _, e := range bundle.Entry {
			var head struct {
				ResourceType string `json:"resourceType"`
			}
			if err := json.Unmarshal(e.Resource, &head); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			if head.ResourceType != "StructureDefinition" {
				continue
			}
			var sd structureDefinition
			if err := json.Unmarshal(e.Resource, &sd); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			if sd.Derivation == "constraint" {
				continue
			}
			if sd.Kind != "resource" && sd.Kind != "complex-type" {
				continue
			}
			if _, dup := sds[sd.Type]; dup {
				return nil, fmt.Errorf("%s: two base StructureDefinitions for %s", file, sd.Type)
			}
			sds[sd.Type] = &sd
		}
	}
	return sds, nil
}

// node is one structure in the table: a resource, a complex data type or a
// backbone element (keyed by its path, e.g. "Observation.component").
type node struct {
	required []requirement
	children map[string]string // JSON member name → key of its structure
}

type requirement struct {
	name   string
	min    int
	choice []string // type suffixes of a choice element (value[x])
}

type table map[string]*node

// buildTable reads the snapshots of the given resources and of every
// concrete complex data type, and keeps what a cardinality check needs:
// each structure's elements with min ≥ 1, and the members leading to
// structures that have some. extension and modifierExtension are left out:
// the checker treats every such member as an Extension.
func buildTable(sds map[string]*structureDefinition, resources []string) (table, error) {
	var roots []*structureDefinition
	for _, name := range resources {
		roots = append(roots, sds[name])
	}
	for _, sd := range sds {
		if sd.Kind == "complex-type" && !sd.Abstract {
			roots = append(roots, sd)
		}
	}
	t := table{}
	for _, sd := range roots {
		if err := t.add(sd, sds); err != nil {
			return nil, err
		}
	}
	t.prune()
	return t, nil
}

func (t table) add(sd *structureDefinition, sds map[string]*structureDefinition) error {
	els := sd.Snapshot.Element
	if len(els) == 0 || els[0].Path != sd.Type {
		return fmt.Errorf("%s: snapshot does not start at its root", sd.Type)
	}
	hasChildren := map[string]bool{}
	for _, e := range els[1:] {
		hasChildren[parentPath(e.Path)] = true
	}
	keyOf := func(e elementDefinition, code string) string {
		switch {
		case e.ContentReference != "":
			return e.ContentReference[strings.IndexByte(e.ContentReference, '#')+1:]
		case hasChildren[e.Path]:
			return e.Path
		case code == "Resource":
			return "Resource"
		}
		if dt, ok := sds[code]; ok && dt.Kind == "complex-type" {
			return code
		}
		return ""
	}
	t.node(sd.Type)
	for _, e := range els[1:] {
		parent, name := parentPath(e.Path), e.Path[len(parentPath(e.Path))+1:]
		if name == "extension" || name == "modifierExtension" {
			continue
		}
		n := t.node(parent)
		if hasChildren[e.Path] {
			t.node(e.Path)
		}
		if base, ok := strings.CutSuffix(name, "[x]"); ok {
			r := requirement{name: base, min: e.Min}
			for _, ty := range e.Type {
				suffix := strings.ToUpper(ty.Code[:1]) + ty.Code[1:]
				r.choice = append(r.choice, suffix)
				if k := keyOf(e, ty.Code); k != "" {
					n.children[base+suffix] = k
				}
			}
			if e.Min > 0 {
				n.required = append(n.required, r)
			}
			continue
		}
		code := ""
		if len(e.Type) == 1 {
			code = e.Type[0].Code
		}
		if k := keyOf(e, code); k != "" {
			n.children[name] = k
		}
		if e.Min > 0 {
			n.required = append(n.required, requirement{name: name, min: e.Min})
		}
	}
	return nil
}

func (t table) node(key string) *node {
	n, ok := t[key]
	if !ok {
		n = &node{children: map[string]string{}}
		t[key] = n
	}
	return n
}

func parentPath(p string) string {
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// prune keeps the structures that have a required element or lead to one,
// and in each the members leading to one. Nested resources ("Resource") are
// always kept: their type is known only from the instance.
func (t table) prune() {
	needed := map[string]bool{"Resource": true}
	for changed := true; changed; {
		changed = false
		for key, n := range t {
			if needed[key] {
				continue
			}
			need := len(n.required) > 0
			for _, k := range n.children {
				need = need || needed[k]
			}
			if need {
				needed[key], changed = true, true
			}
		}
	}
	for key, n := range t {
		if !needed[key] {
			delete(t, key)
			continue
		}
		for name, k := range n.children {
			if !needed[k] {
				delete(n.children, name)
			}
		}
	}
}

func (t table) source() []byte {
	var b strings.Builder
	b.WriteString(header("the StructureDefinition snapshots in profiles-resources.json and profiles-types.json from " +
		definitionsInput + "; " + fhirVersion))
	b.WriteString("// structures holds, for each resource, complex data type and backbone element\n")
	b.WriteString("// that has required elements or leads to one, its elements with min ≥ 1 and\n")
	b.WriteString("// the members leading to such structures.\n")
	b.WriteString("var structures = map[string]*structure{\n")
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, key := range keys {
		n := t[key]
		if i > 0 {
			b.WriteString("\n") // one entry a paragraph: no column padding
		}
		fmt.Fprintf(&b, "\t%q: {", key)
		if len(n.required) > 0 {
			b.WriteString("required: []requirement{")
			for i, r := range n.required {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "{name: %q, min: %d", r.name, r.min)
				if len(r.choice) > 0 {
					fmt.Fprintf(&b, ", choice: %#v", r.choice)
				}
				b.WriteString("}")
			}
			b.WriteString("}")
			if len(n.children) > 0 {
				b.WriteString(", ")
			}
		}
		if len(n.children) > 0 {
			names := make([]string, 0, len(n.children))
			for name := range n.children {
				names = append(names, name)
			}
			sort.Strings(names)
			b.WriteString("children: map[string]string{")
			for i, name := range names {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%q: %q", name, n.children[name])
			}
			b.WriteString("}")
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n")
	return []byte(b.String())
}
