package rest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func entries(t testing.TB, r response) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range r.json(t)["entry"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

func link(t testing.TB, r response, rel string) string {
	t.Helper()
	for _, l := range r.json(t)["link"].([]any) {
		m := l.(map[string]any)
		if m["relation"] == rel {
			return m["url"].(string)
		}
	}
	return ""
}

func TestHistory(t *testing.T) {
	each(t, func(t *testing.T, s *server) {
		t.Run("instance history newest first, with deletes, paged by _count", func(t *testing.T) {
			id := s.create(patient)
			for i := 0; i < 3; i++ {
				wantStatus(t, s.do("PUT", "/fhir/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`","gender":"male"}`), http.StatusOK)
			}
			wantStatus(t, s.do("DELETE", "/fhir/Patient/"+id, ""), http.StatusNoContent)
			r := s.do("GET", "/fhir/Patient/"+id+"/_history?_count=2", "")
			wantStatus(t, r, http.StatusOK)
			if r.json(t)["type"] != "history" {
				t.Fatalf("type %v", r.json(t)["type"])
			}
			var versions []string
			next := "/fhir/Patient/" + id + "/_history?_count=2"
			for pages := 0; next != "" && pages < 10; pages++ {
				r := s.do("GET", next, "")
				wantStatus(t, r, http.StatusOK)
				for _, e := range entries(t, r) {
					resp := e["response"].(map[string]any)
					req := e["request"].(map[string]any)
					if req["method"] == "DELETE" {
						versions = append(versions, "deleted")
						continue
					}
					versions = append(versions, resp["etag"].(string))
				}
				next = link(t, r, "next")
				if next != "" {
					u, _ := url.Parse(next)
					next = u.RequestURI()
				}
			}
			want := []string{"deleted", `W/"4"`, `W/"3"`, `W/"2"`, `W/"1"`}
			if strings.Join(versions, " ") != strings.Join(want, " ") {
				t.Errorf("versions %v, want %v", versions, want)
			}
		})
		t.Run("type and system history with _since; unknown instance → 404", func(t *testing.T) {
			time.Sleep(3 * time.Millisecond)
			since := time.Now().UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
			time.Sleep(3 * time.Millisecond)
			a := s.create(`{"resourceType":"Practitioner","name":[{"family":"Ng"}]}`)
			b := s.create(`{"resourceType":"Practitioner","name":[{"family":"Roe"}]}`)
			r := s.do("GET", "/fhir/Practitioner/_history?_since="+url.QueryEscape(since), "")
			wantStatus(t, r, http.StatusOK)
			es := entries(t, r)
			if len(es) != 2 || !strings.HasSuffix(es[0]["fullUrl"].(string), b) || !strings.HasSuffix(es[1]["fullUrl"].(string), a) {
				t.Errorf("type history: %s", r.body)
			}
			r = s.do("GET", "/fhir/_history?_since="+url.QueryEscape(since), "")
			if got := len(entries(t, r)); got != 2 {
				t.Errorf("system history: %d entries", got)
			}
			wantStatus(t, s.do("GET", "/fhir/Patient/nobody/_history", ""), http.StatusNotFound)
			wantStatus(t, s.do("GET", "/fhir/_history?_since=yesterday", ""), http.StatusBadRequest)
			wantStatus(t, s.do("GET", "/fhir/_history?_count=x", ""), http.StatusBadRequest)
		})
		t.Run("_at keeps the version current at that time", func(t *testing.T) {
			id := s.create(patient)
			time.Sleep(5 * time.Millisecond)
			mid := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
			time.Sleep(5 * time.Millisecond)
			wantStatus(t, s.do("PUT", "/fhir/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`"}`), http.StatusOK)
			r := s.do("GET", "/fhir/Patient/"+id+"/_history?_at="+url.QueryEscape(mid), "")
			wantStatus(t, r, http.StatusOK)
			es := entries(t, r)
			if len(es) != 1 || es[0]["response"].(map[string]any)["etag"] != `W/"1"` {
				t.Errorf("_at: %s", r.body)
			}
		})
	})
}
