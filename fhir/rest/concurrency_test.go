package rest_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentIfMatch: writers race to update one resource, each reading
// the current version and sending If-Match. Losers get 412 and retry. In the
// end every write made exactly one version: none lost, none doubled.
func TestConcurrentIfMatch(t *testing.T) {
	each(t, func(t *testing.T, s *server) {
		id := s.create(`{"resourceType":"Patient","name":[{"family":"Race"}]}`)
		const writers, each = 6, 5
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					for attempt := 0; ; attempt++ {
						if attempt > 200 {
							errs <- fmt.Errorf("writer %d gave up", w)
							return
						}
						cur := s.do("GET", "/fhir/Patient/"+id, "")
						etag := cur.header.Get("ETag")
						body := fmt.Sprintf(`{"resourceType":"Patient","id":"%s","name":[{"family":"Race","given":["w%d-%d"]}]}`, id, w, i)
						r := s.do("PUT", "/fhir/Patient/"+id, body, "If-Match", etag)
						if r.status == http.StatusOK {
							break
						}
						if r.status != http.StatusPreconditionFailed {
							errs <- fmt.Errorf("writer %d: %d %s", w, r.status, r.body)
							return
						}
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		final := s.do("GET", "/fhir/Patient/"+id, "")
		if want := fmt.Sprintf(`W/"%d"`, writers*each+1); final.header.Get("ETag") != want {
			t.Fatalf("final version %s, want %s", final.header.Get("ETag"), want)
		}
		seen := map[string]int{}
		for v := 2; v <= writers*each+1; v++ {
			r := s.do("GET", fmt.Sprintf("/fhir/Patient/%s/_history/%d", id, v), "")
			wantStatus(t, r, http.StatusOK)
			b := string(r.body)
			i := strings.Index(b, `"given":["`)
			seen[b[i+10:strings.Index(b[i+10:], `"`)+i+10]]++
		}
		for w := 0; w < writers; w++ {
			for i := 0; i < each; i++ {
				if n := seen[fmt.Sprintf("w%d-%d", w, i)]; n != 1 {
					t.Errorf("write w%d-%d appears %d times", w, i, n)
				}
			}
		}
	})
}
