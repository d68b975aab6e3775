package rest_test

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/oncofhir/oncofhir/fhir/rest"
)

func TestGuardGranularPermissions(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		f := s.f
		O, P := func(id string) string { return "Observation/" + id }, func(id string) string { return "Patient/" + id }
		labs := token(f.p1, "patient/Patient.rs patient/Observation.rs?"+labScope)
		vitals := "category=" + catSystem + "|vital-signs"
		for _, tc := range []struct {
			name, scopes, query string
			want                []string // matches and includes
		}{
			{"a category permission returns only that category", "patient/Observation.rs?" + labScope, "Observation", []string{O(f.o1)}},
			{"criteria of the search and of the permission both hold", "patient/Observation.rs?" + labScope, "Observation?code=8867-4", nil},
			{"two categories: either", "patient/Observation.rs?" + labScope + " patient/Observation.rs?" + vitals, "Observation", []string{O(f.o1), O(f.o2), O(f.o4)}},
			{"a category or a code: the union", "patient/Observation.rs?" + labScope + " patient/Observation.rs?code=http://loinc.org|8310-5", "Observation", []string{O(f.o1), O(f.o4)}},
			{"a permission without criteria covers the others", "patient/Observation.rs?" + labScope + " patient/Observation.rs", "Observation", []string{O(f.o1), O(f.o2), O(f.o4)}},
			{"a user-level category reaches every patient's", "user/Observation.rs?" + labScope, "Observation", []string{O(f.o1), O(f.o3)}},
			{"a revinclude outside the category is left out", "patient/Patient.rs patient/Observation.rs?" + labScope, "Patient?_revinclude=Observation:subject", []string{P(f.p1), O(f.o1)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.doAs(token(f.p1, tc.scopes), "GET", fhirPath(tc.query), "")
				wantStatus(t, r, http.StatusOK)
				got := append(ids(t, r, "match"), ids(t, r, "include")...)
				sort.Strings(got)
				if !same(got, tc.want...) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
		for _, tc := range []struct {
			name, scopes, query string
			want                float64
		}{
			{"counts are over the permitted category", "patient/Observation.rs?" + labScope, "Observation?_summary=count", 1},
			{"counts over a union of criteria", "patient/Observation.rs?" + labScope + " patient/Observation.rs?code=http://loinc.org|8310-5", "Observation?_total=accurate&_count=1", 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.doAs(token(f.p1, tc.scopes), "GET", fhirPath(tc.query), "")
				wantStatus(t, r, http.StatusOK)
				if got := r.json(t)["total"]; got != tc.want {
					t.Errorf("total %v, want %v", got, tc.want)
				}
			})
		}
		for _, tc := range []struct {
			name, path string
			want       int
		}{
			{"reading one's own Observation in the category", "/fhir/Observation/" + f.o1, 200},
			{"reading one's own Observation outside the category → 403", "/fhir/Observation/" + f.o2, 403},
			{"vreading one's own Observation outside the category → 403", "/fhir/Observation/" + f.o2 + "/_history/1", 403},
			{"its history → 403", "/fhir/Observation/" + f.o2 + "/_history", 403},
			{"another patient's Observation in the category → 404", "/fhir/Observation/" + f.o3, 404},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantStatus(t, s.doAs(labs, "GET", tc.path, ""), tc.want)
			})
		}
		t.Run("$everything holds only the permitted category", func(t *testing.T) {
			r := s.doAs(labs, "GET", "/fhir/Patient/"+f.p1+"/$everything", "")
			wantStatus(t, r, http.StatusOK)
			if got := ids(t, r, "match"); !same(got, P(f.p1), O(f.o1)) {
				t.Errorf("got %v", got)
			}
		})
		t.Run("type history holds only the permitted category", func(t *testing.T) {
			r := s.doAs(labs, "GET", "/fhir/Observation/_history?_count=100", "")
			wantStatus(t, r, http.StatusOK)
			for _, e := range entries(t, r) {
				if u := e["fullUrl"].(string); u != base+"/"+O(f.o1) {
					t.Errorf("history holds %s", u)
				}
			}
		})
		t.Run("paging walks a union of criteria", func(t *testing.T) {
			me := token(f.p1, "patient/Observation.rs?"+labScope+" patient/Observation.rs?code=http://loinc.org|8310-5")
			var got []string
			for next, pages := "/fhir/Observation?_count=1", 0; next != "" && pages < 5; pages++ {
				r := s.doAs(me, "GET", next, "")
				wantStatus(t, r, http.StatusOK)
				got = append(got, ids(t, r, "match")...)
				next = ""
				if l := link(t, r, "next"); l != "" {
					u, _ := url.Parse(l)
					next = u.RequestURI()
				}
			}
			if !same(got, O(f.o1), O(f.o4)) {
				t.Errorf("walked %v", got)
			}
		})
		writer := token(f.p1, "patient/Observation.cru?"+labScope)
		for _, tc := range []struct {
			name, method, path, body string
			want                     int
		}{
			{"creating in the category", "POST", "/fhir/Observation", observation(f.p1, "laboratory", "7-1", ""), 201},
			{"creating outside the category → 403", "POST", "/fhir/Observation", observation(f.p1, "vital-signs", "7-2", ""), 403},
			{"updating a stored Observation outside the category → 403", "PUT", "/fhir/Observation/" + f.o2, strings.Replace(observation(f.p1, "laboratory", "8867-4", ""), `{"resourceType":"Observation",`, `{"resourceType":"Observation","id":"`+f.o2+`",`, 1), 403},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantStatus(t, s.doAs(writer, tc.method, tc.path, tc.body), tc.want)
			})
		}
	})
}

func TestGuardRefusesUnionsTooCostlyToApply(t *testing.T) {
	defer rest.SetMaxLimited(2)()
	eachGuarded(t, func(t *testing.T, s *guarded) {
		me := token(s.f.p1, "user/Observation.rs?"+labScope+" user/Observation.rs?code=http://loinc.org|8310-5 user/Observation.rs?code=http://loinc.org|8867-4")
		wantIssue(t, s.doAs(me, "GET", "/fhir/Observation", ""), http.StatusForbidden, "too-costly", "Observation")
		wantStatus(t, s.doAs(me, "GET", "/fhir/Observation?code=8310-5", ""), http.StatusOK)
	})
}
