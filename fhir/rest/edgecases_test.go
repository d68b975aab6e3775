package rest_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestEdgeCases(t *testing.T) {
	each(t, func(t *testing.T, s *server) {
		t.Run("a JSON Patch whose copies outgrow the body limit → 413, nothing stored", func(t *testing.T) {
			id := s.create(`{"resourceType":"Patient","extension":[{"url":"urn:x","extension":[{"url":"urn:y","valueString":"` + strings.Repeat("a", 2000) + `"}]}]}`)
			var ops []string
			for i := 0; i < 17; i++ {
				ops = append(ops, `{"op":"copy","from":"/extension/0","path":"/extension/0/extension/-"}`)
			}
			r := s.do("PATCH", "/fhir/Patient/"+id, "["+strings.Join(ops, ",")+"]", "Content-Type", "application/json-patch+json")
			wantStatus(t, r, http.StatusRequestEntityTooLarge)
			if got := s.do("GET", "/fhir/Patient/"+id, ""); got.header.Get("ETag") != `W/"1"` {
				t.Errorf("version after a refused patch: %s", got.header.Get("ETag"))
			}
		})
		t.Run("a JSON Patch keeps <, > and & as sent", func(t *testing.T) {
			id := s.create(patient)
			r := s.do("PATCH", "/fhir/Patient/"+id, `[{"op":"add","path":"/name/0/text","value":"a<b & c>d"}]`, "Content-Type", "application/json-patch+json")
			wantStatus(t, r, http.StatusOK)
			if !strings.Contains(string(s.do("GET", "/fhir/Patient/"+id, "").body), `"a<b & c>d"`) {
				t.Error("patched text was re-escaped")
			}
		})
		t.Run(`an escaped comma in criteria is part of the value`, func(t *testing.T) {
			other := s.create(`{"resourceType":"Patient","identifier":[{"system":"urn:lab","value":"B"}]}`)
			wantStatus(t, s.do("DELETE", `/fhir/Patient?identifier=urn:mrn|A\,B`, ""), http.StatusNoContent)
			wantStatus(t, s.do("GET", "/fhir/Patient/"+other, ""), http.StatusOK)
			comma := s.create(`{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"A,B"}]}`)
			wantStatus(t, s.do("DELETE", `/fhir/Patient?identifier=urn:mrn|A\,B`, ""), http.StatusNoContent)
			wantStatus(t, s.do("GET", "/fhir/Patient/"+comma, ""), http.StatusGone)
		})
		t.Run("identifier=|value never matches an identifier that has a system", func(t *testing.T) {
			id := s.create(`{"resourceType":"Patient","identifier":[{"system":"urn:other","value":"123"}]}`)
			// Engines that search match "no system" exactly (204, nothing
			// matched); the others refuse the form (400).
			if r := s.do("DELETE", "/fhir/Patient?identifier=|123", ""); r.status != http.StatusNoContent && r.status != http.StatusBadRequest {
				t.Fatalf("status %d", r.status)
			}
			wantStatus(t, s.do("GET", "/fhir/Patient/"+id, ""), http.StatusOK)
		})
		t.Run("a conditional update that matches nothing may not take over another resource's id", func(t *testing.T) {
			a := s.create(`{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"own-A"}]}`)
			r := s.do("PUT", "/fhir/Patient?identifier=urn:mrn|own-B", `{"resourceType":"Patient","id":"`+a+`","identifier":[{"system":"urn:mrn","value":"own-B"}]}`)
			wantStatus(t, r, http.StatusConflict)
			if got := s.do("GET", "/fhir/Patient/"+a, ""); got.header.Get("ETag") != `W/"1"` {
				t.Errorf("the other resource changed: %s", got.header.Get("ETag"))
			}
		})
		t.Run("a transaction whose conditional entries resolve to the same resource → 400", func(t *testing.T) {
			x := s.create(`{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"overlap"}]}`)
			r := s.do("POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
			 {"request":{"method":"DELETE","url":"Patient/`+x+`"}},
			 {"resource":{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"overlap"}]},"request":{"method":"PUT","url":"Patient?identifier=urn:mrn|overlap"}}]}`)
			wantStatus(t, r, http.StatusBadRequest)
			wantStatus(t, s.do("GET", "/fhir/Patient/"+x, ""), http.StatusOK)
		})
		t.Run("fullUrls in uri and url elements are rewritten too", func(t *testing.T) {
			r := s.do("POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
			 {"fullUrl":"urn:uuid:0b8f3c2e-0000-4000-8000-00000000000a","resource":{"resourceType":"Binary","contentType":"text/plain","data":"aGk="},"request":{"method":"POST","url":"Binary"}},
			 {"resource":{"resourceType":"DocumentReference","status":"current","content":[{"attachment":{"url":"urn:uuid:0b8f3c2e-0000-4000-8000-00000000000a"}}]},"request":{"method":"POST","url":"DocumentReference"}}]}`)
			wantStatus(t, r, http.StatusOK)
			if strings.Contains(string(r.body), `"url":"urn:uuid:`) {
				t.Errorf("attachment url not rewritten: %s", r.body)
			}
		})
		t.Run("_format=application/fhir+json with an unencoded + is served", func(t *testing.T) {
			wantStatus(t, s.do("GET", "/fhir/metadata?_format=application/fhir+json", ""), http.StatusOK)
		})
		t.Run("ids made of dots and invalid UTF-8 → 400", func(t *testing.T) {
			wantStatus(t, s.do("PUT", "/fhir/Patient/..", `{"resourceType":"Patient","id":".."}`), http.StatusBadRequest)
			wantStatus(t, s.do("POST", "/fhir/Patient", "{\"resourceType\":\"Patient\",\"gender\":\"a\xff\"}"), http.StatusBadRequest)
		})
		t.Run("HEAD answers like GET without a body", func(t *testing.T) {
			id := s.create(patient)
			r := s.do("HEAD", "/fhir/Patient/"+id, "")
			wantStatus(t, r, http.StatusOK)
			if len(r.body) != 0 || r.header.Get("ETag") != `W/"1"` {
				t.Errorf("HEAD: body %d bytes, ETag %q", len(r.body), r.header.Get("ETag"))
			}
		})
		t.Run("If-Match: * needs a current version", func(t *testing.T) {
			id := s.create(patient)
			body := `{"resourceType":"Patient","id":"` + id + `"}`
			wantStatus(t, s.do("PUT", "/fhir/Patient/"+id, body, "If-Match", "*"), http.StatusOK)
			wantStatus(t, s.do("PUT", "/fhir/Patient/star-none", `{"resourceType":"Patient","id":"star-none"}`, "If-Match", "*"), http.StatusPreconditionFailed)
		})
		t.Run("a missing resourceType → 400", func(t *testing.T) {
			wantStatus(t, s.do("POST", "/fhir/Patient", `{"gender":"male"}`), http.StatusBadRequest)
		})
	})
}
