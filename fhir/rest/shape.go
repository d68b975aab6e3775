package rest

import (
	"encoding/json"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/search"
)

// subsetted is the tag a resource carries when elements were left out.
var subsetted = json.RawMessage(`{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}`)

// shape applies _elements and _summary to a matched resource. summary
// gives the elements _summary=true keeps for a type.
func shape(typ string, raw []byte, p *search.Parsed, summary func(string) (func(string) bool, bool)) json.RawMessage {
	keep := func(string) bool { return true }
	switch {
	case p.Summary == "true" && summary != nil:
		f, ok := summary(typ)
		if !ok {
			return raw
		}
		keep = f
	case len(p.Elements) > 0:
		keep = func(k string) bool {
			name := strings.TrimPrefix(k, "_")
			for _, e := range p.Elements {
				if name == e || (strings.HasPrefix(name, e) && len(name) > len(e) && name[len(e)] >= 'A' && name[len(e)] <= 'Z') {
					return true
				}
			}
			return false
		}
	case p.Summary == "text":
		keep = func(k string) bool { return k == "text" }
	case p.Summary == "data":
		keep = func(k string) bool { return k != "text" }
	default:
		return raw
	}
	o, err := fhir.ParseObject(raw)
	if err != nil {
		return raw
	}
	for k := range o {
		if k != "resourceType" && k != "id" && k != "meta" && !keep(k) {
			delete(o, k)
		}
	}
	meta := fhir.Object{}
	if m, ok := o["meta"]; ok {
		_ = json.Unmarshal(m, &meta)
	}
	var tags []json.RawMessage
	if t, ok := meta["tag"]; ok {
		_ = json.Unmarshal(t, &tags)
	}
	meta.Set("tag", append(tags, subsetted))
	o["meta"] = meta.Bytes()
	return o.Bytes()
}
