package rest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oncofhir/oncofhir/conformance"
	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/rest"
)

var _ rest.Guard = (*consent.Policy)(nil)

// guarded is the router with the consent policy as Guard, beside an
// unguarded one on the same store to set up and inspect data, and the
// records both hold.
type guarded struct {
	*server
	admin *server
	f     fixture
}

// fixture: two patients, p1 (the one in context) and p2, with their data.
type fixture struct {
	p1, p2         string
	o1, o2, o3, o4 string // o1 p1 lab, o2 p1 vital signs, o3 p2 lab, o4 p2's but performed by p1 (so in both compartments)
	o5             string // p2's, about p1 (focus), so in p2's compartment only
	e1, e2         string // encounters of p1 and p2
	c2             string // a condition of p2
	pr, org, bin   string // a practitioner, an organization, a binary
}

const (
	catSystem = "http://terminology.hl7.org/CodeSystem/observation-category"
	labScope  = "category=" + catSystem + "|laboratory"
)

func withGuard(t testing.TB) func(*rest.Deps) {
	return func(d *rest.Deps) {
		d.Guard = consent.New(consent.Config{Params: sharedParams(t), Compartment: conformance.PatientCompartment(), BaseURL: base})
	}
}

// eachGuarded runs fn on every engine, with one fixture per engine.
func eachGuarded(t *testing.T, fn func(t *testing.T, s *guarded)) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			store := eng.open(t)
			s := &guarded{server: newServer(t, store, withGuard(t)), admin: newServer(t, store)}
			s.f = s.load()
			fn(t, s)
		})
	}
}

func (s *guarded) load() fixture {
	a := s.admin
	var f fixture
	f.pr = a.create(`{"resourceType":"Practitioner","name":[{"family":"Osei"}]}`)
	f.org = a.create(`{"resourceType":"Organization","name":"Infusion Centre"}`)
	f.p1 = a.create(`{"resourceType":"Patient","name":[{"family":"Mensah"}],"generalPractitioner":[{"reference":"Practitioner/` + f.pr + `"}]}`)
	f.p2 = a.create(`{"resourceType":"Patient","name":[{"family":"Lindqvist"}]}`)
	f.e1 = a.create(`{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/` + f.p1 + `"},"serviceProvider":{"reference":"Organization/` + f.org + `"}}`)
	f.e2 = a.create(`{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/` + f.p2 + `"}}`)
	f.o1 = a.create(observation(f.p1, "laboratory", "718-7", ""))
	f.o2 = a.create(observation(f.p1, "vital-signs", "8867-4", ""))
	f.o3 = a.create(observation(f.p2, "laboratory", "2345-7", ""))
	f.o4 = a.create(observation(f.p2, "vital-signs", "8310-5", f.p1))
	f.o5 = a.create(strings.Replace(observation(f.p2, "social-history", "11331-6", ""), `"subject"`, `"focus":[{"reference":"Patient/`+f.p1+`"}],"subject"`, 1))
	f.c2 = a.create(`{"resourceType":"Condition","subject":{"reference":"Patient/` + f.p2 + `"},"code":{"text":"x"}}`)
	f.bin = a.create(`{"resourceType":"Binary","contentType":"text/plain","data":"aGk="}`)
	return f
}

// observation is an Observation of patient, of a category and LOINC code;
// performer, when set, is a patient who performed it.
func observation(patient, category, code, performer string) string {
	b := `{"resourceType":"Observation","status":"final","category":[{"coding":[{"system":"` + catSystem + `","code":"` + category + `"}]}],` +
		`"code":{"coding":[{"system":"http://loinc.org","code":"` + code + `"}]},"subject":{"reference":"Patient/` + patient + `"}`
	if performer != "" {
		b += `,"performer":[{"reference":"Patient/` + performer + `"}]`
	}
	return b + `}`
}

// token is a principal with the patient in context (none when "") and the
// permissions written as SMART scopes, space-separated.
func token(patient, scopes string) *fhir.Principal {
	p := &fhir.Principal{Subject: "user-" + patient, Client: "app", Patient: patient, Grant: "g1"}
	for _, f := range strings.Fields(scopes) {
		level, rest, _ := strings.Cut(f, "/")
		rest, query, _ := strings.Cut(rest, "?")
		typ, ops, _ := strings.Cut(rest, ".")
		p.Scopes = append(p.Scopes, fhir.Permission{Level: level, Type: typ, Ops: ops, Query: query})
	}
	return p
}

func wantIssue(t testing.TB, r response, status int, code string, mentions ...string) {
	t.Helper()
	wantStatus(t, r, status)
	c, _, diag := r.issue(t)
	if c != code {
		t.Errorf("issue code %s, want %s (%s)", c, code, diag)
	}
	for _, m := range mentions {
		if !strings.Contains(diag, m) {
			t.Errorf("diagnostics %q do not mention %q", diag, m)
		}
	}
}

func TestGuardNeedsAPrincipal(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		for _, tc := range []struct{ method, path, body string }{
			{"GET", "/fhir/Patient/" + s.f.p1, ""},
			{"HEAD", "/fhir/Patient/" + s.f.p1, ""},
			{"GET", "/fhir/Patient/" + s.f.p1 + "/_history/1", ""},
			{"GET", "/fhir/Patient?name=mensah", ""},
			{"GET", "/fhir?_type=Patient", ""},
			{"GET", "/fhir/_history", ""},
			{"GET", "/fhir/Patient/" + s.f.p1 + "/$everything", ""},
			{"GET", "/fhir/Patient/" + s.f.p1 + "/Observation", ""},
			{"POST", "/fhir/Patient", `{"resourceType":"Patient"}`},
			{"DELETE", "/fhir/Patient/" + s.f.p1, ""},
			{"POST", "/fhir", `{"resourceType":"Bundle","type":"batch","entry":[]}`},
			{"GET", "/fhir/Nonsense/x", ""},
		} {
			t.Run("no principal: "+tc.method+" "+tc.path+" → 401 with a Bearer challenge", func(t *testing.T) {
				r := s.do(tc.method, tc.path, tc.body)
				wantStatus(t, r, http.StatusUnauthorized)
				if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="`+base+`"` {
					t.Errorf("WWW-Authenticate %q", got)
				}
				if tc.method != "HEAD" {
					wantIssue(t, r, http.StatusUnauthorized, "login")
				}
			})
		}
		t.Run("GET /metadata stays open", func(t *testing.T) {
			wantStatus(t, s.do("GET", "/fhir/metadata", ""), http.StatusOK)
		})
		t.Run("without a Guard nothing is enforced", func(t *testing.T) {
			wantStatus(t, s.admin.do("GET", "/fhir/Observation/"+s.f.o3, ""), http.StatusOK)
		})
	})
}

func TestGuardScopeLetters(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		f := s.f
		obs := "/fhir/Observation/" + f.o1
		body := func() string {
			r := s.admin.do("GET", obs, "")
			return string(r.body)
		}
		patch := `[{"op":"replace","path":"/status","value":"amended"}]`
		for _, tc := range []struct {
			name                string
			scopes              string
			method, path, body  string
			headers             []string
			want                int
			interaction, ofType string // named by a 403
		}{
			{"r reads", "user/Observation.r", "GET", obs, "", nil, 200, "", ""},
			{"s without r does not read → 403", "user/Observation.s", "GET", obs, "", nil, 403, "read", "Observation"},
			{"r on another type does not read → 403", "user/Condition.r", "GET", obs, "", nil, 403, "read", "Observation"},
			{"HEAD needs r", "user/Observation.s", "HEAD", obs, "", nil, 403, "", ""},
			{"r vreads", "user/Observation.r", "GET", obs + "/_history/1", "", nil, 200, "", ""},
			{"vread needs r", "user/Observation.cus", "GET", obs + "/_history/1", "", nil, 403, "vread", "Observation"},
			{"r reads instance history", "user/Observation.r", "GET", obs + "/_history", "", nil, 200, "", ""},
			{"instance history needs r", "user/Observation.s", "GET", obs + "/_history", "", nil, 403, "history-instance", "Observation"},
			{"s searches", "user/Observation.s", "GET", "/fhir/Observation?code=718-7", "", nil, 200, "", ""},
			{"type search needs s", "user/Observation.r", "GET", "/fhir/Observation?code=718-7", "", nil, 403, "search-type", "Observation"},
			{"POST _search needs s", "user/Observation.r", "POST", "/fhir/Observation/_search", "code=718-7", []string{"Content-Type", "application/x-www-form-urlencoded"}, 403, "search-type", "Observation"},
			{"compartment search needs s on its type", "user/Patient.rs", "GET", "/fhir/Patient/" + f.p1 + "/Observation", "", nil, 403, "search-type", "Observation"},
			{"each _type needs s", "user/Observation.s", "GET", "/fhir?_type=Observation,Condition", "", nil, 403, "search-system", "Condition"},
			{"every _type with s", "user/Observation.s user/Condition.s", "GET", "/fhir?_type=Observation,Condition", "", nil, 200, "", ""},
			{"a system search needs s on some type", "user/*.r", "GET", "/fhir?name=x", "", nil, 403, "search-system", ""},
			{"type history needs s", "user/Observation.r", "GET", "/fhir/Observation/_history", "", nil, 403, "history-type", "Observation"},
			{"s reads type history", "user/Observation.s", "GET", "/fhir/Observation/_history", "", nil, 200, "", ""},
			{"system history needs s on some type", "user/*.r", "GET", "/fhir/_history", "", nil, 403, "history-system", ""},
			{"$everything needs r on Patient", "user/Observation.rs", "GET", "/fhir/Patient/" + f.p1 + "/$everything", "", nil, 403, "read", "Patient"},
			{"c creates", "user/Observation.c", "POST", "/fhir/Observation", observation(f.p1, "laboratory", "1-1", ""), nil, 201, "", ""},
			{"create needs c", "user/Observation.rus", "POST", "/fhir/Observation", observation(f.p1, "laboratory", "1-1", ""), nil, 403, "create", "Observation"},
			{"conditional create needs c", "user/Observation.rus", "POST", "/fhir/Observation", observation(f.p1, "laboratory", "1-1", ""), []string{"If-None-Exist", "code=1-1"}, 403, "create", "Observation"},
			{"u updates", "user/Observation.u", "PUT", obs, body(), nil, 200, "", ""},
			{"update needs u", "user/Observation.crds", "PUT", obs, body(), nil, 403, "update", "Observation"},
			{"conditional update needs u", "user/Observation.crds", "PUT", "/fhir/Observation?_id=" + f.o1, body(), nil, 403, "update", "Observation"},
			{"u patches", "user/Observation.u", "PATCH", obs, patch, []string{"Content-Type", "application/json-patch+json"}, 200, "", ""},
			{"patch needs u", "user/Observation.crds", "PATCH", obs, patch, []string{"Content-Type", "application/json-patch+json"}, 403, "patch", "Observation"},
			{"conditional patch needs u", "user/Observation.crds", "PATCH", "/fhir/Observation?_id=" + f.o1, patch, []string{"Content-Type", "application/json-patch+json"}, 403, "patch", "Observation"},
			{"delete needs d", "user/Observation.crus", "DELETE", "/fhir/Observation/" + f.o2, "", nil, 403, "delete", "Observation"},
			{"conditional delete needs d", "user/Observation.crus", "DELETE", "/fhir/Observation?_id=" + f.o2, "", nil, 403, "delete", "Observation"},
			{"* covers every type", "user/*.cruds", "GET", "/fhir/Condition/" + f.c2, "", nil, 200, "", ""},
			{"a transaction entry needs its own letter", "user/Observation.r", "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":` + observation(f.p1, "laboratory", "1-2", "") + `,"request":{"method":"POST","url":"Observation"}}]}`, nil, 403, "create", "Observation"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.doAs(token("", tc.scopes), tc.method, tc.path, tc.body, tc.headers...)
				wantStatus(t, r, tc.want)
				if tc.want == http.StatusForbidden && tc.method != "HEAD" {
					wantIssue(t, r, http.StatusForbidden, "forbidden", tc.interaction, tc.ofType)
				}
			})
		}
		t.Run("a batch answers each entry by its own letter", func(t *testing.T) {
			r := s.doAs(token("", "user/Observation.r"), "POST", "/fhir", `{"resourceType":"Bundle","type":"batch","entry":[
				{"request":{"method":"GET","url":"Observation/`+f.o1+`"}},
				{"request":{"method":"GET","url":"Condition/`+f.c2+`"}},
				{"resource":`+observation(f.p1, "laboratory", "1-3", "")+`,"request":{"method":"POST","url":"Observation"}},
				{"request":{"method":"DELETE","url":"Observation/no-such-id"}}]}`)
			wantStatus(t, r, http.StatusOK)
			if got := entryStatuses(t, r); got != "200,403,403,403" {
				t.Errorf("entry statuses %s", got)
			}
		})
		t.Run("a system search without _type returns only the types the principal may search", func(t *testing.T) {
			r := s.doAs(token("", "user/Encounter.s user/Practitioner.s"), "GET", "/fhir?_count=100", "")
			wantStatus(t, r, http.StatusOK)
			if got := ids(t, r, "match"); !same(got, "Encounter/"+f.e1, "Encounter/"+f.e2, "Practitioner/"+f.pr) {
				t.Errorf("got %v", got)
			}
		})
		t.Run("system history returns only the types the principal may search", func(t *testing.T) {
			r := s.doAs(token("", "user/Encounter.s"), "GET", "/fhir/_history?_count=100", "")
			wantStatus(t, r, http.StatusOK)
			for _, e := range entries(t, r) {
				if u := e["fullUrl"].(string); !strings.Contains(u, "/Encounter/") {
					t.Errorf("history holds %s", u)
				}
			}
		})
		t.Run("$everything returns only the types the principal may read", func(t *testing.T) {
			r := s.doAs(token("", "user/Patient.r user/Observation.r"), "GET", "/fhir/Patient/"+f.p1+"/$everything", "")
			wantStatus(t, r, http.StatusOK)
			got := ids(t, r, "match")
			for _, k := range got {
				if !strings.HasPrefix(k, "Patient/") && !strings.HasPrefix(k, "Observation/") {
					t.Errorf("$everything holds %s", k)
				}
			}
			if len(got) < 4 {
				t.Errorf("got %v", got)
			}
		})
	})
}

func entryStatuses(t testing.TB, r response) string {
	t.Helper()
	var out []string
	for _, e := range entries(t, r) {
		st := e["response"].(map[string]any)["status"].(string)
		out = append(out, strings.Fields(st)[0])
	}
	return strings.Join(out, ",")
}

func TestGuardUserLevel(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		f := s.f
		for _, tc := range []struct {
			name, scopes, patient, query string
			want                         []string
		}{
			{"user-level permissions are not bound to the patient in context", "user/Observation.rs", f.p1, "Observation?category=laboratory", []string{"Observation/" + f.o1, "Observation/" + f.o3}},
			{"user/Practitioner.rs and patient/*.rs: practitioners without limit", "user/Practitioner.rs patient/*.rs", f.p1, "Practitioner", []string{"Practitioner/" + f.pr}},
			{"user/Practitioner.rs and patient/*.rs: observations of the patient only", "user/Practitioner.rs patient/*.rs", f.p1, "Observation?category=laboratory", []string{"Observation/" + f.o1}},
			{"user/*.rs and patient/*.rs: the union reaches every patient", "user/*.rs patient/*.rs", f.p1, "Encounter", []string{"Encounter/" + f.e1, "Encounter/" + f.e2}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.doAs(token(tc.patient, tc.scopes), "GET", "/fhir/"+tc.query, "")
				wantStatus(t, r, http.StatusOK)
				if got := ids(t, r, "match"); !same(got, tc.want...) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
		t.Run("user token reads another patient's Observation even with a patient in context", func(t *testing.T) {
			wantStatus(t, s.doAs(token(f.p1, "user/Observation.r"), "GET", "/fhir/Observation/"+f.o3, ""), http.StatusOK)
		})
	})
}

func TestGuardBindsCursorsToThePrincipal(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		f := s.f
		alice, mallory := token(f.p1, "patient/*.rs"), token(f.p1, "patient/*.rs")
		mallory.Subject, mallory.Client = "mallory", "other-app"
		for _, tc := range []struct{ name, first string }{
			{"search", "/fhir/Observation?_count=1"},
			{"$everything", "/fhir/Patient/" + f.p1 + "/$everything?_count=1"},
			{"history", "/fhir/Observation/_history?_count=1"},
			{"compartment search", "/fhir/Patient/" + f.p1 + "/Observation?_count=1"},
		} {
			t.Run(tc.name+": a next link replayed by another principal → 403 and no data; by its own → 200", func(t *testing.T) {
				r := s.doAs(alice, "GET", tc.first, "")
				wantStatus(t, r, http.StatusOK)
				next := link(t, r, "next")
				if next == "" {
					t.Fatalf("no next link: %s", r.body)
				}
				u, _ := url.Parse(next)
				replay := s.doAs(mallory, "GET", u.RequestURI(), "")
				wantIssue(t, replay, http.StatusForbidden, "forbidden")
				if strings.Contains(string(replay.body), `"entry"`) {
					t.Errorf("data in the refusal: %s", replay.body)
				}
				wantStatus(t, s.doAs(alice, "GET", u.RequestURI(), ""), http.StatusOK)
			})
		}
	})
}
