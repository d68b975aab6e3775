package rest_test

import (
	"net/http"
	"strings"
	"testing"
)

// Scope letters match the effect: an interaction that creates a resource
// needs c, whatever its method.
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
