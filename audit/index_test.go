package audit

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/searchparam"
)

var registry = sync.OnceValues(searchparam.Load)

// sampleEvents are events of every builder and shape, and one built by
// hand with the elements the builders leave out.
func sampleEvents() map[string]*Event {
	out := map[string]*Event{}
	add := func(name string, events ...*Event) {
		for i, ev := range events {
			out[fmt.Sprintf("%s #%d", name, i)] = ev
		}
	}
	add("read", RESTEvents(access(RESTAccess{Interaction: "read", Type: "Group", ID: "g1",
		Trail: []fhir.TrailEntry{entry("read", "Group", "g1", 1, "p1", "p2")}}))...)
	add("search", RESTEvents(access(RESTAccess{Path: "/fhir/Observation", RawQuery: "code=1", Interaction: "search-type", Type: "Observation",
		Trail: []fhir.TrailEntry{entry("search-type", "Observation", "o1", 1, "p1"), entry("search-type", "Observation", "o2", 1, "p1"),
			entry("search-type", "Observation", "o1", 1, "p1"), entry("search-type", "Practitioner", "d1", 1)}}))...)
	var many []fhir.TrailEntry
	for i := range 40 {
		many = append(many, entry("everything", "Observation", fmt.Sprint("o", i), 1, "p1"))
	}
	add("everything", RESTEvents(access(RESTAccess{Interaction: "everything", Type: "Patient", ID: "p1", Trail: many}))...)
	add("history", RESTEvents(access(RESTAccess{Interaction: "history-type", Type: "Observation",
		Trail: []fhir.TrailEntry{{Interaction: "history-type", Type: "Observation", ID: "o1", Version: 2}}}))...)
	add("transaction", RESTEvents(access(RESTAccess{Method: "POST", Interaction: "transaction", Trail: []fhir.TrailEntry{
		entry("create", "Observation", "o1", 1, "p1"), entry("delete", "Observation", "o2", 2)}}))...)
	add("patient user", RESTEvents(access(RESTAccess{Principal: &fhir.Principal{Subject: "acct-2", FHIRUser: "Patient/p1",
		Roles: []string{"patient"}, Client: "app", Grant: "g", PurposeOfUse: []string{"http://example.org/pou|X", "PATRQT"}},
		Interaction: "read", Type: "Patient", ID: "p1", Trail: []fhir.TrailEntry{entry("read", "Patient", "p1", 1)}}))...)
	add("backend", RESTEvents(access(RESTAccess{Principal: backend, Interaction: "read", Type: "Patient", ID: "p1"}))...)
	add("refused", RESTEvents(access(RESTAccess{Principal: &fhir.Principal{}, Interaction: "read", Type: "Patient", ID: "p9", Status: 401, RemoteAddr: "::1"}))...)
	add("no server", RESTEvents(RESTAccess{Interaction: "read", Type: "Patient", ID: "p1", Status: 200, Time: testTime, RemoteAddr: "host.example"})...)
	add("sign-in", SecurityEvent(KindSignIn, SecurityInfo{Account: "acct-1", Role: "admin", Success: true, RemoteAddr: "10.0.0.1", Time: testTime, Server: testBase}))
	add("token", SecurityEvent(KindTokenIssued, SecurityInfo{Account: "acct-1", Client: "app", Grant: "g", Patient: "p1",
		Scopes: []string{"patient/*.rs"}, Success: true, RequestID: "r", Time: testTime, Server: testBase}))
	add("disabled", SecurityEvent(KindUserDisabled, SecurityInfo{Account: "acct-3", Success: true, Time: testTime}))
	add("key", SecurityEvent(KindKeyRotated, SecurityInfo{Key: "k1", Success: true, Time: testTime}))

	// By hand: what no builder writes, so that the index covers it.
	ev := RESTEvents(access(RESTAccess{Interaction: "read", Type: "Observation", ID: "o1",
		Trail: []fhir.TrailEntry{entry("read", "Observation", "o1", 1, "p1")}}))[0]
	r := &ev.Resource
	r.Meta.Profile = []string{"https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead"}
	r.Meta.Source = ptr("urn:oncofhir:node:1")
	r.Meta.Tag = []models.Coding{coding("http://example.org/tags", "t1", "A Tag")}
	r.Meta.Security = []models.Coding{plainCoding("http://terminology.hl7.org/CodeSystem/v3-ActReason", "HTEST")}
	r.Source.Site = ptr("Clinic Ward 3")
	r.Agent[0].Name = ptr("Dr. Élise Martin")
	r.Agent[0].Role = append(r.Agent[0].Role,
		models.CodeableConcept{Text: ptr("Attending")},
		models.CodeableConcept{Coding: []models.Coding{{System: ptr("http://x"), Code: ptr("att"), Display: ptr("Attending")}}, Text: ptr("attending")})
	r.Agent = append(r.Agent, models.AuditEventAgent{Type: concept(agentHuman),
		Who: &models.Reference{Type: ptr("Patient"), Identifier: &models.Identifier{System: ptr("urn:mrn"), Value: ptr("123")}}},
		models.AuditEventAgent{Type: concept(agentHuman), Who: &models.Reference{Reference: ptr("urn:uuid:0b8f4e1c-3a45-4d4e-9f6e-2f1a2b3c4d5e")}})
	r.Entity = append(r.Entity,
		models.AuditEventEntity{Name: ptr("Lab report"), What: &models.Reference{Reference: ptr("#contained")}},
		models.AuditEventEntity{What: &models.Reference{Reference: ptr("DiagnosticReport/dr1/_history/2"), Identifier: &models.Identifier{Value: ptr("acc-1")}}})
	ev.Index = IndexOf(r)
	out["by hand"] = ev
	return out
}

func TestIndexOfEqualsTheExtractor(t *testing.T) {
	reg, err := registry()
	if err != nil {
		t.Fatal(err)
	}
	for name, ev := range sampleEvents() {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(ev.Resource)
			if err != nil {
				t.Fatal(err)
			}
			want, err := reg.Extract("AuditEvent", b)
			if err != nil {
				t.Fatal(err)
			}
			got, exp := entryStrings(IndexOf(&ev.Resource)), entryStrings(want)
			if !slices.Equal(got, exp) {
				t.Errorf("index differs from the extractor's\nonly built by hand:\n  %s\nonly extracted:\n  %s",
					strings.Join(minus(got, exp), "\n  "), strings.Join(minus(exp, got), "\n  "))
			}
			// What the Recorder hands a store: the extractor's entries of
			// the parameters a store keys or dates AuditEvents by.
			kept := slices.DeleteFunc(want, func(e fhir.IndexEntry) bool { return !fhir.LedgerKeyed("AuditEvent", e.Param) })
			if len(kept) < 4 {
				t.Fatalf("only %d entries are keyed", len(kept))
			}
			got, exp = entryStrings(storedIndexOf(&ev.Resource)), entryStrings(kept)
			if !slices.Equal(got, exp) {
				t.Errorf("stored index differs from the extractor's keyed entries\nonly built by hand:\n  %s\nonly extracted:\n  %s",
					strings.Join(minus(got, exp), "\n  "), strings.Join(minus(exp, got), "\n  "))
			}
		})
	}
}

func TestIndexCoversTheSearchesTheAuditorMakes(t *testing.T) {
	ev := RESTEvents(access(RESTAccess{Interaction: "read", Type: "Observation", ID: "o1",
		Trail: []fhir.TrailEntry{entry("read", "Observation", "o1", 2, "p1")}}))[0]
	has := map[string]bool{}
	for _, e := range IndexOf(&ev.Resource) {
		has[e.Param+" "+e.System+"|"+e.Code] = true
	}
	for _, want := range []string{
		"patient Patient|Patient/p1", "entity Observation|Observation/o1", "agent Practitioner|Practitioner/d1",
		"agent:identifier urn:oncofhir:oauth-client|portal", "altid |acct-1", "agent-role urn:oncofhir:role|oncologist",
		"type http://terminology.hl7.org/CodeSystem/audit-event-type|rest", "subtype http://hl7.org/fhir/restful-interaction|read",
		"action |R", "outcome |0", "policy |urn:ietf:params:oauth:jti:g-123", "address |10.1.2.3",
		"entity-type http://terminology.hl7.org/CodeSystem/audit-entity-type|1", "entity-role http://terminology.hl7.org/CodeSystem/object-role|4",
	} {
		if !has[want] {
			t.Errorf("no entry %s", want)
		}
	}
}

func entryStrings(es []fhir.IndexEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%s %s s=%q c=%q t=%q [%v,%v)", e.Param, e.Kind, e.System, e.Code, e.Text, e.Low, e.High)
	}
	sort.Strings(out)
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// BenchmarkRead is what auditing one read costs to build: the patients
// of the resource, the event, its index.
func BenchmarkRead(b *testing.B) {
	a := access(RESTAccess{Interaction: "read", Type: "Observation", ID: "obs-1",
		Trail: []fhir.TrailEntry{{Interaction: "read", Type: "Observation", ID: "obs-1", Version: 1, JSON: benchObservation}}})
	b.ReportAllocs()
	for b.Loop() {
		if len(RESTEvents(a)) != 1 {
			b.Fatal()
		}
	}
}

func BenchmarkExtractorOnAnEvent(b *testing.B) {
	reg, err := registry()
	if err != nil {
		b.Fatal(err)
	}
	ev := RESTEvents(access(RESTAccess{Interaction: "read", Type: "Observation", ID: "obs-1",
		Trail: []fhir.TrailEntry{{Interaction: "read", Type: "Observation", ID: "obs-1", Version: 1, JSON: benchObservation}}}))[0]
	raw, _ := json.Marshal(ev.Resource)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Extract("AuditEvent", raw); err != nil {
			b.Fatal(err)
		}
	}
}
