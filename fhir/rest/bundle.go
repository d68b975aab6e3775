package rest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	models "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
)

type bundleIn struct {
	ResourceType string    `json:"resourceType"`
	Type         string    `json:"type"`
	Entry        []entryIn `json:"entry"`
}

type entryIn struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Request  *struct {
		Method      string `json:"method"`
		URL         string `json:"url"`
		IfMatch     string `json:"ifMatch"`
		IfNoneExist string `json:"ifNoneExist"`
	} `json:"request"`
}

// entry is one Bundle entry being processed.
type entry struct {
	in      *interaction
	fullURL string
	err     error
	out     *outcome
}

// phase orders entries as the specification requires: deletes, then
// creates, then updates and patches, then reads.
func phase(method string) int {
	switch method {
	case http.MethodDelete:
		return 0
	case http.MethodPost:
		return 1
	case http.MethodPut, http.MethodPatch:
		return 2
	}
	return 3
}

// bundle serves POST /fhir with a batch or transaction Bundle.
func (h *handler) bundle(c echo.Context) error {
	if err := negotiate(c.Request()); err != nil {
		return err
	}
	if err := checkContentType(c.Request()); err != nil {
		return err
	}
	body, err := readBody(c.Request(), h.MaxBodyBytes)
	if err != nil {
		return err
	}
	if _, err := fhir.ParseObject(body); err != nil {
		return err
	}
	var b bundleIn
	if err := json.Unmarshal(body, &b); err != nil {
		return &fhir.Error{Code: fhir.CodeStructure, Diagnostics: "the Bundle's entries have the wrong shape", Expression: []string{"Bundle.entry"}}
	}
	if b.ResourceType != "Bundle" {
		return &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "the base URL accepts only a batch or transaction Bundle", Expression: []string{"resourceType"}}
	}
	if b.Type != "transaction" && b.Type != "batch" {
		return &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "Bundle.type must be transaction or batch", Expression: []string{"Bundle.type"}}
	}
	g := h.gate(c)
	entries := make([]*entry, len(b.Entry))
	for i := range b.Entry {
		in, err := h.entryInteraction(&b.Entry[i])
		if err == nil && in.method != http.MethodGet {
			err = writable(in.typ)
		}
		if err == nil {
			// Every entry passes the checks its own request would.
			in.g = g
			_, err = g.allow(interactionOf(in), in.typ)
		}
		if err == nil && (in.method == http.MethodPost || in.method == http.MethodPut) {
			err = h.prepare(in)
		}
		entries[i] = &entry{in: in, fullURL: b.Entry[i].FullURL, err: err}
	}
	ctx := c.Request().Context()
	if b.Type == "transaction" {
		for i, e := range entries {
			if e.err != nil {
				return entryError(i, e.err)
			}
		}
		if i, err := h.transaction(ctx, entries); err != nil {
			return entryError(i, err)
		}
	} else {
		h.batch(ctx, entries)
	}
	return h.respondBundle(c, b.Type+"-response", entries)
}

// entryError names the failing entry in every issue of err.
func entryError(i int, err error) error {
	list := issues(err)
	out := make(multi, len(list))
	for j, e := range list {
		cp := *e
		if i >= 0 {
			cp.Diagnostics = fmt.Sprintf("Bundle.entry[%d]: %s", i, e.Diagnostics)
		}
		out[j] = &cp
	}
	return out
}

// multi carries several issues as one error.
type multi []*fhir.Error

func (m multi) Error() string         { return m[0].Error() }
func (m multi) Issues() []*fhir.Error { return m }
func (m multi) Unwrap() error         { return m[0] }

// entryInteraction reads an entry's request into an interaction.
func (h *handler) entryInteraction(e *entryIn) (*interaction, error) {
	if e.Request == nil {
		return nil, &fhir.Error{Code: fhir.CodeRequired, Diagnostics: "the entry has no request", Expression: []string{"Bundle.entry.request"}}
	}
	in := &interaction{method: strings.ToUpper(e.Request.Method), ifMatch: e.Request.IfMatch, ifNoneExist: e.Request.IfNoneExist}
	raw := e.Request.URL
	if strings.HasPrefix(raw, h.BaseURL+"/") {
		raw = raw[len(h.BaseURL)+1:]
	}
	raw = strings.TrimPrefix(raw, "/")
	path, query, _ := strings.Cut(raw, "?")
	segs := strings.Split(path, "/")
	if path == "" || strings.Contains(path, "://") {
		return nil, &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "request.url must be a relative URL such as Patient/123", Expression: []string{"Bundle.entry.request.url"}}
	}
	in.typ = segs[0]
	if err := h.checkType(in.typ); err != nil {
		return nil, err
	}
	switch {
	case len(segs) == 1:
		in.criteria = query
	case len(segs) == 2 && query == "":
		in.id = segs[1]
	case len(segs) == 4 && segs[2] == "_history" && in.method == http.MethodGet && query == "":
		in.id, in.vid = segs[1], segs[3]
	default:
		return nil, &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusBadRequest, Diagnostics: "this request.url is not supported in a Bundle", Expression: []string{"Bundle.entry.request.url"}}
	}
	if in.id != "" {
		if err := checkID(in.id); err != nil {
			return nil, err
		}
	}
	needsResource := false
	switch in.method {
	case http.MethodPost:
		if in.id != "" || in.criteria != "" {
			return nil, fhir.Errorf(fhir.CodeInvalid, "a POST entry's url must be the resource type")
		}
		needsResource = true
	case http.MethodPut:
		needsResource = true
		if in.id == "" && in.criteria == "" {
			return nil, fhir.Errorf(fhir.CodeInvalid, "a PUT entry needs an id or search criteria in its url")
		}
	case http.MethodDelete:
		if in.id == "" && in.criteria == "" {
			return nil, fhir.Errorf(fhir.CodeInvalid, "a DELETE entry needs an id or search criteria in its url")
		}
	case http.MethodPatch:
		if in.id == "" && in.criteria == "" {
			return nil, fhir.Errorf(fhir.CodeInvalid, "a PATCH entry needs an id or search criteria in its url")
		}
		patch, err := patchFromBinary(e.Resource)
		if err != nil {
			return nil, err
		}
		in.body = patch
	case http.MethodGet:
		if in.id == "" {
			return nil, &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusBadRequest, Diagnostics: "GET entries may read or vread a resource; search arrives later"}
		}
	default:
		return nil, &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "request.method must be GET, POST, PUT, PATCH or DELETE", Expression: []string{"Bundle.entry.request.method"}}
	}
	if needsResource {
		if len(e.Resource) == 0 {
			return nil, &fhir.Error{Code: fhir.CodeRequired, Diagnostics: "the entry has no resource", Expression: []string{"Bundle.entry.resource"}}
		}
		in.body = e.Resource
	}
	return in, nil
}

// patchFromBinary reads a JSON Patch carried, as FHIR requires in a Bundle,
// in a Binary resource.
func patchFromBinary(raw json.RawMessage) ([]byte, error) {
	var bin struct {
		ResourceType string `json:"resourceType"`
		ContentType  string `json:"contentType"`
		Data         string `json:"data"`
	}
	if json.Unmarshal(raw, &bin) != nil || bin.ResourceType != "Binary" {
		return nil, fhir.Errorf(fhir.CodeInvalid, "a PATCH entry carries its JSON Patch in a Binary resource")
	}
	if bin.ContentType != contentTypeJSONPatch {
		return nil, unsupportedMedia("a PATCH entry's Binary must have contentType " + contentTypeJSONPatch)
	}
	b, err := base64.StdEncoding.DecodeString(bin.Data)
	if err != nil || len(b) == 0 {
		return nil, fhir.Errorf(fhir.CodeInvalid, "the Binary data of a PATCH entry is not base64")
	}
	return b, nil
}

// checkOverlap refuses a transaction that changes the same resource twice,
// counting the identities conditional entries resolved to.
func checkOverlap(work []*interaction) (int, error) {
	seen := map[string]int{}
	for i, in := range work {
		if in.method == http.MethodGet {
			continue
		}
		id := in.id
		if id == "" {
			id = in.assignedID
		}
		if in.matched != nil {
			id = in.matched.ID
		}
		if id == "" {
			continue
		}
		k := in.typ + "/" + id
		if j, ok := seen[k]; ok {
			return i, fhir.Errorf(fhir.CodeInvalid, "entry %d changes the same resource", j)
		}
		seen[k] = i
	}
	return -1, nil
}

// transaction runs every entry in one unit of work: all of them are stored
// or none is. It returns the index of the failing entry with the error.
func (h *handler) transaction(ctx context.Context, entries []*entry) (int, error) {
	failed, ifMatch := -1, false
	for _, e := range entries {
		ifMatch = ifMatch || e.in.ifMatch != ""
	}
	_, err := h.write(ctx, ifMatch, func(tx fhir.Tx) (*outcome, error) {
		failed = -1
		work := make([]*interaction, len(entries))
		refs := map[string]string{}
		for i, e := range entries {
			in := *e.in
			in.matched, in.assignedID = nil, ""
			work[i] = &in
			if err := h.assignIdentity(tx, &in, e.fullURL, refs); err != nil {
				failed = i
				return nil, err
			}
		}
		if i, err := checkOverlap(work); err != nil {
			failed = i
			return nil, err
		}
		for i, in := range work {
			if in.obj == nil {
				continue
			}
			o, err := h.resolveReferences(tx, in.g, in.obj, refs)
			if err != nil {
				failed = i
				return nil, err
			}
			in.obj = o
		}
		for p := 0; p < 4; p++ {
			for i, in := range work {
				if phase(in.method) != p {
					continue
				}
				out, err := h.run(ctx, tx, in)
				if err != nil {
					failed = i
					return nil, err
				}
				entries[i].out = out
			}
		}
		return nil, nil
	})
	return failed, err
}

// assignIdentity decides, before any write, which resource each create and
// update will be, so that references between entries can be rewritten.
func (h *handler) assignIdentity(tx fhir.Tx, in *interaction, fullURL string, refs map[string]string) error {
	switch in.method {
	case http.MethodPost:
		if in.ifNoneExist != "" {
			m, err := h.matchOne(tx, in.g, consent.Create, in.typ, in.ifNoneExist)
			if err != nil {
				return err
			}
			if m != nil {
				in.matched = m
				refs[fullURL] = in.typ + "/" + m.ID
				return nil
			}
		}
		in.assignedID = h.NewID()
		if fullURL != "" {
			refs[fullURL] = in.typ + "/" + in.assignedID
		}
	case http.MethodPut:
		if in.id == "" {
			m, err := h.matchOne(tx, in.g, consent.Update, in.typ, in.criteria)
			if err != nil {
				return err
			}
			bodyID := in.obj.String("id")
			switch {
			case m != nil && bodyID != "" && bodyID != m.ID:
				return &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "the id in the body does not match the resource the criteria found", Expression: []string{in.typ + ".id"}}
			case m != nil:
				in.id = m.ID
			default:
				if in.id, err = h.newIdentity(tx, in); err != nil {
					return err
				}
			}
			in.criteria = ""
		}
		if fullURL != "" {
			refs[fullURL] = in.typ + "/" + in.id
		}
	case http.MethodDelete, http.MethodPatch:
		if in.id == "" {
			// Resolve now, so that overlaps are seen and later entries'
			// conditions are judged against the state before this unit.
			m, err := h.matchOne(tx, in.g, interactionOf(in), in.typ, in.criteria)
			if err != nil {
				return err
			}
			if m != nil {
				in.id, in.criteria = m.ID, ""
			}
		}
	}
	return nil
}

var conditionalRef = regexp.MustCompile(`^[A-Z][A-Za-z]+\?.+`)

// resolveReferences rewrites Reference.reference values: fullUrls of other
// entries become Type/id, and conditional references (Patient?identifier=x)
// become the one resource they match among those the principal may search.
func (h *handler) resolveReferences(tx fhir.Tx, g *gate, o fhir.Object, refs map[string]string) (fhir.Object, error) {
	var out fhir.Object
	keys := make([][]byte, 0, len(refs))
	for k := range refs {
		keys = append(keys, []byte(k))
	}
	for k, raw := range o {
		if !mayRefer(raw, keys) {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, fhir.Errorf(fhir.CodeStructure, "unreadable element %s", k)
		}
		changed, err := h.rewrite(tx, g, v, refs)
		if err != nil {
			return nil, err
		}
		if changed {
			if out == nil {
				out = o.Clone()
			}
			out.Set(k, v)
		}
	}
	if out == nil {
		return o, nil
	}
	return out, nil
}

// mayRefer tells cheaply whether a member could hold a reference or a link
// to another entry.
func mayRefer(raw []byte, fullURLs [][]byte) bool {
	if bytes.Contains(raw, referenceKey) {
		return true
	}
	for _, k := range fullURLs {
		if bytes.Contains(raw, k) {
			return true
		}
	}
	return false
}

var referenceKey = []byte(`"reference"`)

// rewrite replaces Reference.reference values, and any other string (uri,
// url, oid, uuid elements) that is exactly the fullUrl of an entry.
func (h *handler) rewrite(tx fhir.Tx, g *gate, v any, refs map[string]string) (bool, error) {
	changed := false
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			if s, ok := child.(string); ok {
				n := s
				if k == "reference" {
					var err error
					if n, err = h.resolveOne(tx, g, s, refs); err != nil {
						return false, err
					}
				} else if r, ok := refs[s]; ok {
					n = r
				}
				if n != s {
					t[k] = n
					changed = true
				}
				continue
			}
			c, err := h.rewrite(tx, g, child, refs)
			if err != nil {
				return false, err
			}
			changed = changed || c
		}
	case []any:
		for i, child := range t {
			if s, ok := child.(string); ok {
				if r, ok := refs[s]; ok {
					t[i] = r
					changed = true
				}
				continue
			}
			c, err := h.rewrite(tx, g, child, refs)
			if err != nil {
				return false, err
			}
			changed = changed || c
		}
	}
	return changed, nil
}

func (h *handler) resolveOne(tx fhir.Tx, g *gate, ref string, refs map[string]string) (string, error) {
	if n, ok := refs[ref]; ok {
		return n, nil
	}
	if strings.HasPrefix(ref, "urn:uuid:") || strings.HasPrefix(ref, "urn:oid:") {
		return "", &fhir.Error{Code: fhir.CodeNotFound, Status: http.StatusBadRequest, Diagnostics: "a reference names a fullUrl that no entry of the Bundle has"}
	}
	if conditionalRef.MatchString(ref) {
		typ, criteria, _ := strings.Cut(ref, "?")
		if err := h.checkType(typ); err != nil {
			return "", err
		}
		if _, err := g.allow(consent.SearchType, typ); err != nil {
			return "", err
		}
		m, err := h.matchOne(tx, g, consent.SearchType, typ, criteria)
		if err != nil {
			return "", err
		}
		if m == nil {
			return "", &fhir.Error{Code: fhir.CodeNotFound, Diagnostics: "a conditional reference matches no resource"}
		}
		return typ + "/" + m.ID, nil
	}
	return ref, nil
}

// run performs one entry: a write through apply, or a read.
func (h *handler) run(ctx context.Context, tx fhir.Tx, in *interaction) (*outcome, error) {
	if in.method != http.MethodGet {
		return h.apply(tx, in)
	}
	var res *fhir.Resource
	var err error
	if in.vid != "" {
		v, convErr := strconv.Atoi(in.vid)
		if convErr != nil || v < 1 {
			return nil, notFound(in.typ, in.id)
		}
		res, err = h.Store.VRead(ctx, in.typ, in.id, v)
	} else if tx != nil {
		res, err = tx.Read(in.typ, in.id)
	} else {
		res, err = h.Store.Read(ctx, in.typ, in.id)
	}
	if errors.Is(err, fhir.ErrNotFound) {
		return nil, notFound(in.typ, in.id)
	}
	if err != nil {
		return nil, err
	}
	if err := in.g.admit(interactionOf(in), res); err != nil {
		return nil, err
	}
	if res.Deleted {
		return nil, gone(in.typ, in.id)
	}
	return &outcome{status: http.StatusOK, res: res}, nil
}

// batch runs each entry on its own; a failure is that entry's response.
func (h *handler) batch(ctx context.Context, entries []*entry) {
	for p := 0; p < 4; p++ {
		for _, e := range entries {
			if e.err != nil || e.in == nil || phase(e.in.method) != p {
				continue
			}
			if e.in.method == http.MethodGet {
				e.out, e.err = h.run(ctx, nil, e.in)
				continue
			}
			e.out, e.err = h.write(ctx, e.in.ifMatch != "", func(tx fhir.Tx) (*outcome, error) { return h.apply(tx, e.in) })
		}
	}
}

func (h *handler) respondBundle(c echo.Context, typ string, entries []*entry) error {
	prefer := preferReturn(c.Request())
	bt := models.BundleTypeTransactionResponse
	if typ == "batch-response" {
		bt = models.BundleTypeBatchResponse
	}
	b := models.Bundle{Type: bt, Entry: make([]models.BundleEntry, len(entries))}
	for i, e := range entries {
		be := &b.Entry[i]
		if e.err != nil {
			list := issues(e.err)
			if st := list[0].HTTPStatus(); st >= 500 {
				h.Logger.Error("bundle entry failed", "entry", i, "status", st,
					"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", e.err)
			}
			be.Response = &models.BundleEntryResponse{Status: statusLine(list[0].HTTPStatus()), Outcome: fhir.OperationOutcome(list...)}
			continue
		}
		out := e.out
		resp := &models.BundleEntryResponse{Status: statusLine(out.status)}
		if r := out.res; r != nil && !r.Deleted {
			etag, lm := r.ETag(), r.LastUpdated.UTC().Format(fhir.InstantFormat)
			resp.Etag, resp.LastModified = &etag, &lm
			full := h.BaseURL + "/" + r.Type + "/" + r.ID
			be.FullUrl = &full
			if e.in.method != http.MethodGet {
				loc := h.versionURL(r)
				resp.Location = &loc
			}
			if prefer == "representation" && !out.withheld {
				be.Resource = r.JSON
			}
		}
		if prefer == "OperationOutcome" {
			resp.Outcome = fhir.Information(out.infoText())
		}
		be.Response = resp
	}
	// Each entry's own interaction: the version it wrote, or what it
	// returns. A transaction gets here only once all of it is stored.
	trail := fhir.TrailFrom(c.Request().Context())
	for _, e := range entries {
		if e.err == nil {
			record(trail, e.in, e.out)
		}
	}
	body, err := marshal(b)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, body)
	return nil
}

func statusLine(status int) string {
	return strconv.Itoa(status) + " " + http.StatusText(status)
}
