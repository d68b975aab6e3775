package audit

import (
	models "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/conformance"
	"github.com/oncofhir/oncofhir/fhir"
)

const testBase = "https://example.org/fhir"

var (
	testTime  = time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	clinician = &fhir.Principal{Subject: "acct-1", FHIRUser: "Practitioner/d1", Roles: []string{"oncologist"},
		Client: "portal", Grant: "g-123", PurposeOfUse: []string{"TREAT"}}
	backend = &fhir.Principal{Subject: "svc", Client: "svc", Grant: "g-9"}
)

// about is the JSON of a resource of typ referring to the patients.
func about(typ, id string, patients ...string) []byte {
	refs := make([]string, len(patients))
	for i, p := range patients {
		refs[i] = fmt.Sprintf(`{"reference":"Patient/%s"}`, p)
	}
	return []byte(fmt.Sprintf(`{"resourceType":%q,"id":%q,"focus":[%s]}`, typ, id, strings.Join(refs, ",")))
}

func entry(interaction, typ, id string, version int, patients ...string) fhir.TrailEntry {
	e := fhir.TrailEntry{Interaction: interaction, Type: typ, ID: id, Version: version}
	if typ == "Patient" {
		e.JSON = []byte(fmt.Sprintf(`{"resourceType":"Patient","id":%q}`, id))
	} else if version > 0 {
		e.JSON = about(typ, id, patients...)
	}
	return e
}

// access is a request by the clinician; fields of a override.
func access(a RESTAccess) RESTAccess {
	if a.Principal == nil {
		a.Principal = clinician
	}
	if a.Status == 0 {
		a.Status = 200
	}
	a.RequestID, a.RemoteAddr, a.Time, a.Server = "req-1", "10.1.2.3", testTime, testBase
	return a
}

// summary reads an event in one line: type, action, outcome, subtypes,
// then the entities (patient, data, query, request).
func summary(ev *Event) string {
	r := ev.Resource
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", *r.Type.Code, r.Action.Code(), r.Outcome.Code())
	var subs []string
	for _, s := range r.Subtype {
		subs = append(subs, *s.Code)
	}
	fmt.Fprintf(&b, " [%s]", strings.Join(subs, " "))
	for _, e := range r.Entity {
		switch {
		case e.Role == nil: // the X-Request-Id
		case *e.Role.Code == "1":
			fmt.Fprintf(&b, " patient=%s", *e.What.Reference)
		case *e.Role.Code == "24":
			q, _ := base64.StdEncoding.DecodeString(*e.Query)
			fmt.Fprintf(&b, " query=%s", q)
		case e.What != nil && e.What.Reference != nil:
			fmt.Fprintf(&b, " %s", *e.What.Reference)
		}
	}
	return b.String()
}

func TestRESTEvents(t *testing.T) {
	tests := []struct {
		name   string
		access RESTAccess
		want   []string // summaries, in order
		// patients of each event, in order
		patients [][]string
	}{
		{"read of an Observation → one Read event for its patient",
			access(RESTAccess{Interaction: "read", Type: "Observation", ID: "o1",
				Trail: []fhir.TrailEntry{entry("read", "Observation", "o1", 2, "p1")}}),
			[]string{"rest R 0 [read] patient=Patient/p1 Observation/o1/_history/2"}, [][]string{{"p1"}}},
		{"read of a Patient → its own patient",
			access(RESTAccess{Interaction: "read", Type: "Patient", ID: "p1",
				Trail: []fhir.TrailEntry{entry("read", "Patient", "p1", 1)}}),
			[]string{"rest R 0 [read] patient=Patient/p1 Patient/p1/_history/1"}, [][]string{{"p1"}}},
		{"read of a Practitioner → one Read event without a patient",
			access(RESTAccess{Interaction: "read", Type: "Practitioner", ID: "d1",
				Trail: []fhir.TrailEntry{entry("read", "Practitioner", "d1", 1)}}),
			[]string{"rest R 0 [read] Practitioner/d1/_history/1"}, [][]string{nil}},
		{"read of a resource about two patients → one event per patient",
			access(RESTAccess{Interaction: "read", Type: "Group", ID: "g1",
				Trail: []fhir.TrailEntry{entry("read", "Group", "g1", 1, "p1", "p2")}}),
			[]string{"rest R 0 [read] patient=Patient/p1 Group/g1/_history/1", "rest R 0 [read] patient=Patient/p2 Group/g1/_history/1"},
			[][]string{{"p1"}, {"p2"}}},
		{"vread → subtype vread",
			access(RESTAccess{Interaction: "vread", Type: "Observation", ID: "o1",
				Trail: []fhir.TrailEntry{entry("vread", "Observation", "o1", 1, "p1")}}),
			[]string{"rest R 0 [vread] patient=Patient/p1 Observation/o1/_history/1"}, nil},
		{"a read the trail missed still names what was asked for",
			access(RESTAccess{Interaction: "read", Type: "Patient", ID: "p1"}),
			[]string{"rest R 0 [read] patient=Patient/p1 Patient/p1"}, nil},
		{"search over two patients with an include → one Query event per patient and one without, each with the query, each resource once",
			access(RESTAccess{Method: "GET", Path: "/fhir/Observation", RawQuery: "code=718-7&_include=Observation:performer",
				Interaction: "search-type", Type: "Observation", Trail: []fhir.TrailEntry{
					entry("search-type", "Observation", "o1", 1, "p1"),
					entry("search-type", "Observation", "o2", 1, "p2"),
					entry("search-type", "Observation", "o3", 4, "p1"),
					entry("search-type", "Practitioner", "d1", 1),
					entry("search-type", "Observation", "o1", 1, "p1"), // matched and included: once
				}}),
			[]string{
				"rest E 0 [search-type] patient=Patient/p1 Observation/o1/_history/1 Observation/o3/_history/4 query=/fhir/Observation?code=718-7&_include=Observation:performer",
				"rest E 0 [search-type] patient=Patient/p2 Observation/o2/_history/1 query=/fhir/Observation?code=718-7&_include=Observation:performer",
				"rest E 0 [search-type] Practitioner/d1/_history/1 query=/fhir/Observation?code=718-7&_include=Observation:performer",
			}, [][]string{{"p1"}, {"p2"}, nil}},
		{"search matching nothing → one Query event",
			access(RESTAccess{Path: "/fhir/Observation", RawQuery: "code=x", Interaction: "search-type", Type: "Observation"}),
			[]string{"rest E 0 [search-type] query=/fhir/Observation?code=x"}, [][]string{nil}},
		{"search-system",
			access(RESTAccess{Path: "/fhir", RawQuery: "_type=Patient", Interaction: "search-system",
				Trail: []fhir.TrailEntry{entry("search-system", "Patient", "p1", 1)}}),
			[]string{"rest E 0 [search-system] patient=Patient/p1 Patient/p1/_history/1 query=/fhir?_type=Patient"}, nil},
		{"history → the Read shape with subtype history, deleted versions included",
			access(RESTAccess{Interaction: "history-instance", Type: "Observation", ID: "o1", Trail: []fhir.TrailEntry{
				entry("history-instance", "Observation", "o1", 2, "p1"),
				{Interaction: "history-instance", Type: "Observation", ID: "o1", Version: 3},
			}}),
			[]string{"rest R 0 [history history-instance] patient=Patient/p1 Observation/o1/_history/2",
				"rest R 0 [history history-instance] Observation/o1/_history/3"}, nil},
		{"create of a resource about two patients → one Create event per patient",
			access(RESTAccess{Method: "POST", Interaction: "create", Type: "CarePlan",
				Trail: []fhir.TrailEntry{entry("create", "CarePlan", "c1", 1, "p1", "p2")}}),
			[]string{"rest C 0 [create] patient=Patient/p1 CarePlan/c1/_history/1", "rest C 0 [create] patient=Patient/p2 CarePlan/c1/_history/1"},
			[][]string{{"p1"}, {"p2"}}},
		{"update → action U",
			access(RESTAccess{Method: "PUT", Interaction: "update", Type: "Observation", ID: "o1",
				Trail: []fhir.TrailEntry{entry("update", "Observation", "o1", 2, "p1")}}),
			[]string{"rest U 0 [update] patient=Patient/p1 Observation/o1/_history/2"}, nil},
		{"patch → action U, subtype patch",
			access(RESTAccess{Method: "PATCH", Interaction: "patch", Type: "Observation", ID: "o1",
				Trail: []fhir.TrailEntry{entry("patch", "Observation", "o1", 3, "p1")}}),
			[]string{"rest U 0 [patch] patient=Patient/p1 Observation/o1/_history/3"}, nil},
		{"delete of a Patient → action D naming the patient",
			access(RESTAccess{Method: "DELETE", Interaction: "delete", Type: "Patient", ID: "p1",
				Trail: []fhir.TrailEntry{{Interaction: "delete", Type: "Patient", ID: "p1", Version: 4}}}),
			[]string{"rest D 0 [delete] patient=Patient/p1 Patient/p1/_history/4"}, nil},
		{"delete with the deleted version's JSON → its patient",
			access(RESTAccess{Method: "DELETE", Interaction: "delete", Type: "Observation", ID: "o1",
				Trail: []fhir.TrailEntry{{Interaction: "delete", Type: "Observation", ID: "o1", Version: 5, JSON: about("Observation", "o1", "p1")}}}),
			[]string{"rest D 0 [delete] patient=Patient/p1 Observation/o1/_history/5"}, nil},
		{"$everything → one disclosure event for the patient, holding what refers to no patient too",
			access(RESTAccess{Interaction: "everything", Type: "Patient", ID: "p1", Trail: []fhir.TrailEntry{
				entry("everything", "Patient", "p1", 1),
				entry("everything", "Observation", "o1", 1, "p1"),
				entry("everything", "Practitioner", "d1", 1),
			}}),
			[]string{"110106 R 0 [disclose operation everything] patient=Patient/p1 Patient/p1/_history/1 Observation/o1/_history/1 Practitioner/d1/_history/1"},
			[][]string{{"p1"}}},
		{"transaction → one event per entry, by what it did, and one for the request",
			access(RESTAccess{Method: "POST", Path: "/fhir", Interaction: "transaction", Trail: []fhir.TrailEntry{
				entry("create", "Observation", "o1", 1, "p1"),
				entry("update", "Observation", "o2", 2, "p2"),
				entry("read", "Practitioner", "d1", 1),
				entry("read", "Observation", "o3", 1, "p1"),
			}}),
			[]string{
				"rest C 0 [create] patient=Patient/p1 Observation/o1/_history/1",
				"rest U 0 [update] patient=Patient/p2 Observation/o2/_history/2",
				"rest R 0 [read] Practitioner/d1/_history/1",
				"rest R 0 [read] patient=Patient/p1 Observation/o3/_history/1",
				"rest E 0 [transaction]",
			}, [][]string{{"p1"}, {"p2"}, nil, {"p1"}, nil}},
		{"batch of searches → events without the batch's query",
			access(RESTAccess{Method: "POST", Path: "/fhir", Interaction: "batch", Trail: []fhir.TrailEntry{
				entry("search-type", "Observation", "o1", 1, "p1"),
			}}),
			[]string{"rest E 0 [search-type] patient=Patient/p1 Observation/o1/_history/1", "rest E 0 [batch]"}, nil},
		{"401 without a token → one refused event, nothing disclosed",
			access(RESTAccess{Principal: &fhir.Principal{}, Interaction: "read", Type: "Observation", ID: "o1", Status: 401}),
			[]string{"rest R 4 [read]"}, [][]string{nil}},
		{"403 on a search → a refused Query event with the query and no data",
			access(RESTAccess{Path: "/fhir/Observation", RawQuery: "patient=p2", Interaction: "search-type", Type: "Observation", Status: 403,
				Trail: []fhir.TrailEntry{entry("search-type", "Observation", "o1", 1, "p2")}}),
			[]string{"rest E 4 [search-type] query=/fhir/Observation?patient=p2"}, [][]string{nil}},
		{"404 on another patient's Patient → a refused read naming that patient",
			access(RESTAccess{Interaction: "read", Type: "Patient", ID: "p9", Status: 404}),
			[]string{"rest R 4 [read] patient=Patient/p9"}, [][]string{{"p9"}}},
		{"404 on another patient's $everything → a refused disclosure naming that patient",
			access(RESTAccess{Interaction: "everything", Type: "Patient", ID: "p9", Status: 404}),
			[]string{"110106 R 4 [disclose operation everything] patient=Patient/p9"}, nil},
		{"500 → outcome 8",
			access(RESTAccess{Method: "PUT", Interaction: "update", Type: "Observation", ID: "o1", Status: 500}),
			[]string{"rest U 8 [update]"}, nil},
		{"an unknown route → an operation",
			access(RESTAccess{Interaction: "", Status: 404}),
			[]string{"rest E 4 [operation]"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := RESTEvents(tt.access)
			var got [][]string
			var sums []string
			for _, ev := range events {
				sums = append(sums, summary(ev))
				got = append(got, ev.Patients)
				validate(t, ev)
			}
			if !slices.Equal(sums, tt.want) {
				t.Errorf("events:\n  %s\nwant:\n  %s", strings.Join(sums, "\n  "), strings.Join(tt.want, "\n  "))
			}
			if tt.patients != nil && !slices.EqualFunc(got, tt.patients, slices.Equal) {
				t.Errorf("Patients = %q, want %q", got, tt.patients)
			}
		})
	}
}

func TestRESTEventsFailureText(t *testing.T) {
	tests := map[int]string{
		401: "refused: no valid access token (HTTP 401)",
		403: "refused: not permitted (HTTP 403)",
		404: "refused: not found, or not the requester's to see (HTTP 404)",
		409: "refused: the request was not accepted (HTTP 409)",
		503: "failed: server error (HTTP 503)",
	}
	for status, want := range tests {
		ev := RESTEvents(access(RESTAccess{Interaction: "read", Type: "Observation", ID: "o1", Status: status}))[0]
		if got := *ev.Resource.OutcomeDesc; got != want {
			t.Errorf("%d: outcomeDesc %q, want %q", status, got, want)
		}
	}
	// A 401 asking for a stronger sign-in says so; StepUp means nothing
	// on another status.
	ev := RESTEvents(access(RESTAccess{Interaction: "read", Type: "Observation", ID: "o1", Status: 401, StepUp: true}))[0]
	if got, want := *ev.Resource.OutcomeDesc, "refused: a recent, stronger sign-in is needed (HTTP 401)"; got != want {
		t.Errorf("step-up: outcomeDesc %q, want %q", got, want)
	}
	if *ev.Resource.Outcome != models.AuditEventOutcome4 {
		t.Errorf("step-up: outcome %v", *ev.Resource.Outcome)
	}
	ev = RESTEvents(access(RESTAccess{Interaction: "read", Type: "Observation", ID: "o1", Status: 403, StepUp: true}))[0]
	if got := *ev.Resource.OutcomeDesc; got != tests[403] {
		t.Errorf("403 with StepUp: outcomeDesc %q", got)
	}
}

func TestRESTEventsShareTheRequest(t *testing.T) {
	events := RESTEvents(access(RESTAccess{Interaction: "read", Type: "Group", ID: "g1",
		Trail: []fhir.TrailEntry{entry("read", "Group", "g1", 1, "p1", "p2")}}))
	ids := map[string]bool{}
	for _, ev := range events {
		r := ev.Resource
		if r.Recorded != "2025-03-04T05:06:07.891Z" || *r.Meta.LastUpdated != r.Recorded || *r.Meta.VersionId != "1" {
			t.Errorf("recorded %q, meta %+v", r.Recorded, r.Meta)
		}
		if ids[*r.Id] {
			t.Errorf("two events share the id %s", *r.Id)
		}
		ids[*r.Id] = true
		last := r.Entity[len(r.Entity)-1]
		if *last.Type.Code != "XrequestId" || *last.What.Identifier.Value != "req-1" {
			t.Errorf("no X-Request-Id entity: %+v", last)
		}
	}
}

// agents reads each agent in one line: type, who, then what is set.
func agents(ev *Event) []string {
	var out []string
	for _, a := range ev.Resource.Agent {
		s := *a.Type.Coding[0].Code
		if w := a.Who; w != nil {
			switch {
			case w.Reference != nil:
				s += " " + *w.Reference
			case w.Identifier != nil:
				s += " " + *w.Identifier.System + "|" + *w.Identifier.Value
			case w.Display != nil:
				s += " " + *w.Display
			}
		}
		if a.AltId != nil {
			s += " altId=" + *a.AltId
		}
		for _, r := range a.Role {
			s += " role=" + *r.Coding[0].Code
		}
		for _, p := range a.PurposeOfUse {
			s += " pou=" + *p.Coding[0].Code
		}
		for _, p := range a.Policy {
			s += " policy=" + p
		}
		if n := a.Network; n != nil {
			s += " net=" + *n.Address + "#" + n.Type.Code()
		}
		if a.Requestor {
			s += " requestor"
		}
		out = append(out, s)
	}
	return out
}

func TestRESTAgents(t *testing.T) {
	server := "110153 urn:ietf:rfc:3986|https://example.org/fhir net=https://example.org/fhir#5"
	tests := []struct {
		name   string
		access RESTAccess
		want   []string
	}{
		{"a read: the user as recipient, the client as Destination with the grant and address, the server as Source",
			access(RESTAccess{Interaction: "read", Type: "Patient", ID: "p1"}),
			[]string{
				"IRCP Practitioner/d1 altId=acct-1 role=oncologist pou=TREAT requestor",
				"110152 urn:oncofhir:oauth-client|portal policy=urn:ietf:params:oauth:jti:g-123 net=10.1.2.3#2",
				server,
			}},
		{"a search: the client as Source, the server as Destination",
			access(RESTAccess{Interaction: "search-type", Type: "Observation"}),
			[]string{
				"IRCP Practitioner/d1 altId=acct-1 role=oncologist pou=TREAT requestor",
				"110153 urn:oncofhir:oauth-client|portal policy=urn:ietf:params:oauth:jti:g-123 net=10.1.2.3#2",
				"110152 urn:ietf:rfc:3986|https://example.org/fhir net=https://example.org/fhir#5",
			}},
		{"a create: the user as author",
			access(RESTAccess{Interaction: "create", Type: "Observation"}),
			[]string{
				"AUT Practitioner/d1 altId=acct-1 role=oncologist pou=TREAT requestor",
				"110153 urn:oncofhir:oauth-client|portal policy=urn:ietf:params:oauth:jti:g-123 net=10.1.2.3#2",
				"110152 urn:ietf:rfc:3986|https://example.org/fhir net=https://example.org/fhir#5",
			}},
		{"a delete: the client as Application, the server as custodian",
			access(RESTAccess{Interaction: "delete", Type: "Observation", ID: "o1"}),
			[]string{
				"AUT Practitioner/d1 altId=acct-1 role=oncologist pou=TREAT requestor",
				"110150 urn:oncofhir:oauth-client|portal policy=urn:ietf:params:oauth:jti:g-123 net=10.1.2.3#2",
				"custodian urn:ietf:rfc:3986|https://example.org/fhir net=https://example.org/fhir#5",
			}},
		{"a user without a resource of their own: the account as who",
			access(RESTAccess{Principal: &fhir.Principal{Subject: "acct-7", Roles: []string{"auditor"}, Client: "portal"}, Interaction: "read", Type: "Patient", ID: "p1"}),
			[]string{
				"IRCP urn:oncofhir:account|acct-7 role=auditor requestor",
				"110152 urn:oncofhir:oauth-client|portal net=10.1.2.3#2",
				server,
			}},
		{"a backend service: no user, the client is the requestor",
			access(RESTAccess{Principal: backend, Interaction: "read", Type: "Patient", ID: "p1"}),
			[]string{
				"110152 urn:oncofhir:oauth-client|svc policy=urn:ietf:params:oauth:jti:g-9 net=10.1.2.3#2 requestor",
				server,
			}},
		{"no principal (401): the address alone asked",
			access(RESTAccess{Principal: &fhir.Principal{}, Interaction: "read", Type: "Patient", ID: "p1", Status: 401}),
			[]string{"110152 net=10.1.2.3#2 requestor", server}},
		{"$everything: the disclosure's recipient is the client, its source the server",
			access(RESTAccess{Interaction: "everything", Type: "Patient", ID: "p1"}),
			[]string{
				"IRCP Practitioner/d1 altId=acct-1 role=oncologist pou=TREAT requestor",
				"110152 urn:oncofhir:oauth-client|portal policy=urn:ietf:params:oauth:jti:g-123 net=10.1.2.3#2",
				server,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, ev := range RESTEvents(tt.access) {
				if got := agents(ev); !slices.Equal(got, tt.want) {
					t.Errorf("agents:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
				}
				src := ev.Resource.Source
				if *src.Observer.Identifier.Value != testBase || *src.Type[0].Code != "4" {
					t.Errorf("source %+v, want the server", src)
				}
			}
		})
	}
}

func TestDisclosureRecordsThePurpose(t *testing.T) {
	ev := RESTEvents(access(RESTAccess{Interaction: "everything", Type: "Patient", ID: "p1"}))[0]
	if p := ev.Resource.PurposeOfEvent; len(p) != 1 || *p[0].Coding[0].System != SystemActReason || *p[0].Coding[0].Code != "TREAT" {
		t.Errorf("purposeOfEvent %+v, want v3-ActReason#TREAT", p)
	}
}

func TestRESTEventsHoldNoToken(t *testing.T) {
	// The principal never carries the token; the grant is its only trace,
	// and only behind BALP's prefix.
	events := RESTEvents(access(RESTAccess{Interaction: "read", Type: "Patient", ID: "p1"}))
	b, _ := json.Marshal(events[0].Resource)
	if n := strings.Count(string(b), "g-123"); n != 1 || !strings.Contains(string(b), GrantPrefix+"g-123") {
		t.Errorf("the grant appears %d times, or without its prefix: %s", n, b)
	}
}

func TestInteractionOf(t *testing.T) {
	tests := []struct{ method, route, want string }{
		{"GET", "/fhir/metadata", "capabilities"},
		{"POST", "/fhir", "transaction"},
		{"GET", "/fhir", "search-system"},
		{"GET", "/fhir/_history", "history-system"},
		{"GET", "/fhir/:type", "search-type"},
		{"POST", "/fhir/:type/_search", "search-type"},
		{"POST", "/fhir/:type", "create"},
		{"PUT", "/fhir/:type", "update"},
		{"PATCH", "/fhir/:type", "patch"},
		{"DELETE", "/fhir/:type", "delete"},
		{"GET", "/fhir/:type/_history", "history-type"},
		{"GET", "/fhir/:type/:id", "read"},
		{"HEAD", "/fhir/:type/:id", "read"},
		{"PUT", "/fhir/:type/:id", "update"},
		{"PATCH", "/fhir/:type/:id", "patch"},
		{"DELETE", "/fhir/:type/:id", "delete"},
		{"GET", "/fhir/:type/:id/_history", "history-instance"},
		{"GET", "/fhir/:type/:id/$everything", "everything"},
		{"GET", "/fhir/:type/:id/:comp", "search-type"},
		{"GET", "/fhir/:type/:id/_history/:vid", "vread"},
		{"HEAD", "/fhir/:type/:id/_history/:vid", "vread"},
		{"GET", "/fhir/$export", "export"},
		{"GET", "/fhir/:type/:id/$export", "export"},
		{"GET", "/fhir/:type/$validate", "operation"},
		{"POST", "/fhir/:type/:id", "operation"}, // 405
		{"GET", "/r4/:type/:id", "read"},         // mounted elsewhere
		{"GET", "", ""},
		{"GET", "/*", ""},
	}
	for _, tt := range tests {
		if got := InteractionOf(tt.method, tt.route); got != tt.want {
			t.Errorf("InteractionOf(%s, %q) = %q, want %q", tt.method, tt.route, got, tt.want)
		}
	}
}

var validator = sync.OnceValues(func() (*conformance.Validator, error) { return conformance.NewValidator() })

// validate checks an event against the R4 schema and cardinalities.
func validate(t *testing.T, ev *Event) {
	t.Helper()
	v, err := validator()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ev.Resource)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate("AuditEvent", b); err != nil {
		t.Errorf("not a valid AuditEvent: %v\n%s", err, b)
	}
}
