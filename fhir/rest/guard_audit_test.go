package rest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
)

// withRole is a user token with an account role.
func withRole(role, patient, scopes string) *fhir.Principal {
	p := token(patient, scopes)
	p.Subject, p.Roles = role+"-1", []string{role}
	return p
}

// AuditEvents are searched by auditors and administrators (and backend
// services), by patient, agent, date, type, subtype, action and outcome;
// no one else reaches them, whatever their permissions.
func TestGuardWhoReadsAuditEvents(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		f := s.f
		dr := "Practitioner/" + f.pr
		for _, ae := range []struct{ id, body string }{
			{"ae1", auditEvent("read", "R", "0", dr, f.p1, "2024-03-01T10:00:00Z")},
			{"ae2", auditEvent("search-type", "E", "0", dr, f.p1, "2024-03-05T10:00:00Z")},
			{"ae3", auditEvent("read", "R", "0", dr, f.p1, "2023-12-01T10:00:00Z")},
			{"ae4", auditEvent("read", "R", "4", dr, f.p2, "2024-03-02T10:00:00Z")},
			{"ae5", auditEvent("update", "U", "8", "Practitioner/other", f.p1, "2024-03-10T10:00:00Z")},
		} {
			storeAuditEvent(t, s.store, ae.id, ae.body)
		}
		auditor := withRole("auditor", "", "user/AuditEvent.rs")
		admin := withRole("admin", "", "user/*.rs")
		siem := &fhir.Principal{Subject: "siem", Client: "siem", Scopes: token("", "system/AuditEvent.rs").Scopes}
		nurse := withRole("nurse", "", "user/*.rs")
		oncologist := withRole("oncologist", "", "user/AuditEvent.rs")
		patient := withRole("patient", f.p1, "patient/*.rs")
		byP1Since2024 := "AuditEvent?patient=Patient/" + f.p1 + "&date=ge2024-01-01"

		for _, tc := range []struct {
			name  string
			who   *fhir.Principal
			query string
			want  []string
		}{
			{"an auditor searches by patient and date", auditor, byP1Since2024, []string{"ae1", "ae2", "ae5"}},
			{"by agent", auditor, "AuditEvent?agent=" + dr, []string{"ae1", "ae2", "ae3", "ae4"}},
			{"by entity", auditor, "AuditEvent?entity=Patient/" + f.p2, []string{"ae4"}},
			{"by date range", auditor, "AuditEvent?date=lt2024-01-01", []string{"ae3"}},
			{"by subtype", auditor, "AuditEvent?subtype=http://hl7.org/fhir/restful-interaction|read", []string{"ae1", "ae3", "ae4"}},
			{"by type and action", auditor, "AuditEvent?type=rest&action=U", []string{"ae5"}},
			{"by outcome", auditor, "AuditEvent?outcome=4,8", []string{"ae4", "ae5"}},
			{"an administrator with user/*.rs", admin, byP1Since2024, []string{"ae1", "ae2", "ae5"}},
			{"a backend service with system/AuditEvent.rs", siem, byP1Since2024, []string{"ae1", "ae2", "ae5"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.doAs(tc.who, "GET", "/fhir/"+tc.query, "")
				wantStatus(t, r, http.StatusOK)
				var want []string
				for _, id := range tc.want {
					want = append(want, "AuditEvent/"+id)
				}
				if got := ids(t, r, "match"); !same(got, want...) {
					t.Errorf("got %v, want %v", got, want)
				}
			})
		}
		t.Run("an auditor pages through them", func(t *testing.T) {
			r := s.doAs(auditor, "GET", "/fhir/"+byP1Since2024+"&_sort=date&_count=2", "")
			wantStatus(t, r, http.StatusOK)
			if got := ids(t, r, "match"); !same(got, "AuditEvent/ae1", "AuditEvent/ae2") {
				t.Errorf("page 1: %v", got)
			}
			next, _ := url.Parse(link(t, r, "next"))
			if next == nil || next.Path == "" {
				t.Fatalf("no next link: %s", r.body)
			}
			r = s.doAs(auditor, "GET", next.RequestURI(), "")
			wantStatus(t, r, http.StatusOK)
			if got := ids(t, r, "match"); !same(got, "AuditEvent/ae5") {
				t.Errorf("page 2: %v", got)
			}
		})
		t.Run("an auditor reads one", func(t *testing.T) {
			wantStatus(t, s.doAs(auditor, "GET", "/fhir/AuditEvent/ae1", ""), http.StatusOK)
		})

		for _, tc := range []struct {
			name, method, path string
			who                *fhir.Principal
		}{
			{"a nurse with user/*.rs searches them → 403", "GET", "/fhir/" + byP1Since2024, nurse},
			{"a nurse reads one → 403", "GET", "/fhir/AuditEvent/ae1", nurse},
			{"a nurse reads their history → 403", "GET", "/fhir/AuditEvent/_history", nurse},
			{"a nurse names them in _type → 403", "GET", "/fhir?_type=AuditEvent", nurse},
			{"a nurse probes them through _has → 403", "GET", "/fhir/Patient?_has:AuditEvent:patient:outcome=8", nurse},
			{"an oncologist with user/AuditEvent.rs → 403", "GET", "/fhir/" + byP1Since2024, oncologist},
			{"a patient searches their own → 403", "GET", "/fhir/" + byP1Since2024, patient},
			{"a patient reads one about them → 403", "GET", "/fhir/AuditEvent/ae1", patient},
			{"a patient searches them in their compartment → 403", "GET", "/fhir/Patient/" + f.p1 + "/AuditEvent", patient},
			{"an auditor without a covering permission → 403", "GET", "/fhir/" + byP1Since2024, withRole("auditor", "", "user/Observation.rs")},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.doAs(tc.who, tc.method, tc.path, "")
				wantIssue(t, r, http.StatusForbidden, "forbidden", "AuditEvent")
				if strings.Contains(string(r.body), "ae1") {
					t.Errorf("data in the refusal: %s", r.body)
				}
			})
		}

		// Every other type stays within a nurse's reach.
		noAuditEvents := func(t *testing.T, who *fhir.Principal, path string, want bool) []string {
			t.Helper()
			r := s.doAs(who, "GET", path, "")
			wantStatus(t, r, http.StatusOK)
			var types []string
			found := false
			for _, e := range entries(t, r) {
				u, _ := e["fullUrl"].(string)
				found = found || strings.Contains(u, "/AuditEvent/")
				typ := strings.Split(strings.TrimPrefix(u, base+"/"), "/")[0]
				types = append(types, typ)
			}
			if found != want {
				t.Errorf("%s: AuditEvents returned %v, want %v", path, found, want)
			}
			return types
		}
		t.Run("a nurse's search over every type leaves them out, and finds the rest", func(t *testing.T) {
			types := noAuditEvents(t, nurse, "/fhir?_count=100", false)
			for _, want := range []string{"Patient", "Observation", "Practitioner", "Organization", "Binary"} {
				if !strings.Contains(strings.Join(types, ","), want) {
					t.Errorf("no %s in %v", want, types)
				}
			}
		})
		t.Run("an administrator's search over every type holds them", func(t *testing.T) {
			noAuditEvents(t, admin, "/fhir?_count=100", true)
		})
		t.Run("a nurse's system history leaves them out", func(t *testing.T) {
			noAuditEvents(t, nurse, "/fhir/_history?_count=100", false)
		})
		t.Run("a nurse's _revinclude leaves them out", func(t *testing.T) {
			r := s.doAs(nurse, "GET", "/fhir/Patient?_id="+f.p1+"&_revinclude=AuditEvent:patient", "")
			wantStatus(t, r, http.StatusOK)
			if got := ids(t, r, "include"); len(got) != 0 {
				t.Errorf("included %v", got)
			}
			if got := ids(t, s.doAs(admin, "GET", "/fhir/Patient?_id="+f.p1+"&_revinclude=AuditEvent:patient", ""), "include"); len(got) != 4 {
				t.Errorf("an administrator's _revinclude: %v", got)
			}
		})
		t.Run("a patient's $everything leaves them out", func(t *testing.T) {
			noAuditEvents(t, patient, "/fhir/Patient/"+f.p1+"/$everything", false)
		})
		t.Run("$everything is the record, not its access log: AuditEvents only when _type names them", func(t *testing.T) {
			noAuditEvents(t, admin, "/fhir/Patient/"+f.p1+"/$everything", false)
			noAuditEvents(t, admin, "/fhir/Patient/"+f.p1+"/$everything?_type=AuditEvent", true)
		})
	})
}
