package audit

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/oncofhir/oncofhir/fhir"
)

// RESTAccess is one FHIR request as the audit trail sees it once the
// handler is done: who asked, what for, how it ended, and what it
// returned or wrote.
type RESTAccess struct {
	Principal *fhir.Principal // nil when no token was accepted
	// Method and Route are the HTTP method and the echo route pattern
	// ("/fhir/:type/:id"); Path and RawQuery the request's. For a POST
	// _search, RawQuery should hold the form parameters.
	Method, Route, Path, RawQuery string
	// Interaction is the request's CapabilityStatement code, as
	// InteractionOf gives it ("batch" when the caller knows a Bundle is
	// one: the route alone says "transaction").
	Interaction string
	Type, ID    string // the route's :type and :id, if any
	Status      int    // the HTTP status answered
	// StepUp: the 401 asked for a recent, stronger sign-in (RFC 9470's
	// insufficient_user_authentication), not for a token.
	StepUp     bool
	RequestID  string // X-Request-Id
	RemoteAddr string // the client's address
	// Trail is what the request returned or wrote.
	Trail []fhir.TrailEntry
	Time  time.Time
	// Server is the FHIR base URL: the server agent, the source of the
	// event, and the base under which absolute references name this
	// server's patients.
	Server string
}

// InteractionOf names the interaction of a request to a route of
// fhir/rest (the echo pattern, wherever the group is mounted): read,
// vread, search-type (also a compartment search), search-system,
// history-instance, history-type, history-system, create, update, patch,
// delete, transaction (a POST of a Bundle: batch or transaction),
// capabilities, everything, export, or operation for any other $operation.
// It returns "" for a route it does not know.
func InteractionOf(method, route string) string {
	if route == "" || strings.Contains(route, "*") {
		return ""
	}
	segs := strings.Split(strings.Trim(route, "/"), "/")
	t := -1
	for i, s := range segs {
		if s == ":type" {
			t = i
			break
		}
	}
	read := method == http.MethodGet || method == http.MethodHead
	if t < 0 {
		last := segs[len(segs)-1]
		switch {
		case last == "metadata":
			return "capabilities"
		case last == "_history":
			return "history-system"
		case strings.HasPrefix(last, "$"):
			return operation(last)
		case method == http.MethodPost:
			return "transaction"
		case read:
			return "search-system"
		}
		return "operation"
	}
	tail := segs[t+1:]
	switch len(tail) {
	case 0:
		switch method {
		case http.MethodPost:
			return "create"
		case http.MethodPut:
			return "update"
		case http.MethodPatch:
			return "patch"
		case http.MethodDelete:
			return "delete"
		}
		if read {
			return "search-type"
		}
	case 1:
		switch {
		case tail[0] == "_search":
			return "search-type"
		case tail[0] == "_history":
			return "history-type"
		case strings.HasPrefix(tail[0], "$"):
			return operation(tail[0])
		case tail[0] != ":id":
		case read:
			return "read"
		case method == http.MethodPut:
			return "update"
		case method == http.MethodPatch:
			return "patch"
		case method == http.MethodDelete:
			return "delete"
		}
	case 2:
		switch {
		case tail[1] == "_history":
			return "history-instance"
		case strings.HasPrefix(tail[1], "$"):
			return operation(tail[1])
		case strings.HasPrefix(tail[1], ":"):
			return "search-type"
		}
	case 3:
		if tail[1] == "_history" {
			return "vread"
		}
	}
	return "operation"
}

func operation(name string) string {
	switch name {
	case "$everything":
		return "everything"
	case "$export":
		return "export"
	}
	return "operation"
}

// kindOf is the kind of an interaction code; KindOperation for one it
// does not know.
func kindOf(interaction string) Kind {
	switch interaction {
	case "search":
		return KindSearchType
	case "history":
		return KindHistoryInstance
	}
	if k, ok := byName[interaction]; ok && k <= KindExport {
		return k
	}
	return KindOperation
}

// RESTEvents builds the AuditEvents of one FHIR request, in the IHE BALP
// shapes:
//   - read, vread, history: one event per patient whose data was
//     returned (entity[patient] and an entity per resource of theirs),
//     and one without a patient for resources of no patient;
//   - search: the same, each with entity[query] (the raw request,
//     base64), and one event even when nothing matched;
//   - create, update, patch, delete: one event per resource written and
//     patient it concerns;
//   - $everything and export: the disclosure shape, one per patient, the
//     resources of no patient in the requested patient's event;
//   - transaction and batch: the events of each entry, by what the entry
//     did, and one for the request;
//   - a failure (status 400 and above): one event of the interaction
//     with outcome 4 (8 for 5xx), a fixed outcomeDesc naming the refusal,
//     the patient the request named (Patient/:id) and no data entities.
//
// Every event names the user (when the token has one), the client app
// with its network address and the grant as policy, and the server; none
// holds a token.
func RESTEvents(a RESTAccess) []*Event {
	b := restBuilder{a: a, recorded: fhir.TruncateTime(a.Time)}
	kind := kindOf(a.Interaction)
	if a.Status >= 400 {
		return []*Event{b.failure(kind)}
	}
	batch := kind == KindTransaction || kind == KindBatch
	var events []*Event
	if len(a.Trail) == 0 && !batch {
		var data []fhir.TrailEntry
		if a.Type != "" && a.ID != "" && kind != KindEverything && kind != KindExport {
			data = []fhir.TrailEntry{{Type: a.Type, ID: a.ID}}
		}
		patient := ""
		if a.Type == "Patient" {
			patient = a.ID
		}
		return []*Event{b.event(kind, patient, data)}
	}
	// Reads and searches: one event per kind and patient, each resource
	// once in it.
	type key struct {
		kind    Kind
		patient string
	}
	type group struct {
		key
		data []fhir.TrailEntry
		seen map[string]bool // Type/id/version
	}
	var groups []*group
	byKey := map[key]*group{}
	add := func(k Kind, patient string, e fhir.TrailEntry) {
		g := byKey[key{k, patient}]
		if g == nil {
			g = &group{key: key{k, patient}, seen: map[string]bool{}}
			byKey[g.key] = g
			groups = append(groups, g)
		}
		v := e.Type + "/" + e.ID + "/" + strconv.Itoa(e.Version)
		if !g.seen[v] {
			g.seen[v] = true
			g.data = append(g.data, e)
		}
	}
	for _, e := range a.Trail {
		k := kind
		if e.Interaction != "" {
			k = kindOf(e.Interaction)
		}
		patients := Patients(e.Type, e.ID, e.JSON, a.Server)
		if len(patients) == 0 && (k == KindEverything || k == KindExport) && a.Type == "Patient" {
			patients = []string{a.ID}
		}
		if isWrite(k) { // one event per resource written
			if len(patients) == 0 {
				events = append(events, b.event(k, "", []fhir.TrailEntry{e}))
			}
			for _, p := range patients {
				events = append(events, b.event(k, p, []fhir.TrailEntry{e}))
			}
			continue
		}
		if len(patients) == 0 {
			add(k, "", e)
		}
		for _, p := range patients {
			add(k, p, e)
		}
	}
	for _, g := range groups {
		events = append(events, b.event(g.kind, g.patient, g.data))
	}
	if batch {
		events = append(events, b.event(kind, "", nil))
	}
	return events
}

func isWrite(k Kind) bool {
	return k == KindCreate || k == KindUpdate || k == KindPatch || k == KindDelete
}

func isSearch(k Kind) bool { return k == KindSearchType || k == KindSearchSystem }

// restBuilder builds the events of one request.
type restBuilder struct {
	a        RESTAccess
	recorded time.Time
}

// event builds one successful event of kind k about patient ("" none)
// with a data entity per entry of data.
func (b *restBuilder) event(k Kind, patient string, data []fhir.TrailEntry) *Event {
	ev := b.base(k)
	if patient != "" {
		ev.Resource.Entity = append(ev.Resource.Entity, patientEntity(patient))
		ev.Patients = []string{patient}
	}
	for _, e := range data {
		ev.Resource.Entity = append(ev.Resource.Entity, dataEntity(e))
	}
	return b.finish(ev, k)
}

// failure builds the one event of a failed request.
func (b *restBuilder) failure(k Kind) *Event {
	ev := b.base(k)
	r := RefusalOf(b.a.Status)
	if r == KindUnauthenticated && b.a.StepUp {
		r = KindStepUpRequired
	}
	ev.Resource.Outcome = ptr(kinds[r].outcome)
	ev.Resource.OutcomeDesc = ptr(refusalDesc(r, b.a.Status))
	if b.a.Type == "Patient" && b.a.ID != "" {
		ev.Resource.Entity = append(ev.Resource.Entity, patientEntity(b.a.ID))
		ev.Patients = []string{b.a.ID}
	}
	return b.finish(ev, k)
}

// base is the part every event of the request shares.
func (b *restBuilder) base(k Kind) *Event {
	ev := newEvent(k)
	r := &ev.Resource
	r.Agent = b.agents(k)
	r.Source = source(b.a.Server)
	if k == KindEverything || k == KindExport {
		r.PurposeOfEvent = purposes(b.a.Principal)
	}
	return ev
}

// finish adds the request's own entities, the id, the times and the
// index.
func (b *restBuilder) finish(ev *Event, k Kind) *Event {
	if isSearch(k) && !b.inBatch() {
		q := b.a.Path
		if b.a.RawQuery != "" {
			q += "?" + b.a.RawQuery
		}
		ev.Resource.Entity = append(ev.Resource.Entity, models.AuditEventEntity{
			Type: ptr(entityTypeSystemObject), Role: ptr(roleQuery),
			Query: ptr(base64.StdEncoding.EncodeToString([]byte(q))),
		})
	}
	if b.a.RequestID != "" {
		ev.Resource.Entity = append(ev.Resource.Entity, requestEntity(b.a.RequestID))
	}
	stamp(ev, b.recorded)
	return ev
}

func (b *restBuilder) inBatch() bool {
	k := kindOf(b.a.Interaction)
	return k == KindTransaction || k == KindBatch
}

var (
	entityTypePerson       = coding(SystemEntityType, "1", "Person")
	entityTypeSystemObject = coding(SystemEntityType, "2", "System Object")
	entityTypeRequest      = coding(SystemBALPEntityType, "XrequestId", "")
	rolePatient            = coding(SystemObjectRole, "1", "Patient")
	roleDomainResource     = coding(SystemObjectRole, "4", "Domain Resource")
	roleSecurityUser       = coding(SystemObjectRole, "11", "Security User Entity")
	roleSecurityResource   = coding(SystemObjectRole, "13", "Security Resource")
	roleQuery              = coding(SystemObjectRole, "24", "Query")
	agentDestination       = coding(SystemDCM, "110152", "Destination Role ID")
	agentSource            = coding(SystemDCM, "110153", "Source Role ID")
	agentApplication       = coding(SystemDCM, "110150", "Application")
	agentCustodian         = coding("http://terminology.hl7.org/CodeSystem/provenance-participant-type", "custodian", "Custodian")
	userRecipient          = coding(SystemParticipation, "IRCP", "information recipient")
	userAuthor             = coding(SystemParticipation, "AUT", "author (originator)")
	sourceAppServer        = coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server")
)

// dataEntity names the version returned or written.
func dataEntity(e fhir.TrailEntry) models.AuditEventEntity {
	ref := e.Type + "/" + e.ID
	if e.Version > 0 {
		ref += "/_history/" + strconv.Itoa(e.Version)
	}
	return models.AuditEventEntity{
		What: &models.Reference{Reference: &ref},
		Type: ptr(entityTypeSystemObject), Role: ptr(roleDomainResource),
	}
}

// agents are the user (when the principal is one), the client app and
// the server, typed by the kind's BALP shape.
func (b *restBuilder) agents(k Kind) []models.AuditEventAgent {
	d := &kinds[k]
	client, server := agentDestination, agentSource
	switch d.shape {
	case shapeQuery:
		client, server = agentSource, agentDestination
	case shapeDelete:
		client, server = agentApplication, agentCustodian
	}
	p := b.a.Principal
	out := make([]models.AuditEventAgent, 0, 3)
	human := p != nil && p.Subject != "" && (p.Subject != p.Client || p.FHIRUser != "")
	if human {
		typ := userRecipient
		if d.action == models.AuditEventActionC || d.action == models.AuditEventActionU || d.action == models.AuditEventActionD {
			typ = userAuthor
		}
		u := userAgent(typ, p.Subject, p.FHIRUser, p.Roles)
		u.PurposeOfUse = purposes(p)
		out = append(out, u)
	}
	c := models.AuditEventAgent{Type: concept(client), Requestor: !human, Network: network(b.a.RemoteAddr)}
	if p != nil {
		c.Who = clientRef(p.Client)
		if p.Grant != "" {
			c.Policy = []string{GrantPrefix + p.Grant}
		}
	}
	out = append(out, c, serverAgent(server, b.a.Server))
	return out
}

// userAgent is the requesting user: their own resource when they have
// one (the account then as altId), else the account.
func userAgent(typ models.Coding, account, fhirUser string, roles []string) models.AuditEventAgent {
	u := models.AuditEventAgent{Type: concept(typ), Requestor: true}
	if fhirUser != "" {
		u.Who = &models.Reference{Reference: ptr(fhirUser)}
		u.AltId = ptr(account)
	} else {
		u.Who = &models.Reference{Identifier: &models.Identifier{System: ptr(SystemAccount), Value: ptr(account)}}
	}
	for _, r := range roles {
		if r != "" {
			u.Role = append(u.Role, models.CodeableConcept{Coding: []models.Coding{plainCoding(SystemRole, r)}})
		}
	}
	return u
}

func clientRef(client string) *models.Reference {
	if client == "" {
		return nil
	}
	return &models.Reference{Identifier: &models.Identifier{System: ptr(SystemClient), Value: ptr(client)}}
}

// purposes are the principal's purposes of use: "system|code", or a code
// of v3-ActReason (where the v3 PurposeOfUse codes are).
func purposes(p *fhir.Principal) []models.CodeableConcept {
	if p == nil {
		return nil
	}
	var out []models.CodeableConcept
	for _, s := range p.PurposeOfUse {
		system, code, ok := strings.Cut(s, "|")
		if !ok {
			system, code = SystemActReason, s
		}
		if code != "" {
			out = append(out, models.CodeableConcept{Coding: []models.Coding{plainCoding(system, code)}})
		}
	}
	return out
}
