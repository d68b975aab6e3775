package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oncofhir/oncofhir/audit"
	"github.com/oncofhir/oncofhir/oauth"
)

// tokenFor runs a standalone launch of client as user: it picks patient
// when the picker asks for one, grants every scope asked for, and returns
// the access token.
func tokenFor(t *testing.T, s *smartServer, client, user, password, scopes, patient string) string {
	t.Helper()
	conf := s.oauthConfig(scopes)
	conf.ClientID = client
	verifier := oauth2.GenerateVerifier()
	b := browser(t)
	resp, body := signIn(t, b, conf.AuthCodeURL("state-12345678", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", s.base+"/fhir")), user, password)
	flowURL := resp.Request.URL.String()
	if patient != "" {
		// The staff picker shows its form once a search found someone:
		// take this browser's form token from another page.
		page, err := b.Get(s.base + "/oauth/signed-in")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := b.PostForm(flowURL, url.Values{"csrf": {pageCSRF(t, readAll(t, page))}, "action": {"pick"}, "patient": {patient}})
		if err != nil {
			t.Fatal(err)
		}
		body = readAll(t, resp)
	}
	if !strings.Contains(body, "Allow ") {
		t.Fatalf("%s: expected the authorization page:\n%s", user, body)
	}
	var keep []string
	for _, sc := range strings.Fields(scopes) {
		if strings.Contains(sc, "/") && !strings.HasPrefix(sc, "launch") {
			keep = append(keep, sc)
		}
	}
	resp, err := b.PostForm(flowURL, url.Values{"csrf": {pageCSRF(t, body)}, "action": {"grant"}, "scope": keep})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("%s: no redirect to the app: %d", user, resp.StatusCode)
	}
	tok, err := conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// TestAccessReportAPI: the patient and their caregiver read the patient's
// access report with real launch tokens; it names the oncologist, the
// caregiver and the apps, says what each did, and holds no identifier.
// Another patient's report is not found; staff, backend services and an
// app granted part of the record are refused; every request for the
// report is audited.
func TestAccessReportAPI(t *testing.T) {
	s := startSMART(t)
	ctx := context.Background()
	for _, r := range []struct{ typ, id, body string }{
		{"Practitioner", "dr-ada", `{"resourceType":"Practitioner","id":"dr-ada","name":[{"prefix":["Dr."],"given":["Ada"],"family":"Okafor"}]}`},
		{"RelatedPerson", "rp-1", `{"resourceType":"RelatedPerson","id":"rp-1","patient":{"reference":"Patient/pat-a"},"name":[{"given":["Al"],"family":"Abbott"}]}`},
	} {
		if _, err := s.ensureResource(ctx, r.typ, r.id, r.body); err != nil {
			t.Fatal(err)
		}
	}
	var accounts []string
	for _, a := range []struct{ user, role, fhirUser, password string }{
		{"ada", "oncologist", "Practitioner/dr-ada", "oncologist passphrase"},
		{"al", "proxy", "RelatedPerson/rp-1", "caregiver passphrase"},
		{"nurse-n", "nurse", "", "nurse passphrase"},
	} {
		acct := addUser(t, s.Main, a.user, a.role, a.fhirUser, a.password)
		accounts = append(accounts, acct.ID)
	}
	ann, err := s.OAuth.Accounts().ByUsername(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	accounts = append(accounts, ann.ID)
	if _, err := s.OAuth.Clients().Add(ctx, &oauth.Client{ID: "ehr-client-1", Name: "Oncology EHR", Type: oauth.ClientPublic, Provider: true,
		RedirectURIs: []string{appRedirect}, Scopes: strings.Fields("launch/patient openid fhirUser user/*.rs patient/*.rs")}); err != nil {
		t.Fatal(err)
	}

	annTok := s.launch(t, "launch/patient openid fhirUser patient/*.rs").AccessToken
	adaTok := tokenFor(t, s, "ehr-client-1", "ada", "oncologist passphrase", "openid fhirUser user/*.rs", "")
	alTok := tokenFor(t, s, "app", "al", "caregiver passphrase", "launch/patient patient/*.rs", "")
	nurseTok := tokenFor(t, s, "ehr-client-1", "nurse-n", "nurse passphrase", "launch/patient patient/*.rs", "pat-a")
	partTok := tokenFor(t, s, "app", "ann", "correct horse battery", "launch/patient patient/Observation.rs", "")

	var requestIDs []string
	get := func(path, tok string) (int, map[string]any) {
		t.Helper()
		status, body, hdr := fhirGet(t, s.base, path, tok)
		requestIDs = append(requestIDs, hdr.Get("X-Request-Id"))
		return status, body
	}
	for _, a := range []struct{ path, tok string }{
		{"/Observation/obs-a", adaTok},
		{"/Patient/pat-a", alTok},
		{"/Observation?patient=pat-a", annTok},
	} {
		if status, body := get(a.path, a.tok); status != 200 {
			t.Fatalf("%s: %d %v", a.path, status, body)
		}
	}

	for _, c := range []struct {
		name, path, tok string
		status          int
	}{
		{"the patient → 200", "/Patient/pat-a/$access-report", annTok, 200},
		{"their caregiver → 200", "/Patient/pat-a/$access-report", alTok, 200},
		{"another patient's report → 404", "/Patient/pat-b/$access-report", annTok, 404},
		{"a caregiver asking for another patient's → 404", "/Patient/pat-b/$access-report", alTok, 404},
		{"not a Patient → 404", "/Observation/obs-a/$access-report", annTok, 404},
		{"staff with user scopes → 403", "/Patient/pat-a/$access-report", adaTok, 403},
		{"staff with the patient in context → 403", "/Patient/pat-a/$access-report", nurseTok, 403},
		{"a backend service → 403", "/Patient/pat-a/$access-report", systemToken(t, s.Main), 403},
		{"an app granted only Observations → 403", "/Patient/pat-a/$access-report", partTok, 403},
		{"no token → 401", "/Patient/pat-a/$access-report", "", 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := get(c.path, c.tok)
			if status != c.status {
				t.Fatalf("%d, want %d: %v", status, c.status, body)
			}
			if status != 200 && body["resourceType"] != "OperationOutcome" {
				t.Errorf("a refusal answers %v, want an OperationOutcome", body)
			}
			if status == 200 && (body["patient"] != "Patient/pat-a" || body["truncated"] != false) {
				t.Errorf("patient %v, truncated %v", body["patient"], body["truncated"])
			}
		})
	}

	status, body := get("/Patient/pat-a/$access-report", annTok)
	if status != 200 {
		t.Fatalf("%d %v", status, body)
	}
	since, err := time.Parse(time.RFC3339, body["since"].(string))
	if err != nil || time.Since(since) < 6*365*24*time.Hour || time.Since(since) > 6*366*24*time.Hour {
		t.Errorf("since %v: want six years ago", body["since"])
	}
	var got []string
	var last time.Time
	for i, raw := range asList(body["lines"]) {
		l := raw.(map[string]any)
		for _, k := range []string{"time", "who", "role", "app", "what", "why", "emergency", "refused"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %d has no %q: %v", i, k, l)
			}
		}
		at, err := time.Parse(time.RFC3339, str(l["time"]))
		if err != nil || i > 0 && at.After(last) {
			t.Errorf("line %d at %v: not a time, or newer than the line before", i, l["time"])
		}
		last = at
		got = append(got, strings.Join([]string{str(l["who"]), str(l["role"]), str(l["app"]), str(l["what"])}, " | "))
	}
	text := strings.Join(got, "\n")
	for _, want := range []string{
		"Dr. Ada Okafor | oncologist | Oncology EHR | looked at your test results and observations",
		"Your caregiver Al Abbott | caregiver | Test app | looked at your personal details",
		"You | you | Test app | searched your test results and observations",
		"You | you | Test app | let an app use your record",
		"Your caregiver Al Abbott | caregiver | Test app | let an app use your record",
		"A member of staff | nurse | Oncology EHR | let an app use your record",
		"You | you | Test app | used your record",
		"Your caregiver Al Abbott | caregiver | Test app | used your record",
		"A member of staff | nurse | Oncology EHR | was refused access to your record",
		"Dr. Ada Okafor | oncologist | Oncology EHR | was refused access to your record",
		"You | you | Test app | was refused access to your record",
		"Someone who was not signed in |  |  | was refused access to your record",
		"An automated service |  | an app whose name is not known | was refused access to your record",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no line %q in:\n%s", want, text)
		}
	}

	// No identifier: not the patients', the resources', the accounts', the
	// apps', the grants', the requests' or the network address.
	raw, _ := json.Marshal(body["lines"])
	secrets := append([]string{"pat-a", "pat-b", "obs-a", "dr-ada", "rp-1", "ehr-client-1", "tests-", "127.0.0.1", "urn:", "Patient/"}, accounts...)
	for _, id := range requestIDs {
		if id != "" {
			secrets = append(secrets, id)
		}
	}
	events := auditEvents(t, s, "patient=pat-a")
	for _, ev := range events {
		for _, a := range asList(ev["agent"]) {
			for _, p := range asList(a.(map[string]any)["policy"]) {
				secrets = append(secrets, strings.TrimPrefix(str(p), audit.GrantPrefix))
			}
		}
	}
	for _, id := range secrets {
		if strings.Contains(string(raw), id) {
			t.Errorf("the report holds %q: %s", id, raw)
		}
	}

	// Reading the report, or being refused it, is audited like any access.
	var read, refused int
	for _, ev := range auditEvents(t, s, "patient=pat-a&subtype=operation") {
		switch str(ev["outcome"]) {
		case "0":
			read++
		case "4":
			refused++
		}
	}
	if read < 3 || refused < 4 {
		t.Errorf("%d reads and %d refusals of the report audited, want at least 3 and 4", read, refused)
	}
}

// TestAccessReportRouteLeavesOthersAlone: the operation's route takes
// nothing from the REST routes beside it.
func TestAccessReportRouteLeavesOthersAlone(t *testing.T) {
	s := startSMART(t)
	tok := s.launchStrong(t, "launch/patient openid fhirUser patient/*.rs").AccessToken // $everything asks for two factors
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/Patient/pat-a", 200},
		{"/Patient/pat-a/$everything", 200},
		{"/Patient/pat-a/Observation", 200},
		{"/Patient/pat-a/_history", 200},
		{"/Patient/pat-a/$access-report", 200},
	} {
		if status, body, _ := fhirGet(t, s.base, c.path, tok); status != c.status {
			t.Errorf("%s: %d, want %d: %v", c.path, status, c.status, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, s.base+"/fhir/Patient/pat-a/$access-report", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Errorf("POST $access-report: %d", resp.StatusCode)
	}
}

// TestAccessReportPageThroughTheServer: a patient who signs in through
// the login form sees, on the report page, the app's read of their
// record from the audit trail, with its date in words.
func TestAccessReportPageThroughTheServer(t *testing.T) {
	s := startSMART(t)
	tok := s.launch(t, "launch/patient openid fhirUser patient/*.rs").AccessToken
	if status, _, _ := fhirGet(t, s.base, "/Observation/obs-a", tok); status != 200 {
		t.Fatal(status)
	}
	b := browser(t)
	resp, err := b.Get(s.base + "/oauth/access-report")
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	if resp.Request.URL.Path != "/oauth/login" || resp.Request.URL.Query().Get("next") != "/oauth/access-report" {
		t.Fatalf("not signed in: ended at %s", resp.Request.URL)
	}
	resp, err = b.PostForm(s.base+"/oauth/login", url.Values{"csrf": {pageCSRF(t, page)}, "next": {"/oauth/access-report"},
		"username": {"ann"}, "password": {"correct horse battery"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, page = answerCode(t, b, resp, readAll(t, resp), "ann")
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/oauth/access-report" {
		t.Fatalf("after signing in: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	for _, want := range []string{"<caption", `<th scope="col"`, "Test app", "looked at your test results and observations", "let an app use your record"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
	if !regexp.MustCompile(`<time datetime="[^"]+">\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d</time>`).MatchString(page) {
		t.Errorf("no date in words:\n%s", page)
	}
	for _, id := range []string{"pat-a", "obs-a", `>app<`} {
		if strings.Contains(page, id) {
			t.Errorf("the page shows %q", id)
		}
	}
	// Viewing the report is itself recorded, naming the patient.
	if viewed := auditEvents(t, s, "patient=pat-a&subtype=access-report-viewed"); len(viewed) != 1 {
		t.Errorf("the page view left %d AuditEvents, want 1", len(viewed))
	}
}
