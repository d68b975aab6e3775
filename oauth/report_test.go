package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// reports is an AccessReports that answers fixed lines, or fails, and
// remembers whose report was asked for.
type reports struct {
	mu    sync.Mutex
	lines []AccessLine
	fail  bool
	asked []string
}

func (r *reports) AccessReport(_ context.Context, patient string) ([]AccessLine, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, patient)
	if r.fail {
		return nil, errors.New("audit store unavailable")
	}
	return r.lines, nil
}

func (r *reports) lastAsked() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.asked) == 0 {
		return ""
	}
	return r.asked[len(r.asked)-1]
}

// startReports is the authorization server with an access report, a
// caregiver of Ann's, a caregiver whose link has ended and a nurse.
func startReports(t *testing.T) (*eventsServer, *reports) {
	t.Helper()
	es := startEvents(t)
	r := &reports{}
	es.cfg.AccessReports = r
	ctx := context.Background()
	es.put(t, "Patient", "pat-a", 1, `{"resourceType":"Patient","id":"pat-a","name":[{"given":["Ann"],"family":"Abbott"}]}`)
	es.put(t, "RelatedPerson", "rp-1", 1, `{"resourceType":"RelatedPerson","id":"rp-1","patient":{"reference":"Patient/pat-a"}}`)
	es.put(t, "RelatedPerson", "rp-2", 1, `{"resourceType":"RelatedPerson","id":"rp-2","active":false,"patient":{"reference":"Patient/pat-a"}}`)
	if _, err := es.accounts.EnrollTOTP(ctx, annName); err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct{ user, role, fhirUser string }{
		{"sam", "proxy", "RelatedPerson/rp-1"},
		{"former", "proxy", "RelatedPerson/rp-2"},
		{"nurse-n", "nurse", ""},
	} {
		if _, err := es.accounts.Add(ctx, a.user, a.role, a.fhirUser, "a long passphrase"); err != nil {
			t.Fatal(err)
		}
		if _, err := es.accounts.EnrollTOTP(ctx, a.user); err != nil {
			t.Fatal(err)
		}
	}
	return es, r
}

var eventHandler = regexp.MustCompile(`\son[a-z]+=`)

// TestAccessReportPage: a patient signs in through the login form and is
// sent on to their report: a table with a caption, column and row
// headers, dates in words, names and plain words, no script.
func TestAccessReportPage(t *testing.T) {
	es, r := startReports(t)
	at := time.Date(2026, 11, 26, 14, 5, 0, 0, time.UTC)
	r.lines = []AccessLine{
		{Time: at, Who: "Dr. Ada Okafor", Role: "oncologist", App: "Oncology EHR", What: "looked at your test results and observations",
			Why: "emergency access", Emergency: true},
		{Time: at.Add(-time.Hour), Who: "Someone who was not signed in", What: "was refused access to your record", Refused: true},
		{Time: at.Add(-48 * time.Hour), Who: "Your caregiver Sam Rivera", Role: "caregiver", App: "Health <app>", What: "searched your record"},
	}
	b := newBrowser(t)
	resp, _ := b.do(http.MethodGet, es.url+"/oauth/access-report", nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || loc != "/oauth/login?next="+url.QueryEscape("/oauth/access-report") {
		t.Fatalf("not signed in: %d to %q, want the login page with next", resp.StatusCode, loc)
	}
	_, page := b.do(http.MethodGet, es.url+loc, nil)
	if !strings.Contains(page, `name="next" value="/oauth/access-report"`) {
		t.Fatalf("the login form does not carry next:\n%s", page)
	}
	resp, _ = b.do(http.MethodPost, es.url+"/oauth/login", url.Values{"csrf": {csrfOf(t, page)}, "next": {"/oauth/access-report"},
		"username": {annName}, "password": {annPassword}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the password: %d", resp.StatusCode)
	}
	resp, _ = b.do(http.MethodPost, es.url+"/oauth/login/code", url.Values{"csrf": {csrfOf(t, page)}, "code": {es.freshCode(t, annName)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/oauth/access-report" {
		t.Fatalf("after signing in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page = b.do(http.MethodGet, es.url+"/oauth/access-report", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("report: %d\n%s", resp.StatusCode, page)
	}
	if got := r.lastAsked(); got != "pat-a" {
		t.Errorf("report asked for %q, want the patient's own pat-a", got)
	}
	for _, want := range []string{
		"<title>Who has accessed your record</title>",
		`<caption id="report-caption"`,
		`<th scope="col"`, ">When</th>", ">Who</th>", ">Role</th>", ">App</th>", ">What happened</th>", ">Reason</th>",
		`<th scope="row"`,
		`<time datetime="2026-11-26T14:05:00Z">26 November 2026, 14:05</time>`,
		`<time datetime="2026-11-24T14:05:00Z">24 November 2026, 14:05</time>`,
		"Dr. Ada Okafor", "oncologist", "Oncology EHR", "<strong>emergency access</strong>",
		"<strong>was refused access to your record</strong>",
		"Your caregiver Sam Rivera", "Health &lt;app&gt;",
		`role="region" aria-labelledby="report-caption" tabindex="0"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") || eventHandler.MatchString(page) {
		t.Error("the page holds script")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if strings.Count(page, "<tr>") != 4 {
		t.Errorf("%d rows, want a header row and 3 lines", strings.Count(page, "<tr>"))
	}

	r.lines = nil
	_, page = b.do(http.MethodGet, es.url+"/oauth/access-report", nil)
	if !strings.Contains(page, "No one has accessed your record in the last six years.") || strings.Contains(page, "<table") {
		t.Errorf("an empty report:\n%s", page)
	}
	r.fail = true
	if resp, page := b.do(http.MethodGet, es.url+"/oauth/access-report", nil); resp.StatusCode != http.StatusServiceUnavailable ||
		!strings.Contains(page, "cannot be shown right now") {
		t.Errorf("a report that cannot be read: %d\n%s", resp.StatusCode, page)
	}
}

// TestAccessReportPageWho: a caregiver sees the report of the patient
// they look after, told whose it is; staff, a caregiver whose link has
// ended, and a browser that is not signed in see none.
func TestAccessReportPageWho(t *testing.T) {
	es, r := startReports(t)
	r.lines = []AccessLine{{Time: time.Now(), Who: "You", Role: "you", App: "Health app", What: "looked at your record"}}
	signedIn := func(user, password string) *browser {
		b := newBrowser(t)
		es.signInTwoFactors(t, b, user, password)
		return b
	}
	t.Run("caregiver → the report of their patient", func(t *testing.T) {
		r.asked = nil
		resp, page := signedIn("sam", "a long passphrase").do(http.MethodGet, es.url+"/oauth/access-report", nil)
		if resp.StatusCode != 200 || r.lastAsked() != "pat-a" {
			t.Fatalf("%d, asked for %q\n%s", resp.StatusCode, r.lastAsked(), page)
		}
		for _, want := range []string{"Who has accessed Ann Abbott's record", "In this list, “You” means Ann Abbott", "looked at your record"} {
			if !strings.Contains(page, want) {
				t.Errorf("the page lacks %q", want)
			}
		}
	})
	for _, c := range []struct {
		name, user string
		status     int
		text       string
	}{
		{"staff → 403", "nurse-n", http.StatusForbidden, "This page is for patients and their caregivers"},
		{"caregiver whose link ended → 403", "former", http.StatusForbidden, "There is no record linked to your account"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r.asked = nil
			resp, page := signedIn(c.user, "a long passphrase").do(http.MethodGet, es.url+"/oauth/access-report", nil)
			if resp.StatusCode != c.status || !strings.Contains(page, c.text) || strings.Contains(page, "Health app") {
				t.Errorf("%d\n%s", resp.StatusCode, page)
			}
			if len(r.asked) != 0 {
				t.Errorf("a report was read for %v", r.asked)
			}
		})
	}
	t.Run("signed out → login", func(t *testing.T) {
		b := signedIn(annName, annPassword)
		_, page := b.do(http.MethodGet, es.url+"/oauth/access-report", nil)
		b.do(http.MethodPost, es.url+"/oauth/logout", url.Values{"csrf": {csrfOf(t, page)}})
		resp, _ := b.do(http.MethodGet, es.url+"/oauth/access-report?page=2", nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/oauth/login?next="+url.QueryEscape("/oauth/access-report?page=2") {
			t.Errorf("%d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// TestAccessReportPagePages: a long report shows a page at a time, with
// links to the newer and older pages; a page number out of range shows
// the nearest page.
func TestAccessReportPagePages(t *testing.T) {
	es, r := startReports(t)
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for i := range 2*reportPageRows + 5 {
		r.lines = append(r.lines, AccessLine{Time: start.Add(-time.Duration(i) * time.Minute), Who: fmt.Sprintf("Person %d", i),
			What: "looked at your record"})
	}
	b := newBrowser(t)
	es.signInTwoFactors(t, b, annName, annPassword)
	for _, c := range []struct {
		query               string
		first, last         string
		rows                int
		newer, older, title string
	}{
		{"", "Person 0<", "Person 99<", reportPageRows, "", "?page=2", "page 1 of 3"},
		{"?page=2", "Person 100<", "Person 199<", reportPageRows, "?page=1", "?page=3", "page 2 of 3"},
		{"?page=3", "Person 200<", "Person 204<", 5, "?page=2", "", "page 3 of 3"},
		{"?page=99", "Person 200<", "Person 204<", 5, "?page=2", "", "page 3 of 3"},
		{"?page=x", "Person 0<", "Person 99<", reportPageRows, "", "?page=2", "page 1 of 3"},
	} {
		t.Run(c.query, func(t *testing.T) {
			resp, page := b.do(http.MethodGet, es.url+"/oauth/access-report"+c.query, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("%d", resp.StatusCode)
			}
			if n := strings.Count(page, "<tr>") - 1; n != c.rows {
				t.Errorf("%d rows, want %d", n, c.rows)
			}
			if !strings.Contains(page, c.first) || !strings.Contains(page, c.last) || !strings.Contains(page, c.title) {
				t.Errorf("the page lacks %q, %q or %q", c.first, c.last, c.title)
			}
			for _, l := range []struct{ href, text string }{{c.newer, "Newer accesses"}, {c.older, "Older accesses"}} {
				link := `<a href="/oauth/access-report` + l.href + `"`
				if has := strings.Contains(page, l.text); has != (l.href != "") || l.href != "" && !strings.Contains(page, link) {
					t.Errorf("link %q: %v", l.text, has)
				}
			}
		})
	}
}
