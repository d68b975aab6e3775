package rest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/rest"
)

// trailCase is one request and the Trail it must leave: one line per
// entry, "interaction Type/id/version", with " empty" when the entry
// carries no JSON (a deletion read from history) and " prior" when it
// carries the version before (what a delete deleted).
type trailCase struct {
	name               string
	method, path, body string
	headers            []string
	status             int
	want               []string
	anyOrder           bool // versions written in one millisecond: engines may order them differently
}

// describeTrail writes entries as trailCase.want does, and checks that
// each entry's JSON is the version it names.
func describeTrail(t testing.TB, entries []fhir.TrailEntry) []string {
	t.Helper()
	out := []string{}
	for _, e := range entries {
		line := fmt.Sprintf("%s %s/%s/%d", e.Interaction, e.Type, e.ID, e.Version)
		if len(e.JSON) == 0 {
			out = append(out, line+" empty")
			continue
		}
		var r struct {
			ResourceType, ID string
			Meta             struct{ VersionID string }
		}
		if err := json.Unmarshal(e.JSON, &r); err != nil || r.ResourceType != e.Type || r.ID != e.ID {
			t.Errorf("%s: the JSON is not that resource: %.120s", line, e.JSON)
		}
		switch r.Meta.VersionID {
		case strconv.Itoa(e.Version):
			out = append(out, line)
		case strconv.Itoa(e.Version - 1):
			out = append(out, line+" prior")
		default:
			t.Errorf("%s: the JSON is version %s", line, r.Meta.VersionID)
		}
	}
	return out
}

func (tc trailCase) run(t *testing.T, s *server, p *fhir.Principal) {
	t.Helper()
	r, entries := s.doTraced(p, tc.method, tc.path, tc.body, tc.headers...)
	wantStatus(t, r, tc.status)
	got, want := describeTrail(t, entries), append([]string{}, tc.want...)
	if tc.anyOrder {
		slices.Sort(got)
		slices.Sort(want)
	}
	if !slices.Equal(got, want) {
		t.Errorf("trail\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// steppingClock is a clock that moves one second each time it is read, so
// that every version has its own lastUpdated and history has one order.
func steppingClock(d *rest.Deps) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	d.Now = func() time.Time { now = now.Add(time.Second); return now }
}

// sequentialIDs makes the ids a server assigns new-1, new-2, ...
func sequentialIDs(d *rest.Deps) {
	n := 0
	d.NewID = func() string { n++; return "new-" + strconv.Itoa(n) }
}

func obsWith(id, patient, code, extra string) string {
	b := `{"resourceType":"Observation",`
	if id != "" {
		b += `"id":"` + id + `",`
	}
	return b + `"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"` + code + `"}]},"subject":{"reference":"Patient/` + patient + `"}` + extra + `}`
}

func patchBinary(patch string) string {
	return `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"` + base64.StdEncoding.EncodeToString([]byte(patch)) + `"}`
}

func TestTrailRecordsWhatLeavesAndWhatIsWritten(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			s := newServer(t, eng.open(t), steppingClock, sequentialIDs)
			put := func(path, body string) {
				t.Helper()
				if r := s.do("PUT", "/fhir/"+path, body); r.status != http.StatusCreated && r.status != http.StatusOK {
					t.Fatalf("PUT %s: %d %s", path, r.status, r.body)
				}
			}
			put("Practitioner/dr", `{"resourceType":"Practitioner","id":"dr","name":[{"family":"Osei"}]}`)
			put("Patient/pt", `{"resourceType":"Patient","id":"pt","name":[{"family":"Mensah"}]}`)
			put("Patient/pt", `{"resourceType":"Patient","id":"pt","name":[{"family":"Mensah","given":["Ama"]}]}`)
			put("Patient/px", `{"resourceType":"Patient","id":"px"}`)
			put("Observation/ob1", obsWith("ob1", "pt", "1-1", `,"performer":[{"reference":"Practitioner/dr"}]`))
			put("Observation/ob2", obsWith("ob2", "pt", "1-2", ""))
			put("Provenance/pv", `{"resourceType":"Provenance","id":"pv","target":[{"reference":"Observation/ob1"}],"recorded":"2024-01-01T00:00:00Z","agent":[{"who":{"reference":"Practitioner/dr"}}]}`)
			for _, w := range []struct{ id, code string }{{"w-upd", "9-1"}, {"w-patch", "9-2"}, {"w-del", "9-3"}, {"w-cupd", "c-upd"}, {"w-cpatch", "c-patch"}, {"w-cdel", "c-del"}, {"w-tp", "9-4"}, {"w-td", "9-5"}, {"gone", "9-6"}} {
				put("Observation/"+w.id, obsWith(w.id, "px", w.code, ""))
			}
			wantStatus(t, s.do("DELETE", "/fhir/Observation/gone", ""), http.StatusNoContent)

			patch := []string{"Content-Type", "application/json-patch+json"}
			amend := `[{"op":"replace","path":"/status","value":"amended"}]`
			for _, tc := range []trailCase{
				{name: "read: the resource returned", method: "GET", path: "/fhir/Patient/pt", status: 200,
					want: []string{"read Patient/pt/2"}},
				{name: "HEAD: its existence was disclosed", method: "HEAD", path: "/fhir/Patient/pt", status: 200,
					want: []string{"read Patient/pt/2"}},
				{name: "a read answered 304 tells the version is current", method: "GET", path: "/fhir/Patient/pt", headers: []string{"If-None-Match", `W/"2"`}, status: 304,
					want: []string{"read Patient/pt/2"}},
				{name: "vread: the version returned", method: "GET", path: "/fhir/Patient/pt/_history/1", status: 200,
					want: []string{"vread Patient/pt/1"}},
				{name: "a read of a deleted resource returns nothing", method: "GET", path: "/fhir/Observation/gone", status: 410},
				{name: "a read of a missing resource returns nothing", method: "GET", path: "/fhir/Observation/none", status: 404},
				{name: "instance history: each version returned", method: "GET", path: "/fhir/Patient/pt/_history", status: 200,
					want: []string{"history-instance Patient/pt/2", "history-instance Patient/pt/1"}},
				{name: "type history", method: "GET", path: "/fhir/Practitioner/_history", status: 200,
					want: []string{"history-type Practitioner/dr/1"}},
				{name: "system history: the page returned, a deletion without JSON", method: "GET", path: "/fhir/_history?_count=1", status: 200,
					want: []string{"history-system Observation/gone/2 empty"}},
				{name: "type search: every match, _include and _revinclude", method: "GET",
					path: "/fhir/Observation?subject=Patient/pt&_include=Observation:performer&_revinclude=Provenance:target", status: 200,
					want: []string{"search-type Observation/ob1/1", "search-type Observation/ob2/1", "search-type Practitioner/dr/1", "search-type Provenance/pv/1"}},
				{name: "type search by POST", method: "POST", path: "/fhir/Observation/_search", body: "code=1-2", headers: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 200,
					want: []string{"search-type Observation/ob2/1"}},
				{name: "a search returns only its page", method: "GET", path: "/fhir/Observation?subject=Patient/pt&_count=1", status: 200,
					want: []string{"search-type Observation/ob1/1"}},
				{name: "_summary=count returns no resource", method: "GET", path: "/fhir/Observation?subject=Patient/pt&_summary=count", status: 200},
				{name: "system search", method: "GET", path: "/fhir?_type=Practitioner,Patient&_id=dr,pt", status: 200,
					want: []string{"search-system Patient/pt/2", "search-system Practitioner/dr/1"}},
				{name: "compartment search is a search of its type", method: "GET", path: "/fhir/Patient/pt/Observation", status: 200,
					want: []string{"search-type Observation/ob1/1", "search-type Observation/ob2/1"}},
				{name: "$everything: the resources of the page returned", method: "GET", path: "/fhir/Patient/pt/$everything?_type=Patient,Observation&_count=2", status: 200,
					want: []string{"everything Patient/pt/2", "everything Observation/ob1/1"}},

				{name: "create: the version written", method: "POST", path: "/fhir/Observation", body: obsWith("", "px", "2-1", ""), status: 201,
					want: []string{"create Observation/new-1/1"}},
				{name: "create returning nothing still wrote", method: "POST", path: "/fhir/Observation", body: obsWith("", "px", "2-2", ""), headers: []string{"Prefer", "return=minimal"}, status: 201,
					want: []string{"create Observation/new-2/1"}},
				{name: "conditional create: the match returned, recorded as read", method: "POST", path: "/fhir/Observation", body: obsWith("", "pt", "1-1", ""), headers: []string{"If-None-Exist", "_id=ob1"}, status: 200,
					want: []string{"read Observation/ob1/1"}},
				{name: "update", method: "PUT", path: "/fhir/Observation/w-upd", body: obsWith("w-upd", "px", "9-1", `,"issued":"2024-02-01T00:00:00Z"`), status: 200,
					want: []string{"update Observation/w-upd/2"}},
				{name: "update that creates", method: "PUT", path: "/fhir/Observation/w-new", body: obsWith("w-new", "px", "9-7", ""), status: 201,
					want: []string{"update Observation/w-new/1"}},
				{name: "patch: the result written", method: "PATCH", path: "/fhir/Observation/w-patch", body: amend, headers: patch, status: 200,
					want: []string{"patch Observation/w-patch/2"}},
				{name: "delete: the deletion, with the content it deleted", method: "DELETE", path: "/fhir/Observation/w-del", status: 204,
					want: []string{"delete Observation/w-del/2 prior"}},
				{name: "a delete of what is already deleted writes nothing", method: "DELETE", path: "/fhir/Observation/w-del", status: 204},
				{name: "conditional update", method: "PUT", path: "/fhir/Observation?code=c-upd", body: obsWith("", "px", "c-upd", `,"issued":"2024-02-01T00:00:00Z"`), status: 200,
					want: []string{"update Observation/w-cupd/2"}},
				{name: "conditional patch", method: "PATCH", path: "/fhir/Observation?code=c-patch", body: amend, headers: patch, status: 200,
					want: []string{"patch Observation/w-cpatch/2"}},
				{name: "conditional delete", method: "DELETE", path: "/fhir/Observation?code=c-del", status: 204,
					want: []string{"delete Observation/w-cdel/2 prior"}},
				{name: "a conditional delete that matches nothing writes nothing", method: "DELETE", path: "/fhir/Observation?code=nothing", status: 204},
				{name: "a stale If-Match writes nothing", method: "PUT", path: "/fhir/Observation/w-upd", body: obsWith("w-upd", "px", "9-1", ""), headers: []string{"If-Match", `W/"1"`}, status: 412},
				{name: "a refused write writes nothing", method: "PUT", path: "/fhir/Observation/w-upd", body: obsWith("other", "px", "9-1", ""), status: 400},

				{name: "batch: each entry with its own interaction, in entry order; a failed one leaves nothing", method: "POST", path: "/fhir", body: `{"resourceType":"Bundle","type":"batch","entry":[
					{"request":{"method":"GET","url":"Patient/pt"}},
					{"resource":` + obsWith("", "px", "3-1", "") + `,"request":{"method":"POST","url":"Observation"}},
					{"request":{"method":"DELETE","url":"Observation/none"}},
					{"resource":` + obsWith("w-b", "px", "3-2", "") + `,"request":{"method":"PUT","url":"Observation/w-b"}},
					{"request":{"method":"GET","url":"Patient/pt/_history/1"}}]}`, status: 200,
					want: []string{"read Patient/pt/2", "create Observation/new-3/1", "update Observation/w-b/1", "vread Patient/pt/1"}},
				{name: "transaction: each entry with its own interaction", method: "POST", path: "/fhir", body: `{"resourceType":"Bundle","type":"transaction","entry":[
					{"fullUrl":"urn:uuid:0d4b2b5e-1c1a-4d5e-9a53-2b0e6c3f9d11","resource":` + obsWith("", "px", "4-1", "") + `,"request":{"method":"POST","url":"Observation"}},
					{"resource":` + patchBinary(amend) + `,"request":{"method":"PATCH","url":"Observation/w-tp"}},
					{"request":{"method":"DELETE","url":"Observation/w-td"}},
					{"request":{"method":"GET","url":"Practitioner/dr"}}]}`, status: 200,
					want: []string{"create Observation/new-4/1", "patch Observation/w-tp/2", "delete Observation/w-td/2 prior", "read Practitioner/dr/1"}},
				{name: "a failed transaction wrote and returned nothing", method: "POST", path: "/fhir", body: `{"resourceType":"Bundle","type":"transaction","entry":[
					{"resource":` + obsWith("", "px", "4-2", "") + `,"request":{"method":"POST","url":"Observation"}},
					{"request":{"method":"GET","url":"Patient/pt"}},
					{"request":{"method":"DELETE","url":"Observation/none"}}]}`, status: 404},
			} {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, s, nil) })
			}
		})
	}
}

// Under a Guard, only what passed the access decision is recorded.
func TestTrailLeavesOutWhatTheAccessDecisionFiltered(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		f := s.f
		me := token(f.p1, "patient/*.rs")
		p1s := []string{f.o1, f.o2, f.o4}
		slices.Sort(p1s) // $everything returns a type's resources by id
		var everything, history []string
		for _, id := range p1s {
			everything = append(everything, "everything Observation/"+id+"/1")
			history = append(history, "history-type Observation/"+id+"/1")
		}
		for _, tc := range []struct {
			trailCase
			who *fhir.Principal
		}{
			{trailCase{name: "another patient's resource is not recorded (404)", method: "GET", path: "/fhir/Observation/" + f.o3, status: 404}, me},
			{trailCase{name: "a search records only the matches the principal reaches", method: "GET", path: "/fhir/Observation?_id=" + f.o1 + "," + f.o3, status: 200,
				want: []string{"search-type Observation/" + f.o1 + "/1"}}, me},
			{trailCase{name: "an _include the principal may not read is not recorded", method: "GET", path: "/fhir/Observation?_id=" + f.o4 + "&_include=Observation:subject", status: 200,
				want: []string{"search-type Observation/" + f.o4 + "/1"}}, me},
			{trailCase{name: "$everything records the patient's own only", method: "GET", path: "/fhir/Patient/" + f.p1 + "/$everything?_type=Observation", status: 200,
				want: everything}, me},
			{trailCase{name: "type history records the versions shown", method: "GET", path: "/fhir/Observation/_history", status: 200,
				want: history, anyOrder: true}, me},
			{trailCase{name: "a refused read records nothing (403)", method: "GET", path: "/fhir/Observation/" + f.o1, status: 403}, token("", "user/Condition.rs")},
			{trailCase{name: "a conditional create whose match may not be read records nothing", method: "POST", path: "/fhir/Observation", body: observation(f.p1, "laboratory", "718-7", ""),
				headers: []string{"If-None-Exist", "_id=" + f.o1}, status: 200}, token("", "user/Observation.c")},
			{trailCase{name: "a patch whose result may not be read is still recorded: it was written", method: "PATCH", path: "/fhir/Observation/" + f.o2,
				body: `[{"op":"replace","path":"/status","value":"amended"}]`, headers: []string{"Content-Type", "application/json-patch+json"}, status: 200,
				want: []string{"patch Observation/" + f.o2 + "/2"}}, token("", "user/Observation.u")},
			{trailCase{name: "a batch records the entries that passed, not the refused ones", method: "POST", path: "/fhir", body: `{"resourceType":"Bundle","type":"batch","entry":[
				{"request":{"method":"GET","url":"Observation/` + f.o3 + `"}},
				{"request":{"method":"GET","url":"Observation/` + f.o1 + `"}}]}`, status: 200,
				want: []string{"read Observation/" + f.o1 + "/1"}}, me},
		} {
			t.Run(tc.name, func(t *testing.T) { tc.run(t, s.server, tc.who) })
		}
	})
}
