package rest

// Access control: every handler asks the Guard before it touches the store
// (may this principal do this interaction on this type at all?), applies
// the Limits of the answer to its queries (so totals and pages count only
// what the principal reaches), and passes each resource it returns or
// replaces through the same decision. All of that goes through the gate of
// the request, defined here.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	models "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
)

// Guard is the policy decision point (consent.Policy). With Deps.Guard
// nil nothing is enforced. Decide's error means it could not decide; a
// denial is a Decision.
type Guard interface {
	Decide(ctx context.Context, req consent.Request) (consent.Decision, error)
}

// authenticate refuses a request that carries no principal with 401 and a
// Bearer challenge naming the FHIR base as realm.
func (h *handler) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if fhir.PrincipalFrom(c.Request().Context()) == nil {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="`+h.BaseURL+`"`)
			return &fhir.Error{Code: fhir.CodeLogin, Diagnostics: "authentication required: send a bearer token"}
		}
		return next(c)
	}
}

// gate is the access check of one request: the principal, and the
// decisions already taken for it by interaction and type.
type gate struct {
	h     *handler
	ctx   context.Context
	who   *fhir.Principal
	cache []decided
	// withheld counts the labelled resources a result left out one by
	// one because the principal's sign-in is not strong or recent enough
	// for them; stepUp is what they need, set too when a query left such
	// resources out (hidden).
	withheld int
	stepUp   *consent.StepUp
	// later caches, by resource, whether its current version carries a
	// step-up label (see labelledLater).
	later map[string]bool
}

type decided struct {
	op  consent.Interaction
	typ string
	d   consent.Decision
}

var permitAll = consent.Decision{Permit: true}

// gate returns the access check of a request: nil, which permits
// everything, when there is no Guard.
func (h *handler) gate(c echo.Context) *gate {
	if h.Guard == nil {
		return nil
	}
	ctx := c.Request().Context()
	return &gate{h: h, ctx: ctx, who: fhir.PrincipalFrom(ctx)}
}

// allow decides op on typ ("" for every type), and answers a denial with
// 403 naming the interaction and type.
func (g *gate) allow(op consent.Interaction, typ string) (consent.Decision, error) {
	if g == nil || g.h.Guard == nil {
		return permitAll, nil
	}
	for _, c := range g.cache {
		if c.op == op && c.typ == typ {
			return c.d, forbidden(c.d)
		}
	}
	d, err := g.h.Guard.Decide(g.ctx, consent.Request{Principal: g.who, Interaction: op, Type: typ})
	if err != nil {
		return d, err
	}
	g.cache = append(g.cache, decided{op, typ, d})
	return d, forbidden(d)
}

func forbidden(d consent.Decision) error {
	if d.Permit {
		return nil
	}
	return &fhir.Error{Code: fhir.CodeForbidden, Diagnostics: d.Reason}
}

// admit decides about one resource r of op, already allowed on its type.
// r may be a deletion: the decision is then about its last content. It
// answers nil, 404 for a resource the principal may not know of (as for a
// missing one), or 403.
func (g *gate) admit(op consent.Interaction, r *fhir.Resource) error {
	return g.decide(op, r, false)
}

// admitStored is admit for r as the store holds it now (its current
// version, read or found outside a unit of work): its compartment can then
// be checked against the store's index, a query that costs the same for
// any resource, instead of extracting the index from r.
func (g *gate) admitStored(op consent.Interaction, r *fhir.Resource) error {
	return g.decide(op, r, true)
}

func (g *gate) decide(op consent.Interaction, r *fhir.Resource, stored bool) error {
	d, err := g.allow(op, r.Type)
	if err != nil || d.Limits == nil && d.StepUp == nil {
		return err
	}
	if r.Deleted && d.Limits == nil && showsOnly(op) {
		// Under the step-up rule alone, a deletion read shows no content:
		// nothing to decide, and no earlier version to look for.
		return nil
	}
	live, err := g.h.lastContent(g.ctx, r)
	if err != nil {
		return err
	}
	if live == nil { // no content to decide on: nothing to show
		if d.Limits == nil {
			return nil
		}
		return notFound(r.Type, r.ID)
	}
	if d.Limits == nil {
		if d.StepUp.Needs(live) {
			return g.insufficient(d.StepUp)
		}
		return g.labelledLater(op, d.StepUp, r)
	}
	req := consent.Request{Principal: g.who, Interaction: op, Type: r.Type, Resource: live, Index: g.h.indexOf(live)}
	if stored && live == r {
		req.Refers = g.h.refersOf(g.ctx, live)
	}
	d, err = g.h.Guard.Decide(g.ctx, req)
	switch {
	case err != nil:
		return err
	case d.Permit:
		return g.labelledLater(op, d.StepUp, r)
	case d.Conceal:
		return notFound(r.Type, r.ID)
	case d.StepUp != nil:
		return g.insufficient(d.StepUp)
	}
	return forbidden(d)
}

// labelledLater answers a version r read through vread or a history as
// insufficient when the resource's current version (its last content, if
// deleted) carries one of s's labels: an earlier version holds the same
// clinical content, so the step-up is decided on the union of that
// version's labels and the current one's. Each resource's current version
// is read once a request.
func (g *gate) labelledLater(op consent.Interaction, s *consent.StepUp, r *fhir.Resource) error {
	switch op {
	case consent.VRead, consent.HistoryInstance, consent.HistoryType, consent.HistorySystem:
	default:
		return nil
	}
	if s == nil {
		return nil
	}
	labelled, ok := g.later[r.Key()]
	if !ok {
		cur, err := g.h.Store.Read(g.ctx, r.Type, r.ID)
		if err != nil {
			return err
		}
		if cur.Version != r.Version {
			live, err := g.h.lastContent(g.ctx, cur)
			if err != nil {
				return err
			}
			labelled = live != nil && live.Version != r.Version && s.Needs(live)
		}
		if g.later == nil {
			g.later = map[string]bool{}
		}
		g.later[r.Key()] = labelled
	}
	if labelled {
		return g.insufficient(s)
	}
	return nil
}

// showsOnly reports whether op shows the one version it is about, and
// nothing of the resource's other versions: a read, a vread, a search.
// (A write replaces the resource's content, and an instance history shows
// its earlier versions: a deletion's last content decides those.)
func showsOnly(op consent.Interaction) bool {
	switch op {
	case consent.Read, consent.VRead, consent.SearchType, consent.SearchSystem:
		return true
	}
	return false
}

// insufficient is the answer to a labelled resource whose principal's
// sign-in is too weak or too old: 401 with the RFC 9470 challenge.
func (g *gate) insufficient(s *consent.StepUp) error {
	g.stepUp = s
	return fhir.InsufficientAuthentication(g.h.BaseURL, s.Reason, s.ACR, s.MaxAge)
}

// needsStepUp tells whether err is insufficient's answer.
func needsStepUp(err error) bool {
	var fe *fhir.Error
	return errors.As(err, &fe) && fe.Challenge != ""
}

// withhold leaves out, in place, the resources of list (of op) that need
// a stronger or more recent sign-in than the principal's, counting them
// for the result's warning (see stepUpOutcome).
func (g *gate) withhold(op consent.Interaction, list []*fhir.Resource) ([]*fhir.Resource, error) {
	if g == nil || g.h.Guard == nil {
		return list, nil
	}
	out := list[:0]
	for _, r := range list {
		d, err := g.allow(op, r.Type)
		if err != nil {
			return nil, err
		}
		if d.StepUp.Needs(r) {
			g.withheld++
			g.stepUp = d.StepUp
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// held is how many resources withhold and admits have left out so far
// for want of a step-up.
func (g *gate) held() int {
	if g == nil {
		return 0
	}
	return g.withheld
}

// hidden is the criterion that leaves out of a store query of typ (for
// op) the resources carrying a label the principal's sign-in is too weak
// or too old for: none when op's decision asks for no step-up, when op is
// not permitted on typ (what is found is then refused one by one), or for
// a ledger type, which has no such index. A search adds it to every query
// it runs, so that withheld resources neither match, nor count, nor make
// a chain or _has match; the result then carries stepUpOutcome's warning.
func (g *gate) hidden(op consent.Interaction, typ string) ([]fhir.Clause, error) {
	if g == nil || g.h.Guard == nil || fhir.IsLedger(typ) {
		return nil, nil
	}
	d, err := g.allow(op, typ)
	if isCode(err, fhir.CodeForbidden) {
		return nil, nil
	}
	if err != nil || d.StepUp == nil || len(d.StepUp.Labels) == 0 {
		return nil, err
	}
	g.stepUp = d.StepUp
	c := fhir.Clause{Param: "_security", Type: fhir.TypeToken, Modifier: "not"}
	for _, l := range d.StepUp.Labels {
		c.Values = append(c.Values, fhir.Value{System: l.System, Code: l.Code})
	}
	return []fhir.Clause{c}, nil
}

// hide adds hidden's criterion to q.
func (g *gate) hide(op consent.Interaction, q *fhir.Query) error {
	extra, err := g.hidden(op, q.Type)
	if err == nil && extra != nil {
		q.Clauses = append(slices.Clip(q.Clauses), extra...)
	}
	return err
}

// stepUpOutcome is the warning a Bundle carries when labelled resources
// may have been left out of it (nil when none could be): that there may
// be such resources, never how many, and the RFC 9470 parameters to sign
// in again with. A search whose queries left them out (hidden) carries
// it whatever it found, since a warning only when one was there would
// tell as much as the number.
func (g *gate) stepUpOutcome() *models.BundleEntry {
	if g == nil || g.stepUp == nil {
		return nil
	}
	s := g.stepUp
	diag := fmt.Sprintf("Resources with a restricted security label, if there are any, are left out: %s to see them "+
		"(sign in again with acr_values=%s and max_age=%d).", strings.ToLower(s.Reason[:1])+s.Reason[1:], s.ACR, int(s.MaxAge/time.Second))
	oo, _ := json.Marshal(models.OperationOutcome{Issue: []models.OperationOutcomeIssue{{
		Severity: models.IssueSeverityWarning, Code: models.IssueTypeSuppressed, Diagnostics: &diag}}})
	mode := models.SearchEntryModeOutcome
	return &models.BundleEntry{Resource: oo, Search: &models.BundleEntrySearch{Mode: &mode}}
}

// admits is admit (admitStored when stored) for a resource a result may
// leave out: false when it must be left out.
func (g *gate) admits(op consent.Interaction, r *fhir.Resource, stored bool) (bool, error) {
	err := g.decide(op, r, stored)
	if needsStepUp(err) {
		g.withheld++
		return false, nil
	}
	if isCode(err, fhir.CodeForbidden) || isCode(err, fhir.CodeNotFound) {
		return false, nil
	}
	return err == nil, err
}

func isCode(err error, code models.IssueType) bool {
	var fe *fhir.Error
	return errors.As(err, &fe) && fe.Code == code
}

// admitWrite decides about the version a write would store: any denial is
// 403 (the principal names the resource's content, so nothing is hidden).
func (g *gate) admitWrite(op consent.Interaction, r *fhir.Resource) error {
	err := g.admit(op, r)
	if isCode(err, fhir.CodeNotFound) {
		return &fhir.Error{Code: fhir.CodeForbidden, Diagnostics: "the access granted does not reach the " + r.Type + " as written: it names another patient, or lies outside the permitted criteria"}
	}
	return err
}

// indexOf computes the index entries of r when the policy asks for them.
func (h *handler) indexOf(r *fhir.Resource) func() ([]fhir.IndexEntry, error) {
	return func() ([]fhir.IndexEntry, error) {
		if r.Index != nil {
			return r.Index, nil
		}
		if h.Indexer == nil {
			return nil, errors.New("rest: access limits need the index extractor")
		}
		return h.Indexer.Extract(r.Type, r.JSON)
	}
}

// refersOf answers from the store's index whether r, a current version,
// refers to ref through one of params. Should r no longer be current (a
// write came in between), its own index entries answer.
func (h *handler) refersOf(ctx context.Context, r *fhir.Resource) func([]string, string) (bool, error) {
	return func(params []string, ref string) (bool, error) {
		typ, _, _ := strings.Cut(ref, "/")
		for _, p := range params {
			found, err := h.Store.Search(ctx, fhir.Query{Type: r.Type, IDs: []string{r.ID}, Limit: 1,
				Clauses: []fhir.Clause{{Param: p, Type: fhir.TypeReference, Values: []fhir.Value{{System: typ, Code: ref}}}}})
			switch {
			case err != nil:
				return false, err
			case len(found) > 0 && found[0].Version == r.Version:
				return true, nil
			case len(found) > 0:
				return refersIn(h.indexOf(r), params, ref)
			}
		}
		// Not found: r may have been replaced in between, by a version that
		// no longer refers to ref.
		cur, err := h.Store.Read(ctx, r.Type, r.ID)
		if err != nil || cur.Version != r.Version {
			return refersIn(h.indexOf(r), params, ref)
		}
		return false, nil
	}
}

func refersIn(index func() ([]fhir.IndexEntry, error), params []string, ref string) (bool, error) {
	entries, err := index()
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(entries, func(e fhir.IndexEntry) bool {
		return e.Kind == fhir.TypeReference && e.Code == ref && slices.Contains(params, e.Param)
	}), nil
}

// lastContent is r, or for a deletion the last version before it that has
// content (nil if there is none).
func (h *handler) lastContent(ctx context.Context, r *fhir.Resource) (*fhir.Resource, error) {
	for v, tries := r.Version-1, 0; r.Deleted && v >= 1 && tries < 8; v, tries = v-1, tries+1 {
		prev, err := h.Store.VRead(ctx, r.Type, r.ID, v)
		if err != nil {
			return nil, err
		}
		r = prev
	}
	if r.Deleted {
		return nil, nil
	}
	return r, nil
}

// interactionOf names the interaction of a read or write.
func interactionOf(in *interaction) consent.Interaction {
	switch in.method {
	case http.MethodPost:
		return consent.Create
	case http.MethodPut:
		return consent.Update
	case http.MethodPatch:
		return consent.Patch
	case http.MethodDelete:
		return consent.Delete
	case http.MethodGet, http.MethodHead:
		if in.vid != "" {
			return consent.VRead
		}
	}
	return consent.Read
}

// tag identifies the principal in the paging cursors issued to it, so a
// link replayed by anyone else is refused. "" without a principal.
func (g *gate) tag() string {
	if g == nil || g.who == nil {
		return ""
	}
	p := g.who
	sum := sha256.Sum256([]byte(p.Subject + "\x00" + p.Client + "\x00" + p.Patient + "\x00" + p.Grant))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func cursorOfOther() error {
	return &fhir.Error{Code: fhir.CodeForbidden, Expression: []string{"_cursor"},
		Diagnostics: "the paging cursor was issued to another user or client"}
}

// permitted keeps, in place, the types on which op is permitted.
func (g *gate) permitted(op consent.Interaction, types []string) ([]string, error) {
	out := types[:0]
	for _, t := range types {
		d, err := g.allow(op, t)
		if err != nil && !isCode(err, fhir.CodeForbidden) {
			return nil, err
		}
		if d.Permit {
			out = append(out, t)
		}
	}
	return out, nil
}

// keep filters resources already found (of type typ, or of any type when
// typ is "") down to those op may reach. When typ's limits admit all of
// patient's compartment and list holds only that compartment's resources,
// nothing needs checking one by one.
func (g *gate) keep(op consent.Interaction, typ, patient string, list []*fhir.Resource) ([]*fhir.Resource, error) {
	if typ != "" {
		d, err := g.allow(op, typ)
		if err != nil {
			return nil, err
		}
		if d.Limits == nil || slices.ContainsFunc(d.Limits, func(l consent.Limit) bool {
			return patient != "" && (l.Patient == "" || l.Patient == patient) && l.Match.IDs == nil && len(l.Match.Clauses) == 0
		}) {
			return g.withhold(op, list)
		}
	}
	out := list[:0:0]
	for _, r := range list {
		ok, err := g.admits(op, r, true)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// admitsVersion decides whether a history entry is shown: versions of
// types the principal may not see (system history) are left out, and, under
// limits, those whose content it may not reach. In one instance's history,
// already admitted as a whole, a deletion is shown.
func (g *gate) admitsVersion(op consent.Interaction, instance bool, r *fhir.Resource) (bool, error) {
	d, err := g.allow(op, r.Type)
	if !d.Permit {
		if isCode(err, fhir.CodeForbidden) {
			err = nil
		}
		return false, err
	}
	// A deletion shows no content: under no limit, nothing to check.
	if instance && r.Deleted || d.Limits == nil && (d.StepUp == nil || r.Deleted) {
		return true, nil
	}
	return g.admits(op, r, false)
}
