package rest

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	models "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/search"
)

// maxCompartment bounds how many resources one patient's compartment may
// hold for $everything and compartment search.
const maxCompartment = 20000

// compartmentKeys finds the resources of typ in the Patient compartment of
// id: those whose compartment parameters refer to the patient, and match
// the clauses of extra.
func (h *handler) compartmentKeys(ctx context.Context, typ, id string, since time.Time, extra []fhir.Clause) ([]*fhir.Resource, error) {
	ref := []fhir.Value{{System: "Patient", Code: "Patient/" + id}}
	extra = slices.Clip(extra)
	if !since.IsZero() {
		ms := float64(since.UnixMilli())
		extra = append(extra, fhir.Clause{Param: "_lastUpdated", Type: fhir.TypeDate,
			Values: []fhir.Value{{Prefix: "ge", Low: ms, High: ms + 1}}})
	}
	out, err := h.referring(ctx, typ, h.Compartment[typ], ref, extra, maxCompartment)
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, &fhir.Error{Code: fhir.CodeTooCostly, Status: http.StatusBadRequest, Diagnostics: "the compartment is too large to return at once"}
	}
	slices.SortFunc(out, func(a, b *fhir.Resource) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// everything serves GET /fhir/Patient/{id}/$everything: the patient and
// every resource of its compartment, paged, with _type, _since and _count.
// It needs read on Patient, and returns only what the principal may read.
func (h *handler) everything(c echo.Context) error {
	if err := negotiate(c.Request()); err != nil {
		return err
	}
	if err := h.searchEnabled(); err != nil {
		return err
	}
	if c.Param("type") != "Patient" {
		return &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusNotFound, Diagnostics: "$everything is served for Patient"}
	}
	id := c.Param("id")
	if err := checkID(id); err != nil {
		return err
	}
	g := h.gate(c)
	if _, err := g.allow(consent.Read, "Patient"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), h.SearchTimeout)
	defer cancel()
	self := h.BaseURL + "/Patient/" + id + "/$everything"
	values, offset, err := h.pageStart(self, c.QueryParams(), g.tag())
	if err != nil {
		return err
	}
	offset = max(offset, 0)
	count := 50
	if v := values.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "_count must be a positive integer", Expression: []string{"_count"}}
		}
		count = min(n, 1000)
	}
	var since time.Time
	if v := values.Get("_since"); v != "" {
		start, _, err := fhir.ParseDateRange(v)
		if err != nil {
			return &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "_since is not a valid instant", Expression: []string{"_since"}}
		}
		since = start
	}
	// The record, not who looked at it: AuditEvents (in the Patient
	// compartment, and one more with every access) come only when _type
	// names them; the access log has its own search and report.
	types := slices.DeleteFunc(h.compartmentTypes(), func(t string) bool { return t == "AuditEvent" })
	if v := values.Get("_type"); v != "" {
		types = nil
		for _, t := range search.SplitEscaped(v, ',') {
			if err := h.checkType(t); err != nil {
				return err
			}
			if !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
	}
	// The types the principal may not read are left out.
	if types, err = g.permitted(consent.Read, types); err != nil {
		return err
	}
	patient, err := h.Store.Read(ctx, "Patient", id)
	if err == nil {
		err = g.admit(consent.Read, patient)
	}
	if err != nil || patient.Deleted {
		if err == nil {
			return gone("Patient", id)
		}
		if errors.Is(err, fhir.ErrNotFound) {
			return notFound("Patient", id)
		}
		return err
	}
	var all []*fhir.Resource
	if slices.Contains(types, "Patient") && (since.IsZero() || !patient.LastUpdated.Before(since)) {
		all = append(all, patient)
	}
	for _, t := range types {
		if t == "Patient" {
			continue
		}
		hide, err := g.hidden(consent.Read, t)
		var found []*fhir.Resource
		if err == nil {
			found, err = h.compartmentKeys(ctx, t, id, since, hide)
		}
		if err == nil {
			found, err = g.keep(consent.Read, t, id, found)
		}
		if err != nil {
			return overTime(ctx, err)
		}
		all = append(all, found...)
		if len(all) > maxCompartment {
			return &fhir.Error{Code: fhir.CodeTooCostly, Status: http.StatusBadRequest, Diagnostics: "the record is too large to return at once; use _type or _since"}
		}
	}
	referred, err := h.referred(ctx, g, all, types, values.Get("_type") != "", since)
	if err == nil {
		referred, err = g.keep(consent.Read, "", "", referred)
	}
	if err != nil {
		return overTime(ctx, err)
	}
	all = append(all, referred...)
	total := len(all)
	end := min(offset+count, total)
	page := all[min(offset, total):end]
	canonical := values.Encode()
	b := models.Bundle{Type: models.BundleTypeSearchset, Total: &total}
	selfURL := self + queryString(values)
	if offset > 0 {
		selfURL = self + "?_cursor=" + h.cursors.encode(cursor{Path: self, Query: canonical, Offset: offset, Who: g.tag()})
	}
	b.Link = append(b.Link, models.BundleLink{Relation: "self", Url: selfURL})
	if end < total {
		b.Link = append(b.Link, models.BundleLink{Relation: "next", Url: self + "?_cursor=" + h.cursors.encode(cursor{Path: self, Query: canonical, Offset: end, Who: g.tag()})})
	}
	if offset > 0 {
		b.Link = append(b.Link, models.BundleLink{Relation: "previous", Url: self + "?_cursor=" + h.cursors.encode(cursor{Path: self, Query: canonical, Offset: max(0, offset-count), Who: g.tag()})})
	}
	mode := models.SearchEntryModeMatch
	for _, r := range page {
		full := h.BaseURL + "/" + r.Type + "/" + r.ID
		b.Entry = append(b.Entry, models.BundleEntry{FullUrl: &full, Resource: r.JSON, Search: &models.BundleEntrySearch{Mode: &mode}})
	}
	if e := g.stepUpOutcome(); e != nil {
		b.Entry = append(b.Entry, *e)
	}
	body, err := marshal(b)
	if err != nil {
		return err
	}
	disclose(c.Request().Context(), trailEverything, page)
	writeJSON(c, http.StatusOK, body)
	return nil
}

// referred finds the resources the record refers to whose types belong to
// no patient compartment (the Practitioner, Organization, Medication,
// Location... of its resources), as $everything should also return them;
// with _type, only those of the listed types. Bounded by maxInner.
func (h *handler) referred(ctx context.Context, g *gate, record []*fhir.Resource, types []string, typed bool, since time.Time) ([]*fhir.Resource, error) {
	seen := make(map[string]bool, len(record))
	for _, r := range record {
		seen[r.Key()] = true
	}
	byType := map[string][]string{}
	n := 0
	for _, r := range record {
		for _, ref := range h.references(r, "*") {
			t, id, _ := strings.Cut(ref, "/")
			// Only types outside every patient's compartment: a reference to
			// another patient's data never brings it into this record.
			if seen[ref] || t == "Patient" || len(h.Compartment[t]) > 0 || (typed && !slices.Contains(types, t)) {
				continue
			}
			seen[ref] = true
			byType[t] = append(byType[t], id)
			if n++; n > maxInner {
				return nil, &fhir.Error{Code: fhir.CodeTooCostly, Status: http.StatusBadRequest, Diagnostics: "the record refers to too many resources to return at once; use _type"}
			}
		}
	}
	kinds := make([]string, 0, len(byType))
	for t := range byType {
		kinds = append(kinds, t)
	}
	slices.Sort(kinds)
	var out []*fhir.Resource
	for _, t := range kinds {
		q := fhir.Query{Type: t, IDs: byType[t], Limit: maxInner + 1}
		err := g.hide(consent.Read, &q)
		var found []*fhir.Resource
		if err == nil {
			found, err = h.Store.Search(ctx, q)
		}
		if err != nil {
			return nil, err
		}
		for _, r := range found {
			if since.IsZero() || !r.LastUpdated.Before(since) {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// compartmentTypes lists Patient and the types of its compartment.
func (h *handler) compartmentTypes() []string {
	types := []string{"Patient"}
	for t, params := range h.Compartment {
		if len(params) > 0 && t != "Patient" {
			types = append(types, t)
		}
	}
	slices.Sort(types[1:])
	return types
}

// compartmentSearch serves GET /fhir/Patient/{id}/{type}?...: a search of
// type restricted to the patient's compartment.
func (h *handler) compartmentSearch(c echo.Context) error {
	if err := negotiate(c.Request()); err != nil {
		return err
	}
	if c.Param("type") != "Patient" {
		return &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusNotFound, Diagnostics: "compartment search is served for Patient"}
	}
	id, typ := c.Param("id"), c.Param("comp")
	if err := checkID(id); err != nil {
		return err
	}
	if err := h.checkType(typ); err != nil {
		return err
	}
	g := h.gate(c)
	if _, err := g.allow(consent.SearchType, typ); err != nil {
		return err
	}
	if len(h.Compartment[typ]) == 0 {
		return &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusNotFound, Diagnostics: typ + " is not in the Patient compartment"}
	}
	if err := h.searchEnabled(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), h.SearchTimeout)
	defer cancel()
	if h.Guard != nil {
		// Another patient's compartment answers as a missing one would
		// for a read: 404, not an empty page.
		if patient, err := h.Store.Read(ctx, "Patient", id); err == nil && !patient.Deleted {
			if err := g.admit(consent.Read, patient); err != nil {
				return err
			}
		} else if err != nil && !errors.Is(err, fhir.ErrNotFound) {
			return err
		}
	}
	found, err := h.compartmentKeys(ctx, typ, id, time.Time{}, nil)
	if err != nil {
		return overTime(ctx, err)
	}
	ids := make([]string, 0, len(found)+1)
	for _, r := range found {
		ids = append(ids, r.ID)
	}
	if len(ids) == 0 {
		ids = append(ids, "") // no resource has the empty id
	}
	return h.runSearch(c, g, typ, c.QueryParams(), h.BaseURL+"/Patient/"+id+"/"+typ, ids)
}

// referring finds the resources of typ that point to one of values through
// any of params, each once. nil (and no error) means more than limit were
// found: the caller says which bound was passed.
func (h *handler) referring(ctx context.Context, typ string, params []string, values []fhir.Value, extra []fhir.Clause, limit int) ([]*fhir.Resource, error) {
	seen := map[string]bool{}
	out := []*fhir.Resource{}
	for _, param := range params {
		q := fhir.Query{Type: typ, Limit: limit + 1,
			Clauses: append([]fhir.Clause{{Param: param, Type: fhir.TypeReference, Values: values}}, extra...)}
		found, err := h.Store.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, r := range found {
			if !seen[r.ID] {
				seen[r.ID] = true
				out = append(out, r)
			}
		}
		if len(out) > limit {
			return nil, nil
		}
	}
	return out, nil
}
