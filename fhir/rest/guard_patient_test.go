package rest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestGuardPatientContextReads(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		f := s.f
		me := token(f.p1, "patient/*.rs")
		missing := s.doAs(me, "GET", "/fhir/Observation/no-such-id", "")
		wantStatus(t, missing, http.StatusNotFound)
		missingCode, _, _ := missing.issue(t)
		for _, tc := range []struct {
			name, method, path string
			want               int
		}{
			{"patient token reads its own Observation", "GET", "/fhir/Observation/" + f.o1, 200},
			{"patient token reads an Observation it performed, of another patient", "GET", "/fhir/Observation/" + f.o4, 200},
			{"patient token reads another patient's Observation → 404", "GET", "/fhir/Observation/" + f.o3, 404},
			{"patient token reads another patient's Observation about it (focus) → 404", "GET", "/fhir/Observation/" + f.o5, 404},
			{"patient token vreads another patient's Observation → 404", "GET", "/fhir/Observation/" + f.o3 + "/_history/1", 404},
			{"patient token HEADs another patient's Observation → 404", "HEAD", "/fhir/Observation/" + f.o3, 404},
			{"patient token reads another patient's history → 404", "GET", "/fhir/Observation/" + f.o3 + "/_history", 404},
			{"patient token reads its own Patient", "GET", "/fhir/Patient/" + f.p1, 200},
			{"patient token reads another Patient → 404", "GET", "/fhir/Patient/" + f.p2, 404},
			{"patient token reads a Practitioner: no patient's data", "GET", "/fhir/Practitioner/" + f.pr, 200},
			{"patient token may not read a Binary → 403", "GET", "/fhir/Binary/" + f.bin, 403},
			{"patient token may not search Bundles → 403", "GET", "/fhir/Bundle", 403},
			{"$everything of another patient → 404", "GET", "/fhir/Patient/" + f.p2 + "/$everything", 404},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.doAs(me, tc.method, tc.path, "")
				wantStatus(t, r, tc.want)
				if tc.want == http.StatusNotFound && tc.method == "GET" {
					if code, _, _ := r.issue(t); code != missingCode {
						t.Errorf("issue %s, a missing resource answers %s", code, missingCode)
					}
				}
			})
		}
		t.Run("another patient's deleted Observation → 404, not 410; one's own → 410", func(t *testing.T) {
			theirs := s.admin.create(observation(f.p2, "laboratory", "9-9", ""))
			mine := s.admin.create(observation(f.p1, "laboratory", "9-9", ""))
			wantStatus(t, s.admin.do("DELETE", "/fhir/Observation/"+theirs, ""), http.StatusNoContent)
			wantStatus(t, s.admin.do("DELETE", "/fhir/Observation/"+mine, ""), http.StatusNoContent)
			wantStatus(t, s.doAs(me, "GET", "/fhir/Observation/"+theirs, ""), http.StatusNotFound)
			wantStatus(t, s.doAs(me, "GET", "/fhir/Observation/"+theirs+"/_history/2", ""), http.StatusNotFound)
			wantStatus(t, s.doAs(me, "GET", "/fhir/Observation/"+mine, ""), http.StatusGone)
		})
	})
}

func TestGuardPatientContextSearch(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		f := s.f
		me := token(f.p1, "patient/*.rs")
		O, P, E := func(id string) string { return "Observation/" + id }, func(id string) string { return "Patient/" + id }, func(id string) string { return "Encounter/" + id }
		for _, tc := range []struct {
			name, query string
			match, inc  []string
		}{
			{"type search returns the patient's compartment only", "Observation", []string{O(f.o1), O(f.o2), O(f.o4)}, nil},
			{"a search naming another patient finds only what is also in the patient's compartment", "Observation?subject=Patient/" + f.p2, []string{O(f.o4)}, nil},
			{"a search of Patients finds only the patient in context", "Patient", []string{P(f.p1)}, nil},
			{"_include leaves out another patient's resources", "Observation?_include=Observation:subject", []string{O(f.o1), O(f.o2), O(f.o4)}, []string{P(f.p1)}},
			{"_include:iterate too", "Observation?_id=" + f.o4 + "&_include:iterate=Observation:subject", []string{O(f.o4)}, nil},
			{"Observation:* includes the patient, not the other subject", "Observation?_id=" + f.o4 + "&_include=Observation:*", []string{O(f.o4)}, []string{P(f.p1)}},
			{"_revinclude=Observation:* leaves out another patient's Observation about the patient", "Patient?_revinclude=Observation:*", []string{P(f.p1)}, []string{O(f.o1), O(f.o2), O(f.o4)}},
			{"_revinclude brings in the patient's own resources", "Patient?_revinclude=Encounter:subject", []string{P(f.p1)}, []string{E(f.e1)}},
			{"a chain does not reach another patient", "Observation?subject:Patient.name=lindqvist", nil, nil},
			{"a chain reaches the patient in context", "Observation?subject:Patient.name=mensah", []string{O(f.o1), O(f.o2)}, nil},
			{"_has does not look into another patient's data", "Patient?_has:Observation:focus:code=11331-6", nil, nil},
			{"_has on the patient's own data", "Patient?_has:Observation:subject:code=718-7", []string{P(f.p1)}, nil},
			{"system search over several _type values", "?_type=Observation,Encounter,Condition", []string{O(f.o1), O(f.o2), O(f.o4), E(f.e1)}, nil},
			{"system search without _type covers the compartment", "?_count=100", []string{P(f.p1), O(f.o1), O(f.o2), O(f.o4), E(f.e1)}, nil},
			{"types outside the compartment are searched when named", "Practitioner", []string{"Practitioner/" + f.pr}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.doAs(me, "GET", fhirPath(tc.query), "")
				wantStatus(t, r, http.StatusOK)
				if got := ids(t, r, "match"); !same(got, tc.match...) {
					t.Errorf("matches %v, want %v", got, tc.match)
				}
				if got := ids(t, r, "include"); !same(got, tc.inc...) {
					t.Errorf("included %v, want %v", got, tc.inc)
				}
			})
		}
		t.Run("compartment search of another patient → 404, as a read of them", func(t *testing.T) {
			wantStatus(t, s.doAs(me, "GET", fhirPath("Patient/"+f.p2+"/Encounter"), ""), http.StatusNotFound)
			wantStatus(t, s.doAs(me, "GET", fhirPath("Patient/"+f.p1+"/Encounter"), ""), http.StatusOK)
		})
		for _, tc := range []struct {
			name, query string
			want        float64
		}{
			{"_summary=count counts the patient's resources only", "Observation?_summary=count", 3},
			{"_total=accurate counts the patient's resources only", "Observation?_total=accurate&_count=1", 3},
			{"counts over several types too", "?_type=Observation,Encounter&_summary=count", 4},
			{"counts with criteria", "Observation?category=laboratory&_summary=count", 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.doAs(me, "GET", fhirPath(tc.query), "")
				wantStatus(t, r, http.StatusOK)
				if got := r.json(t)["total"]; got != tc.want {
					t.Errorf("total %v, want %v", got, tc.want)
				}
			})
		}
		t.Run("paging walks the patient's resources only", func(t *testing.T) {
			var got []string
			next := "/fhir/Observation?_count=1"
			for pages := 0; next != "" && pages < 10; pages++ {
				r := s.doAs(me, "GET", next, "")
				wantStatus(t, r, http.StatusOK)
				got = append(got, ids(t, r, "match")...)
				next = ""
				if l := link(t, r, "next"); l != "" {
					u, _ := url.Parse(l)
					next = u.RequestURI()
				}
			}
			if !same(got, O(f.o1), O(f.o2), O(f.o4)) {
				t.Errorf("walked %v", got)
			}
		})
		t.Run("$everything of the patient in context holds its own record only", func(t *testing.T) {
			r := s.doAs(me, "GET", "/fhir/Patient/"+f.p1+"/$everything", "")
			wantStatus(t, r, http.StatusOK)
			if got := ids(t, r, "match"); !same(got, P(f.p1), O(f.o1), O(f.o2), O(f.o4), E(f.e1), "Practitioner/"+f.pr, "Organization/"+f.org) {
				t.Errorf("got %v", got)
			}
		})
		t.Run("type and system history hold the patient's versions only", func(t *testing.T) {
			for _, path := range []string{"/fhir/Observation/_history?_count=100", "/fhir/_history?_count=100"} {
				r := s.doAs(me, "GET", path, "")
				wantStatus(t, r, http.StatusOK)
				var got []string
				for _, e := range entries(t, r) {
					got = append(got, strings.TrimPrefix(e["fullUrl"].(string), base+"/"))
				}
				for _, k := range got {
					if k == O(f.o3) || k == O(f.o5) || k == P(f.p2) || k == E(f.e2) || k == "Condition/"+f.c2 || strings.HasPrefix(k, "Binary/") {
						t.Errorf("%s holds %s", path, k)
					}
				}
				if len(got) == 0 {
					t.Errorf("%s is empty", path)
				}
			}
		})
		t.Run("a transaction reading another patient's resource fails as if it were missing", func(t *testing.T) {
			r := s.doAs(me, "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"GET","url":"Observation/`+f.o3+`"}}]}`)
			wantStatus(t, r, http.StatusNotFound)
			r = s.doAs(me, "POST", "/fhir", `{"resourceType":"Bundle","type":"batch","entry":[
				{"request":{"method":"GET","url":"Observation/`+f.o3+`"}},{"request":{"method":"GET","url":"Observation/`+f.o1+`"}}]}`)
			if got := entryStatuses(t, r); got != "404,200" {
				t.Errorf("entry statuses %s", got)
			}
		})
	})
}

func TestGuardPatientContextWrites(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		f := s.f
		me := token(f.p1, "patient/*.cruds")
		current := func(typ, id string) string {
			r := s.admin.do("GET", "/fhir/"+typ+"/"+id, "")
			wantStatus(t, r, http.StatusOK)
			return string(r.body)
		}
		theirs := current("Observation", f.o3)
		pointAt := func(body, from, to string) string {
			return strings.Replace(body, "Patient/"+from, "Patient/"+to, 1)
		}
		patch := []string{"Content-Type", "application/json-patch+json"}
		for _, tc := range []struct {
			name               string
			method, path, body string
			headers            []string
			want               int
		}{
			{"create for the patient in context", "POST", "/fhir/Observation", observation(f.p1, "laboratory", "5-1", ""), nil, 201},
			{"create naming another patient → 403", "POST", "/fhir/Observation", observation(f.p2, "laboratory", "5-2", ""), nil, 403},
			{"create of another Patient → 403", "POST", "/fhir/Patient", `{"resourceType":"Patient"}`, nil, 403},
			{"create of a Practitioner → 403", "POST", "/fhir/Practitioner", `{"resourceType":"Practitioner"}`, nil, 403},
			{"create of a Binary → 403", "POST", "/fhir/Binary", `{"resourceType":"Binary","contentType":"text/plain"}`, nil, 403},
			{"update of another patient's Observation → 404", "PUT", "/fhir/Observation/" + f.o3, theirs, nil, 404},
			{"update moving one's own Observation to another patient → 403", "PUT", "/fhir/Observation/" + f.o2, pointAt(current("Observation", f.o2), f.p1, f.p2), nil, 403},
			{"update of one's own Observation", "PUT", "/fhir/Observation/" + f.o1, current("Observation", f.o1), nil, 200},
			{"update of one's own Patient", "PUT", "/fhir/Patient/" + f.p1, current("Patient", f.p1), nil, 200},
			{"patch of another patient's Observation → 404", "PATCH", "/fhir/Observation/" + f.o3, `[{"op":"replace","path":"/status","value":"amended"}]`, patch, 404},
			{"patch moving one's own Observation away → 403", "PATCH", "/fhir/Observation/" + f.o2, `[{"op":"replace","path":"/subject/reference","value":"Patient/` + f.p2 + `"}]`, patch, 403},
			{"delete of another patient's Encounter → 404", "DELETE", "/fhir/Encounter/" + f.e2, "", nil, 404},
			{"conditional delete does not reach another patient's data", "DELETE", "/fhir/Observation?code=2345-7", "", nil, 204},
			{"conditional patch does not reach another patient's data → 404", "PATCH", "/fhir/Observation?code=2345-7", `[{"op":"replace","path":"/status","value":"amended"}]`, patch, 404},
			{"conditional update does not reach another patient's data: it creates", "PUT", "/fhir/Observation?code=2345-7", observation(f.p1, "laboratory", "2345-7", ""), nil, 201},
			{"conditional create does not match another patient's data", "POST", "/fhir/Observation", observation(f.p1, "laboratory", "2345-7", ""), []string{"If-None-Exist", "code=2345-7&subject=Patient/" + f.p2}, 201},
			{"a transaction writing for another patient fails whole → 403", "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
				{"resource":` + observation(f.p1, "laboratory", "5-3", "") + `,"request":{"method":"POST","url":"Observation"}},
				{"resource":` + observation(f.p2, "laboratory", "5-3", "") + `,"request":{"method":"POST","url":"Observation"}}]}`, nil, 403},
			{"a conditional reference does not resolve to another patient", "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
				{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?name=lindqvist"}},"request":{"method":"POST","url":"Observation"}}]}`, nil, 404},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantStatus(t, s.doAs(me, tc.method, tc.path, tc.body, tc.headers...), tc.want)
			})
		}
		t.Run("another patient's data is unchanged", func(t *testing.T) {
			if got := current("Observation", f.o3); !sameJSON([]byte(got), []byte(theirs)) {
				t.Errorf("Observation changed: %s", got)
			}
			wantStatus(t, s.admin.do("GET", "/fhir/Encounter/"+f.e2, ""), http.StatusOK)
			r := s.admin.do("GET", "/fhir/Observation?code=5-3&_summary=count", "")
			if r.json(t)["total"] != float64(0) {
				t.Errorf("the failed transaction stored %v", r.json(t)["total"])
			}
		})
		t.Run("delete of one's own Observation", func(t *testing.T) {
			wantStatus(t, s.doAs(me, "DELETE", "/fhir/Observation/"+f.o2, ""), http.StatusNoContent)
		})
	})
}

// fhirPath is the request path of a query written "Type?..." or "?..." (a
// system search).
func fhirPath(q string) string {
	if strings.HasPrefix(q, "?") {
		return "/fhir" + q
	}
	return "/fhir/" + q
}
