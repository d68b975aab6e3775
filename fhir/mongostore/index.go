package mongostore

import (
	"fmt"
	"math"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// entry is one search index entry (fhir.IndexEntry) as the current
// document keeps it, in its array idx. Every string field is written even
// when empty, so that a filter comparing one with "" (a token without a
// system) finds it; lo and hi are written for the range kinds always,
// zero included, and for the others when not zero.
//
// I is the id of a reference to this server (Code is System + "/" + I),
// the part a bare id on a parameter of any type matches (see
// fhir/search.Match): one field to compare, and to index, instead of an
// expression over two.
//
// ±Inf (the open end of a Period) are BSON doubles where the server takes
// them. FerretDB v1 refuses infinite doubles; there the bound is left out
// and Inf says which: infLowNeg, infLowPos, infHighNeg, infHighPos. Its
// searches run in Go over the decoded entries (see search.go), so no
// filter ever compares those fields there.
type entry struct {
	P     string   `bson:"p"`
	K     string   `bson:"k"`
	S     string   `bson:"s"`
	C     string   `bson:"c"`
	T     string   `bson:"t"`
	I     *string  `bson:"i,omitempty"`
	Lo    *float64 `bson:"lo,omitempty"`
	Hi    *float64 `bson:"hi,omitempty"`
	Inf   int      `bson:"inf,omitempty"`
	Parts []entry  `bson:"parts,omitempty"`
}

const (
	infLowNeg = 1 << iota
	infLowPos
	infHighNeg
	infHighPos
)

func isRange(k fhir.ParamType) bool {
	return k == fhir.TypeDate || k == fhir.TypeNumber || k == fhir.TypeQuantity
}

// encodeIndex turns a version's entries into what its document keeps;
// markInf leaves infinite bounds out, marked in Inf (FerretDB).
func encodeIndex(ix []fhir.IndexEntry, markInf bool) []entry {
	if len(ix) == 0 {
		return nil
	}
	out := make([]entry, len(ix))
	for i, e := range ix {
		out[i] = encodeEntry(e, markInf)
	}
	return out
}

func encodeEntry(e fhir.IndexEntry, markInf bool) entry {
	d := entry{P: e.Param, K: string(e.Kind), S: e.System, C: e.Code, T: e.Text}
	if e.System != "" {
		if id, ok := strings.CutPrefix(e.Code, e.System+"/"); ok {
			d.I = &id
		}
	}
	always := isRange(e.Kind)
	d.Lo, d.Inf = bound(e.Low, always, markInf, d.Inf, infLowNeg, infLowPos)
	d.Hi, d.Inf = bound(e.High, always, markInf, d.Inf, infHighNeg, infHighPos)
	if len(e.Parts) > 0 {
		d.Parts = make([]entry, len(e.Parts))
		for i, p := range e.Parts {
			d.Parts[i] = encodeEntry(p, markInf)
		}
	}
	return d
}

func bound(v float64, always, markInf bool, inf, neg, pos int) (*float64, int) {
	switch {
	case markInf && math.IsInf(v, -1):
		return nil, inf | neg
	case markInf && math.IsInf(v, 1):
		return nil, inf | pos
	case v == 0 && !always:
		return nil, inf
	}
	return &v, inf
}

// decodeIndex is the inverse of encodeIndex.
func decodeIndex(ds []entry) []fhir.IndexEntry {
	if len(ds) == 0 {
		return nil
	}
	out := make([]fhir.IndexEntry, len(ds))
	for i := range ds {
		out[i] = ds[i].decode()
	}
	return out
}

func (d *entry) decode() fhir.IndexEntry {
	e := fhir.IndexEntry{Param: d.P, Kind: fhir.ParamType(d.K), System: d.S, Code: d.C, Text: d.T}
	e.Low = unbound(d.Lo, d.Inf, infLowNeg, infLowPos)
	e.High = unbound(d.Hi, d.Inf, infHighNeg, infHighPos)
	if len(d.Parts) > 0 {
		e.Parts = make([]fhir.IndexEntry, len(d.Parts))
		for i := range d.Parts {
			e.Parts[i] = d.Parts[i].decode()
		}
	}
	return e
}

func unbound(v *float64, inf, neg, pos int) float64 {
	switch {
	case inf&neg != 0:
		return math.Inf(-1)
	case inf&pos != 0:
		return math.Inf(1)
	case v == nil:
		return 0
	}
	return *v
}

// checkIndex refuses what the SQLite engine refuses too, so that both
// stores hold the same entries: no param, an unknown kind (the
// "<param>:of-type" and "<param>:identifier" entries are matched as
// tokens whatever theirs), a bound that is not a number (no comparison
// orders it), a composite inside a composite.
func checkIndex(entries []fhir.IndexEntry) error {
	for _, e := range entries {
		if e.Param == "" {
			return fmt.Errorf("index entry of kind %q without a param", e.Kind)
		}
		if !knownKind(e.Kind) && !isSuffixed(e.Param) {
			return fmt.Errorf("index entry %s: unknown kind %q", e.Param, e.Kind)
		}
		if math.IsNaN(e.Low) || math.IsNaN(e.High) {
			return fmt.Errorf("index entry %s: a range bound is NaN", e.Param)
		}
		if e.Kind != fhir.TypeComposite || isSuffixed(e.Param) {
			continue
		}
		for i, p := range e.Parts {
			if !knownKind(p.Kind) || p.Kind == fhir.TypeComposite {
				return fmt.Errorf("index entry %s: part %d has kind %q", e.Param, i, p.Kind)
			}
			if math.IsNaN(p.Low) || math.IsNaN(p.High) {
				return fmt.Errorf("index entry %s: part %d: a range bound is NaN", e.Param, i)
			}
		}
	}
	return nil
}

func knownKind(k fhir.ParamType) bool {
	switch k {
	case fhir.TypeString, fhir.TypeToken, fhir.TypeReference, fhir.TypeURI, fhir.TypeSpecial,
		fhir.TypeDate, fhir.TypeNumber, fhir.TypeQuantity, fhir.TypeComposite:
		return true
	}
	return false
}

// Suffixes of the entries that some modifiers look at instead of the
// parameter's own (see fhir.IndexEntry).
const (
	ofTypeSuffix     = ":of-type"
	identifierSuffix = ":identifier"
)

func isSuffixed(param string) bool {
	return strings.HasSuffix(param, ofTypeSuffix) || strings.HasSuffix(param, identifierSuffix)
}
