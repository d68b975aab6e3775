package rest

import (
	"net/url"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// criteria turns the search part of a conditional interaction
// ("identifier=sys|123", "_id=a,b") into a store query. Only _id and
// identifier are understood so far; anything else is refused rather than
// ignored, since ignoring a criterion could make a conditional write hit
// the wrong resource.
func (h *handler) criteria(typ, raw string) (fhir.Query, error) {
	q := fhir.Query{Type: typ}
	raw = strings.TrimPrefix(raw, "?")
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		// "Patient?identifier=..." as written in If-None-Exist by some clients.
		if raw[:i] != typ {
			return q, fhir.Errorf(fhir.CodeInvalid, "conditional criteria name another resource type")
		}
		raw = raw[i+1:]
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return q, fhir.Errorf(fhir.CodeInvalid, "conditional criteria are not a valid query string")
	}
	n := 0
	for name, vals := range values {
		switch name {
		case "_format", "_pretty":
			continue
		case "_id":
			if len(vals) > 1 {
				return q, fhir.Errorf(fhir.CodeInvalid, "_id may be given once in conditional criteria")
			}
			for _, v := range strings.Split(vals[0], ",") {
				if !fhir.ValidID(v) {
					return q, fhir.Errorf(fhir.CodeInvalid, "_id in conditional criteria is not a valid id")
				}
				q.IDs = append(q.IDs, v)
			}
		case "identifier":
			if len(vals) > 1 {
				return q, fhir.Errorf(fhir.CodeInvalid, "identifier may be given once in conditional criteria")
			}
			for _, v := range strings.Split(vals[0], ",") {
				tok := fhir.Token{Param: "identifier", Code: v}
				if sys, code, ok := strings.Cut(v, "|"); ok {
					tok.System, tok.Code = sys, code
				}
				if tok.Code == "" {
					return q, fhir.Errorf(fhir.CodeInvalid, "identifier in conditional criteria needs a value")
				}
				q.Tokens = append(q.Tokens, tok)
			}
		default:
			return q, &fhir.Error{Code: fhir.CodeNotSupported, Status: 400,
				Diagnostics: "search parameter " + sanitize(name) + " is not supported in conditional criteria; use _id or identifier"}
		}
		n++
	}
	if n == 0 {
		return q, fhir.Errorf(fhir.CodeInvalid, "conditional interactions need search criteria")
	}
	return q, nil
}
