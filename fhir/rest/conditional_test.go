package rest_test

import (
	"net/http"
	"sync"
	"testing"
)

func TestConditional(t *testing.T) {
	each(t, func(t *testing.T, s *server) {
		mrn := func(v string) string {
			return `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"` + v + `"}]}`
		}
		t.Run("If-None-Exist: no match creates, one match returns it (200), several → 412", func(t *testing.T) {
			r := s.do("POST", "/fhir/Patient", mrn("c-1"), "If-None-Exist", "identifier=urn:mrn|c-1")
			wantStatus(t, r, http.StatusCreated)
			id := r.json(t)["id"]
			r = s.do("POST", "/fhir/Patient", mrn("c-1"), "If-None-Exist", "identifier=urn:mrn|c-1")
			wantStatus(t, r, http.StatusOK)
			if r.json(t)["id"] != id {
				t.Errorf("matched %v, want %v", r.json(t)["id"], id)
			}
			s.create(mrn("c-dup"))
			s.create(mrn("c-dup"))
			wantStatus(t, s.do("POST", "/fhir/Patient", mrn("c-dup"), "If-None-Exist", "identifier=c-dup"), http.StatusPreconditionFailed)
			wantStatus(t, s.do("POST", "/fhir/Patient", mrn("c-x"), "If-None-Exist", "colour=blue"), http.StatusBadRequest)
		})
		t.Run("conditional update: none creates, one updates, several → 412", func(t *testing.T) {
			r := s.do("PUT", "/fhir/Patient?identifier=urn:mrn|u-1", mrn("u-1"))
			wantStatus(t, r, http.StatusCreated)
			id := r.json(t)["id"].(string)
			r = s.do("PUT", "/fhir/Patient?identifier=urn:mrn|u-1", `{"resourceType":"Patient","gender":"male","identifier":[{"system":"urn:mrn","value":"u-1"}]}`)
			wantStatus(t, r, http.StatusOK)
			if r.json(t)["id"] != id || r.header.Get("ETag") != `W/"2"` {
				t.Errorf("updated %v %s", r.json(t)["id"], r.header.Get("ETag"))
			}
			wantStatus(t, s.do("PUT", "/fhir/Patient?_id="+id, `{"resourceType":"Patient","id":"other"}`), http.StatusBadRequest)
			s.create(mrn("u-dup"))
			s.create(mrn("u-dup"))
			wantStatus(t, s.do("PUT", "/fhir/Patient?identifier=urn:mrn|u-dup", mrn("u-dup")), http.StatusPreconditionFailed)
			wantStatus(t, s.do("PUT", "/fhir/Patient", mrn("u-dup")), http.StatusBadRequest)
		})
		t.Run("conditional delete: one match deletes, several → 412 and none deleted", func(t *testing.T) {
			id := s.create(mrn("d-1"))
			wantStatus(t, s.do("DELETE", "/fhir/Patient?identifier=d-1", ""), http.StatusNoContent)
			wantStatus(t, s.do("GET", "/fhir/Patient/"+id, ""), http.StatusGone)
			a, b := s.create(mrn("d-dup")), s.create(mrn("d-dup"))
			wantStatus(t, s.do("DELETE", "/fhir/Patient?identifier=urn:mrn|d-dup", ""), http.StatusPreconditionFailed)
			wantStatus(t, s.do("GET", "/fhir/Patient/"+a, ""), http.StatusOK)
			wantStatus(t, s.do("GET", "/fhir/Patient/"+b, ""), http.StatusOK)
			wantStatus(t, s.do("DELETE", "/fhir/Patient?identifier=nobody-has-this", ""), http.StatusNoContent)
		})
		t.Run("identifiers of a superseded version no longer match", func(t *testing.T) {
			id := s.create(mrn("old-mrn"))
			wantStatus(t, s.do("PUT", "/fhir/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`","identifier":[{"system":"urn:mrn","value":"new-mrn"}]}`), http.StatusOK)
			r := s.do("POST", "/fhir/Patient", mrn("old-mrn"), "If-None-Exist", "identifier=urn:mrn|old-mrn")
			wantStatus(t, r, http.StatusCreated)
		})
	})
}

// TestConcurrentConditionalCreate: clients racing to create the same
// patient with If-None-Exist end with one patient; the others are told it
// exists (200).
func TestConcurrentConditionalCreate(t *testing.T) {
	each(t, func(t *testing.T, s *server) {
		const clients = 8
		statuses := make(chan int, clients)
		var wg sync.WaitGroup
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := s.do("POST", "/fhir/Patient", `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"race-1"}]}`,
					"If-None-Exist", "identifier=urn:mrn|race-1")
				statuses <- r.status
			}()
		}
		wg.Wait()
		close(statuses)
		created := 0
		for st := range statuses {
			switch st {
			case http.StatusCreated:
				created++
			case http.StatusOK:
			default:
				t.Errorf("status %d", st)
			}
		}
		if created != 1 {
			t.Fatalf("%d created, want 1", created)
		}
		wantStatus(t, s.do("PUT", "/fhir/Patient?identifier=urn:mrn|race-1", `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"race-1"}]}`), http.StatusOK)
	})
}
