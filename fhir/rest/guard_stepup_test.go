package rest_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/conformance"
	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/rest"
)

const (
	acrStrong = "urn:test:two-factors"
	acrWeak   = "urn:test:password"
)

var stepUpNow = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// stepUpFixture: patient p1 with an R-labelled, a V-labelled and an
// unlabelled Observation, a DiagnosticReport whose results are the R one
// and the unlabelled one, an Observation whose first version was labelled
// and whose second is not, and patient p2 with an R-labelled Observation.
type stepUpFixture struct {
	p1, p2, r, v, plain, report, relabelled, r2 string
}

func labelled(o, code string) string {
	return strings.Replace(o, `"status"`, `"meta":{"security":[{"system":"`+consent.SystemConfidentiality+`","code":"`+code+`"}]},"status"`, 1)
}

// eachStepUp runs fn on every engine, with the step-up rule on for R and V
// (max age 15 minutes) unless labels says otherwise.
func eachStepUp(t *testing.T, labels []consent.Label, fn func(t *testing.T, s *guarded, f stepUpFixture)) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			store := eng.open(t)
			guard := func(d *rest.Deps) {
				d.Guard = consent.New(consent.Config{Params: sharedParams(t), Compartment: conformance.PatientCompartment(), BaseURL: base,
					StepUp: consent.StepUpRule{Labels: labels, Strong: []string{acrStrong}, Ask: acrStrong, MaxAge: 15 * time.Minute,
						Now: func() time.Time { return stepUpNow }}})
			}
			s := &guarded{server: newServer(t, store, guard), admin: newServer(t, store)}
			a := s.admin
			var f stepUpFixture
			f.p1 = a.create(`{"resourceType":"Patient","name":[{"family":"Mensah"}]}`)
			f.p2 = a.create(`{"resourceType":"Patient","name":[{"family":"Lindqvist"}]}`)
			f.r = a.create(labelled(observation(f.p1, "laboratory", "718-7", ""), "R"))
			f.v = a.create(labelled(observation(f.p1, "social-history", "11331-6", ""), "V"))
			f.plain = a.create(observation(f.p1, "vital-signs", "8867-4", ""))
			f.report = a.create(`{"resourceType":"DiagnosticReport","status":"final","code":{"text":"panel"},"subject":{"reference":"Patient/` + f.p1 +
				`"},"result":[{"reference":"Observation/` + f.r + `"},{"reference":"Observation/` + f.plain + `"}]}`)
			f.relabelled = a.create(labelled(observation(f.p1, "laboratory", "2345-7", ""), "R"))
			if r := a.do("PUT", "/fhir/Observation/"+f.relabelled, strings.Replace(observation(f.p1, "laboratory", "2345-7", ""),
				`{"resourceType":"Observation",`, `{"resourceType":"Observation","id":"`+f.relabelled+`",`, 1)); r.status != http.StatusOK {
				t.Fatalf("relabel: %d %s", r.status, r.body)
			}
			f.r2 = a.create(labelled(observation(f.p2, "laboratory", "718-7", ""), "R"))
			fn(t, s, f)
		})
	}
}

// signedIn is a patient's app token for p1: acr, signed in ago.
func signedIn(patient, acr string, ago time.Duration) *fhir.Principal {
	p := token(patient, "patient/*.rs")
	p.ACR, p.AuthTime = acr, stepUpNow.Add(-ago)
	return p
}

func wantStepUp(t *testing.T, r response, description string) {
	t.Helper()
	wantIssue(t, r, http.StatusUnauthorized, "login", description)
	h := r.header.Get("WWW-Authenticate")
	for _, want := range []string{`Bearer realm="` + base + `"`, `error="insufficient_user_authentication"`,
		`error_description="` + description + `"`, `acr_values="` + acrStrong + `"`, `max_age=900`} {
		if !strings.Contains(h, want) {
			t.Errorf("WWW-Authenticate %q lacks %s", h, want)
		}
	}
}

// bundleEntries lists a Bundle's entries as Type/id (outcomes as "outcome"), and
// the outcome's diagnostics.
func bundleEntries(t *testing.T, r response) (list []string, outcome string) {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	var b struct {
		Entry []struct {
			Resource json.RawMessage
			Search   *struct{ Mode string }
		}
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	for _, e := range b.Entry {
		var res struct {
			ResourceType, ID string
			Issue            []struct{ Severity, Code, Diagnostics string }
		}
		_ = json.Unmarshal(e.Resource, &res)
		if res.ResourceType == "OperationOutcome" {
			if e.Search == nil || e.Search.Mode != "outcome" || len(res.Issue) != 1 || res.Issue[0].Severity != "warning" || res.Issue[0].Code != "suppressed" {
				t.Errorf("outcome entry %s", e.Resource)
			}
			list, outcome = append(list, "outcome"), res.Issue[0].Diagnostics
			continue
		}
		list = append(list, res.ResourceType+"/"+res.ID)
	}
	return list, outcome
}

func TestStepUpForLabelledResources(t *testing.T) {
	eachStepUp(t, consent.DefaultStepUpLabels, func(t *testing.T, s *guarded, f stepUpFixture) {
		fresh := signedIn(f.p1, acrStrong, 5*time.Minute)
		stale := signedIn(f.p1, acrStrong, time.Hour)
		weak := signedIn(f.p1, acrWeak, time.Minute)
		staff := token("", "user/*.rs")
		staff.ACR, staff.AuthTime = acrStrong, stepUpNow.Add(-time.Hour)
		backend := token("", "system/*.rs")
		backend.Subject = backend.Client
		obs := func(id string) string { return "/fhir/Observation/" + id }

		t.Run("a fresh two-factor token reads the R- and V-labelled Observations", func(t *testing.T) {
			wantStatus(t, s.doAs(fresh, "GET", obs(f.r), ""), http.StatusOK)
			wantStatus(t, s.doAs(fresh, "GET", obs(f.v), ""), http.StatusOK)
		})
		t.Run("a stale two-factor token → 401 asking for a more recent sign-in", func(t *testing.T) {
			wantStepUp(t, s.doAs(stale, "GET", obs(f.r), ""), "A more recent sign-in is required")
			wantStepUp(t, s.doAs(stale, "GET", obs(f.v)+"/_history/1", ""), "A more recent sign-in is required")
		})
		t.Run("a password-only token → 401 asking for two factors", func(t *testing.T) {
			wantStepUp(t, s.doAs(weak, "GET", obs(f.r), ""), "A sign-in with two factors is required")
		})
		t.Run("a token without auth_time → 401", func(t *testing.T) {
			p := signedIn(f.p1, acrStrong, 0)
			p.AuthTime = time.Time{}
			wantStepUp(t, s.doAs(p, "GET", obs(f.r), ""), "A more recent sign-in is required")
		})
		t.Run("a staff user reaching every Observation is asked too", func(t *testing.T) {
			wantStepUp(t, s.doAs(staff, "GET", obs(f.r), ""), "A more recent sign-in is required")
		})
		t.Run("a backend service is not asked", func(t *testing.T) {
			wantStatus(t, s.doAs(backend, "GET", obs(f.r), ""), http.StatusOK)
		})
		t.Run("unlabelled resources are unaffected", func(t *testing.T) {
			wantStatus(t, s.doAs(weak, "GET", obs(f.plain), ""), http.StatusOK)
			wantStatus(t, s.doAs(stale, "GET", "/fhir/Patient/"+f.p1, ""), http.StatusOK)
			wantStatus(t, s.doAs(weak, "GET", obs(f.relabelled), ""), http.StatusOK)
		})
		t.Run("another patient's labelled resource stays hidden: 404, not 401", func(t *testing.T) {
			wantStatus(t, s.doAs(stale, "GET", obs(f.r2), ""), http.StatusNotFound)
		})
		t.Run("a write to a labelled resource needs it too", func(t *testing.T) {
			p := signedIn(f.p1, acrWeak, time.Minute)
			p.Scopes = append(p.Scopes, fhir.Permission{Level: "patient", Type: "Observation", Ops: "u"})
			body := strings.Replace(labelled(observation(f.p1, "laboratory", "718-7", ""), "R"), `{"resourceType":"Observation",`,
				`{"resourceType":"Observation","id":"`+f.r+`",`, 1)
			wantStepUp(t, s.doAs(p, "PUT", obs(f.r), body), "A sign-in with two factors is required")
		})

		t.Run("a search leaves labelled matches out, with a warning saying how to see any", func(t *testing.T) {
			for _, p := range []*fhir.Principal{stale, weak, staff} {
				r, trail := s.doTraced(p, "GET", "/fhir/Observation?subject=Patient/"+f.p1, "")
				got, warning := bundleEntries(t, r)
				want := []string{"Observation/" + f.plain, "Observation/" + f.relabelled, "outcome"}
				if !sameSet(got, want) {
					t.Errorf("%s: entries %v, want %v", p.ACR, got, want)
				}
				if !strings.Contains(warning, "restricted security label") || !strings.Contains(warning, "acr_values="+acrStrong) || !strings.Contains(warning, "max_age=900") {
					t.Errorf("warning %q", warning)
				}
				for _, e := range trail {
					if e.ID == f.r || e.ID == f.v {
						t.Errorf("the trail records %s/%s as disclosed", e.Type, e.ID)
					}
				}
			}
			got, _ := bundleEntries(t, s.doAs(fresh, "GET", "/fhir/Observation?subject=Patient/"+f.p1, ""))
			if !sameSet(got, []string{"Observation/" + f.r, "Observation/" + f.v, "Observation/" + f.plain, "Observation/" + f.relabelled}) {
				t.Errorf("fresh token: %v", got)
			}
			got, _ = bundleEntries(t, s.doAs(backend, "GET", "/fhir/Observation?subject=Patient/"+f.p1, ""))
			if len(got) != 4 {
				t.Errorf("backend: %v", got)
			}
		})
		t.Run("an _include leaves the labelled result out", func(t *testing.T) {
			got, warning := bundleEntries(t, s.doAs(stale, "GET", "/fhir/DiagnosticReport?_include=DiagnosticReport:result", ""))
			if !sameSet(got, []string{"DiagnosticReport/" + f.report, "Observation/" + f.plain, "outcome"}) || !strings.Contains(warning, "restricted security label") {
				t.Errorf("entries %v (%q)", got, warning)
			}
			got, _ = bundleEntries(t, s.doAs(fresh, "GET", "/fhir/DiagnosticReport?_include=DiagnosticReport:result", ""))
			if !sameSet(got, []string{"DiagnosticReport/" + f.report, "Observation/" + f.plain, "Observation/" + f.r}) {
				t.Errorf("fresh: %v", got)
			}
		})
		t.Run("$everything leaves labelled resources out", func(t *testing.T) {
			got, warning := bundleEntries(t, s.doAs(stale, "GET", "/fhir/Patient/"+f.p1+"/$everything", ""))
			if slices.Contains(got, "Observation/"+f.r) || slices.Contains(got, "Observation/"+f.v) ||
				!slices.Contains(got, "Observation/"+f.plain) || !strings.Contains(warning, "restricted security label") {
				t.Errorf("entries %v (%q)", got, warning)
			}
			got, _ = bundleEntries(t, s.doAs(fresh, "GET", "/fhir/Patient/"+f.p1+"/$everything", ""))
			if !slices.Contains(got, "Observation/"+f.r) || slices.Contains(got, "outcome") {
				t.Errorf("fresh: %v", got)
			}
		})
		t.Run("history: a labelled version's entry comes without its resource", func(t *testing.T) {
			r := s.doAs(stale, "GET", obs(f.relabelled)+"/_history", "")
			wantStatus(t, r, http.StatusOK)
			var b struct {
				Entry []struct {
					Resource *struct{ Meta struct{ VersionID string } }
					Response struct {
						Outcome *struct{ Issue []struct{ Code string } }
					}
				}
			}
			if err := json.Unmarshal(r.body, &b); err != nil || len(b.Entry) != 2 {
				t.Fatalf("history %s", r.body)
			}
			if b.Entry[0].Resource == nil || b.Entry[0].Response.Outcome != nil {
				t.Errorf("the unlabelled version 2 is shown: %s", r.body)
			}
			if b.Entry[1].Resource != nil || b.Entry[1].Response.Outcome == nil || b.Entry[1].Response.Outcome.Issue[0].Code != "suppressed" {
				t.Errorf("the labelled version 1 is withheld with an outcome: %s", r.body)
			}
			wantStepUp(t, s.doAs(stale, "GET", obs(f.r)+"/_history", ""), "A more recent sign-in is required")
			r = s.doAs(fresh, "GET", obs(f.relabelled)+"/_history", "")
			if strings.Contains(string(r.body), "suppressed") {
				t.Errorf("fresh token: %s", r.body)
			}
		})
	})
}

// TestStepUpLabelsOff: with no labels configured, labelled resources
// need nothing more than any other.
func TestStepUpLabelsOff(t *testing.T) {
	eachStepUp(t, []consent.Label{}, func(t *testing.T, s *guarded, f stepUpFixture) {
		weak := signedIn(f.p1, acrWeak, time.Hour)
		wantStatus(t, s.doAs(weak, "GET", "/fhir/Observation/"+f.r, ""), http.StatusOK)
		got, _ := bundleEntries(t, s.doAs(weak, "GET", "/fhir/Observation?subject=Patient/"+f.p1, ""))
		if len(got) != 4 {
			t.Errorf("entries %v", got)
		}
	})
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
