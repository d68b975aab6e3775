package mongostore

import (
	"regexp"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/oncofhir/oncofhir/fhir"
)

// Filters for servers that have $elemMatch over sub-documents (see
// search.go): each clause of a query becomes a condition on the idx array
// of the current documents, one $elemMatch per value so that all the
// conditions of a value hold in one entry, as fhir.Clause requires. The
// values of a clause are alternatives ($or), a :not clause wants none of
// them ($nor), :missing looks for an entry of the param (idx.p). The
// conditions are those of fhir/search.Match, written over the fields of
// entry; checkQuery has refused what they do not cover.

// clausesFilter is the filter of q: the envelope (searchFilter) and every
// clause.
func clausesFilter(q fhir.Query) bson.D {
	f := searchFilter(q)
	if len(q.Clauses) == 0 {
		return f
	}
	and := make(bson.A, 0, len(q.Clauses))
	for _, c := range q.Clauses {
		and = append(and, clauseFilter(c))
	}
	return append(f, bson.E{Key: "$and", Value: and})
}

// clauseFilter is the condition of one clause on a current document.
func clauseFilter(c fhir.Clause) bson.D {
	param := entryParam(c)
	if c.Missing != nil {
		if *c.Missing {
			// No element of idx has p = param (documents without idx too).
			return bson.D{{Key: "idx.p", Value: bson.D{{Key: "$ne", Value: param}}}}
		}
		return bson.D{{Key: "idx.p", Value: param}}
	}
	alts := make(bson.A, len(c.Values))
	for i, v := range c.Values {
		m := append(bson.D{{Key: "p", Value: param}}, valueCond(c.Type, c.Modifier, v)...)
		alts[i] = bson.D{{Key: "idx", Value: bson.D{{Key: "$elemMatch", Value: m}}}}
	}
	switch {
	case c.Modifier == "not":
		return bson.D{{Key: "$nor", Value: alts}}
	case len(alts) == 1:
		return alts[0].(bson.D)
	}
	return bson.D{{Key: "$or", Value: alts}}
}

// valueCond is what an entry must hold to match v, under a clause of type
// typ with modifier mod (fhir/search.matchValue), on fields with the given
// prefix ("" for an entry, "parts.N." for a part of a composite).
func valueCond(typ fhir.ParamType, mod string, v fhir.Value) bson.D {
	return cond("", typ, mod, v)
}

func cond(at string, typ fhir.ParamType, mod string, v fhir.Value) bson.D {
	switch typ {
	case fhir.TypeString:
		switch mod {
		case "exact":
			return bson.D{{Key: at + "c", Value: v.Code}}
		case "contains":
			return bson.D{{Key: at + "t", Value: regex(regexp.QuoteMeta(v.Code))}}
		}
		return bson.D{{Key: at + "t", Value: prefix(v.Code)}}
	case fhir.TypeToken:
		switch mod {
		case "text":
			return bson.D{{Key: at + "t", Value: prefix(v.Code)}}
		case "of-type":
			return bson.D{{Key: at + "s", Value: v.System}, {Key: at + "c", Value: v.Code}, {Key: at + "t", Value: v.Text}}
		}
		return tokenCond(at, "c", v)
	case fhir.TypeReference:
		switch {
		case mod == "identifier":
			// The identifier entry holds the value in Text.
			return tokenCond(at, "t", v)
		case v.AnySystem:
			return bson.D{{Key: at + "i", Value: v.Code}}
		}
		return bson.D{{Key: at + "c", Value: v.Code}}
	case fhir.TypeURI:
		switch mod {
		case "above":
			return bson.D{{Key: at + "c", Value: bson.D{{Key: "$in", Value: prefixes(v.Code)}}}}
		case "below":
			return bson.D{{Key: at + "c", Value: prefix(v.Code)}}
		}
		return bson.D{{Key: at + "c", Value: v.Code}}
	case fhir.TypeDate, fhir.TypeNumber:
		return rangeCond(at, v)
	case fhir.TypeQuantity:
		var d bson.D
		if v.Code != "" {
			d = append(d, bson.E{Key: at + "c", Value: v.Code})
			if v.System != "" {
				d = append(d, bson.E{Key: at + "s", Value: v.System})
			}
		}
		return append(d, rangeCond(at, v)...)
	case fhir.TypeComposite:
		return compositeCond(at, v)
	}
	// checkQuery refuses other types; match nothing all the same.
	return bson.D{{Key: at + "p", Value: bson.D{{Key: "$in", Value: bson.A{}}}}}
}

// tokenCond: (v.AnySystem or s = v.System) and (v.Code = "" or field =
// v.Code).
func tokenCond(at, field string, v fhir.Value) bson.D {
	var d bson.D
	if !v.AnySystem {
		d = append(d, bson.E{Key: at + "s", Value: v.System})
	}
	if v.Code != "" {
		d = append(d, bson.E{Key: at + field, Value: v.Code})
	}
	return d
}

// rangeCond compares the entry's [lo, hi) with v's range by v.Prefix.
func rangeCond(at string, v fhir.Value) bson.D {
	lo, hi := at+"lo", at+"hi"
	op := func(field, o string, x float64) bson.D {
		return bson.D{{Key: field, Value: bson.D{{Key: o, Value: x}}}}
	}
	eq := bson.D{{Key: lo, Value: bson.D{{Key: "$gte", Value: v.Low}}}, {Key: hi, Value: bson.D{{Key: "$lte", Value: v.High}}}}
	switch v.Prefix {
	case "ne":
		return bson.D{{Key: "$or", Value: bson.A{op(lo, "$lt", v.Low), op(hi, "$gt", v.High)}}}
	case "gt":
		return op(hi, "$gt", v.High)
	case "lt":
		return op(lo, "$lt", v.Low)
	case "ge":
		return bson.D{{Key: "$or", Value: bson.A{op(hi, "$gt", v.High), eq}}}
	case "le":
		return bson.D{{Key: "$or", Value: bson.A{op(lo, "$lt", v.Low), eq}}}
	case "sa":
		return op(lo, "$gte", v.High)
	case "eb":
		return op(hi, "$lte", v.Low)
	case "ap":
		return bson.D{{Key: lo, Value: bson.D{{Key: "$lt", Value: v.High + v.Approx}}},
			{Key: hi, Value: bson.D{{Key: "$gt", Value: v.Low - v.Approx}}}}
	}
	return eq
}

// compositeCond: as many parts as the value, each matching its part of
// the value by the rule of the part's own kind.
func compositeCond(at string, v fhir.Value) bson.D {
	d := bson.D{{Key: at + "parts", Value: bson.D{{Key: "$size", Value: len(v.Parts)}}}}
	var and bson.A
	for i, pv := range v.Parts {
		pat := at + "parts." + strconv.Itoa(i) + "."
		var alts bson.A
		for _, k := range []fhir.ParamType{fhir.TypeString, fhir.TypeToken, fhir.TypeReference, fhir.TypeURI,
			fhir.TypeDate, fhir.TypeNumber, fhir.TypeQuantity} {
			alts = append(alts, append(bson.D{{Key: pat + "k", Value: string(k)}}, cond(pat, k, "", pv)...))
		}
		and = append(and, bson.D{{Key: "$or", Value: alts}})
	}
	return append(d, bson.E{Key: "$and", Value: and})
}

// prefix matches the strings that start with s: an anchored regular
// expression without options, which a server reads as a range of an index.
func prefix(s string) bson.Regex { return regex("^" + regexp.QuoteMeta(s)) }

func regex(pattern string) bson.Regex { return bson.Regex{Pattern: pattern} }

// prefixes lists the prefixes of s that end on a character boundary, ""
// and s included: the codes :above matches.
func prefixes(s string) bson.A {
	out := bson.A{""}
	for i := range s {
		if i > 0 {
			out = append(out, s[:i])
		}
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// scanFilter is the filter of the documents a search evaluates in Go (on
// servers without $elemMatch over sub-documents): the envelope
// (searchFilter) and, for each clause that needs some entry, conditions
// every match meets, though not every document that meets them matches —
// plain equality on idx.p (an entry of the param) and $in on idx.c, idx.t
// or idx.i (an entry, maybe another, with one of the codes), which FerretDB
// v1 evaluates. They narrow what is read and counted against the scan
// limit; Match decides.
func scanFilter(q fhir.Query) bson.D {
	f := searchFilter(q)
	var and bson.A
	for _, c := range q.Clauses {
		if c.Modifier == "not" || c.Missing != nil && *c.Missing {
			continue
		}
		and = append(and, bson.D{{Key: "idx.p", Value: entryParam(c)}})
		if field, codes := codesOf(c); field != "" {
			and = append(and, bson.D{{Key: "idx." + field, Value: bson.D{{Key: "$in", Value: codes}}}})
		}
	}
	if len(and) > 0 {
		f = append(f, bson.E{Key: "$and", Value: and})
	}
	return f
}

// codesOf names the entry field that, in a matching entry, holds one of
// the clause's values exactly, and those values; "" when the clause has
// no such field (prefixes, ranges, a token without code).
func codesOf(c fhir.Clause) (string, bson.A) {
	if c.Missing != nil {
		return "", nil
	}
	field := ""
	switch {
	case c.Type == fhir.TypeToken && (c.Modifier == "" || c.Modifier == "of-type"),
		c.Type == fhir.TypeString && c.Modifier == "exact",
		c.Type == fhir.TypeURI && c.Modifier == "":
		field = "c"
	case c.Type == fhir.TypeReference && c.Modifier == "identifier":
		field = "t"
	case c.Type == fhir.TypeReference && c.Modifier == "":
		field = "c"
		if len(c.Values) > 0 && c.Values[0].AnySystem {
			field = "i"
		}
	default:
		return "", nil
	}
	codes := make(bson.A, 0, len(c.Values))
	for _, v := range c.Values {
		anyID := c.Type == fhir.TypeReference && c.Modifier == "" && v.AnySystem
		if (field == "i") != anyID {
			return "", nil // a bare id beside full references: two fields
		}
		if v.Code == "" && c.Type != fhir.TypeURI && c.Type != fhir.TypeString && c.Modifier != "of-type" {
			return "", nil // any code
		}
		codes = append(codes, v.Code)
	}
	return field, codes
}
