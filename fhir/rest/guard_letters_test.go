package rest_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// Scope letters match the effect: an interaction that creates a resource
// needs c, whatever its method; what a write finds or makes out of stored
// content is shown only to who may read it.
func TestGuardUpdateThatCreatesNeedsCreate(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		f := s.f
		withID := func(body, id string) string {
			return strings.Replace(body, `{"resourceType":"Observation",`, `{"resourceType":"Observation","id":"`+id+`",`, 1)
		}
		current := func(id string) string {
			r := s.admin.do("GET", "/fhir/Observation/"+id, "")
			wantStatus(t, r, http.StatusOK)
			return string(r.body)
		}
		gone := s.admin.create(observation(f.p1, "laboratory", "4-4", ""))
		goneBody := current(gone)
		wantStatus(t, s.admin.do("DELETE", "/fhir/Observation/"+gone, ""), http.StatusNoContent)
		lab, vitals := observation(f.p1, "laboratory", "4-1", ""), observation(f.p1, "vital-signs", "4-2", "")
		allowed := observation(f.p1, "laboratory", "4-5", "")
		for _, tc := range []struct {
			name, scopes       string
			method, path, body string
			want               int
		}{
			{"update to a new id without c → 403", "user/Observation.ru", "PUT", "/fhir/Observation/new-4-1", withID(lab, "new-4-1"), 403},
			{"conditional update matching nothing without c → 403", "user/Observation.ru", "PUT", "/fhir/Observation?code=4-1", lab, 403},
			{"update bringing back a deleted resource without c → 403", "user/Observation.ru", "PUT", "/fhir/Observation/" + gone, goneBody, 403},
			{"a transaction entry updating to a new id without c → 403", "user/Observation.ru", "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
				{"resource":` + withID(lab, "new-4-1") + `,"request":{"method":"PUT","url":"Observation/new-4-1"}}]}`, 403},
			{"a transaction entry updating by criteria that match nothing, without c → 403", "user/Observation.ru", "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
				{"resource":` + lab + `,"request":{"method":"PUT","url":"Observation?code=4-1"}}]}`, 403},
			{"update of an existing resource needs no c", "user/Observation.ru", "PUT", "/fhir/Observation/" + f.o1, current(f.o1), 200},
			{"conditional update matching one needs no c", "user/Observation.ru", "PUT", "/fhir/Observation?_id=" + f.o2, current(f.o2), 200},
			{"create limited to a category: update to a new id outside it → 403", "patient/Observation.ru patient/Observation.c?" + labScope, "PUT", "/fhir/Observation/new-4-2", withID(vitals, "new-4-2"), 403},
			{"create limited to a category: update to a new id within it", "patient/Observation.ru patient/Observation.c?" + labScope, "PUT", "/fhir/Observation/new-4-3", withID(allowed, "new-4-3"), 201},
			{"update to a new id with c and u", "user/Observation.cu", "PUT", "/fhir/Observation/new-4-4", withID(allowed, "new-4-4"), 201},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.doAs(token(f.p1, tc.scopes), tc.method, tc.path, tc.body)
				wantStatus(t, r, tc.want)
				if tc.want == http.StatusForbidden && strings.HasPrefix(tc.scopes, "user/") {
					wantIssue(t, r, http.StatusForbidden, "forbidden", "create", "Observation")
				}
			})
		}
		t.Run("nothing was created without c", func(t *testing.T) {
			wantStatus(t, s.admin.do("GET", "/fhir/Observation/new-4-1", ""), http.StatusNotFound)
			wantStatus(t, s.admin.do("GET", "/fhir/Observation/new-4-2", ""), http.StatusNotFound)
			wantStatus(t, s.admin.do("GET", "/fhir/Observation/"+gone, ""), http.StatusGone)
			if got := s.admin.do("GET", "/fhir/Observation?code=4-1&_summary=count", "").json(t)["total"]; got != float64(0) {
				t.Errorf("%v created by criteria", got)
			}
		})
	})
}

func TestGuardConditionalCreateShowsTheMatchOnlyToAReader(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		f := s.f
		// o1 is p1's only Observation with code 718-7.
		ifNoneExist := []string{"If-None-Exist", "code=718-7"}
		body := observation(f.p1, "laboratory", "718-7", "")
		leaks := func(t *testing.T, r response) {
			t.Helper()
			if strings.Contains(string(r.body), f.o1) || strings.Contains(string(r.body), `"resourceType":"Observation"`) {
				t.Errorf("the match is in the answer: %s", r.body)
			}
			for _, h := range []string{"Location", "ETag", "Content-Location", "Last-Modified"} {
				if v := r.header.Get(h); v != "" {
					t.Errorf("%s: %s", h, v)
				}
			}
		}
		for _, tc := range []struct{ name, patient, scopes string }{
			{"user/Observation.c: 200 without the match", "", "user/Observation.c"},
			{"patient/Observation.c: 200 without the match", f.p1, "patient/Observation.c"},
			{"read only of another category: 200 without the match", f.p1, "patient/Observation.c patient/Observation.r?category=" + catSystem + "|vital-signs"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.doAs(token(tc.patient, tc.scopes), "POST", "/fhir/Observation", body, ifNoneExist...)
				wantStatus(t, r, http.StatusOK)
				leaks(t, r)
				if code, _, _ := r.issue(t); code != "informational" {
					t.Errorf("issue %s", code)
				}
			})
		}
		t.Run("with read too: 200 with the match", func(t *testing.T) {
			r := s.doAs(token(f.p1, "patient/Observation.cr"), "POST", "/fhir/Observation", body, ifNoneExist...)
			wantStatus(t, r, http.StatusOK)
			if r.json(t)["id"] != f.o1 || r.header.Get("Location") == "" {
				t.Errorf("got %s", r.body)
			}
		})
		t.Run("in a transaction, with return=representation: the entry holds no match", func(t *testing.T) {
			r := s.doAs(token("", "user/Observation.c"), "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
				{"resource":`+body+`,"request":{"method":"POST","url":"Observation","ifNoneExist":"code=718-7"}}]}`, "Prefer", "return=representation")
			wantStatus(t, r, http.StatusOK)
			if got := entryStatuses(t, r); got != "200" {
				t.Errorf("entry statuses %s", got)
			}
			if strings.Contains(string(r.body), f.o1) || strings.Contains(string(r.body), `"resourceType":"Observation"`) {
				t.Errorf("the match is in the answer: %s", r.body)
			}
		})
		t.Run("in a batch: the same", func(t *testing.T) {
			r := s.doAs(token("", "user/Observation.c"), "POST", "/fhir", `{"resourceType":"Bundle","type":"batch","entry":[
				{"resource":`+body+`,"request":{"method":"POST","url":"Observation","ifNoneExist":"code=718-7"}}]}`, "Prefer", "return=representation")
			wantStatus(t, r, http.StatusOK)
			if strings.Contains(string(r.body), f.o1) || strings.Contains(string(r.body), `"resourceType":"Observation"`) {
				t.Errorf("the match is in the answer: %s", r.body)
			}
		})
		t.Run("nothing was created", func(t *testing.T) {
			if got := s.admin.do("GET", "/fhir/Observation?code=718-7&_summary=count", "").json(t)["total"]; got != float64(1) {
				t.Errorf("%v Observations with the code", got)
			}
		})
	})
}

func TestGuardPatchShowsTheResultOnlyToAReader(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		f := s.f
		patch := []string{"Content-Type", "application/json-patch+json"}
		amend := `[{"op":"replace","path":"/status","value":"amended"}]`
		shows := func(r response) bool { return strings.Contains(string(r.body), "718-7") }
		for _, tc := range []struct {
			name, patient, scopes string
			shown                 bool
		}{
			{"u without r: 200, the result not shown", "", "user/Observation.u", false},
			{"patient-level u without r: the same", f.p1, "patient/Observation.u", false},
			{"r of another category only: the same", f.p1, "patient/Observation.u patient/Observation.r?category=" + catSystem + "|vital-signs", false},
			{"u and r: the result shown", f.p1, "patient/Observation.ur", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.doAs(token(tc.patient, tc.scopes), "PATCH", "/fhir/Observation/"+f.o1, amend, patch...)
				wantStatus(t, r, http.StatusOK)
				if shows(r) != tc.shown {
					t.Errorf("shown %v: %s", shows(r), r.body)
				}
				if !tc.shown {
					if code, _, _ := r.issue(t); code != "informational" {
						t.Errorf("issue %s", code)
					}
				}
			})
		}
		t.Run("conditional patch without r: not shown", func(t *testing.T) {
			r := s.doAs(token("", "user/Observation.u"), "PATCH", "/fhir/Observation?_id="+f.o1, amend, patch...)
			wantStatus(t, r, http.StatusOK)
			if shows(r) {
				t.Errorf("shown: %s", r.body)
			}
		})
		t.Run("a transaction's patch entry without r, with return=representation: not shown", func(t *testing.T) {
			bin := `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"` + base64.StdEncoding.EncodeToString([]byte(amend)) + `"}`
			r := s.doAs(token("", "user/Observation.u"), "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
				{"resource":`+bin+`,"request":{"method":"PATCH","url":"Observation/`+f.o1+`"}}]}`, "Prefer", "return=representation")
			wantStatus(t, r, http.StatusOK)
			if got := entryStatuses(t, r); got != "200" {
				t.Errorf("entry statuses %s", got)
			}
			if shows(r) {
				t.Errorf("shown: %s", r.body)
			}
		})
	})
}

// A conditional update that matches nothing and whose body names an id
// that exists answers 409; for a resource the principal may not know of,
// it answers as a plain update of it would.
func TestGuardConditionalUpdateDoesNotTellAnotherPatientsIDExists(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		f := s.f
		me := token(f.p1, "patient/*.cruds")
		withID := func(id string) string {
			return strings.Replace(observation(f.p1, "laboratory", "3-3", ""), `{"resourceType":"Observation",`, `{"resourceType":"Observation","id":"`+id+`",`, 1)
		}
		wantStatus(t, s.doAs(me, "PUT", "/fhir/Observation?code=3-3", withID(f.o3)), http.StatusNotFound)
		wantStatus(t, s.doAs(me, "PUT", "/fhir/Observation/"+f.o3, withID(f.o3)), http.StatusNotFound)
		wantStatus(t, s.doAs(me, "PUT", "/fhir/Observation?code=3-3", withID(f.o2)), http.StatusConflict)
	})
}
