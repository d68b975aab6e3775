package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func fhirDo(t *testing.T, base, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, base+"/fhir"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func entryIDs(b map[string]any) []string {
	var ids []string
	for _, e := range asList(b["entry"]) {
		if r, ok := e.(map[string]any)["resource"].(map[string]any); ok && r["resourceType"] != "OperationOutcome" {
			ids = append(ids, r["resourceType"].(string)+"/"+r["id"].(string))
		}
	}
	return ids
}

func asList(v any) []any { l, _ := v.([]any); return l }

// TestPatientTokenReachesOnlyItsPatient: a token issued through a real
// launch for Ann reaches Ann's record and nothing of Ben's, whatever the
// interaction.
func TestPatientTokenReachesOnlyItsPatient(t *testing.T) {
	s := startSMART(t)
	tok := s.launch(t, "launch/patient openid fhirUser patient/*.cruds").AccessToken
	for _, c := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"read own Patient → 200", "GET", "/Patient/pat-a", "", 200},
		{"read another Patient → 404", "GET", "/Patient/pat-b", "", 404},
		{"read another patient's Observation → 404", "GET", "/Observation/obs-b", "", 404},
		{"vread another patient's Observation → 404", "GET", "/Observation/obs-b/_history/1", "", 404},
		{"another patient's $everything → 404 (a two-factor token passes step-up)", "GET", "/Patient/pat-b/$everything", "", 404},
		{"create an Observation for another patient → 403", "POST", "/Observation",
			`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/pat-b"}}`, 403},
		{"update another patient's Observation → 404", "PUT", "/Observation/obs-b",
			`{"resourceType":"Observation","id":"obs-b","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/pat-a"}}`, 404},
		{"delete another patient's Observation → 404", "DELETE", "/Observation/obs-b", "", 404},
		{"create an Observation for self → 201", "POST", "/Observation",
			`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/pat-a"}}`, 201},
	} {
		t.Run(c.name, func(t *testing.T) {
			if status, body := fhirDo(t, s.base, c.method, c.path, tok, c.body); status != c.want {
				t.Errorf("%d, want %d: %v", status, c.want, body)
			}
		})
	}
	t.Run("searches return only the patient's own data", func(t *testing.T) {
		for _, q := range []string{"/Observation", "/Observation?patient=pat-b", "/Observation?_include=Observation:subject",
			"/Patient?_revinclude=Observation:subject", "/Observation?subject:Patient.name=brown", "?_type=Patient,Observation"} {
			status, body := fhirDo(t, s.base, "GET", q, tok, "")
			if status != 200 {
				t.Errorf("%s: %d %v", q, status, body)
				continue
			}
			for _, id := range entryIDs(body) {
				if strings.HasSuffix(id, "-b") {
					t.Errorf("%s returned %s", q, id)
				}
			}
		}
		status, body := fhirDo(t, s.base, "GET", "/Observation?_summary=count", tok, "")
		if status != 200 || body["total"].(float64) != 2 {
			t.Errorf("count: %d %v, want the patient's 2", status, body["total"])
		}
	})
	t.Run("a transaction cannot read another patient", func(t *testing.T) {
		status, body := fhirDo(t, s.base, "POST", "", tok, `{"resourceType":"Bundle","type":"batch","entry":[
			{"request":{"method":"GET","url":"Patient/pat-b"}},{"request":{"method":"GET","url":"Patient/pat-a"}}]}`)
		if status != 200 {
			t.Fatalf("%d %v", status, body)
		}
		entries := asList(body["entry"])
		if len(entries) != 2 || !strings.HasPrefix(entries[0].(map[string]any)["response"].(map[string]any)["status"].(string), "404") ||
			!strings.HasPrefix(entries[1].(map[string]any)["response"].(map[string]any)["status"].(string), "200") {
			t.Errorf("entries: %v", entries)
		}
	})
	t.Run("a scope not granted → 403", func(t *testing.T) {
		ro := s.launch(t, "launch/patient patient/Patient.rs").AccessToken
		if status, _ := fhirDo(t, s.base, "GET", "/Observation?patient=pat-a", ro, ""); status != 403 {
			t.Errorf("search without its scope: %d", status)
		}
		if status, _ := fhirDo(t, s.base, "POST", "/Patient", ro, `{"resourceType":"Patient"}`); status != 403 {
			t.Errorf("create without its scope: %d", status)
		}
	})
}
