package rest_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
)

// bundleTotal is a search Bundle's total (-1 when absent).
func bundleTotal(t *testing.T, r response) int {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	var b struct{ Total *int }
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	if b.Total == nil {
		return -1
	}
	return *b.Total
}

var aCount = regexp.MustCompile(`\d+ resource`)

// TestStepUpSearchTellsNothingOfLabelled: for a sign-in too weak or too
// old, labelled resources are left out of the store's queries themselves,
// so they neither count in totals nor make a chained or _has criterion
// match, and the warning says that restricted results may exist, not how
// many there are.
func TestStepUpSearchTellsNothingOfLabelled(t *testing.T) {
	eachStepUp(t, consent.DefaultStepUpLabels, func(t *testing.T, s *guarded, f stepUpFixture) {
		fresh := signedIn(f.p1, acrStrong, 5*time.Minute)
		stale := signedIn(f.p1, acrStrong, time.Hour)
		mine := "/fhir/Observation?subject=Patient/" + f.p1

		for _, tc := range []struct{ name, query string }{
			{"_summary=count", "&_summary=count"},
			{"_count=0", "&_count=0"},
			{"_total=accurate", "&_total=accurate&_count=1"},
		} {
			t.Run(tc.name+" counts only what the sign-in shows", func(t *testing.T) {
				if n := bundleTotal(t, s.doAs(stale, "GET", mine+tc.query, "")); n != 2 {
					t.Errorf("stale token: total %d, want 2 (the labelled ones left out)", n)
				}
				if n := bundleTotal(t, s.doAs(fresh, "GET", mine+tc.query, "")); n != 4 {
					t.Errorf("fresh token: total %d, want 4", n)
				}
			})
		}

		t.Run("_has does not match through a labelled resource", func(t *testing.T) {
			q := "/fhir/Patient?_has:Observation:subject:code=718-7"
			got, warning := bundleEntries(t, s.doAs(stale, "GET", q, ""))
			if !sameSet(got, []string{"outcome"}) || aCount.MatchString(warning) {
				t.Errorf("stale token: %v (%q)", got, warning)
			}
			if got, _ := bundleEntries(t, s.doAs(fresh, "GET", q, "")); !sameSet(got, []string{"Patient/" + f.p1}) {
				t.Errorf("fresh token: %v", got)
			}
		})
		t.Run("a chain does not match through a labelled resource", func(t *testing.T) {
			q := "/fhir/DiagnosticReport?result:Observation.code=718-7"
			if got, _ := bundleEntries(t, s.doAs(stale, "GET", q, "")); !sameSet(got, []string{"outcome"}) {
				t.Errorf("stale token: %v", got)
			}
			if got, _ := bundleEntries(t, s.doAs(fresh, "GET", q, "")); !sameSet(got, []string{"DiagnosticReport/" + f.report}) {
				t.Errorf("fresh token: %v", got)
			}
		})
		t.Run("a system search by staff counts no labelled resource", func(t *testing.T) {
			staff := func(ago time.Duration) *fhir.Principal {
				p := token("", "user/*.rs")
				p.ACR, p.AuthTime = acrStrong, stepUpNow.Add(-ago)
				return p
			}
			all := bundleTotal(t, s.doAs(staff(time.Minute), "GET", "/fhir?_count=0", ""))
			shown := bundleTotal(t, s.doAs(staff(time.Hour), "GET", "/fhir?_count=0", ""))
			if all-shown != 3 { // f.r, f.v and f.r2
				t.Errorf("totals %d (fresh) and %d (stale): the stale one should leave out the 3 labelled", all, shown)
			}
		})
		t.Run("the warning tells no number, and how to sign in again", func(t *testing.T) {
			for _, q := range []string{mine, mine + "&_summary=count", "/fhir/DiagnosticReport?_include=DiagnosticReport:result",
				"/fhir/Observation?code=0000-0", "/fhir/Patient/" + f.p1 + "/$everything"} {
				got, warning := bundleEntries(t, s.doAs(stale, "GET", q, ""))
				if !strings.Contains(strings.Join(got, " "), "outcome") || aCount.MatchString(warning) ||
					!strings.Contains(warning, "acr_values="+acrStrong) || !strings.Contains(warning, "max_age=900") {
					t.Errorf("%s: %v (%q)", q, got, warning)
				}
				if got, _ := bundleEntries(t, s.doAs(fresh, "GET", q, "")); strings.Contains(strings.Join(got, " "), "outcome") {
					t.Errorf("%s, fresh token: %v", q, got)
				}
			}
		})
	})
}
