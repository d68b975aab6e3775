package rest

import (
	"context"
	crand "crypto/rand"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
)

type handler struct {
	Deps
	cursors signer
}

func newHandler(d Deps) *handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.NewID == nil {
		d.NewID = newID
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.SearchTimeout <= 0 {
		d.SearchTimeout = DefaultSearchTimeout
	}
	if d.IsResourceType == nil {
		d.IsResourceType = fhir.ValidTypeName
	}
	d.BaseURL = strings.TrimRight(d.BaseURL, "/")
	key := d.CursorKey
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := crand.Read(key); err != nil {
			panic("rest: no randomness for the cursor key: " + err.Error())
		}
	}
	return &handler{Deps: d, cursors: signer{key: key}}
}

// newID is the default id of a new resource: a version 7 UUID, which
// starts with the time it was made, so that the ids a server assigns grow
// and a store's b-trees keyed by (type, id) take new resources at their
// end instead of at a random page each (a bundle of 64 resources dirtied
// a page per resource in every such index, and a commit wrote them all).
// The id tells when the resource was created, to the millisecond, which
// its first version's meta.lastUpdated and its history tell anyway.
func newID() string {
	u, err := uuid.NewV7()
	if err != nil { // no randomness: NewString panics the same way
		return uuid.NewString()
	}
	return u.String()
}

// interaction is one FHIR interaction, read from an HTTP request or from a
// Bundle entry.
type interaction struct {
	method      string // GET, POST, PUT, PATCH, DELETE
	typ, id     string
	vid         string
	criteria    string // conditional update/patch/delete: the search part of the URL
	ifNoneExist string
	ifMatch     string
	body        []byte      // JSON Patch document for PATCH
	obj         fhir.Object // parsed and validated resource for POST and PUT
	assignedID  string      // transaction: the id decided before the writes
	matched     *fhir.Resource
	g           *gate // the access check of the request
}

// outcome is what an interaction produced.
type outcome struct {
	status int
	res    *fhir.Resource // the version written or read (nil for none)
	info   string         // human-readable note for Prefer: return=OperationOutcome
	body   []byte         // a body other than res.JSON
	// withheld: the principal may not read what the interaction found or
	// made, so the answer says what happened without showing it.
	withheld bool
	// written: res is a version this interaction stored.
	written bool
	// prior is, for a delete, the version it deleted: what the audit
	// trail reads to know whose data it was.
	prior *fhir.Resource
}

// checkType refuses resource types the server does not know.
func (h *handler) checkType(typ string) error {
	if !h.IsResourceType(typ) {
		return &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusNotFound, Diagnostics: "unknown resource type " + sanitize(typ)}
	}
	return nil
}

// readOnly lists the types the API never writes, whoever asks and whether
// or not a Guard is set: AuditEvents are stored by the audit trail alone,
// chained to one another, and a client's create, update, patch or delete
// would forge or break that record.
var readOnly = map[string]bool{"AuditEvent": true}

// writable answers a write of a read-only type with 405.
func writable(typ string) error {
	if readOnly[typ] {
		return &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusMethodNotAllowed,
			Diagnostics: typ + " resources are recorded by the server; they cannot be created, changed or deleted through the API"}
	}
	return nil
}

func checkID(id string) error {
	if !fhir.ValidID(id) {
		return &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "invalid resource id: ids are 1-64 letters, digits, '-' and '.'"}
	}
	return nil
}

// prepare parses and validates the resource of a create or update before
// any storage work: resourceType must match the URL and, on update, the id
// in the body must match the id in the URL.
func (h *handler) prepare(in *interaction) error {
	o, err := fhir.ParseObject(in.body)
	if err != nil {
		return err
	}
	rt := o.String("resourceType")
	if rt == "" {
		return &fhir.Error{Code: fhir.CodeRequired, Status: http.StatusBadRequest, Diagnostics: "resourceType is missing", Expression: []string{"resourceType"}}
	}
	if rt != in.typ {
		return &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "resourceType " + sanitize(rt) + " does not match the URL type " + in.typ, Expression: []string{"resourceType"}}
	}
	if in.method == http.MethodPut && in.id != "" {
		bodyID := o.String("id")
		if bodyID == "" {
			return &fhir.Error{Code: fhir.CodeRequired, Status: http.StatusBadRequest, Diagnostics: "an update must carry the resource id in the body", Expression: []string{in.typ + ".id"}}
		}
		if bodyID != in.id {
			return &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "the id in the body does not match the id in the URL", Expression: []string{in.typ + ".id"}}
		}
	}
	if h.Validator != nil {
		if err := h.Validator.Validate(in.typ, in.body); err != nil {
			return err
		}
	}
	in.obj = o
	return nil
}

// write runs fn as one unit of work. A unit that lost a race to another
// writer is run again after a short, growing pause: it re-reads the current
// version, so nothing is lost. When the unit carries an If-Match, losing the
// race means the version the client named is no longer (or soon no longer)
// current, and the answer is 412 at once.
func (h *handler) write(ctx context.Context, ifMatch bool, fn func(tx fhir.Tx) (*outcome, error)) (*outcome, error) {
	const attempts = 10
	pause := 500 * time.Microsecond
	for i := 0; ; i++ {
		var out *outcome
		err := h.Store.Write(ctx, func(tx fhir.Tx) error {
			var err error
			out, err = fn(tx)
			return err
		})
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, fhir.ErrVersionConflict) {
			return nil, err
		}
		if ifMatch {
			return nil, staleVersion()
		}
		if i == attempts-1 {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(pause + time.Duration(rand.Int64N(int64(pause)))):
		}
		pause = min(2*pause, 20*time.Millisecond)
	}
}

func staleVersion() error {
	return &fhir.Error{Code: fhir.CodeConflict, Status: http.StatusPreconditionFailed,
		Diagnostics: "If-Match does not name the current version"}
}

// apply runs a write interaction inside tx.
func (h *handler) apply(tx fhir.Tx, in *interaction) (*outcome, error) {
	switch in.method {
	case http.MethodPost:
		return h.doCreate(tx, in)
	case http.MethodPut:
		if in.id == "" {
			return h.doConditional(tx, in, h.doUpdate)
		}
		return h.doUpdate(tx, in)
	case http.MethodPatch:
		if in.id == "" {
			return h.doConditional(tx, in, h.doPatch)
		}
		return h.doPatch(tx, in)
	case http.MethodDelete:
		if in.id == "" {
			return h.doConditional(tx, in, h.doDelete)
		}
		return h.doDelete(tx, in)
	}
	return nil, &fhir.Error{Code: fhir.CodeNotSupported, Diagnostics: "method not supported"}
}

// store stamps and stores a new version of in's resource, once the
// principal may write it as it now reads.
func (h *handler) store(tx fhir.Tx, in *interaction, o fhir.Object, id string, version int, status int) (*outcome, error) {
	typ := in.typ
	now := fhir.TruncateTime(h.Now())
	if err := fhir.Stamp(o, id, version, now); err != nil {
		return nil, err
	}
	res := &fhir.Resource{
		Type: typ, ID: id, Version: version, LastUpdated: now, Method: in.method,
		JSON: o.Bytes(), Tokens: fhir.Identifiers(o),
	}
	if h.Indexer != nil {
		entries, err := h.Indexer.Extract(typ, res.JSON)
		if err != nil {
			return nil, err
		}
		res.Index = entries
	}
	if err := in.g.admitWrite(interactionOf(in), res); err != nil {
		return nil, err
	}
	if in.method == http.MethodPut && status == http.StatusCreated {
		// An update that creates (a new id, a conditional update that
		// matched nothing, or a deleted resource brought back) needs
		// create as well, with the create-side checks on what it writes.
		if _, err := in.g.allow(consent.Create, typ); err != nil {
			return nil, err
		}
		if err := in.g.admitWrite(consent.Create, res); err != nil {
			return nil, err
		}
	}
	if err := tx.Put(res); err != nil {
		return nil, err
	}
	return &outcome{status: status, res: res, written: true}, nil
}

func (h *handler) doCreate(tx fhir.Tx, in *interaction) (*outcome, error) {
	if in.matched != nil {
		return existing(in.g, in.matched)
	}
	if in.ifNoneExist != "" && in.assignedID == "" {
		m, err := h.matchOne(tx, in.g, consent.Create, in.typ, in.ifNoneExist)
		if err != nil {
			return nil, err
		}
		if m != nil {
			return existing(in.g, m)
		}
	}
	id := in.assignedID
	if id == "" {
		id = h.NewID()
	}
	return h.store(tx, in, in.obj.Clone(), id, 1, http.StatusCreated)
}

// existing answers a conditional create whose If-None-Exist matched m:
// with m when the principal may read it, else with only the news that a
// match exists. Create alone does not grant reading what a search finds.
func existing(g *gate, m *fhir.Resource) (*outcome, error) {
	const info = "an existing resource matched If-None-Exist; nothing was created"
	ok, err := g.admits(consent.Read, m, false)
	if err != nil {
		return nil, err
	}
	if !ok {
		return &outcome{status: http.StatusOK, info: info, withheld: true}, nil
	}
	return &outcome{status: http.StatusOK, res: m, info: info}, nil
}

// current reads the version an update, patch or delete starts from, checks
// that the principal may change it (another patient's resource answers 404,
// as a missing one does) and checks If-Match against it. cur is nil when
// the resource never existed.
func current(tx fhir.Tx, in *interaction) (*fhir.Resource, error) {
	cur, err := tx.Read(in.typ, in.id)
	if errors.Is(err, fhir.ErrNotFound) {
		cur, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if cur != nil {
		if err := in.g.admit(interactionOf(in), cur); err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(in.ifMatch) == "*" {
		// "*": any current version will do, but there must be one.
		if cur == nil || cur.Deleted {
			return nil, staleVersion()
		}
		return cur, nil
	}
	if in.ifMatch != "" {
		want, ok := parseETag(in.ifMatch)
		if !ok {
			return nil, fhir.Errorf(fhir.CodeInvalid, "If-Match must be a version ETag such as W/\"3\"")
		}
		if cur == nil || cur.Version != want {
			return nil, staleVersion()
		}
	}
	return cur, nil
}

func parseETag(s string) (int, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	s = strings.Trim(s, `"`)
	v, err := strconv.Atoi(s)
	return v, err == nil && v > 0
}

func (h *handler) doUpdate(tx fhir.Tx, in *interaction) (*outcome, error) {
	cur, err := current(tx, in)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return h.store(tx, in, in.obj.Clone(), in.id, 1, http.StatusCreated)
	}
	status := http.StatusOK
	if cur.Deleted {
		status = http.StatusCreated
	}
	return h.store(tx, in, in.obj.Clone(), in.id, cur.Version+1, status)
}

func (h *handler) doDelete(tx fhir.Tx, in *interaction) (*outcome, error) {
	cur, err := current(tx, in)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, notFound(in.typ, in.id)
	}
	if cur.Deleted {
		return &outcome{status: http.StatusNoContent, res: cur, info: "the resource was already deleted"}, nil
	}
	res := &fhir.Resource{
		Type: in.typ, ID: in.id, Version: cur.Version + 1, LastUpdated: fhir.TruncateTime(h.Now()),
		Deleted: true, Method: http.MethodDelete,
	}
	if err := tx.Put(res); err != nil {
		return nil, err
	}
	return &outcome{status: http.StatusNoContent, res: res, info: "deleted", written: true, prior: cur}, nil
}

// doConditional resolves the criteria of a conditional update, patch or
// delete to at most one resource and runs then on it.
func (h *handler) doConditional(tx fhir.Tx, in *interaction, then func(fhir.Tx, *interaction) (*outcome, error)) (*outcome, error) {
	q, err := h.criteria(tx, in.g, interactionOf(in), in.typ, in.criteria)
	if err != nil {
		return nil, err
	}
	q.Limit = 2
	matches, err := tx.Search(q)
	if err != nil {
		return nil, err
	}
	if len(matches) > 1 {
		return nil, multipleMatches()
	}
	next := *in
	switch {
	case len(matches) == 1:
		if in.method == http.MethodPut {
			if bodyID := in.obj.String("id"); bodyID != "" && bodyID != matches[0].ID {
				return nil, &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "the id in the body does not match the resource the criteria found", Expression: []string{in.typ + ".id"}}
			}
		}
		next.id = matches[0].ID
	case in.method == http.MethodPut:
		id, err := h.newIdentity(tx, in)
		if err != nil {
			return nil, err
		}
		next.id = id
	case in.method == http.MethodDelete:
		return &outcome{status: http.StatusNoContent, info: "no resource matched the criteria; nothing was deleted"}, nil
	default:
		return nil, &fhir.Error{Code: fhir.CodeNotFound, Diagnostics: "no resource matched the criteria"}
	}
	return then(tx, &next)
}

// newIdentity decides the id of a conditional update that matched nothing:
// the body's id if it names no existing resource, else a new one. A body id
// that names another, existing resource is refused: the criteria did not
// match it, so overwriting it would change the wrong resource.
func (h *handler) newIdentity(tx fhir.Tx, in *interaction) (string, error) {
	id := in.obj.String("id")
	if id == "" {
		if in.assignedID != "" {
			return in.assignedID, nil
		}
		return h.NewID(), nil
	}
	if err := checkID(id); err != nil {
		return "", err
	}
	cur, err := tx.Read(in.typ, id)
	switch {
	case errors.Is(err, fhir.ErrNotFound):
		return id, nil
	case err != nil:
		return "", err
	}
	// A resource the principal may not know of answers as a plain update
	// of it would (404), not with a conflict that tells it exists.
	if err := in.g.admit(interactionOf(in), cur); err != nil {
		return "", err
	}
	if !cur.Deleted {
		return "", &fhir.Error{Code: fhir.CodeConflict, Expression: []string{in.typ + ".id"},
			Diagnostics: "the body's id names an existing resource that the criteria do not match"}
	}
	return id, nil
}

func multipleMatches() error {
	return &fhir.Error{Code: fhir.CodeMultipleMatches, Diagnostics: "the criteria match more than one resource"}
}

func notFound(typ, id string) error {
	return &fhir.Error{Code: fhir.CodeNotFound, Diagnostics: typ + "/" + id + " is not known"}
}

func gone(typ, id string) error {
	return &fhir.Error{Code: fhir.CodeDeleted, Diagnostics: typ + "/" + id + " has been deleted"}
}

// matchOne runs If-None-Exist style criteria among the resources op may
// reach: nil when nothing matches, the match when one does, 412 when
// several do.
func (h *handler) matchOne(tx fhir.Tx, g *gate, op consent.Interaction, typ, criteria string) (*fhir.Resource, error) {
	q, err := h.criteria(tx, g, op, typ, criteria)
	if err != nil {
		return nil, err
	}
	q.Limit = 2
	matches, err := tx.Search(q)
	if err != nil {
		return nil, err
	}
	switch len(matches) {
	case 0:
		return nil, nil
	case 1:
		return matches[0], nil
	}
	return nil, multipleMatches()
}
