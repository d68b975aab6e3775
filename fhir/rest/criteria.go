package rest

import (
	"net/url"
	"strings"

	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/search"
)

// criteria turns the search part of a conditional interaction
// ("identifier=sys|123", "name=smith&birthdate=1970") into a store query.
// Criteria are read like a search in strict mode: an unknown parameter is
// refused rather than ignored, since ignoring a criterion could make a
// conditional write hit the wrong resource. Result parameters (_count,
// _sort, _include, ...) are refused too. The query reaches only what op
// may reach, so a conditional write never finds another patient's resource.
func (h *handler) criteria(tx fhir.Tx, g *gate, op consent.Interaction, typ, raw string) (fhir.Query, error) {
	if err := h.searchEnabled(); err != nil {
		return fhir.Query{}, err
	}
	raw = strings.TrimPrefix(raw, "?")
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		// "Patient?identifier=..." as written in If-None-Exist by some clients.
		if raw[:i] != typ {
			return fhir.Query{}, fhir.Errorf(fhir.CodeInvalid, "conditional criteria name another resource type")
		}
		raw = raw[i+1:]
	}
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
	// Chains and _has read through the unit of work, so they see its own
	// writes and the state the write is decided on.
	q, empty, err := h.resolve(tx.Search, g, p)
	if err == nil && !empty {
		empty, err = g.restrict(tx.Search, op, &q)
	}
	if err != nil {
		return q, err
	}
	if empty {
		q.IDs = []string{""} // no resource has the empty id
	}
	q.Sort, q.Offset, q.Limit = nil, 0, 0
	return q, nil
}

// pageStart reads the paging cursor of a search or $everything request on
// the endpoint self: the query it stands for (replacing values) and the
// offset of the page. A cursor issued for another endpoint is refused.
// Without a cursor, values stay and the offset is -1 (the caller's
// default). _cursor and _format are removed from the returned values. A
// cursor issued to another principal (see gate.tag) is refused with 403.
func (h *handler) pageStart(self string, values url.Values, who string) (url.Values, int, error) {
	offset := -1
	if tok := values.Get("_cursor"); tok != "" {
		cur, err := h.cursors.decode(tok)
		if err == nil && cur.Path != self {
			err = &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "the paging cursor belongs to another search", Expression: []string{"_cursor"}}
		}
		if err == nil && cur.Who != who {
			err = cursorOfOther()
		}
		if err != nil {
			return nil, 0, err
		}
		if values, err = url.ParseQuery(cur.Query); err != nil {
			return nil, 0, fhir.Errorf(fhir.CodeInvalid, "the paging cursor is not valid for this server")
		}
		offset = cur.Offset
	}
	values.Del("_cursor")
	values.Del("_format")
	return values, offset, nil
}
