package rest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	models "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/search"
)

// Indexer extracts the search index entries of a resource; Params knows
// the search parameters (both are the searchparam registry).
type Indexer interface {
	Extract(resourceType string, raw []byte) ([]fhir.IndexEntry, error)
}

// counter is what _total=accurate needs of the store.
type counter interface {
	Count(ctx context.Context, q fhir.Query) (int, error)
}

// maxInner bounds how many resources a chain, _has or include step may
// collect before the search is refused as too costly.
const maxInner = 1000

func (h *handler) searchEnabled() error {
	if h.Params == nil || h.Indexer == nil {
		return &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusNotImplemented, Diagnostics: "search is not configured"}
	}
	if _, ok := h.Store.(counter); !ok {
		return &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusNotImplemented, Diagnostics: "search is not available on this storage engine yet"}
	}
	return nil
}

// searchType serves GET /fhir/{type} and POST /fhir/{type}/_search.
func (h *handler) searchType(c echo.Context) error {
	if err := negotiate(c.Request()); err != nil {
		return err
	}
	typ := c.Param("type")
	if err := h.checkType(typ); err != nil {
		return err
	}
	values := c.QueryParams()
	if c.Request().Method == http.MethodPost {
		if err := checkContentType(c.Request(), "application/x-www-form-urlencoded"); err != nil {
			return err
		}
		form, err := c.FormParams()
		if err != nil {
			return fhir.Errorf(fhir.CodeInvalid, "the search form could not be read")
		}
		for k, v := range form {
			values[k] = append(values[k], v...)
		}
	}
	return h.runSearch(c, h.gate(c), typ, values, h.BaseURL+"/"+typ, nil)
}

// searchSystem serves GET /fhir?_type=... (all types when _type is absent).
func (h *handler) searchSystem(c echo.Context) error {
	if err := negotiate(c.Request()); err != nil {
		return err
	}
	return h.runSearch(c, h.gate(c), "", c.QueryParams(), h.BaseURL, nil)
}

// runSearch parses, executes and answers one search; within, when not nil,
// restricts it to those ids (a compartment).
func (h *handler) runSearch(c echo.Context, g *gate, typ string, values url.Values, self string, within []string) error {
	if err := h.searchEnabled(); err != nil {
		return err
	}
	if typ != "" {
		if _, err := g.allow(consent.SearchType, typ); err != nil {
			return err
		}
	}
	values, offset, err := h.pageStart(self, values, g.tag())
	if err != nil {
		return err
	}
	if offset < 0 { // the first page
		values = asOf(typ, values, h.Now())
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), h.SearchTimeout)
	defer cancel()
	p, err := search.Parse(typ, values, h.Params, search.Options{Strict: preferStrict(c.Request()), BaseURL: h.BaseURL, Now: h.Now()})
	if err != nil {
		return err
	}
	if typ == "" && len(p.Types) == 1 {
		p.Query.Type = p.Types[0]
	} else if typ == "" && len(p.Types) > 1 && len(p.Query.Sort) > 0 {
		return &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusBadRequest, Expression: []string{"_sort"},
			Diagnostics: "_sort is not supported across several _type values; search one type"}
	}
	if typ == "" {
		if err := g.allowTypes(p.Types); err != nil {
			return err
		}
	}
	if p.Summary == "count" {
		p.Count = 0
	}
	if within != nil {
		set := map[string]bool{}
		for _, id := range within {
			set[id] = true
		}
		p.Query.IDs = intersect(p.Query.IDs, set)
		if len(p.Query.IDs) == 0 {
			p.Query.IDs = []string{""}
		}
	}
	if offset < 0 {
		offset = p.Query.Offset // _offset, when the request has no cursor
	}
	page, err := h.execute(ctx, g, p, offset)
	if err != nil {
		return overTime(ctx, err)
	}
	canonical := values.Encode()
	b := models.Bundle{Type: models.BundleTypeSearchset}
	if page.total >= 0 {
		t := page.total
		b.Total = &t
	}
	link := func(rel string, off int) {
		u := self + "?" + canonical
		if off != 0 || rel != "self" {
			u = self + "?_cursor=" + h.cursors.encode(cursor{Path: self, Query: canonical, Offset: off, Who: g.tag()})
		}
		b.Link = append(b.Link, models.BundleLink{Relation: rel, Url: u})
	}
	link("self", offset)
	if page.more {
		link("next", offset+p.Count)
	}
	if offset > 0 {
		link("previous", max(0, offset-p.Count))
	}
	match, include := models.SearchEntryModeMatch, models.SearchEntryModeInclude
	for _, r := range page.matches {
		b.Entry = append(b.Entry, h.searchEntry(r, &match, p))
	}
	for _, r := range page.included {
		b.Entry = append(b.Entry, h.searchEntry(r, &include, p))
	}
	if e := g.stepUpOutcome(); e != nil {
		b.Entry = append(b.Entry, *e)
	}
	if len(p.Unknown) > 0 {
		outcome := models.SearchEntryModeOutcome
		oo := fhir.OperationOutcome(&fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusOK,
			Diagnostics: "ignored unknown or unsupported search parameters: " + sanitize(strings.Join(p.Unknown, ", "))})
		b.Entry = append(b.Entry, models.BundleEntry{Resource: oo, Search: &models.BundleEntrySearch{Mode: &outcome}})
	}
	body, err := marshal(b)
	if err != nil {
		return err
	}
	code := consent.SearchType
	if typ == "" {
		code = consent.SearchSystem
	}
	disclose(c.Request().Context(), string(code), page.matches)
	disclose(c.Request().Context(), string(code), page.included)
	writeJSON(c, http.StatusOK, body)
	return nil
}

// overTime turns a failure caused by the search deadline into a clear
// answer instead of a storage error.
func overTime(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &fhir.Error{Code: fhir.CodeTooCostly, Status: http.StatusBadRequest, Err: err,
			Diagnostics: "the search took longer than the server allows; narrow the criteria"}
	}
	return err
}

func (h *handler) searchEntry(r *fhir.Resource, mode *models.SearchEntryMode, p *search.Parsed) models.BundleEntry {
	full := h.BaseURL + "/" + r.Type + "/" + r.ID
	return models.BundleEntry{FullUrl: &full, Resource: shape(r.Type, r.JSON, p, h.SummaryFilter), Search: &models.BundleEntrySearch{Mode: mode}}
}

// resultPage is one page of a search.
type resultPage struct {
	matches  []*fhir.Resource
	included []*fhir.Resource
	total    int // -1 when not computed
	more     bool
}

// execute resolves chains and _has into plain criteria, narrows them to
// what the principal reaches, reads one page (plus one resource to know
// whether more follow) and its includes.
func (h *handler) execute(ctx context.Context, g *gate, p *search.Parsed, offset int) (*resultPage, error) {
	find := h.storeSearcher(ctx)
	q, empty, err := h.resolve(find, g, p)
	if err != nil {
		return nil, err
	}
	page := &resultPage{total: -1}
	var parts []fhir.Query
	if !empty {
		if parts, err = g.parts(find, q, p.Types); err != nil {
			return nil, err
		}
	}
	if len(parts) == 0 {
		page.total = 0
		return page, nil
	}
	if len(parts) > 1 && len(q.Sort) > 0 {
		return nil, &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusBadRequest, Expression: []string{"_sort"},
			Diagnostics: "_sort is not supported across several resource types; search one type"}
	}
	if p.Total == "accurate" || p.Count == 0 {
		n, err := h.count(ctx, parts)
		if err != nil {
			return nil, err
		}
		page.total = n
	}
	if p.Count == 0 {
		return page, nil
	}
	var res []*fhir.Resource
	if len(parts) > 1 {
		res, err = h.searchTypes(ctx, parts, offset, p.Count+1)
	} else {
		q := parts[0]
		q.Offset, q.Limit = offset, p.Count+1
		res, err = h.Store.Search(ctx, q)
	}
	if err != nil {
		return nil, err
	}
	if len(res) > p.Count {
		res, page.more = res[:p.Count], true
	}
	// The queries left out labelled resources the principal's sign-in is
	// too weak for (hidden); should one have been labelled since, it is
	// left out here.
	op := consent.SearchType
	if p.Query.Type == "" && len(parts) > 1 {
		op = consent.SearchSystem
	}
	if res, err = g.withhold(op, res); err != nil {
		return nil, err
	}
	page.matches = res
	if page.total < 0 && !page.more && p.Total != "none" {
		page.total = offset + len(res)
	}
	page.included, err = h.includes(ctx, g, res, p.Include, p.RevInclude)
	return page, err
}

// count counts the matches of the queries.
func (h *handler) count(ctx context.Context, parts []fhir.Query) (int, error) {
	total := 0
	for _, q := range parts {
		n, err := h.Store.(counter).Count(ctx, q)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// searchTypes reads one page of a search over several types, one query
// each. Results are ordered by type, then id, as a search over one store
// is, so the page is the types' results laid end to end.
func (h *handler) searchTypes(ctx context.Context, parts []fhir.Query, offset, limit int) ([]*fhir.Resource, error) {
	parts = slices.Clone(parts)
	slices.SortFunc(parts, func(a, b fhir.Query) int { return strings.Compare(a.Type, b.Type) })
	var out []*fhir.Resource
	for _, q := range parts {
		if len(out) >= limit {
			break
		}
		if offset > 0 {
			n, err := h.Store.(counter).Count(ctx, q)
			if err != nil {
				return nil, err
			}
			if offset >= n {
				offset -= n
				continue
			}
		}
		q.Offset, q.Limit = offset, limit-len(out)
		found, err := h.Store.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
		offset = 0
	}
	return out, nil
}

// searcher runs one store query: the store's, or a unit of work's.
type searcher func(fhir.Query) ([]*fhir.Resource, error)

func (h *handler) storeSearcher(ctx context.Context) searcher {
	return func(q fhir.Query) ([]*fhir.Resource, error) { return h.Store.Search(ctx, q) }
}

// resolve turns chains and _has into clauses and ids; empty reports that
// nothing can match. The inner queries of chains and _has reach only what
// the principal may search.
func (h *handler) resolve(find searcher, g *gate, p *search.Parsed) (q fhir.Query, empty bool, err error) {
	q = p.Query
	q.Clauses = slices.Clone(q.Clauses)
	for _, ch := range p.Chains {
		var refs []fhir.Value
		for _, target := range ch.Targets {
			found, err := h.inner(find, g, target)
			if err != nil {
				return q, false, err
			}
			for _, r := range found {
				refs = append(refs, fhir.Value{System: r.Type, Code: r.Type + "/" + r.ID})
			}
		}
		if len(refs) == 0 {
			return q, true, nil
		}
		q.Clauses = append(q.Clauses, fhir.Clause{Param: ch.Param, Type: fhir.TypeReference, Values: refs})
	}
	if len(p.Has) > 0 && q.Type == "" {
		return q, false, &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusBadRequest, Expression: []string{"_has"},
			Diagnostics: "_has needs one resource type: search a type, or give one _type"}
	}
	for _, has := range p.Has {
		found, err := h.inner(find, g, has.Inner)
		if err != nil {
			return q, false, err
		}
		ids := map[string]bool{}
		for _, r := range found {
			for _, ref := range h.references(r, has.Param) {
				if t, id, ok := strings.Cut(ref, "/"); ok && (q.Type == "" || t == q.Type) {
					ids[id] = true
				}
			}
		}
		q.IDs = intersect(q.IDs, ids)
		if len(q.IDs) == 0 {
			return q, true, nil
		}
	}
	return q, false, nil
}

// inner runs the query of a chain or _has, resolving its own chains first.
func (h *handler) inner(find searcher, g *gate, p *search.Parsed) ([]*fhir.Resource, error) {
	q, empty, err := h.resolve(find, g, p)
	if err == nil && !empty {
		empty, err = g.restrict(find, consent.SearchType, &q)
	}
	if err == nil && !empty {
		err = g.hide(consent.SearchType, &q)
	}
	if err != nil || empty {
		return nil, err
	}
	q.Offset, q.Limit = 0, maxInner+1
	found, err := find(q)
	if err != nil {
		return nil, err
	}
	if len(found) > maxInner {
		return nil, &fhir.Error{Code: fhir.CodeTooCostly, Status: http.StatusBadRequest,
			Diagnostics: "a chained or _has criterion matches more than " + strconv.Itoa(maxInner) + " resources; narrow it"}
	}
	return found, nil
}

// intersect keeps the ids present in both (all of found when ids is nil).
func intersect(ids []string, found map[string]bool) []string {
	out := []string{}
	if ids == nil {
		for id := range found {
			out = append(out, id)
		}
		slices.Sort(out)
		return out
	}
	for _, id := range ids {
		if found[id] {
			out = append(out, id)
		}
	}
	return out
}

// references lists the "Type/id" values of a reference parameter of r ("*"
// for all reference parameters).
func (h *handler) references(r *fhir.Resource, param string) []string {
	entries, err := h.Indexer.Extract(r.Type, r.JSON)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.Kind == fhir.TypeReference && e.System != "" && (param == "*" || e.Param == param) {
			out = append(out, e.Code)
		}
	}
	return out
}

// includes follows _include and _revinclude from the page (and, for
// :iterate, from what they bring in), without repeating a resource. A
// resource the principal may not read is left out, as if it were not
// there, and is not followed further.
func (h *handler) includes(ctx context.Context, g *gate, page []*fhir.Resource, inc, rev []search.Include) ([]*fhir.Resource, error) {
	if len(inc) == 0 && len(rev) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	for _, r := range page {
		seen[r.Key()] = true
	}
	var out []*fhir.Resource
	frontier := page
	// :iterate goes on until nothing new comes in; every round adds at
	// least one resource and the total is bounded by maxInner.
	for depth := 0; len(frontier) > 0; depth++ {
		var next []*fhir.Resource
		add := func(list []*fhir.Resource) error {
			for _, r := range list {
				if !seen[r.Key()] {
					seen[r.Key()] = true
					if ok, err := g.admits(consent.Read, r, true); err != nil || !ok {
						if err != nil {
							return err
						}
						continue
					}
					next = append(next, r)
					if len(out)+len(next) > maxInner {
						return &fhir.Error{Code: fhir.CodeTooCostly, Status: http.StatusBadRequest, Diagnostics: "the includes bring in too many resources; lower _count"}
					}
				}
			}
			return nil
		}
		for _, in := range inc {
			if depth > 0 && !in.Iterate {
				continue
			}
			byType := map[string][]string{}
			wanted := 0
			for _, r := range frontier {
				if in.Source != "*" && r.Type != in.Source {
					continue
				}
				for _, ref := range h.references(r, in.Param) {
					t, id, _ := strings.Cut(ref, "/")
					if (in.Target == "" || in.Target == t) && !seen[ref] {
						byType[t] = append(byType[t], id)
						if wanted++; len(out)+wanted > maxInner {
							return nil, &fhir.Error{Code: fhir.CodeTooCostly, Status: http.StatusBadRequest, Diagnostics: "the includes bring in too many resources; lower _count"}
						}
					}
				}
			}
			for t, ids := range byType {
				q := fhir.Query{Type: t, IDs: ids, Limit: maxInner + 1}
				err := g.hide(consent.Read, &q)
				var found []*fhir.Resource
				if err == nil {
					found, err = h.Store.Search(ctx, q)
				}
				if err != nil {
					return nil, err
				}
				if err := add(found); err != nil {
					return nil, err
				}
			}
		}
		for _, in := range rev {
			if depth > 0 && !in.Iterate {
				continue
			}
			var values []fhir.Value
			for _, r := range frontier {
				if in.Target == "" || in.Target == r.Type {
					values = append(values, fhir.Value{System: r.Type, Code: r.Key()})
				}
			}
			if len(values) == 0 {
				continue
			}
			found, err := h.revinclude(ctx, g, in, values)
			if err != nil {
				return nil, err
			}
			if err := add(found); err != nil {
				return nil, err
			}
		}
		out = append(out, next...)
		frontier = next
	}
	return out, nil
}

// revinclude finds the resources of in.Source pointing to values through
// in.Param, through any of its reference parameters for "Type:*", or
// through any reference parameter of any type for a bare "*".
func (h *handler) revinclude(ctx context.Context, g *gate, in search.Include, values []fhir.Value) ([]*fhir.Resource, error) {
	if in.Source == "*" {
		return h.revincludeAll(ctx, g, values)
	}
	params := []string{in.Param}
	if in.Param == "*" {
		rp, ok := h.Params.(interface{ ReferenceParams(string) []string })
		if !ok {
			return nil, &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusBadRequest, Diagnostics: "_revinclude with * is not available"}
		}
		params = searchableParams(in.Source, rp.ReferenceParams(in.Source))
	}
	hide, err := g.hidden(consent.Read, in.Source)
	if err != nil {
		return nil, err
	}
	out, err := h.referring(ctx, in.Source, params, values, hide, maxInner)
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, &fhir.Error{Code: fhir.CodeTooCostly, Status: http.StatusBadRequest, Diagnostics: "_revinclude brings in too many resources; lower _count"}
	}
	return out, nil
}

// revincludeAll serves a bare _revinclude=*: every resource, of any type,
// pointing to one of values through a reference parameter that may
// target the values' types. One indexed query per such parameter, and
// the same bound on what comes in as any include.
func (h *handler) revincludeAll(ctx context.Context, g *gate, values []fhir.Value) ([]*fhir.Resource, error) {
	targets := map[string]bool{}
	for _, v := range values {
		targets[v.System] = true
	}
	seen := map[string]bool{}
	var out []*fhir.Resource
	for _, src := range h.referrers(targets) {
		hide, err := g.hidden(consent.Read, src.typ)
		if err != nil {
			return nil, err
		}
		found, err := h.referring(ctx, src.typ, src.params, values, hide, maxInner-len(out))
		if err != nil {
			return nil, err
		}
		if found == nil {
			return nil, &fhir.Error{Code: fhir.CodeTooCostly, Status: http.StatusBadRequest, Diagnostics: "_revinclude brings in too many resources; lower _count"}
		}
		for _, r := range found {
			if !seen[r.Key()] {
				seen[r.Key()] = true
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// searchableParams keeps the params a search of typ can use: all of
// them, but for a ledger type (fhir.IsLedger) those it is searched by.
func searchableParams(typ string, params []string) []string {
	return slices.DeleteFunc(slices.Clone(params), func(p string) bool { return !fhir.LedgerSearchable(typ, p) })
}

type referrer struct {
	typ    string
	params []string
}

// referrers lists, per resource type, the reference parameters that may
// point to one of the target types.
func (h *handler) referrers(targets map[string]bool) []referrer {
	rp, ok := h.Params.(interface{ ReferenceParams(string) []string })
	if !ok {
		return nil
	}
	var out []referrer
	for _, typ := range h.ResourceTypes {
		var params []string
		for _, code := range rp.ReferenceParams(typ) {
			p, ok := h.Params.Lookup(typ, code)
			if !ok {
				continue
			}
			match := len(p.Targets) == 0
			for _, t := range p.Targets {
				match = match || targets[t]
			}
			if match && fhir.LedgerSearchable(typ, code) {
				params = append(params, code)
			}
		}
		if len(params) > 0 {
			out = append(out, referrer{typ: typ, params: params})
		}
	}
	return out
}
