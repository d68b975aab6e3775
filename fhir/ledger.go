package fhir

import (
	"context"
	"math"
	"slices"
	"strings"
)

// Ledger types are append-only resources written at a high rate and never
// changed: AuditEvent. Every access writes one, so the engines keep them
// in a lean layout of their own instead of the general one: the JSON, a
// date range and a few search keys (LedgerKeys), with no history copy and
// no general index. In exchange a ledger type is limited:
//
//   - Tx.Put stores a first version only (Version 1, not Deleted); any
//     other is refused with an Error of code not-supported. A Put of an id
//     that exists answers ErrVersionConflict.
//   - Read, VRead (version 1) and History (type and instance; newest
//     first) serve them; system history does not include them.
//   - Search supports the parameters of ledgerParams (exact reference
//     values; token values with a code, with or without system), _id, the
//     date parameter with any prefix, and a sort on that date; any other
//     criterion is an Error of code not-supported. Without a sort, results
//     are ordered by date (the low end of its range), ties in the order
//     stored, so that paging is stable while new entries arrive.
//   - An engine without transactions stores a unit's ledger entries after
//     its other writes: a failed unit may leave some of them stored.
//
// The key strings are the same on every engine so that both can be
// searched the same way.
func IsLedger(typ string) bool { return typ == "AuditEvent" }

// LedgerPurger deletes ledger entries, for a retention period: nothing
// else may. It answers how many of ids it deleted (ids not stored are
// skipped); a type that is not a ledger is an error.
type LedgerPurger interface {
	PurgeLedger(ctx context.Context, typ string, ids []string) (int, error)
}

// LedgerTypes lists the ledger types.
func LedgerTypes() []string { return []string{"AuditEvent"} }

// LedgerSearchable reports whether a search of typ can use param: always
// for a type that is not a ledger.
func LedgerSearchable(typ, param string) bool {
	if !IsLedger(typ) {
		return true
	}
	_, ok := ledgerParams[typ][param]
	_, alias := ledgerAliases[typ][param]
	return ok || alias || param == "_id" || param == ledgerDate[typ]
}

// ledgerParams are the searchable parameters of each ledger type, by type.
var ledgerParams = map[string]map[string]ParamType{
	"AuditEvent": {
		"entity":  TypeReference,
		"agent":   TypeReference,
		"type":    TypeToken,
		"subtype": TypeToken,
		"action":  TypeToken,
		"outcome": TypeToken,
	},
}

// ledgerAliases are parameters searched through others, by type: their
// values are never keyed twice. AuditEvent's patient is, by its
// definition, the agents' and entities' references that are Patients.
var ledgerAliases = map[string]map[string][]string{
	"AuditEvent": {"patient": {"entity", "agent"}},
}

// ledgerDate is the date parameter of each ledger type.
var ledgerDate = map[string]string{"AuditEvent": "date"}

// LedgerDateParam is the date parameter a ledger type is ordered and
// searched by.
func LedgerDateParam(typ string) string { return ledgerDate[typ] }

// LedgerKeyed reports whether a ledger type's entries are keyed by param
// (LedgerKeys) or dated by it: the index entries of other parameters are
// not stored.
func LedgerKeyed(typ, param string) bool {
	_, ok := ledgerParams[typ][param]
	return ok || param == ledgerDate[typ]
}

// sep separates the parts of a key: it is in no parameter name, and a
// token or reference with it is not keyed (see LedgerKeys).
const sep = "\x1f"

// LedgerKeys are the search keys of a ledger resource, from its index
// entries: one per distinct value of each parameter of ledgerParams, as
// Type␟param␟Type/id for a reference and Type␟param␟code␟system for a
// token. Its date range is the first entry of its date parameter (ms;
// ok false when it has none, or when that range is empty or wider than
// LedgerMaxSpan).
func LedgerKeys(typ string, index []IndexEntry) (keys []string, low, high float64, ok bool) {
	params, dateParam := ledgerParams[typ], ledgerDate[typ]
	for _, e := range index {
		if e.Param == dateParam && e.Kind == TypeDate {
			if !ok && e.Low < e.High && e.High-e.Low <= LedgerMaxSpan {
				low, high, ok = e.Low, e.High, true
			}
			continue
		}
		kind, found := params[e.Param]
		if !found || kind != e.Kind {
			continue
		}
		var k string
		switch kind {
		case TypeReference:
			if e.System == "" || strings.Contains(e.Code, sep) {
				continue // an external reference: not searchable on a ledger
			}
			k = typ + sep + e.Param + sep + e.Code
		case TypeToken:
			if e.Code == "" || strings.Contains(e.Code, sep) || strings.Contains(e.System, sep) {
				continue
			}
			k = typ + sep + e.Param + sep + e.Code + sep + e.System
		}
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys, low, high, ok
}

// LedgerMatch is one alternative of a key criterion: the key itself, or
// with Prefix every key that starts with it.
type LedgerMatch struct {
	Key    string
	Prefix bool
}

// DateBound is one alternative of a date criterion, to be tested against
// the stored range [low, high) by the rule of Prefix (as Clause says).
type DateBound struct {
	Prefix    string
	Low, High float64
	Approx    float64
}

// LedgerQuery is a Query over a ledger type, compiled by CompileLedger.
type LedgerQuery struct {
	Type string
	IDs  []string // any of them; none: no criterion
	// Keys must all match (AND), each by one of its alternatives (OR).
	Keys [][]LedgerMatch
	// Dates must all match (AND), each by one of its alternatives (OR).
	Dates [][]DateBound
	Desc  bool // newest first; else oldest first
	// Offset and Limit as in Query (Limit 0: no limit).
	Offset, Limit int
}

// CompileLedger turns q, over a ledger type, into a LedgerQuery; a
// criterion a ledger cannot answer is an Error of code not-supported (400).
func CompileLedger(q Query) (*LedgerQuery, error) {
	params, dateParam := ledgerParams[q.Type], ledgerDate[q.Type]
	lq := &LedgerQuery{Type: q.Type, Offset: q.Offset, Limit: q.Limit}
	if len(q.IDs) > 0 {
		lq.IDs = q.IDs
	}
	if len(q.Tokens) > 0 {
		return nil, ledgerUnsupported(q.Type, "identifier criteria")
	}
	for _, c := range q.Clauses {
		if c.Missing != nil {
			return nil, ledgerUnsupported(q.Type, c.Param+":missing")
		}
		if c.Param == "_id" && c.Type == TypeToken && c.Modifier == "" {
			ids := make([]string, 0, len(c.Values))
			for _, v := range c.Values {
				ids = append(ids, v.Code)
			}
			if lq.IDs != nil {
				ids = slices.DeleteFunc(ids, func(id string) bool { return !slices.Contains(lq.IDs, id) })
			}
			lq.IDs = ids
			if len(ids) == 0 {
				lq.IDs = []string{""} // no id matches both
			}
			continue
		}
		if c.Param == dateParam && c.Type == TypeDate && c.Modifier == "" {
			alts := make([]DateBound, 0, len(c.Values))
			for _, v := range c.Values {
				alts = append(alts, DateBound{Prefix: v.Prefix, Low: v.Low, High: v.High, Approx: v.Approx})
			}
			lq.Dates = append(lq.Dates, alts)
			continue
		}
		searched := []string{c.Param}
		if as, ok := ledgerAliases[q.Type][c.Param]; ok && c.Type == TypeReference {
			searched = as
		} else if kind, ok := params[c.Param]; !ok || kind != c.Type {
			return nil, ledgerUnsupported(q.Type, "the parameter "+c.Param)
		}
		if c.Modifier != "" {
			return nil, ledgerUnsupported(q.Type, c.Param+":"+c.Modifier)
		}
		alts := make([]LedgerMatch, 0, len(c.Values)*len(searched))
		for _, v := range c.Values {
			for _, param := range searched {
				as := c
				as.Param = param
				m, err := ledgerMatch(q.Type, as, v)
				if err != nil {
					return nil, err
				}
				alts = append(alts, m)
			}
		}
		lq.Keys = append(lq.Keys, alts)
	}
	switch len(q.Sort) {
	case 0:
	case 1:
		if q.Sort[0].Param != dateParam {
			return nil, ledgerUnsupported(q.Type, "sorting by "+q.Sort[0].Param)
		}
		lq.Desc = q.Sort[0].Desc
	default:
		return nil, ledgerUnsupported(q.Type, "sorting by more than the date")
	}
	return lq, nil
}

func ledgerMatch(typ string, c Clause, v Value) (LedgerMatch, error) {
	base := typ + sep + c.Param + sep
	switch c.Type {
	case TypeReference:
		if v.AnySystem || v.Code == "" || !strings.Contains(v.Code, "/") {
			return LedgerMatch{}, badLedger("searching %s by %s needs a typed reference, as in %s=Patient/123", typ, c.Param, c.Param)
		}
		return LedgerMatch{Key: base + v.Code}, nil
	default: // token
		if v.Code == "" {
			return LedgerMatch{}, badLedger("searching %s by %s needs a code (system|code or code)", typ, c.Param)
		}
		if v.AnySystem {
			return LedgerMatch{Key: base + v.Code + sep, Prefix: true}, nil
		}
		return LedgerMatch{Key: base + v.Code + sep + v.System}, nil
	}
}

func ledgerUnsupported(typ, what string) *Error {
	return badLedger("%s search does not support %s; it supports _id, %s and %s", typ, what,
		LedgerDateParam(typ), strings.Join(ledgerParamNames(typ), ", "))
}

// badLedger is a search a ledger cannot answer: not-supported, with 400
// (the search is malformed for this type, not the method).
func badLedger(format string, args ...any) *Error {
	e := Errorf(CodeNotSupported, format, args...)
	e.Status = 400
	return e
}

func ledgerParamNames(typ string) []string {
	var out []string
	for p := range ledgerParams[typ] {
		out = append(out, p)
	}
	for p := range ledgerAliases[typ] {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Matches reports whether the range [low, high) satisfies the bound, by
// the rules of Clause for ranges.
func (b DateBound) Matches(low, high float64) bool {
	switch b.Prefix {
	case "", "eq":
		return low >= b.Low && high <= b.High
	case "ne":
		return !(low >= b.Low && high <= b.High)
	case "gt":
		return high > b.High
	case "lt":
		return low < b.Low
	case "ge":
		return high > b.High || (low >= b.Low && high <= b.High)
	case "le":
		return low < b.Low || (low >= b.Low && high <= b.High)
	case "sa":
		return low >= b.High
	case "eb":
		return high <= b.Low
	case "ap":
		return low < b.High+b.Approx && high > b.Low-b.Approx
	}
	return false
}

// LedgerMaxSpan is the widest date range a ledger entry keeps (ms): an
// instant is precise to the second at least. LedgerKeys answers ok false
// for a wider one, which the engines then date by LastUpdated.
const LedgerMaxSpan = 1000

// LowScan is the interval [from, to) the low end of a range satisfying
// every criterion of dates must lie in, knowing that ranges are at most
// LedgerMaxSpan wide: engines scan it in date order and then apply the
// criteria. Infinite ends mean no bound.
func LowScan(dates [][]DateBound) (from, to float64) {
	from, to = math.Inf(-1), math.Inf(1)
	for _, alts := range dates {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, b := range alts {
			l, h := b.lowScan()
			lo, hi = min(lo, l), max(hi, h)
		}
		from, to = max(from, lo), min(to, hi)
	}
	return from, to
}

func (b DateBound) lowScan() (from, to float64) {
	inf := math.Inf(1)
	switch b.Prefix {
	case "", "eq":
		return b.Low, b.High
	case "gt":
		return b.High - LedgerMaxSpan, inf
	case "ge":
		return min(b.Low, b.High-LedgerMaxSpan), inf
	case "lt", "eb":
		return -inf, b.Low
	case "le":
		return -inf, b.High
	case "sa":
		return b.High, inf
	case "ap":
		return b.Low - b.Approx - LedgerMaxSpan, b.High + b.Approx
	}
	return -inf, inf // ne
}
