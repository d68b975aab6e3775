package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth"
)

// ageSignIns rewrites every stored access token as if its sign-in had
// happened ago before now: what a token looks like once its user's
// two-factor sign-in is no longer recent.
func ageSignIns(t *testing.T, m *Main, ago time.Duration) {
	t.Helper()
	ctx := context.Background()
	rec := m.Store.(fhir.Records)
	found, err := rec.FindRecords(ctx, "oauth.access", "", "")
	if err != nil || len(found) == 0 {
		t.Fatalf("access tokens: %d, %v", len(found), err)
	}
	for _, r := range found {
		head, rest, _ := bytes.Cut(r.Data, []byte("\n"))
		var h map[string]json.RawMessage
		var p fhir.Principal
		if err := json.Unmarshal(head, &h); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(h["p"], &p); err != nil {
			t.Fatal(err)
		}
		p.AuthTime = time.Now().Add(-ago)
		h["p"], _ = json.Marshal(p)
		head, _ = json.Marshal(h)
		r.Data = append(append(head, '\n'), rest...)
		if err := rec.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStepUpForLabelledRecords, end to end: a fresh two-factor token
// reads ann's R-labelled Observation; once its sign-in is older than
// --step-up-max-age the read is refused with the RFC 9470 challenge (and
// the refusal is in the audit trail), her unlabelled Observation still
// reads, and a search of her Observations leaves the labelled one out
// with a warning; a backend service is not asked.
func TestStepUpForLabelledRecords(t *testing.T) {
	s := startSMART(t)
	ctx := context.Background()
	if _, err := s.ensureResource(ctx, "Observation", "obs-r", `{"resourceType":"Observation","id":"obs-r","meta":{"security":[`+
		`{"system":"http://terminology.hl7.org/CodeSystem/v3-Confidentiality","code":"R"}]},"status":"final","code":{"text":"HIV test"},`+
		`"subject":{"reference":"Patient/pat-a"}}`); err != nil {
		t.Fatal(err)
	}
	tok := s.launchStrong(t, "launch/patient patient/*.rs").AccessToken
	if status, _, _ := fhirGet(t, s.base, "/Observation/obs-r", tok); status != 200 {
		t.Fatalf("a fresh two-factor token reads the labelled Observation: %d", status)
	}

	ageSignIns(t, s.Main, time.Hour)
	status, body, h := fhirGet(t, s.base, "/Observation/obs-r", tok)
	challenge := h.Get("WWW-Authenticate")
	if status != 401 || !strings.Contains(challenge, `error="insufficient_user_authentication"`) ||
		!strings.Contains(challenge, `acr_values="`+oauth.ACRTwoFactor+`"`) || !strings.Contains(challenge, "max_age=900") ||
		!strings.Contains(challenge, `error_description="A more recent sign-in is required"`) {
		t.Fatalf("a stale token reads the labelled Observation: %d %q %v", status, challenge, body)
	}
	if status, _, _ := fhirGet(t, s.base, "/Observation/obs-a", tok); status != 200 {
		t.Errorf("a stale token reads an unlabelled Observation: %d", status)
	}
	status, body, _ = fhirGet(t, s.base, "/Observation?patient=pat-a", tok)
	var ids []string
	warning := ""
	for _, e := range asList(body["entry"]) {
		r := e.(map[string]any)["resource"].(map[string]any)
		if r["resourceType"] == "OperationOutcome" {
			warning = str(asList(r["issue"])[0].(map[string]any)["diagnostics"])
			continue
		}
		ids = append(ids, str(r["id"]))
	}
	if status != 200 || !slices.Equal(ids, []string{"obs-a"}) || !strings.Contains(warning, "restricted security label") {
		t.Errorf("a stale token's search: %d %v %q", status, ids, warning)
	}
	if status, _, _ := fhirGet(t, s.base, "/Observation/obs-r", systemToken(t, s.Main)); status != 200 {
		t.Errorf("a backend service reads the labelled Observation: %d", status)
	}

	// The refusal is recorded, as a request for a stronger sign-in: one
	// AuditEvent of a refused read (401) by ann through the app (a refusal
	// names no resource).
	refused := 0
	for _, ev := range auditEvents(t, s, "") {
		if ev["outcome"] != "4" || str(ev["outcomeDesc"]) != "refused: a recent, stronger sign-in is needed (HTTP 401)" || subtypeOf(ev) != "read" {
			continue
		}
		b, _ := json.Marshal(ev["agent"])
		if strings.Contains(string(b), `"urn:oncofhir:account"`) && strings.Contains(string(b), `"value":"app"`) {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d AuditEvents record the refused read by ann's app, want 1", refused)
	}
}
