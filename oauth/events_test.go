package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
)

// recorder is a SecurityEvents that keeps every event it is given and,
// while failing is set, refuses them as an unavailable audit store would.
type recorder struct {
	mu      sync.Mutex
	events  []SecurityEvent
	failing atomic.Bool
}

func (r *recorder) Security(_ context.Context, e SecurityEvent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	if r.failing.Load() {
		return errors.New("audit store unavailable")
	}
	return nil
}

func (r *recorder) all() []SecurityEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]SecurityEvent(nil), r.events...)
}

// last is the latest event of a kind.
func (r *recorder) last(t *testing.T, kind string) SecurityEvent {
	t.Helper()
	ev := r.all()
	for i := len(ev) - 1; i >= 0; i-- {
		if ev[i].Kind == kind {
			return ev[i]
		}
	}
	t.Fatalf("no %s event among %+v", kind, ev)
	return SecurityEvent{}
}

// count is how many events of a kind there are.
func (r *recorder) count(kind string) int {
	n := 0
	for _, e := range r.all() {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// never fails the test when any event holds one of the secrets.
func (r *recorder) never(t *testing.T, secrets ...string) {
	t.Helper()
	for _, e := range r.all() {
		text := fmt.Sprintf("%+v", e)
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("event %s holds %q: %s", e.Kind, s, text)
			}
		}
	}
}

const (
	eventsRedirect = "http://localhost:9000/cb"
	annName        = "annabel.p"
	annPassword    = "correct horse battery"
)

// eventsServer is the authorization server behind a real HTTP listener,
// with echo's request id middleware as cmd/fhirserver installs it.
type eventsServer struct {
	*Server
	rec  *recorder
	st   *sqlitestore.Store
	url  string
	ann  *Account
	base string
}

func startEvents(t *testing.T) *eventsServer {
	t.Helper()
	ctx := context.Background()
	st := storeForTest(t)
	var h http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	rec := &recorder{}
	s, err := New(ctx, Config{BaseURL: ts.URL + "/fhir", Records: st, Store: st, Events: rec,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(middleware.RequestID())
	s.Register(e, e.Group("/fhir"))
	h = e
	ann, err := s.accounts.Add(ctx, annName, "patient", "Patient/pat-a", annPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.clients.Add(ctx, &Client{ID: "app", Name: "Test app", Type: ClientPublic, RedirectURIs: []string{eventsRedirect},
		Scopes: strings.Fields("launch/patient openid fhirUser offline_access patient/*.rs patient/*.cruds")}); err != nil {
		t.Fatal(err)
	}
	return &eventsServer{Server: s, rec: rec, st: st, url: ts.URL, ann: ann, base: ts.URL + "/fhir"}
}

// put stores a resource version directly.
func (es *eventsServer) put(t *testing.T, typ, id string, version int, body string) {
	t.Helper()
	err := es.st.Write(context.Background(), func(tx fhir.Tx) error {
		return tx.Put(&fhir.Resource{Type: typ, ID: id, Version: version, LastUpdated: time.Now().UTC(), Method: http.MethodPut, JSON: []byte(body)})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// browser keeps cookies and follows no redirect.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in:\n%s", page)
	}
	return m[1]
}

// signIn posts the login form and returns its answer.
func (es *eventsServer) signIn(b *browser, user, password string) (*http.Response, string) {
	b.t.Helper()
	_, page := b.do(http.MethodGet, es.url+"/oauth/login", nil)
	return b.do(http.MethodPost, es.url+"/oauth/login", url.Values{"csrf": {csrfOf(b.t, page)}, "next": {"/oauth/signed-in"},
		"username": {user}, "password": {password}})
}

// hasLoginCookie tells whether the browser holds a sign-in session cookie.
func (es *eventsServer) hasLoginCookie(b *browser) bool {
	u, _ := url.Parse(es.url + "/oauth/")
	for _, ck := range b.c.Jar.Cookies(u) {
		if ck.Name == loginCookie && ck.Value != "" {
			return true
		}
	}
	return false
}

// TestSignInEvents: every sign-in is reported, success or not, with the
// account when the username names one and never the username or the
// password; the event carries the request id and the remote address.
func TestSignInEvents(t *testing.T) {
	es := startEvents(t)
	const stranger = "zed-unknown-person"
	for _, c := range []struct {
		name, user, password string
		status               int
		success              bool
		account              string
		detail               string
	}{
		{"the right password → success, the account", annName, annPassword, http.StatusSeeOther, true, es.ann.ID, "password"},
		{"a wrong password → failure, the account", annName, "not the password", http.StatusUnauthorized, false, es.ann.ID, failPassword},
		{"an unknown username → failure, no account", stranger, "a guess at a password", http.StatusUnauthorized, false, "", failUnknown},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, _ := es.signIn(newBrowser(t), c.user, c.password)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			e := es.rec.last(t, SignIn)
			if e.Success != c.success || e.Account != c.account || e.Detail != c.detail {
				t.Errorf("event %+v; want success %v, account %q, detail %q", e, c.success, c.account, c.detail)
			}
			if c.account != "" && e.Role != "patient" {
				t.Errorf("role %q, want patient", e.Role)
			}
			if id := resp.Header.Get(echo.HeaderXRequestID); id == "" || e.RequestID != id {
				t.Errorf("request id %q, response's %q", e.RequestID, id)
			}
			if e.RemoteAddr != "127.0.0.1" || e.Time.IsZero() {
				t.Errorf("remote address %q, time %v", e.RemoteAddr, e.Time)
			}
		})
	}
	t.Run("a throttled attempt → failure, reported too", func(t *testing.T) {
		for range freeAttempts {
			es.signIn(newBrowser(t), stranger, "another guess")
		}
		resp, _ := es.signIn(newBrowser(t), stranger, "one more guess")
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", resp.StatusCode)
		}
		if e := es.rec.last(t, SignIn); e.Success || e.Account != "" || e.Detail != failThrottled {
			t.Errorf("event %+v", e)
		}
	})
	es.rec.never(t, stranger, annName, annPassword, "not the password", "a guess at a password", "another guess", "one more guess")
}

// TestSignInFailsWithoutItsRecord: when the sign-in cannot be recorded,
// no session starts and the page says so with 503; a failed sign-in
// still answers as one.
func TestSignInFailsWithoutItsRecord(t *testing.T) {
	es := startEvents(t)
	es.rec.failing.Store(true)
	b := newBrowser(t)
	resp, page := es.signIn(b, annName, annPassword)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(page, "not possible right now") {
		t.Fatalf("status %d:\n%s", resp.StatusCode, page)
	}
	if es.hasLoginCookie(b) {
		t.Error("a sign-in session cookie was set")
	}
	if resp, _ := b.do(http.MethodGet, es.url+"/oauth/signed-in", nil); resp.StatusCode != http.StatusSeeOther ||
		!strings.HasPrefix(resp.Header.Get("Location"), "/oauth/login") {
		t.Errorf("signed-in page: %d %s, want the login page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if logins, err := es.st.FindRecords(context.Background(), kindLogin, "", ""); err != nil || len(logins) != 0 {
		t.Errorf("login sessions stored: %d, %v", len(logins), err)
	}
	if resp, _ := es.signIn(newBrowser(t), annName, "not the password"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong password while the audit store is down: %d, want 401", resp.StatusCode)
	}
}

// TestSignOutEvent: signing out is reported with its account; when it
// cannot be recorded, the sign-out happens all the same.
func TestSignOutEvent(t *testing.T) {
	es := startEvents(t)
	for _, failing := range []bool{false, true} {
		b := newBrowser(t)
		if resp, _ := es.signIn(b, annName, annPassword); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", resp.StatusCode)
		}
		_, page := b.do(http.MethodGet, es.url+"/oauth/signed-in", nil)
		es.rec.failing.Store(failing)
		resp, _ := b.do(http.MethodPost, es.url+"/oauth/logout", url.Values{"csrf": {csrfOf(t, page)}})
		es.rec.failing.Store(false)
		if resp.StatusCode != http.StatusOK || es.hasLoginCookie(b) {
			t.Errorf("failing %v: sign-out %d, cookie kept %v", failing, resp.StatusCode, es.hasLoginCookie(b))
		}
		if e := es.rec.last(t, SignOut); !e.Success || e.Account != es.ann.ID || e.Role != "patient" {
			t.Errorf("failing %v: event %+v", failing, e)
		}
	}
	if n := es.rec.count(SignOut); n != 2 {
		t.Errorf("%d sign-out events, want 2", n)
	}
}

// TestLaunchEvent: an EHR launch is reported with the staff user, the
// app and the patient, never the launch id.
func TestLaunchEvent(t *testing.T) {
	es := startEvents(t)
	ctx := context.Background()
	doc, err := es.accounts.Add(ctx, "dr.launch", "oncologist", "", "a long passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := es.clients.Add(ctx, &Client{ID: "ehr-app", Type: ClientPublic, RedirectURIs: []string{eventsRedirect},
		LaunchURI: "http://localhost:9000/launch", Scopes: []string{"launch", "patient/*.rs"}}); err != nil {
		t.Fatal(err)
	}
	es.put(t, "Patient", "pat-a", 1, `{"resourceType":"Patient","id":"pat-a"}`)
	b := newBrowser(t)
	if resp, _ := es.signIn(b, "dr.launch", "a long passphrase"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	_, page := b.do(http.MethodGet, es.url+"/oauth/ehr-launch?client=ehr-app&patient=pat-a", nil)
	resp, _ := b.do(http.MethodPost, es.url+"/oauth/ehr-launch", url.Values{"csrf": {csrfOf(t, page)}, "client": {"ehr-app"}, "patient": {"pat-a"}})
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Query().Get("launch") == "" {
		t.Fatalf("launch: %d %v", resp.StatusCode, loc)
	}
	e := es.rec.last(t, LaunchCreated)
	if !e.Success || e.Account != doc.ID || e.Role != "oncologist" || e.Client != "ehr-app" || e.Patient != "pat-a" {
		t.Errorf("event %+v", e)
	}
	es.rec.never(t, loc.Query().Get("launch"), "a long passphrase")
}

// TestRegistryEvents: the registries the command line uses report each
// change, and a failed report does not undo or fail it.
func TestRegistryEvents(t *testing.T) {
	ctx := context.Background()
	for _, failing := range []bool{false, true} {
		rec := &recorder{}
		rec.failing.Store(failing)
		st := storeForTest(t)
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		clients := Clients{Records: st, Now: time.Now, Events: rec, Logger: quiet}
		accounts := Accounts{Records: st, Now: time.Now, Events: rec, Logger: quiet}
		keys := Keys{Records: st, Now: time.Now, Events: rec, Logger: quiet}

		secret, err := clients.Add(ctx, &Client{ID: "conf", Type: ClientConfidential, RedirectURIs: []string{eventsRedirect}, Scopes: []string{"patient/*.rs"}})
		if err != nil {
			t.Fatal(err)
		}
		if e := rec.last(t, ClientRegistered); !e.Success || e.Client != "conf" || len(e.Scopes) != 1 {
			t.Errorf("failing %v: %+v", failing, e)
		}
		if err := clients.Remove(ctx, "conf"); err != nil {
			t.Fatal(err)
		}
		if e := rec.last(t, ClientRemoved); !e.Success || e.Client != "conf" {
			t.Errorf("failing %v: %+v", failing, e)
		}
		a, err := accounts.Add(ctx, "nurse.n", "nurse", "", "nurse passphrase")
		if err != nil {
			t.Fatal(err)
		}
		if err := accounts.Disable(ctx, "nurse.n"); err != nil {
			t.Fatal(err)
		}
		if e := rec.last(t, UserDisabled); !e.Success || e.Account != a.ID || e.Role != "nurse" {
			t.Errorf("failing %v: %+v", failing, e)
		}
		if got, err := accounts.Get(ctx, a.ID); err != nil || !got.Disabled {
			t.Errorf("failing %v: the account is not disabled: %v", failing, err)
		}
		if err := keys.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		first := rec.last(t, KeyRotated)
		kid, err := keys.Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if e := rec.last(t, KeyRotated); !e.Success || e.Key != kid || first.Key == kid {
			t.Errorf("failing %v: %+v after %+v", failing, e, first)
		}
		if err := keys.Retire(ctx, first.Key); err != nil {
			t.Fatal(err)
		}
		if e := rec.last(t, KeyRetired); !e.Success || e.Key != first.Key {
			t.Errorf("failing %v: %+v", failing, e)
		}
		for _, e := range rec.all() {
			if e.Time.IsZero() || e.RemoteAddr != "" || e.RequestID != "" {
				t.Errorf("event %+v", e)
			}
		}
		rec.never(t, secret, "nurse passphrase", "nurse.n")
	}
}
