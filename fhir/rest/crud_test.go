package rest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

const patient = `{"resourceType":"Patient","name":[{"family":"Okafor","given":["Ada"]}],"gender":"female","birthDate":"1970-05-02"}`

func TestCRUD(t *testing.T) {
	each(t, func(t *testing.T, s *server) {
		t.Run("create assigns id, version 1, Location, ETag, Last-Modified", func(t *testing.T) {
			r := s.do("POST", "/fhir/Patient", `{"resourceType":"Patient","id":"client-chosen","gender":"male"}`)
			wantStatus(t, r, http.StatusCreated)
			m := r.json(t)
			id := m["id"].(string)
			if id == "client-chosen" || id == "" {
				t.Fatalf("server must assign the id, got %q", id)
			}
			if got := r.header.Get("ETag"); got != `W/"1"` {
				t.Errorf("ETag %q", got)
			}
			if got := r.header.Get("Location"); got != base+"/Patient/"+id+"/_history/1" {
				t.Errorf("Location %q", got)
			}
			if r.header.Get("Last-Modified") == "" {
				t.Error("no Last-Modified")
			}
			meta := m["meta"].(map[string]any)
			if meta["versionId"] != "1" || meta["lastUpdated"] == nil {
				t.Errorf("meta %v", meta)
			}
		})
		t.Run("read returns the stored version with its ETag", func(t *testing.T) {
			id := s.create(patient)
			r := s.do("GET", "/fhir/Patient/"+id, "")
			wantStatus(t, r, http.StatusOK)
			if r.header.Get("ETag") != `W/"1"` || !strings.HasPrefix(r.header.Get("Content-Type"), "application/fhir+json") {
				t.Errorf("headers %v", r.header)
			}
			if r.json(t)["gender"] != "female" {
				t.Errorf("body %s", r.body)
			}
			wantStatus(t, s.do("GET", "/fhir/Patient/"+id, "", "If-None-Match", `W/"1"`), http.StatusNotModified)
		})
		t.Run("read of an unknown id → 404 OperationOutcome", func(t *testing.T) {
			r := s.do("GET", "/fhir/Patient/does-not-exist", "")
			wantStatus(t, r, http.StatusNotFound)
			if code, _, _ := r.issue(t); code != "not-found" {
				t.Errorf("code %s", code)
			}
		})
		t.Run("update makes version 2; vread keeps version 1", func(t *testing.T) {
			id := s.create(patient)
			r := s.do("PUT", "/fhir/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`","gender":"other"}`)
			wantStatus(t, r, http.StatusOK)
			if r.header.Get("ETag") != `W/"2"` {
				t.Errorf("ETag %q", r.header.Get("ETag"))
			}
			v1 := s.do("GET", "/fhir/Patient/"+id+"/_history/1", "")
			wantStatus(t, v1, http.StatusOK)
			if v1.json(t)["gender"] != "female" {
				t.Errorf("version 1 changed: %s", v1.body)
			}
			wantStatus(t, s.do("GET", "/fhir/Patient/"+id+"/_history/3", ""), http.StatusNotFound)
		})
		t.Run("update of a new client id creates it (201)", func(t *testing.T) {
			r := s.do("PUT", "/fhir/Patient/new-by-put", `{"resourceType":"Patient","id":"new-by-put"}`)
			wantStatus(t, r, http.StatusCreated)
			if r.header.Get("ETag") != `W/"1"` {
				t.Errorf("ETag %q", r.header.Get("ETag"))
			}
		})
		t.Run("update with a body id other than the URL's → 400", func(t *testing.T) {
			r := s.do("PUT", "/fhir/Patient/abc", `{"resourceType":"Patient","id":"xyz"}`)
			wantStatus(t, r, http.StatusBadRequest)
			if _, expr, _ := r.issue(t); len(expr) == 0 || expr[0] != "Patient.id" {
				t.Errorf("expression %v", expr)
			}
			wantStatus(t, s.do("GET", "/fhir/Patient/abc", ""), http.StatusNotFound)
			wantStatus(t, s.do("PUT", "/fhir/Patient/abc", `{"resourceType":"Patient"}`), http.StatusBadRequest)
		})
		t.Run("resourceType other than the URL's → 400", func(t *testing.T) {
			r := s.do("POST", "/fhir/Patient", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`)
			wantStatus(t, r, http.StatusBadRequest)
		})
		t.Run("delete: later read is 410, old versions still readable, history shows it", func(t *testing.T) {
			id := s.create(patient)
			wantStatus(t, s.do("DELETE", "/fhir/Patient/"+id, ""), http.StatusNoContent)
			r := s.do("GET", "/fhir/Patient/"+id, "")
			wantStatus(t, r, http.StatusGone)
			if code, _, _ := r.issue(t); code != "deleted" {
				t.Errorf("code %s", code)
			}
			wantStatus(t, s.do("GET", "/fhir/Patient/"+id+"/_history/1", ""), http.StatusOK)
			wantStatus(t, s.do("GET", "/fhir/Patient/"+id+"/_history/2", ""), http.StatusGone)
			wantStatus(t, s.do("DELETE", "/fhir/Patient/"+id, ""), http.StatusNoContent)
			wantStatus(t, s.do("DELETE", "/fhir/Patient/never-was", ""), http.StatusNotFound)
			// Recreating after a delete continues the version sequence.
			r = s.do("PUT", "/fhir/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`"}`)
			wantStatus(t, r, http.StatusCreated)
			if r.header.Get("ETag") != `W/"3"` {
				t.Errorf("ETag %q", r.header.Get("ETag"))
			}
		})
		t.Run("If-Match stale → 412 on update, patch and delete; current → success", func(t *testing.T) {
			id := s.create(patient)
			body := `{"resourceType":"Patient","id":"` + id + `","gender":"male"}`
			wantStatus(t, s.do("PUT", "/fhir/Patient/"+id, body, "If-Match", `W/"1"`), http.StatusOK)
			wantStatus(t, s.do("PUT", "/fhir/Patient/"+id, body, "If-Match", `W/"1"`), http.StatusPreconditionFailed)
			patch := `[{"op":"replace","path":"/gender","value":"female"}]`
			wantStatus(t, s.do("PATCH", "/fhir/Patient/"+id, patch, "Content-Type", "application/json-patch+json", "If-Match", `W/"1"`), http.StatusPreconditionFailed)
			wantStatus(t, s.do("DELETE", "/fhir/Patient/"+id, "", "If-Match", `W/"1"`), http.StatusPreconditionFailed)
			wantStatus(t, s.do("DELETE", "/fhir/Patient/"+id, "", "If-Match", `W/"2"`), http.StatusNoContent)
		})
		t.Run("Prefer return=minimal | OperationOutcome | representation", func(t *testing.T) {
			r := s.do("POST", "/fhir/Patient", patient, "Prefer", "return=minimal")
			wantStatus(t, r, http.StatusCreated)
			if len(r.body) != 0 || r.header.Get("Location") == "" {
				t.Errorf("minimal: body %q location %q", r.body, r.header.Get("Location"))
			}
			r = s.do("POST", "/fhir/Patient", patient, "Prefer", "return=OperationOutcome")
			wantStatus(t, r, http.StatusCreated)
			if r.json(t)["resourceType"] != "OperationOutcome" {
				t.Errorf("OperationOutcome: %s", r.body)
			}
			r = s.do("POST", "/fhir/Patient", patient, "Prefer", "return=representation")
			if r.json(t)["resourceType"] != "Patient" {
				t.Errorf("representation: %s", r.body)
			}
		})
	})
}

func TestPatch(t *testing.T) {
	each(t, func(t *testing.T, s *server) {
		jp := func(path, body string, h ...string) response {
			return s.do("PATCH", path, body, append([]string{"Content-Type", "application/json-patch+json"}, h...)...)
		}
		t.Run("JSON Patch makes a new version and keeps the rest as sent", func(t *testing.T) {
			id := s.create(`{"resourceType":"Observation","status":"preliminary","code":{"text":"Hb"},"valueQuantity":{"value":13.50,"unit":"g/dL"}}`)
			r := jp("/fhir/Observation/"+id, `[{"op":"replace","path":"/status","value":"final"}]`)
			wantStatus(t, r, http.StatusOK)
			if !strings.Contains(string(r.body), `"value":13.50`) || r.json(t)["status"] != "final" {
				t.Errorf("patched body %s", r.body)
			}
			if r.header.Get("ETag") != `W/"2"` {
				t.Errorf("ETag %q", r.header.Get("ETag"))
			}
		})
		t.Run("a patch whose result is invalid → 422 and nothing stored", func(t *testing.T) {
			id := s.create(`{"resourceType":"Observation","status":"final","code":{"text":"Hb"}}`)
			r := jp("/fhir/Observation/"+id, `[{"op":"remove","path":"/status"}]`)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if _, expr, _ := r.issue(t); len(expr) == 0 || !strings.Contains(fmt.Sprint(expr[0]), "status") {
				t.Errorf("expression %v", expr)
			}
			if got := s.do("GET", "/fhir/Observation/"+id, ""); got.header.Get("ETag") != `W/"1"` {
				t.Errorf("a refused patch stored a version: %s", got.header.Get("ETag"))
			}
		})
		t.Run("a patch may not change id or resourceType", func(t *testing.T) {
			id := s.create(patient)
			wantStatus(t, jp("/fhir/Patient/"+id, `[{"op":"replace","path":"/id","value":"other"}]`), http.StatusBadRequest)
		})
		t.Run("malformed patch → 400; wrong content type → 415; unknown → 404; failed test op → 422", func(t *testing.T) {
			id := s.create(patient)
			wantStatus(t, jp("/fhir/Patient/"+id, `{"op":"replace"}`), http.StatusBadRequest)
			wantStatus(t, s.do("PATCH", "/fhir/Patient/"+id, `[]`, "Content-Type", "application/fhir+json"), http.StatusUnsupportedMediaType)
			wantStatus(t, jp("/fhir/Patient/nobody", `[]`), http.StatusNotFound)
			wantStatus(t, jp("/fhir/Patient/"+id, `[{"op":"test","path":"/gender","value":"male"}]`), http.StatusUnprocessableEntity)
		})
	})
}
