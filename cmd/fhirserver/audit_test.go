package main

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/audit"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
)

// auditEvents searches AuditEvents with a system token.
func auditEvents(t *testing.T, s *smartServer, query string) []map[string]any {
	t.Helper()
	status, body, _ := fhirGet(t, s.base, "/AuditEvent?_count=1000&"+query, systemToken(t, s.Main))
	if status != 200 {
		t.Fatalf("AuditEvent?%s: %d %v", query, status, body)
	}
	var out []map[string]any
	for _, e := range asList(body["entry"]) {
		if r, ok := e.(map[string]any)["resource"].(map[string]any); ok && r["resourceType"] == "AuditEvent" {
			out = append(out, r)
		}
	}
	return out
}

func subtypeOf(ev map[string]any) string {
	for _, c := range asList(ev["subtype"]) {
		return str(c.(map[string]any)["code"])
	}
	return ""
}

// entityWhat lists the references an event's entities name.
func entityWhat(ev map[string]any) []string {
	var out []string
	for _, e := range asList(ev["entity"]) {
		if w, ok := e.(map[string]any)["what"].(map[string]any); ok {
			out = append(out, str(w["reference"]))
		}
	}
	return out
}

// TestRequestsAreAuditedWithWhatTheyReturned: a patient's read, search
// and refused read each leave their BALP AuditEvent, searchable by a
// backend service; the sign-in is there too; AuditEvents cannot be
// written through the API.
func TestRequestsAreAuditedWithWhatTheyReturned(t *testing.T) {
	s := startSMART(t)
	tok := s.launch(t, "launch/patient openid fhirUser patient/*.rs").AccessToken
	if status, _, _ := fhirGet(t, s.base, "/Patient/pat-a", tok); status != 200 {
		t.Fatal(status)
	}
	if status, _, _ := fhirGet(t, s.base, "/Observation?code:text=hb", tok); status != 200 {
		t.Fatal(status)
	}
	if status, _, _ := fhirGet(t, s.base, "/Observation/obs-b", tok); status != 404 {
		t.Fatal(status)
	}

	events := auditEvents(t, s, "patient=pat-a")
	var read, search bool
	for _, ev := range events {
		switch subtypeOf(ev) {
		case "read":
			read = read || strings.Contains(strings.Join(entityWhat(ev), " "), "Patient/pat-a")
		case "search-type":
			for _, e := range asList(ev["entity"]) {
				if q, ok := e.(map[string]any)["query"].(string); ok {
					raw, _ := base64.StdEncoding.DecodeString(q)
					search = search || strings.Contains(string(raw), "code:text=hb")
				}
			}
			if strings.Contains(strings.Join(entityWhat(ev), " "), "obs-b") {
				t.Errorf("a search event names another patient's resource: %v", entityWhat(ev))
			}
		}
	}
	if !read || !search {
		t.Errorf("read audited %v, search audited with its query %v, in %d events", read, search, len(events))
	}
	refusals := auditEvents(t, s, "outcome=4&subtype=read")
	if len(refusals) == 0 {
		t.Error("the refused read left no AuditEvent")
	}
	for _, ev := range refusals {
		if strings.Contains(strings.Join(entityWhat(ev), " "), "obs-b") {
			t.Errorf("a refusal names the resource it hid: %v", entityWhat(ev))
		}
	}
	if signIns := auditEvents(t, s, "type="+url.QueryEscape(audit.SystemDCM+"|110114")+"&outcome=0"); len(signIns) == 0 {
		t.Error("the sign-in and token issue left no AuditEvent")
	}
	if status, _ := fhirDo(t, s.base, "DELETE", "/Observation/obs-a", systemToken(t, s.Main), ""); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	if deletes := auditEvents(t, s, "patient=pat-a&subtype=delete"); len(deletes) != 1 {
		t.Errorf("the delete of the patient's Observation: %d events naming the patient, want 1", len(deletes))
	}
	status, _ := fhirDo(t, s.base, "POST", "/AuditEvent", systemToken(t, s.Main), `{"resourceType":"AuditEvent"}`)
	if status != http.StatusMethodNotAllowed {
		t.Errorf("creating an AuditEvent: %d, want 405", status)
	}
	if status, _, _ := fhirGet(t, s.base, "/AuditEvent?patient=pat-a", tok); status != 403 {
		t.Errorf("a patient token searching AuditEvents: %d, want 403", status)
	}
}

// TestNoDataWithoutItsRecord: when the audit trail cannot store, the
// request answers 503 and returns nothing of the data.
func TestNoDataWithoutItsRecord(t *testing.T) {
	s := startSMART(t)
	tok := systemToken(t, s.Main)
	if err := s.Audit.Close(); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", s.base+"/fhir/Patient/pat-a", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	json.Unmarshal(raw, &body)
	if resp.StatusCode != http.StatusServiceUnavailable || body["resourceType"] != "OperationOutcome" {
		t.Fatalf("%d %s", resp.StatusCode, raw)
	}
	if resp.Header.Get("ETag") != "" || resp.Header.Get("Last-Modified") != "" || strings.Contains(string(raw), "Abbott") {
		t.Errorf("something of the resource left: %v %s", resp.Header, raw)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("the 503 lost the headers every response carries: %v", resp.Header)
	}
}

// TestAuditVerifyCommand: the trail of a real server verifies; an edit
// made directly in the store is named by fhirserver audit verify.
func TestAuditVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	m := startMain(t, testConfig(dir))
	for range 3 {
		if status, _ := get(t, m, "/fhir/Patient?_count=1"); status != 200 {
			t.Fatal(status)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := cli(t, "", "audit", "verify", "--data", dir); err != nil {
		t.Fatalf("untouched trail: %v\n%s", err, out)
	}
	st, err := sqlitestore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	found, err := st.Search(context.Background(), fhir.Query{Type: "AuditEvent", Limit: 1})
	if err != nil || len(found) == 0 {
		t.Fatalf("no AuditEvent stored: %v", err)
	}
	ev := found[0]
	st.Close()
	// Edited in the database, as the API cannot.
	edited := strings.Replace(string(ev.JSON), `"recorded":"`, `"recorded":"1`, 1)
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlitestore.FileName))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`UPDATE ledger SET json = ? WHERE type = 'AuditEvent' AND id = ?`, edited, ev.ID)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cli(t, "", "audit", "verify", "--data", dir)
	if err == nil || !strings.Contains(out, ev.ID) || !strings.Contains(out, "modified") {
		t.Fatalf("an edited event: err %v\n%s", err, out)
	}
	if out, err := cli(t, "", "audit", "checkpoints", "--data", dir); err != nil || !strings.Contains(out, `"signature"`) {
		t.Errorf("checkpoints export: %v\n%s", err, out)
	}
}

// TestAuditPurgeCommand: events past the retention period go, the
// others stay, the trail still verifies, and the purge is itself audited.
func TestAuditPurgeCommand(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlitestore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	key, err := audit.LoadOrCreateKey(filepath.Join(dir, "audit-signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	// Each event recorded by a recorder whose clock is the event's time
	// (a server running then), which checkpoints its chain then too.
	now := time.Now()
	for i, at := range []time.Time{now.AddDate(-9, 0, 0), now.AddDate(-7, 0, 0), now.AddDate(-6, 0, -2), now.AddDate(-5, -11, 0), now} {
		clock := at.Add(time.Second)
		rec, err := audit.NewRecorder(context.Background(), audit.Config{Store: st, Records: st, Key: key,
			Now: func() time.Time { return clock }})
		if err != nil {
			t.Fatal(err)
		}
		ev := audit.SecurityEvent(audit.KindSignIn, audit.SecurityInfo{Account: fmt.Sprintf("u%d", i), Success: true, Time: at, Detail: "password"})
		if err := rec.Record(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		if err := rec.Close(); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	if out, err := cli(t, "", "audit", "purge", "--data", dir, "--audit-retention", "5y"); err == nil || !strings.Contains(err.Error(), "at least 6 years") {
		t.Errorf("a retention of 5 years: %v\n%s", err, out)
	}
	out, err := cli(t, "", "audit", "purge", "--data", dir)
	if err != nil || !strings.Contains(out, "deleted 3 audit events") {
		t.Fatalf("purge: %v\n%s", err, out)
	}
	if out, err := cli(t, "", "audit", "verify", "--data", dir); err != nil {
		t.Fatalf("after the purge: %v\n%s", err, out)
	}
	if out, err := cli(t, "", "audit", "purge", "--data", dir, "--audit-retention", "10y"); err != nil || !strings.Contains(out, "deleted 0") {
		t.Errorf("a longer retention: %v\n%s", err, out)
	}

	st, err = sqlitestore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	left, err := st.Search(context.Background(), fhir.Query{Type: "AuditEvent"})
	if err != nil {
		t.Fatal(err)
	}
	var accounts, purges []string
	for _, r := range left {
		var ev struct {
			Subtype []struct{ Code string } `json:"subtype"`
			Agent   []struct {
				Who *struct{ Identifier *struct{ Value string } } `json:"who"`
			} `json:"agent"`
			OutcomeDesc string `json:"outcomeDesc"`
		}
		if err := json.Unmarshal(r.JSON, &ev); err != nil {
			t.Fatal(err)
		}
		for _, c := range ev.Subtype {
			switch c.Code {
			case "audit-purged":
				purges = append(purges, ev.OutcomeDesc)
			case "sign-in":
				for _, a := range ev.Agent {
					if a.Who != nil && a.Who.Identifier != nil {
						accounts = append(accounts, a.Who.Identifier.Value)
					}
				}
			}
		}
	}
	slices.Sort(accounts)
	if want := []string{"u3", "u4"}; !slices.Equal(accounts, want) {
		t.Errorf("sign-ins left: %v, want %v", accounts, want)
	}
	if len(purges) != 1 || !strings.HasPrefix(purges[0], "3 audit events recorded before ") {
		t.Errorf("the purge's own events: %q", purges)
	}
}

// TestRepeatedRefusalsRaiseAnAlert: the detectors see every audited
// request; repeated 404s by one user end in the auditor's list.
func TestRepeatedRefusalsRaiseAnAlert(t *testing.T) {
	s := startSMART(t)
	rec := s.Store.(fhir.Records)
	s.Alerts = audit.NewAlerts(audit.AlertConfig{Records: rec, Logger: quiet(), RefusalCount: 3})
	tok := s.launch(t, "launch/patient patient/*.rs").AccessToken
	for range 5 {
		if status, _, _ := fhirGet(t, s.base, "/Observation/obs-b", tok); status != 404 {
			t.Fatal(status)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Alerts.Flush(ctx)
	alerts, err := audit.ListAlerts(ctx, rec, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Detector != audit.DetectRefusals {
		t.Fatalf("alerts %+v", alerts)
	}
	if strings.Contains(alerts[0].Text, "pat-") || strings.Contains(alerts[0].Text, "obs-") {
		t.Errorf("an alert text names data: %q", alerts[0].Text)
	}
}

// TestImportIsAudited: what the import command writes leaves its
// AuditEvents, and the trail verifies.
func TestImportIsAudited(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/one.ndjson"
	if err := os.WriteFile(file, []byte(`{"resourceType":"Patient","id":"imp-1","name":[{"family":"Imported"}]}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := dir + "/data"
	if err := importCmd(context.Background(), []string{"--data", data, file}, quiet()); err != nil {
		t.Fatal(err)
	}
	st, err := sqlitestore.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	found, err := st.Search(context.Background(), fhir.Query{Type: "AuditEvent"})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	named := false
	for _, r := range found {
		named = named || strings.Contains(string(r.JSON), "Patient/imp-1")
	}
	if !named {
		t.Errorf("no AuditEvent names the imported Patient among %d", len(found))
	}
	if out, err := cli(t, "", "audit", "verify", "--data", data); err != nil {
		t.Errorf("verify after import: %v\n%s", err, out)
	}
}
