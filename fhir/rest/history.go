package rest

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"
	models "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
)

const (
	defaultCount = 20
	maxCount     = 1000
)

// history serves instance, type and system history, newest first. The
// store cannot narrow history to what a principal reaches, so with limits
// each page keeps only the versions the principal may see (a page may come
// out short, or empty, with a next link still).
func (h *handler) history(c echo.Context) error {
	if err := negotiate(c.Request()); err != nil {
		return err
	}
	q := fhir.HistoryQuery{Type: c.Param("type"), ID: c.Param("id"), Count: defaultCount}
	if q.Type != "" {
		if err := h.checkType(q.Type); err != nil {
			return err
		}
	}
	if q.ID != "" {
		if err := checkID(q.ID); err != nil {
			return err
		}
	}
	g := h.gate(c)
	op := consent.HistorySystem
	switch {
	case q.ID != "":
		op = consent.HistoryInstance
	case q.Type != "":
		op = consent.HistoryType
	}
	if _, err := g.allow(op, q.Type); err != nil {
		return err
	}
	self := h.BaseURL
	if q.Type != "" {
		self += "/" + q.Type
	}
	if q.ID != "" {
		self += "/" + q.ID
	}
	self += "/_history"
	params := c.QueryParams()
	if v := params.Get("_since"); v != "" {
		start, _, err := fhir.ParseDateRange(v)
		if err != nil {
			return &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "_since is not a valid instant", Expression: []string{"_since"}}
		}
		q.Since = start
	}
	if v := params.Get("_at"); v != "" {
		start, end, err := fhir.ParseDateRange(v)
		if err != nil {
			return &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "_at is not a valid date or dateTime", Expression: []string{"_at"}}
		}
		q.AtStart, q.AtEnd = start, end
	}
	if v := params.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "_count must be a non-negative integer", Expression: []string{"_count"}}
		}
		q.Count = min(n, maxCount)
	}
	if tok := params.Get("_cursor"); tok != "" {
		// The store's cursor travels signed, bound to the endpoint and the
		// principal it was issued to.
		cur, err := h.cursors.decode(tok)
		if err == nil && (cur.Path != self || cur.Store == "") {
			err = &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "the paging cursor belongs to another history", Expression: []string{"_cursor"}}
		}
		if err == nil && cur.Who != g.tag() {
			err = cursorOfOther()
		}
		if err != nil {
			return err
		}
		q.Cursor = cur.Store
	}
	if q.ID != "" {
		// An instance that never existed has no history: 404, not an empty
		// page; nor has one the principal may not know of.
		cur, err := h.Store.Read(c.Request().Context(), q.Type, q.ID)
		if err == nil {
			err = g.admit(op, cur)
		}
		if err != nil {
			if errors.Is(err, fhir.ErrNotFound) {
				return notFound(q.Type, q.ID)
			}
			return err
		}
	}
	var page *fhir.HistoryPage
	if q.Count > 0 {
		var err error
		if page, err = h.Store.History(c.Request().Context(), q); err != nil {
			return err
		}
	} else {
		page = &fhir.HistoryPage{}
	}
	b := models.Bundle{Type: models.BundleTypeHistory, Entry: make([]models.BundleEntry, 0, len(page.Entries))}
	b.Link = append(b.Link, models.BundleLink{Relation: "self", Url: self + queryString(params)})
	if page.Next != "" {
		next := cloneValues(params)
		next.Set("_cursor", h.cursors.encode(cursor{Path: self, Store: page.Next, Who: g.tag()}))
		b.Link = append(b.Link, models.BundleLink{Relation: "next", Url: self + queryString(next)})
	}
	shown := page.Entries[:0]
	for _, r := range page.Entries {
		held := g.held()
		if ok, err := g.admitsVersion(op, q.ID != "", r); err != nil || !ok {
			if err != nil {
				return err
			}
			if g.held() > held {
				// A labelled version the sign-in is too weak for: its
				// entry comes without the resource, and its outcome says
				// why (a history entry must have its request and response).
				e := h.historyEntry(r)
				e.Resource, e.Response.Outcome = nil, g.stepUpOutcome().Resource
				b.Entry = append(b.Entry, e)
			}
			continue
		}
		shown = append(shown, r)
		b.Entry = append(b.Entry, h.historyEntry(r))
	}
	body, err := marshal(b)
	if err != nil {
		return err
	}
	disclose(c.Request().Context(), string(op), shown)
	writeJSON(c, http.StatusOK, body)
	return nil
}

func (h *handler) historyEntry(r *fhir.Resource) models.BundleEntry {
	full := h.BaseURL + "/" + r.Type + "/" + r.ID
	e := models.BundleEntry{FullUrl: &full}
	req := &models.BundleEntryRequest{Url: r.Type + "/" + r.ID}
	resp := &models.BundleEntryResponse{}
	lm := r.LastUpdated.UTC().Format(fhir.InstantFormat)
	resp.LastModified = &lm
	switch r.Method {
	case http.MethodPost:
		req.Method, req.Url, resp.Status = models.HTTPVerbPOST, r.Type, "201 Created"
	case http.MethodPatch:
		req.Method, resp.Status = models.HTTPVerbPATCH, "200 OK"
	case http.MethodDelete:
		req.Method, resp.Status = models.HTTPVerbDELETE, "204 No Content"
	default:
		req.Method, resp.Status = models.HTTPVerbPUT, "200 OK"
		if r.Version == 1 {
			resp.Status = "201 Created"
		}
	}
	if r.Deleted {
		req.Method, req.Url, resp.Status = models.HTTPVerbDELETE, r.Type+"/"+r.ID, "204 No Content"
	} else {
		etag := r.ETag()
		resp.Etag = &etag
		e.Resource = r.JSON
	}
	e.Request, e.Response = req, resp
	return e
}

func queryString(v url.Values) string {
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vals := range v {
		c[k] = append([]string(nil), vals...)
	}
	return c
}
