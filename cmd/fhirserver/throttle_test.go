package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

// postLogin posts the sign-in form from a fresh browser, with extra
// headers, and returns the status and page.
func postLogin(t *testing.T, s *smartServer, username, password string, header ...string) (int, string) {
	t.Helper()
	b := browser(t)
	resp, err := b.Get(s.base + "/oauth/login")
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	req, _ := http.NewRequest(http.MethodPost, s.base+"/oauth/login", strings.NewReader(url.Values{"csrf": {pageCSRF(t, page)},
		"next": {"/oauth/signed-in"}, "username": {username}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err = b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(t, resp)
}

// TestLockedAccountAndUnlock, end to end: an account past 100
// consecutive failures refuses its right password with the page any
// failure shows; `user list` shows it locked; `user unlock`, run beside
// the server, ends the lock and is in the audit trail.
func TestLockedAccountAndUnlock(t *testing.T) {
	s := startSMART(t)
	ctx := context.Background()
	rec := s.Store.(fhir.Records)
	// As 100 failures over a few days leave it (the oauth tests make them
	// one by one).
	data, _ := json.Marshal(map[string]any{"count": 100, "last": time.Now().Add(-time.Hour).UTC(), "consecutive": 100})
	if err := rec.PutRecord(ctx, &fhir.Record{Kind: "login.fail", Key: "ann", Data: data}); err != nil {
		t.Fatal(err)
	}
	status, page := postLogin(t, s, "ann", "correct horse battery")
	_, unknown := postLogin(t, s, "nobody-here", "correct horse battery")
	if status != http.StatusUnauthorized || !strings.Contains(page, "That username and password do not match") {
		t.Fatalf("the right password of a locked account: %d", status)
	}
	// The same page as for a username no account has, but for the form's
	// own token and the username typed.
	norm := regexp.MustCompile(`value="[^"]*"`)
	if norm.ReplaceAllString(page, "") != norm.ReplaceAllString(unknown, "") {
		t.Error("a locked account's page differs from an unknown username's")
	}
	dir := s.Config.DataDir
	if list := mustCLI(t, "", "user", "list", "--data", dir); !regexp.MustCompile(`(?m)^ann\s+patient\s+Patient/pat-a\s+locked$`).MatchString(list) {
		t.Errorf("user list:\n%s", list)
	}
	if out := mustCLI(t, "", "user", "unlock", "--data", dir, "--username", "Ann"); !strings.Contains(out, "user ann unlocked") {
		t.Errorf("output %q", out)
	}
	if _, err := cli(t, "", "user", "unlock", "--data", dir, "--username", "nobody-here"); err == nil {
		t.Error("unlocking an unknown user succeeded")
	}
	status, page = postLogin(t, s, "ann", "correct horse battery")
	if status != http.StatusOK || !strings.Contains(page, `action="/oauth/login/code"`) {
		t.Errorf("after unlock the right password leads to the code page: %d", status)
	}
	found := false
	for _, ev := range auditEvents(t, s, "") {
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), "account unlocked") {
			found = true
		}
	}
	if !found {
		t.Error("no AuditEvent records the unlock")
	}
}

// TestAddressBackoffIgnoresForwardedFor: failures from one connection
// address count together across usernames, whatever X-Forwarded-For
// says when no proxy is trusted: after 20, the next attempt waits.
func TestAddressBackoffIgnoresForwardedFor(t *testing.T) {
	s := startSMART(t)
	for i := range 20 {
		status, _ := postLogin(t, s, fmt.Sprintf("guess%d", i), "wrong password", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		if status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, status)
		}
	}
	status, page := postLogin(t, s, "ann", "correct horse battery", "X-Forwarded-For", "198.51.100.77")
	if status != http.StatusTooManyRequests || !strings.Contains(page, "Wait a few minutes") {
		t.Errorf("after 20 failures from the address, with a new X-Forwarded-For: %d", status)
	}
}

// TestIPExtractor: X-Forwarded-For is read only from a trusted proxy.
func TestIPExtractor(t *testing.T) {
	trusted, err := parseCIDRs("10.0.0.0/8, 192.0.2.1")
	if err != nil || len(trusted) != 2 {
		t.Fatal(trusted, err)
	}
	for _, c := range []struct {
		name    string
		trusted bool
		remote  string
		xff     string
		want    string
	}{
		{"no proxy trusted: the connection", false, "10.1.2.3:5000", "203.0.113.5", "10.1.2.3"},
		{"a trusted proxy: the client it names", true, "10.1.2.3:5000", "203.0.113.5", "203.0.113.5"},
		{"a trusted single host", true, "192.0.2.1:5000", "203.0.113.6", "203.0.113.6"},
		{"an untrusted sender: the connection", true, "198.51.100.1:5000", "203.0.113.5", "198.51.100.1"},
		{"a forged hop before the proxy: the last untrusted one", true, "10.1.2.3:5000", "1.2.3.4, 203.0.113.5", "203.0.113.5"},
	} {
		e := echo.New()
		var list = trusted
		if !c.trusted {
			list = nil
		}
		e.IPExtractor = ipExtractor(list, slog.New(slog.NewTextHandler(io.Discard, nil)))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = c.remote
		req.Header.Set("X-Forwarded-For", c.xff)
		if got := e.NewContext(req, httptest.NewRecorder()).RealIP(); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "not-an-ip"} {
		if _, err := parseCIDRs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestThrottleWarnsOfUntrustedForwardedFor: with no proxy trusted, the
// first request that carries X-Forwarded-For logs one warning (every
// client behind that proxy shares its address for the sign-in limits);
// a trusted proxy's does not.
func TestThrottleWarnsOfUntrustedForwardedFor(t *testing.T) {
	trusted, _ := parseCIDRs("10.0.0.0/8")
	for _, c := range []struct {
		name    string
		trusted []*net.IPNet
		xff     []string
		want    int
	}{
		{"no header: no warning", nil, []string{"", ""}, 0},
		{"headers, no proxy trusted: one warning", nil, []string{"", "203.0.113.5", "203.0.113.6"}, 1},
		{"a trusted proxy: no warning", trusted, []string{"203.0.113.5"}, 0},
	} {
		var log bytes.Buffer
		extract := ipExtractor(c.trusted, slog.New(slog.NewJSONHandler(&log, nil)))
		for _, xff := range c.xff {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = "10.1.2.3:5000"
			if xff != "" {
				req.Header.Set("X-Forwarded-For", xff)
			}
			extract(req)
		}
		if got := strings.Count(log.String(), "--trusted-proxies"); got != c.want {
			t.Errorf("%s: %d warnings, want %d:\n%s", c.name, got, c.want, log.String())
		}
		if strings.Contains(log.String(), "203.0.113") {
			t.Errorf("%s: the warning holds a client address", c.name)
		}
	}
}

// TestStepUpLabelsFlag: R and V by default, none to turn off, and a bad
// label refused.
func TestStepUpLabelsFlag(t *testing.T) {
	dir := t.TempDir()
	c, _, err := parseConfig("serve", []string{"--data", dir})
	if err != nil || len(c.StepUpLabels) != 2 || c.StepUpLabels[0].Code != "R" || c.StepUpLabels[1].Code != "V" || c.TrustedProxies != nil {
		t.Fatalf("defaults: %+v %v", c.StepUpLabels, err)
	}
	if c, _, err = parseConfig("serve", []string{"--data", dir, "--step-up-labels", "none"}); err != nil || c.StepUpLabels == nil || len(c.StepUpLabels) != 0 {
		t.Errorf("none: %+v %v", c.StepUpLabels, err)
	}
	if _, _, err = parseConfig("serve", []string{"--data", dir, "--step-up-labels", "R,|x"}); err == nil {
		t.Error("a bad label accepted")
	}
	if _, _, err = parseConfig("serve", []string{"--data", dir, "--trusted-proxies", "10.0.0.0/99"}); err == nil {
		t.Error("a bad CIDR accepted")
	}
}
