package rest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/consent"
)

// TestStepUpOlderVersionsOfALabelledResource: once a resource is labelled,
// its earlier unlabelled versions (the same clinical content) need the
// same sign-in: a vread of one answers 401, and a history leaves its
// resource out; a fresh strong sign-in sees them.
func TestStepUpOlderVersionsOfALabelledResource(t *testing.T) {
	eachStepUp(t, consent.DefaultStepUpLabels, func(t *testing.T, s *guarded, f stepUpFixture) {
		fresh := signedIn(f.p1, acrStrong, 5*time.Minute)
		stale := signedIn(f.p1, acrStrong, time.Hour)
		plain := observation(f.p1, "laboratory", "20447-9", "")
		id := s.admin.create(plain)
		withID := func(body string) string {
			return strings.Replace(body, `{"resourceType":"Observation",`, `{"resourceType":"Observation","id":"`+id+`",`, 1)
		}
		if r := s.admin.do("PUT", "/fhir/Observation/"+id, withID(labelled(plain, "R"))); r.status != http.StatusOK {
			t.Fatalf("label: %d %s", r.status, r.body)
		}
		v1 := "/fhir/Observation/" + id + "/_history/1"

		t.Run("vread of the unlabelled version 1 → 401", func(t *testing.T) {
			wantStepUp(t, s.doAs(stale, "GET", v1, ""), "A more recent sign-in is required")
			wantStatus(t, s.doAs(fresh, "GET", v1, ""), http.StatusOK)
		})
		t.Run("the same vread in a batch → 401", func(t *testing.T) {
			batch := `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Observation/` + id + `/_history/1"}}]}`
			r := s.doAs(stale, "POST", "/fhir", batch)
			wantStatus(t, r, http.StatusOK)
			if !strings.Contains(string(r.body), `"401`) {
				t.Errorf("batch: %s", r.body)
			}
		})
		t.Run("type history leaves version 1's resource out", func(t *testing.T) {
			entries := func(r response) map[string]bool {
				t.Helper()
				wantStatus(t, r, http.StatusOK)
				var b struct {
					Entry []struct {
						Resource *struct{ ID string }
						Request  struct{ URL string }
						Response struct{ Etag string }
					}
				}
				if err := json.Unmarshal(r.body, &b); err != nil {
					t.Fatal(err)
				}
				shown := map[string]bool{}
				for _, e := range b.Entry {
					if strings.HasSuffix(e.Request.URL, id) || e.Request.URL == "Observation" && e.Resource != nil && e.Resource.ID == id {
						shown[e.Response.Etag] = e.Resource != nil
					}
				}
				return shown
			}
			if got := entries(s.doAs(stale, "GET", "/fhir/Observation/_history", "")); got[`W/"1"`] || got[`W/"2"`] {
				t.Errorf("stale token: versions shown %v", got)
			}
			if got := entries(s.doAs(fresh, "GET", "/fhir/Observation/_history", "")); !got[`W/"1"`] || !got[`W/"2"`] {
				t.Errorf("fresh token: versions shown %v", got)
			}
			wantStepUp(t, s.doAs(stale, "GET", "/fhir/Observation/"+id+"/_history", ""), "A more recent sign-in is required")
		})
		t.Run("deleted after being labelled: the earlier versions still need it", func(t *testing.T) {
			if r := s.admin.do("DELETE", "/fhir/Observation/"+id, ""); r.status != http.StatusNoContent && r.status != http.StatusOK {
				t.Fatalf("delete: %d %s", r.status, r.body)
			}
			wantStepUp(t, s.doAs(stale, "GET", v1, ""), "A more recent sign-in is required")
		})
		t.Run("the read of the deletion shows nothing: 410 for staff, whose access has no limit", func(t *testing.T) {
			staff := token("", "user/*.rs")
			staff.ACR, staff.AuthTime = acrStrong, stepUpNow.Add(-time.Hour)
			wantStatus(t, s.doAs(staff, "GET", "/fhir/Observation/"+id, ""), http.StatusGone)
		})
	})
}
