package rest_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"
)

// A newest-first AuditEvent search pages through what was recorded before
// its first page: events recorded while it pages (each page records one)
// neither repeat entries nor push them off a page.
func TestNewestFirstAuditEventPagesStayPut(t *testing.T) {
	each(t, func(t *testing.T, s *server) {
		base := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
		for i := range 5 {
			storeAuditEvent(t, s.store, fmt.Sprintf("old%d", i), auditEvent("read", "R", "0", "Practitioner/dr", "p1",
				base.Add(time.Duration(i)*time.Minute).Format(time.RFC3339)))
		}
		r := s.do("GET", "/fhir/AuditEvent?patient=Patient/p1&_sort=-date&_count=2", "")
		wantStatus(t, r, 200)
		var seen []string
		seen = append(seen, pageIDs(t, r)...)
		recorded := 5
		for page := 0; page < 5; page++ {
			// Something happens to the patient meanwhile.
			storeAuditEvent(t, s.store, fmt.Sprintf("new%d", page), auditEvent("read", "R", "0", "Practitioner/dr", "p1",
				time.Now().UTC().Format(time.RFC3339Nano)))
			recorded++
			next := link(t, r, "next")
			if next == "" {
				break
			}
			u, _ := url.Parse(next)
			r = s.do("GET", u.RequestURI(), "")
			wantStatus(t, r, 200)
			seen = append(seen, pageIDs(t, r)...)
		}
		if want := []string{"old4", "old3", "old2", "old1", "old0"}; !slices.Equal(seen, want) {
			t.Errorf("pages held %v, want %v", seen, want)
		}
		// Oldest first is left as asked: new entries come last anyway.
		r = s.do("GET", "/fhir/AuditEvent?patient=Patient/p1&_sort=date&_count=100", "")
		if got := pageIDs(t, r); len(got) != recorded || got[0] != "old0" {
			t.Errorf("oldest first: %v", got)
		}
	})
}

// pageIDs are a searchset's match ids, in order.
func pageIDs(t *testing.T, r response) []string {
	t.Helper()
	var out []string
	for _, e := range entries(t, r) {
		if e["search"].(map[string]any)["mode"] == "match" {
			out = append(out, e["resource"].(map[string]any)["id"].(string))
		}
	}
	return out
}
