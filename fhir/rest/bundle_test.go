package rest_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func responses(t testing.TB, r response) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range entries(t, r) {
		out = append(out, e["response"].(map[string]any))
	}
	return out
}

func TestTransaction(t *testing.T) {
	each(t, func(t *testing.T, s *server) {
		t.Run("urn:uuid fullUrls become real references; statuses, locations and etags come back", func(t *testing.T) {
			tx := `{"resourceType":"Bundle","type":"transaction","entry":[
			 {"fullUrl":"urn:uuid:7f0c2d9e-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"tx-1"}]},
			  "request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:mrn|tx-1"}},
			 {"fullUrl":"urn:uuid:7f0c2d9e-0000-4000-8000-000000000002","resource":{"resourceType":"Observation","status":"final","code":{"text":"Hb"},
			  "subject":{"reference":"urn:uuid:7f0c2d9e-0000-4000-8000-000000000001"},"valueQuantity":{"value":13.50}},
			  "request":{"method":"POST","url":"Observation"}}]}`
			r := s.do("POST", "/fhir", tx)
			wantStatus(t, r, http.StatusOK)
			if r.json(t)["type"] != "transaction-response" {
				t.Fatalf("type %v", r.json(t)["type"])
			}
			resps := responses(t, r)
			if resps[0]["status"] != "201 Created" || resps[1]["status"] != "201 Created" || resps[1]["etag"] != `W/"1"` {
				t.Fatalf("responses %v", resps)
			}
			loc := resps[0]["location"].(string)
			pid := strings.Split(strings.TrimPrefix(loc, base+"/Patient/"), "/")[0]
			obs := entries(t, r)[1]["resource"].(map[string]any)
			if ref := obs["subject"].(map[string]any)["reference"]; ref != "Patient/"+pid {
				t.Errorf("reference %v, want Patient/%s", ref, pid)
			}
			// Sending it again matches the Patient instead of creating one.
			r = s.do("POST", "/fhir", tx)
			wantStatus(t, r, http.StatusOK)
			if st := responses(t, r)[0]["status"]; st != "200 OK" {
				t.Errorf("second run: %v", st)
			}
		})
		t.Run("conditional references resolve; none matching fails the transaction", func(t *testing.T) {
			pid := s.create(`{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"cref-1"}]}`)
			r := s.do("POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
			 {"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=urn:mrn|cref-1"}},
			  "request":{"method":"POST","url":"Observation"}}]}`)
			wantStatus(t, r, http.StatusOK)
			obs := entries(t, r)[0]["resource"].(map[string]any)
			if ref := obs["subject"].(map[string]any)["reference"]; ref != "Patient/"+pid {
				t.Errorf("reference %v", ref)
			}
			r = s.do("POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
			 {"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=urn:mrn|nobody"}},
			  "request":{"method":"POST","url":"Observation"}}]}`)
			wantStatus(t, r, http.StatusNotFound)
		})
		t.Run("all or nothing: a failing entry leaves no trace of the others", func(t *testing.T) {
			existing := s.create(patient)
			r := s.do("POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
			 {"resource":{"resourceType":"Patient","id":"rollback-a"},"request":{"method":"PUT","url":"Patient/rollback-a"}},
			 {"request":{"method":"DELETE","url":"Patient/`+existing+`"}},
			 {"resource":{"resourceType":"Patient","id":"rollback-b"},"request":{"method":"PUT","url":"Patient/rollback-b","ifMatch":"W/\"7\""}}]}`)
			wantStatus(t, r, http.StatusPreconditionFailed)
			if _, _, diag := r.issue(t); !strings.Contains(diag, "Bundle.entry[2]") {
				t.Errorf("diagnostics %q should name the entry", diag)
			}
			wantStatus(t, s.do("GET", "/fhir/Patient/rollback-a", ""), http.StatusNotFound)
			wantStatus(t, s.do("GET", "/fhir/Patient/"+existing, ""), http.StatusOK)
			wantStatus(t, s.do("GET", "/fhir/Patient/rollback-a/_history", ""), http.StatusNotFound)
		})
		t.Run("an invalid resource fails the whole transaction with 422", func(t *testing.T) {
			r := s.do("POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
			 {"resource":{"resourceType":"Patient","id":"inv-a"},"request":{"method":"PUT","url":"Patient/inv-a"}},
			 {"resource":{"resourceType":"Observation","code":{"text":"no status"}},"request":{"method":"POST","url":"Observation"}}]}`)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			wantStatus(t, s.do("GET", "/fhir/Patient/inv-a", ""), http.StatusNotFound)
		})
		t.Run("entries run DELETE, POST, PUT/PATCH, GET whatever their order", func(t *testing.T) {
			s.do("PUT", "/fhir/Patient/order-1", `{"resourceType":"Patient","id":"order-1","gender":"male"}`)
			gone := s.create(patient)
			patch := base64.StdEncoding.EncodeToString([]byte(`[{"op":"replace","path":"/gender","value":"other"}]`))
			r := s.do("POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
			 {"request":{"method":"GET","url":"Patient/order-1"}},
			 {"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+patch+`"},"request":{"method":"PATCH","url":"Patient/order-1"}},
			 {"request":{"method":"DELETE","url":"Patient/`+gone+`"}}]}`)
			wantStatus(t, r, http.StatusOK)
			es := entries(t, r)
			if g := es[0]["resource"].(map[string]any)["gender"]; g != "other" {
				t.Errorf("GET ran before PATCH: gender %v", g)
			}
			if st := es[2]["response"].(map[string]any)["status"]; st != "204 No Content" {
				t.Errorf("delete status %v", st)
			}
		})
		t.Run("the same resource twice → 400", func(t *testing.T) {
			r := s.do("POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
			 {"resource":{"resourceType":"Patient","id":"twice"},"request":{"method":"PUT","url":"Patient/twice"}},
			 {"request":{"method":"DELETE","url":"Patient/twice"}}]}`)
			wantStatus(t, r, http.StatusBadRequest)
		})
	})
}

func TestBatch(t *testing.T) {
	each(t, func(t *testing.T, s *server) {
		t.Run("each entry stands alone: failures are reported per entry", func(t *testing.T) {
			r := s.do("POST", "/fhir", `{"resourceType":"Bundle","type":"batch","entry":[
			 {"resource":{"resourceType":"Patient","id":"batch-a"},"request":{"method":"PUT","url":"Patient/batch-a"}},
			 {"request":{"method":"GET","url":"Patient/batch-missing"}},
			 {"resource":{"resourceType":"Observation"},"request":{"method":"POST","url":"Observation"}}]}`)
			wantStatus(t, r, http.StatusOK)
			resps := responses(t, r)
			if resps[0]["status"] != "201 Created" || resps[1]["status"] != "404 Not Found" || resps[2]["status"] != "422 Unprocessable Entity" {
				t.Errorf("statuses %v %v %v", resps[0]["status"], resps[1]["status"], resps[2]["status"])
			}
			if resps[1]["outcome"].(map[string]any)["resourceType"] != "OperationOutcome" {
				t.Error("a failed entry carries an OperationOutcome")
			}
			wantStatus(t, s.do("GET", "/fhir/Patient/batch-a", ""), http.StatusOK)
		})
		t.Run("not a batch or transaction → 400", func(t *testing.T) {
			wantStatus(t, s.do("POST", "/fhir", `{"resourceType":"Bundle","type":"collection"}`), http.StatusBadRequest)
			wantStatus(t, s.do("POST", "/fhir", `{"resourceType":"Patient"}`), http.StatusBadRequest)
		})
	})
}
