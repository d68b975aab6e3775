package searchparam

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/fhirpath"
)

// maxCombinations bounds the entries one node of a composite parameter may
// give (the product of its components' entries).
const maxCombinations = 64

// Extract returns the search index entries of a resource of the given type:
// for each of the type's parameters, the values its expression selects, as
// documented on fhir.IndexEntry and in the package documentation. raw is
// the resource's JSON, decoded once. The error reports JSON that is not an
// object, a type the registry does not know, or an expression that fails
// on this resource.
func (r *Registry) Extract(resourceType string, raw []byte) ([]fhir.IndexEntry, error) {
	tp := r.types[resourceType]
	if tp == nil {
		return nil, fmt.Errorf("searchparam: extract: unknown resource type %q", resourceType)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var res map[string]any
	if err := d.Decode(&res); err != nil || res == nil {
		return nil, fmt.Errorf("searchparam: extract %s: not a JSON object", resourceType)
	}
	x := extractor{basePrefix: r.basePrefix, resource: res}
	out := make([]fhir.IndexEntry, 0, 48)
	present := namesOf(res)
	for _, p := range tp.list {
		if !present.any(p.needs) {
			continue
		}
		nodes, err := p.expr.Eval(res)
		if err != nil {
			return nil, fmt.Errorf("searchparam: extract %s.%s: %w", resourceType, p.def.Code, err)
		}
		if len(nodes) == 0 {
			continue
		}
		start := len(out)
		if p.def.Type == fhir.TypeComposite {
			out, err = x.composite(out, p, nodes)
			if err != nil {
				return nil, fmt.Errorf("searchparam: extract %s.%s: %w", resourceType, p.def.Code, err)
			}
		} else {
			for _, n := range nodes {
				out = x.entries(out, p.def.Code, p.def.Type, n)
			}
		}
		out = dedup(out, start)
	}
	return out, nil
}

// extractor converts the nodes of one resource into entries.
type extractor struct {
	basePrefix string
	resource   map[string]any
	folds      map[string]string // see fold
}

// entries appends the entries of one node for a parameter of type typ.
func (x *extractor) entries(out []fhir.IndexEntry, code string, typ fhir.ParamType, n fhirpath.Node) []fhir.IndexEntry {
	switch typ {
	case fhir.TypeString:
		return x.stringEntries(out, code, n)
	case fhir.TypeToken:
		return x.tokenEntries(out, code, n)
	case fhir.TypeReference:
		return x.referenceEntries(out, code, n)
	case fhir.TypeURI:
		if s, ok := n.Value.(string); ok && s != "" {
			out = append(out, fhir.IndexEntry{Param: code, Kind: fhir.TypeURI, Code: s})
		}
		return out
	case fhir.TypeDate:
		return dateEntries(out, code, n)
	case fhir.TypeNumber:
		return numberEntries(out, code, n)
	case fhir.TypeQuantity:
		return quantityEntries(out, code, n)
	}
	return out
}

// composite appends, for each node of the composite's expression, every
// combination of its components' entries on that node.
func (x *extractor) composite(out []fhir.IndexEntry, p *param, nodes []fhirpath.Node) ([]fhir.IndexEntry, error) {
	selected := make([][]fhirpath.Node, len(p.components))
	parts := make([][]fhir.IndexEntry, len(p.components))
nodes:
	for _, n := range nodes {
		// A node lacking a component gives no combination: find out
		// before converting any.
		if m, ok := n.Value.(map[string]any); ok {
			for _, c := range p.components {
				if !hasAny(m, c.needs) {
					continue nodes
				}
			}
		}
		for i, c := range p.components {
			cn, err := c.expr.EvalAt(x.resource, n)
			if err != nil {
				return out, err
			}
			if len(cn) == 0 {
				continue nodes
			}
			selected[i] = cn
		}
		total := 1
		for i, c := range p.components {
			var es []fhir.IndexEntry
			for _, m := range selected[i] {
				es = x.entries(es, c.code, c.typ, m)
			}
			// Only the component's own entries are parts: not :of-type
			// or :identifier, nor a concept's text alone, which no
			// composite value can name.
			kept := es[:0]
			for _, e := range es {
				if e.Param == c.code && (e.Kind != fhir.TypeToken || e.Code != "" || e.System != "") {
					kept = append(kept, e)
				}
			}
			parts[i] = dedup(kept, 0)
			total *= len(parts[i])
		}
		total = min(total, maxCombinations)
		if total == 0 {
			continue
		}
		backing := make([]fhir.IndexEntry, total*len(parts))
		idx := make([]int, len(parts))
		for k := range total {
			e := fhir.IndexEntry{Param: p.def.Code, Kind: fhir.TypeComposite, Parts: backing[k*len(parts) : (k+1)*len(parts) : (k+1)*len(parts)]}
			for i := range parts {
				e.Parts[i] = parts[i][idx[i]]
			}
			out = append(out, e)
			for i := len(idx) - 1; i >= 0; i-- { // next combination
				idx[i]++
				if idx[i] < len(parts[i]) {
					break
				}
				idx[i] = 0
			}
		}
	}
	return out, nil
}

// dedup removes from out[start:] the entries equal to an earlier one.
func dedup(out []fhir.IndexEntry, start int) []fhir.IndexEntry {
	if len(out)-start < 2 {
		return out
	}
	if len(out)-start > 32 {
		return dedupMany(out, start)
	}
	kept := out[:start+1]
next:
	for _, e := range out[start+1:] {
		for _, k := range kept[start:] {
			if equalEntry(e, k) {
				continue next
			}
		}
		kept = append(kept, e)
	}
	return kept
}

func equalEntry(a, b fhir.IndexEntry) bool {
	if a.Param != b.Param || a.Kind != b.Kind || a.System != b.System || a.Code != b.Code ||
		a.Text != b.Text || a.Low != b.Low || a.High != b.High || len(a.Parts) != len(b.Parts) {
		return false
	}
	for i := range a.Parts {
		if !equalEntry(a.Parts[i], b.Parts[i]) {
			return false
		}
	}
	return true
}

// entryKey is an entry without its Parts, comparable.
type entryKey struct {
	param, system, code, text string
	kind                      fhir.ParamType
	low, high                 float64
}

// dedupMany is dedup for many entries; composite entries are all kept.
func dedupMany(out []fhir.IndexEntry, start int) []fhir.IndexEntry {
	seen := make(map[entryKey]bool, len(out)-start)
	kept := out[:start]
	for _, e := range out[start:] {
		if len(e.Parts) == 0 {
			k := entryKey{e.Param, e.System, e.Code, e.Text, e.Kind, e.Low, e.High}
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		kept = append(kept, e)
	}
	return kept
}
