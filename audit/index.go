package audit

import (
	"strings"
	"time"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/search"
)

// IndexOf returns the search index entries of an AuditEvent built by this
// package: the entries the R4 AuditEvent SearchParameters (and those of
// every resource: _id, _lastUpdated, _tag, _security, _profile, _source)
// select, in the shapes fhir/searchparam extracts, read from the struct
// so that recording an event evaluates no FHIRPath. A test holds it equal
// to the extractor's output. References are read as relative ones (the
// builders write no absolute reference). Call it again after changing
// the event.
func IndexOf(r *models.AuditEvent) []fhir.IndexEntry {
	return indexOf(r, false)
}

// storedIndexOf returns the entries of IndexOf that a store keeps of an
// AuditEvent (fhir.LedgerKeyed): its search keys and its date. A store
// reads no other, so the Recorder is handed no other.
func storedIndexOf(r *models.AuditEvent) []fhir.IndexEntry {
	return indexOf(r, true)
}

// indexOf builds the entries of every parameter, or with stored of those
// fhir.LedgerKeyed only.
func indexOf(r *models.AuditEvent, stored bool) []fhir.IndexEntry {
	want := func(param string) bool { return !stored || fhir.LedgerKeyed("AuditEvent", param) }
	n, keep := 24+3*len(r.Entity), func(string) bool { return true }
	if stored {
		n, keep = 4+len(r.Agent)+len(r.Subtype)+len(r.Entity), want
	}
	x := indexer{out: make([]fhir.IndexEntry, 0, n), keep: keep}
	if r.Id != nil && want("_id") {
		x.token("_id", *r.Id)
	}
	if m := r.Meta; m != nil && !stored {
		if m.LastUpdated != nil {
			x.date("_lastUpdated", *m.LastUpdated)
		}
		for _, p := range m.Profile {
			x.uri("_profile", p)
		}
		x.codings("_security", m.Security)
		if m.Source != nil {
			x.uri("_source", *m.Source)
		}
		x.codings("_tag", m.Tag)
	}
	if r.Action != nil && want("action") {
		x.token("action", r.Action.Code())
	}
	if want("address") {
		for _, a := range r.Agent {
			if a.Network != nil && a.Network.Address != nil {
				x.string("address", *a.Network.Address)
			}
		}
		x.dedup()
	}
	if want("agent") {
		for _, a := range r.Agent {
			x.reference("agent", a.Who)
		}
		x.dedup()
	}
	if want("agent-name") {
		for _, a := range r.Agent {
			if a.Name != nil {
				x.string("agent-name", *a.Name)
			}
		}
		x.dedup()
	}
	if want("agent-role") {
		for _, a := range r.Agent {
			for _, c := range a.Role {
				x.concept("agent-role", c)
			}
		}
		x.dedup()
	}
	if want("altid") {
		for _, a := range r.Agent {
			if a.AltId != nil {
				x.token("altid", *a.AltId)
			}
		}
		x.dedup()
	}
	if want("date") {
		x.date("date", r.Recorded)
	}
	if want("entity") {
		for _, e := range r.Entity {
			x.reference("entity", e.What)
		}
		x.dedup()
	}
	if want("entity-name") {
		for _, e := range r.Entity {
			if e.Name != nil {
				x.string("entity-name", *e.Name)
			}
		}
		x.dedup()
	}
	if want("entity-role") {
		for _, e := range r.Entity {
			x.coding("entity-role", e.Role)
		}
		x.dedup()
	}
	if want("entity-type") {
		for _, e := range r.Entity {
			x.coding("entity-type", e.Type)
		}
		x.dedup()
	}
	if r.Outcome != nil && want("outcome") {
		x.token("outcome", r.Outcome.Code())
	}
	if want("patient") {
		for _, a := range r.Agent {
			if isPatient(a.Who) {
				x.reference("patient", a.Who)
			}
		}
		for _, e := range r.Entity {
			if isPatient(e.What) {
				x.reference("patient", e.What)
			}
		}
		x.dedup()
	}
	if want("policy") {
		for _, a := range r.Agent {
			for _, p := range a.Policy {
				x.uri("policy", p)
			}
		}
		x.dedup()
	}
	if r.Source.Site != nil && want("site") {
		x.token("site", *r.Source.Site)
	}
	if want("source") {
		x.reference("source", &r.Source.Observer)
		x.dedup()
	}
	if want("subtype") {
		x.codings("subtype", r.Subtype)
		x.dedup()
	}
	if want("type") {
		x.coding("type", &r.Type)
	}
	return x.out
}

// indexer appends the entries of one event; dedup drops the repeats
// among the entries since the previous dedup, as the extractor does per
// parameter.
type indexer struct {
	out   []fhir.IndexEntry
	start int
	keep  func(param string) bool // the parameters wanted (an identifier's among them)
}

func (x *indexer) add(e fhir.IndexEntry) {
	if x.keep(e.Param) {
		x.out = append(x.out, e)
	}
}

func (x *indexer) token(param, code string) {
	if code != "" {
		x.add(fhir.IndexEntry{Param: param, Kind: fhir.TypeToken, Code: code})
	}
	x.dedup()
}

func (x *indexer) uri(param, s string) {
	if s != "" {
		x.add(fhir.IndexEntry{Param: param, Kind: fhir.TypeURI, Code: s})
	}
}

func (x *indexer) string(param, s string) {
	if s != "" {
		x.add(fhir.IndexEntry{Param: param, Kind: fhir.TypeString, Text: search.Fold(s), Code: s})
	}
}

func (x *indexer) date(param, s string) {
	lo, hi, ok := dateRange(s)
	if !ok {
		return
	}
	x.add(fhir.IndexEntry{Param: param, Kind: fhir.TypeDate, Low: lo, High: hi})
	x.dedup()
}

// dateRange is the range of a date as the extractor reads it, in Unix
// milliseconds. The instants the builders write (fhir.InstantFormat in
// UTC) cover one millisecond; anything else goes through
// fhir.ParseDateRange.
func dateRange(s string) (lo, hi float64, ok bool) {
	if len(s) == len("2006-01-02T15:04:05.000Z") && s[len(s)-1] == 'Z' {
		if t, err := time.Parse(fhir.InstantFormat, s); err == nil {
			ms := float64(t.UnixMilli())
			return ms, ms + 1, true
		}
	}
	start, end, err := fhir.ParseDateRange(s)
	if err != nil {
		return 0, 0, false
	}
	h := end.UnixMilli()
	if end.Nanosecond()%1e6 != 0 {
		h++
	}
	return float64(start.UnixMilli()), float64(h), true
}

func (x *indexer) coding(param string, c *models.Coding) {
	if c == nil {
		return
	}
	e := fhir.IndexEntry{Param: param, Kind: fhir.TypeToken}
	if c.System != nil {
		e.System = *c.System
	}
	if c.Code != nil {
		e.Code = *c.Code
	}
	if c.Display != nil && *c.Display != "" {
		e.Text = foldDisplay(*c.Display)
	}
	if e.System != "" || e.Code != "" || e.Text != "" {
		x.add(e)
	}
}

func (x *indexer) codings(param string, cs []models.Coding) {
	for i := range cs {
		x.coding(param, &cs[i])
	}
	x.dedup()
}

// concept: its codings, and its text unless a coding's display reads the
// same.
func (x *indexer) concept(param string, c models.CodeableConcept) {
	start := len(x.out)
	for i := range c.Coding {
		x.coding(param, &c.Coding[i])
	}
	if c.Text == nil || *c.Text == "" {
		return
	}
	folded := search.Fold(*c.Text)
	for _, e := range x.out[start:] {
		if e.Text == folded {
			return
		}
	}
	x.add(fhir.IndexEntry{Param: param, Kind: fhir.TypeToken, Text: folded})
}

// reference: the reference ("Type/id" with System the type when it names
// a resource, as written otherwise; nothing for "#id") and the
// identifier, as param:identifier.
func (x *indexer) reference(param string, r *models.Reference) {
	if r == nil {
		return
	}
	if r.Reference != nil && *r.Reference != "" && (*r.Reference)[0] != '#' {
		ref := *r.Reference
		if typ, key, ok := localReference(ref); ok {
			x.add(fhir.IndexEntry{Param: param, Kind: fhir.TypeReference, System: typ, Code: key})
		} else {
			x.add(fhir.IndexEntry{Param: param, Kind: fhir.TypeReference, Code: ref})
		}
	}
	if id := r.Identifier; id != nil && id.Value != nil && *id.Value != "" {
		e := fhir.IndexEntry{Param: param + ":identifier", Kind: fhir.TypeReference, Code: *id.Value, Text: *id.Value}
		if id.System != nil {
			e.System = *id.System
		}
		x.add(e)
	}
}

// dedup drops the entries since the last call that equal an earlier one
// since then (entries of different parameters never do).
func (x *indexer) dedup() {
	if len(x.out)-x.start > 32 {
		type key struct {
			param, system, code, text string
			kind                      fhir.ParamType
			low, high                 float64
		}
		seen := make(map[key]bool, len(x.out)-x.start)
		kept := x.out[:x.start]
		for _, e := range x.out[x.start:] {
			k := key{e.Param, e.System, e.Code, e.Text, e.Kind, e.Low, e.High}
			if !seen[k] {
				seen[k] = true
				kept = append(kept, e)
			}
		}
		x.out = kept
	} else if len(x.out)-x.start > 1 {
		kept := x.out[:x.start]
	next:
		for _, e := range x.out[x.start:] {
			for _, k := range kept[x.start:] {
				if k.Param == e.Param && k.Kind == e.Kind && k.System == e.System && k.Code == e.Code &&
					k.Text == e.Text && k.Low == e.Low && k.High == e.High {
					continue next
				}
			}
			kept = append(kept, e)
		}
		x.out = kept
	}
	x.start = len(x.out)
}

// isPatient reports whether a reference points at a Patient, as
// resolve() is Patient reads it: by its type and id, else by its type
// element.
func isPatient(r *models.Reference) bool {
	if r == nil {
		return false
	}
	if r.Reference != nil && *r.Reference != "" {
		if typ, _, ok := localReference(*r.Reference); ok {
			return typ == "Patient"
		}
	}
	return r.Type != nil && *r.Type == "Patient"
}

// localReference reads "Type/id" or "Type/id/_history/version" into the
// type and "Type/id".
func localReference(s string) (typ, key string, ok bool) {
	typ, rest, ok := strings.Cut(s, "/")
	if !ok || !typeName(typ) {
		return "", "", false
	}
	id, version, hasVersion := strings.Cut(rest, "/_history/")
	if !validID(id) || hasVersion && !validID(version) {
		return "", "", false
	}
	return typ, s[:len(typ)+1+len(id)], true
}

// typeName is fhir.ValidTypeName without the regular expression.
func typeName(s string) bool {
	if len(s) < 2 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}
