package rest

import (
	"context"
	"net/url"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/search"
)

// criteria turns the search part of a conditional interaction
// ("identifier=sys|123", "_id=a,b", "name=smith&birthdate=1970") into a
// store query. Any search works where the engine can search; unknown
// parameters are refused rather than ignored (strict handling), since
// ignoring a criterion could make a conditional write hit the wrong
// resource. Where the engine cannot search yet, only _id and identifier
// are understood.
func (h *handler) criteria(ctx context.Context, typ, raw string) (fhir.Query, error) {
	q := fhir.Query{Type: typ}
	raw = strings.TrimPrefix(raw, "?")
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		// "Patient?identifier=..." as written in If-None-Exist by some clients.
		if raw[:i] != typ {
			return q, fhir.Errorf(fhir.CodeInvalid, "conditional criteria name another resource type")
		}
		raw = raw[i+1:]
	}
	if h.searchEnabled() == nil {
		return h.searchCriteria(ctx, typ, raw)
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
			for _, v := range splitEscaped(vals[0], ',') {
				if !fhir.ValidID(v) {
					return q, fhir.Errorf(fhir.CodeInvalid, "_id in conditional criteria is not a valid id")
				}
				q.IDs = append(q.IDs, v)
			}
		case "identifier":
			if len(vals) > 1 {
				return q, fhir.Errorf(fhir.CodeInvalid, "identifier may be given once in conditional criteria")
			}
			for _, v := range splitEscaped(vals[0], ',') {
				tok := fhir.Token{Param: "identifier", Code: unescape(v)}
				if parts := splitEscaped(v, '|'); len(parts) == 2 {
					tok.System, tok.Code = unescape(parts[0]), unescape(parts[1])
					if tok.System == "" {
						return q, &fhir.Error{Code: fhir.CodeNotSupported, Status: 400, Expression: []string{"identifier"},
							Diagnostics: "identifier=|value (an identifier without a system) is not supported in conditional criteria yet; name the system"}
					}
				} else if len(parts) > 2 {
					return q, fhir.Errorf(fhir.CodeInvalid, "identifier in conditional criteria has more than one '|'")
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

func (h *handler) searchCriteria(ctx context.Context, typ, raw string) (fhir.Query, error) {
	values, err := url.ParseQuery(raw)
	if err != nil {
		return fhir.Query{}, fhir.Errorf(fhir.CodeInvalid, "conditional criteria are not a valid query string")
	}
	values.Del("_format")
	values.Del("_pretty")
	if len(values) == 0 {
		return fhir.Query{}, fhir.Errorf(fhir.CodeInvalid, "conditional interactions need search criteria")
	}
	for k := range values {
		if strings.HasPrefix(k, "_") && k != "_id" && k != "_lastUpdated" && k != "_tag" && k != "_profile" && k != "_security" && !strings.HasPrefix(k, "_has:") {
			return fhir.Query{}, &fhir.Error{Code: fhir.CodeInvalid, Expression: []string{k},
				Diagnostics: "conditional criteria take search criteria only, not " + sanitize(k)}
		}
	}
	p, err := search.Parse(typ, values, h.Params, search.Options{Strict: true, BaseURL: h.BaseURL, Now: h.Now()})
	if err != nil {
		return fhir.Query{}, err
	}
	q, empty, err := h.resolve(ctx, p)
	if err != nil {
		return q, err
	}
	if empty {
		q.IDs = []string{""} // no resource has the empty id
	}
	q.Sort, q.Offset, q.Limit = nil, 0, 0
	return q, nil
}

// splitEscaped splits s on sep where sep is not escaped with a backslash
// (FHIR search escaping: \, \| \$ and \\). The parts keep their escapes.
func splitEscaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unescape removes FHIR search escapes.
func unescape(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
