package rest_test

import (
	"context"
	"fmt"

	"github.com/oncofhir/oncofhir/fhir"
	"net/http"
	"strings"
	"testing"
)

func TestBadInput(t *testing.T) {
	each(t, func(t *testing.T, s *server) {
		big := `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">` + strings.Repeat("x", 70<<10) + `</div>"}}`
		for _, tc := range []struct {
			name, method, path, body string
			headers                  []string
			status                   int
			code                     string
		}{
			{"malformed JSON names the offset → 400", "POST", "/fhir/Patient", `{"resourceType":"Patient",}`, nil, 400, "structure"},
			{"not an object → 400", "POST", "/fhir/Patient", `[1,2]`, nil, 400, "structure"},
			{"empty body → 400", "POST", "/fhir/Patient", ``, nil, 400, "structure"},
			{"unknown element → 422", "POST", "/fhir/Patient", `{"resourceType":"Patient","colour":"blue"}`, nil, 422, ""},
			{"bad date → 422", "POST", "/fhir/Patient", `{"resourceType":"Patient","birthDate":"1970-13-45"}`, nil, 422, ""},
			{"missing required element → 422", "POST", "/fhir/Observation", `{"resourceType":"Observation","code":{"text":"x"}}`, nil, 422, "required"},
			{"unknown resource type → 404", "GET", "/fhir/Spaceship/1", "", nil, 404, ""},
			{"invalid id → 400", "GET", "/fhir/Patient/" + strings.Repeat("a", 65), "", nil, 400, "invalid"},
			{"XML requested → 406", "GET", "/fhir/metadata", "", []string{"Accept", "application/fhir+xml"}, 406, "not-supported"},
			{"_format=xml → 406", "GET", "/fhir/metadata?_format=xml", "", nil, 406, "not-supported"},
			{"XML sent → 415", "POST", "/fhir/Patient", `<Patient/>`, []string{"Content-Type", "application/fhir+xml"}, 415, "not-supported"},
			{"body over the limit → 413", "POST", "/fhir/Patient", big, nil, 413, "too-long"},
			{"wrong method → 405", "DELETE", "/fhir/metadata", "", nil, 405, "not-supported"},
			{"unknown endpoint → 404", "GET", "/nowhere", "", nil, 404, "not-found"},
			{"conditional update without criteria → 400", "PUT", "/fhir/Patient", `{"resourceType":"Patient"}`, nil, 400, ""},
			{"bad If-Match → 400", "PUT", "/fhir/Patient/x1", `{"resourceType":"Patient","id":"x1"}`, []string{"If-Match", "nonsense"}, 400, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := s.do(tc.method, tc.path, tc.body, tc.headers...)
				wantStatus(t, r, tc.status)
				code, _, diag := r.issue(t)
				if tc.code != "" && code != tc.code {
					t.Errorf("code %q, want %q", code, tc.code)
				}
				if strings.Contains(tc.name, "offset") && !strings.Contains(diag, "offset") {
					t.Errorf("diagnostics %q should name the offset", diag)
				}
			})
		}
		t.Run("nothing partial is stored after refusals", func(t *testing.T) {
			r := s.do("GET", "/fhir/Patient/x1", "")
			wantStatus(t, r, http.StatusNotFound)
		})
	})
}

func TestInternalErrorsDoNotLeak(t *testing.T) {
	s := newServer(t, engines[0].open(t))
	s.store.Close() // every later store call fails
	r := s.do("GET", "/fhir/Patient/abc", "")
	if r.status < 500 {
		t.Fatalf("status %d", r.status)
	}
	if _, _, diag := r.issue(t); strings.Contains(diag, "sql") || strings.Contains(diag, "closed") {
		t.Errorf("diagnostics leak internals: %q", diag)
	}
}

func TestAWrappedListIsOneIssue(t *testing.T) {
	s := newServer(t, brokenStore{engines[0].open(t)})
	r := s.do("GET", "/fhir/Patient/abc", "")
	wantStatus(t, r, http.StatusServiceUnavailable)
	if n := len(r.json(t)["issue"].([]any)); n != 1 {
		t.Errorf("%d issues: %s", n, r.body)
	}
}

// brokenStore fails reads with an unavailable error wrapping two causes.
type brokenStore struct{ fhir.Store }

func (brokenStore) Read(context.Context, string, string) (*fhir.Resource, error) {
	return nil, fmt.Errorf("store: read: %w (%w)", fhir.ErrUnavailable, context.DeadlineExceeded)
}
