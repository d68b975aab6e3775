package rest_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// A resource is in a patient's compartment when any of its compartment
// parameters points to the patient: Observation o4 is p2's (subject) and
// p1's (performer). p1 reads it; p1 may not change it, nor write anything
// else that names another patient.
func TestGuardPatientWritesNeverNameAnotherPatient(t *testing.T) {
	eachGuarded(t, func(t *testing.T, s *guarded) {
		f := s.f
		me := token(f.p1, "patient/*.cruds")
		current := func(typ, id string) string {
			r := s.admin.do("GET", "/fhir/"+typ+"/"+id, "")
			wantStatus(t, r, http.StatusOK)
			return string(r.body)
		}
		o4 := current("Observation", f.o4)
		p1 := current("Patient", f.p1)
		patch := []string{"Content-Type", "application/json-patch+json"}
		toMe := `[{"op":"replace","path":"/subject/reference","value":"Patient/` + f.p1 + `"}]`
		assertedByMe := `{"resourceType":"Condition","subject":{"reference":"Patient/` + f.p2 + `"},"asserter":{"reference":"Patient/` + f.p1 + `"},"code":{"text":"forged"}}`
		performedByOther := observation(f.p1, "vital-signs", "6-1", f.p2)
		escaped := strings.Replace(performedByOther, `"performer":[{"reference":"Patient/`, `"performer":[{"reference":"Patient\/`, 1)
		linked := strings.Replace(p1, `"resourceType":"Patient",`, `"resourceType":"Patient","link":[{"other":{"reference":"Patient/`+f.p2+`"},"type":"seealso"}],`, 1)
		asWritten := func(body, id string) string {
			return strings.Replace(body, `{"resourceType":"Observation",`, `{"resourceType":"Observation","id":"`+id+`",`, 1)
		}
		binary := func(patch string) string {
			return `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"` + base64.StdEncoding.EncodeToString([]byte(patch)) + `"}`
		}
		for _, tc := range []struct {
			name               string
			method, path, body string
			headers            []string
			want               int
		}{
			{"reading another patient's Observation the patient performed stays allowed", "GET", "/fhir/Observation/" + f.o4, "", nil, 200},
			{"create of another patient's Condition asserted by the patient → 403", "POST", "/fhir/Condition", assertedByMe, nil, 403},
			{"create of one's own Observation performed by another patient → 403", "POST", "/fhir/Observation", performedByOther, nil, 403},
			{"the same with the reference written with an escaped slash → 403", "POST", "/fhir/Observation", escaped, nil, 403},
			{"update to a new id naming another patient → 403", "PUT", "/fhir/Observation/new-6-2", asWritten(performedByOther, "new-6-2"), nil, 403},
			{"update of another patient's Observation the patient performed → 404", "PUT", "/fhir/Observation/" + f.o4, o4, nil, 404},
			{"patch moving it to the patient in context → 404", "PATCH", "/fhir/Observation/" + f.o4, toMe, patch, 404},
			{"patch of its status → 404", "PATCH", "/fhir/Observation/" + f.o4, `[{"op":"replace","path":"/status","value":"cancelled"}]`, patch, 404},
			{"delete of it → 404", "DELETE", "/fhir/Observation/" + f.o4, "", nil, 404},
			{"conditional update finding it → 404", "PUT", "/fhir/Observation?code=8310-5", observation(f.p1, "vital-signs", "8310-5", ""), nil, 404},
			{"conditional patch finding it → 404", "PATCH", "/fhir/Observation?code=8310-5", toMe, patch, 404},
			{"conditional delete finding it → 404", "DELETE", "/fhir/Observation?code=8310-5", "", nil, 404},
			{"patch adding another patient as performer of one's own Observation → 403", "PATCH", "/fhir/Observation/" + f.o1, `[{"op":"add","path":"/performer","value":[{"reference":"Patient/` + f.p2 + `"}]}]`, patch, 403},
			{"update of one's own Observation adding another patient as performer → 403", "PUT", "/fhir/Observation/" + f.o2, strings.Replace(current("Observation", f.o2), `"subject":`, `"performer":[{"reference":"Patient/`+f.p2+`"}],"subject":`, 1), nil, 403},
			{"update linking one's own Patient to another → 403", "PUT", "/fhir/Patient/" + f.p1, linked, nil, 403},
			{"create of an AuditEvent about the patient → 405: no one writes them", "POST", "/fhir/AuditEvent", `{"resourceType":"AuditEvent","type":{"code":"rest"},"recorded":"2024-01-01T00:00:00Z","agent":[{"requestor":true,"who":{"reference":"Patient/` + f.p1 + `"}}],"source":{"observer":{"display":"x"}},"entity":[{"what":{"reference":"Patient/` + f.p1 + `"}}]}`, nil, 405},
			{"create of a Provenance → 403", "POST", "/fhir/Provenance", `{"resourceType":"Provenance","target":[{"reference":"Patient/` + f.p1 + `"}],"recorded":"2024-01-01T00:00:00Z","agent":[{"who":{"reference":"Patient/` + f.p1 + `"}}]}`, nil, 403},
			{"create of a Consent → 403", "POST", "/fhir/Consent", `{"resourceType":"Consent","status":"active","scope":{"text":"x"},"category":[{"text":"x"}],"patient":{"reference":"Patient/` + f.p1 + `"}}`, nil, 403},
			{"a transaction entry creating another patient's Condition → 403", "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
				{"resource":` + assertedByMe + `,"request":{"method":"POST","url":"Condition"}}]}`, nil, 403},
			{"a transaction entry updating it → 404", "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
				{"resource":` + o4 + `,"request":{"method":"PUT","url":"Observation/` + f.o4 + `"}}]}`, nil, 404},
			{"a transaction entry patching it → 404", "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
				{"resource":` + binary(toMe) + `,"request":{"method":"PATCH","url":"Observation/` + f.o4 + `"}}]}`, nil, 404},
			{"a transaction entry deleting it → 404", "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
				{"request":{"method":"DELETE","url":"Observation/` + f.o4 + `"}}]}`, nil, 404},
			{"a transaction entry deleting it by criteria → 404", "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
				{"request":{"method":"DELETE","url":"Observation?code=8310-5"}}]}`, nil, 404},
			{"a transaction entry patching one's own Observation to name another patient → 403", "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
				{"resource":` + binary(`[{"op":"add","path":"/performer","value":[{"reference":"Patient/`+f.p2+`"}]}]`) + `,"request":{"method":"PATCH","url":"Observation/` + f.o1 + `"}}]}`, nil, 403},
			{"a transaction entry deleting an AuditEvent → 405", "POST", "/fhir", `{"resourceType":"Bundle","type":"transaction","entry":[
				{"request":{"method":"DELETE","url":"AuditEvent/x"}}]}`, nil, 405},
			{"one's own Observation, performed by the patient, is still written", "POST", "/fhir/Observation", observation(f.p1, "vital-signs", "6-3", f.p1), nil, 201},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantStatus(t, s.doAs(me, tc.method, tc.path, tc.body, tc.headers...), tc.want)
			})
		}
		t.Run("a batch answers each entry as its own request", func(t *testing.T) {
			r := s.doAs(me, "POST", "/fhir", `{"resourceType":"Bundle","type":"batch","entry":[
				{"resource":`+assertedByMe+`,"request":{"method":"POST","url":"Condition"}},
				{"request":{"method":"DELETE","url":"Observation/`+f.o4+`"}},
				{"resource":`+o4+`,"request":{"method":"PUT","url":"Observation/`+f.o4+`"}}]}`)
			wantStatus(t, r, http.StatusOK)
			if got := entryStatuses(t, r); got != "403,404,404" {
				t.Errorf("entry statuses %s", got)
			}
		})
		t.Run("nothing was written for another patient", func(t *testing.T) {
			if got := current("Observation", f.o4); !sameJSON([]byte(got), []byte(o4)) {
				t.Errorf("Observation changed: %s", got)
			}
			if got := current("Observation", f.o1); strings.Contains(got, "performer") {
				t.Errorf("Observation changed: %s", got)
			}
			if got := current("Patient", f.p1); !sameJSON([]byte(got), []byte(p1)) {
				t.Errorf("Patient changed: %s", got)
			}
			for _, q := range []string{"Condition?subject=Patient/" + f.p2, "Observation?code=6-1", "AuditEvent", "Provenance", "Consent"} {
				sep := "?"
				if strings.Contains(q, "?") {
					sep = "&"
				}
				r := s.admin.do("GET", "/fhir/"+q+sep+"_summary=count", "")
				want := float64(0)
				if strings.HasPrefix(q, "Condition") {
					want = 1 // c2, from the fixture
				}
				if got := r.json(t)["total"]; got != want {
					t.Errorf("%s: %v stored, want %v", q, got, want)
				}
			}
		})
	})
}
