package backendauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// tokenServer issues numbered tokens, or refuses while failing is set.
type tokenServer struct {
	mu      sync.Mutex
	asked   int
	failing bool
	life    int // expires_in
}

func (s *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked++
	w.Header().Set("Content-Type", "application/json")
	if s.failing {
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"error": "temporarily_unavailable", "error_description": "try later"})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("t%d", s.asked), "token_type": "Bearer", "expires_in": s.life})
}

func (s *tokenServer) fail(failing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = failing
}

func (s *tokenServer) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked
}

func newTestSource(t *testing.T, ts *tokenServer, now func() time.Time) *Source {
	t.Helper()
	srv := httptest.NewServer(ts)
	t.Cleanup(srv.Close)
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	key, _ := NewKey(ec)
	src, err := NewSource(Config{ClientID: "c", Key: key, TokenURL: srv.URL + "/oauth/token", Scope: "system/*.rs", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestAFailedRenewalKeepsTheOldTokenAndTriesAgainAfterAPause(t *testing.T) {
	at := time.Unix(1_000_000, 0)
	now := func() time.Time { return at }
	ts := &tokenServer{life: 300}
	src := newTestSource(t, ts, now)
	ctx := context.Background()
	step := func(d time.Duration, want string, wantAsked int, wantErr string) {
		t.Helper()
		at = at.Add(d)
		tok, err := src.Token(ctx)
		asked := ts.requests()
		if tok != want || asked != wantAsked || (err == nil) != (wantErr == "") || err != nil && !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("after %s more: token %q, %d asked, error %v; want %q, %d asked, error %q", d, tok, asked, err, want, wantAsked, wantErr)
		}
	}
	step(0, "t1", 1, "")
	ts.fail(true)
	step(241*time.Second, "t1", 2, "")                                                         // due; the renewal fails, t1 lasts
	step(time.Second, "t1", 2, "")                                                             // within the pause: no request
	step(retryPause, "t1", 3, "")                                                              // tried again, failed again
	step(50*time.Second, "", 4, "503 Service Unavailable: temporarily_unavailable: try later") // t1 spent
	ts.fail(false)
	step(0, "t5", 5, "")
}

func TestTokenErrorsNeverQuoteTheAnswerOfASuccess(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"access_token":"sekrit","token_type":"Bearer"}`)) // no expires_in
	}))
	defer srv.Close()
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	key, _ := NewKey(ec)
	src, _ := NewSource(Config{ClientID: "c", Key: key, TokenURL: srv.URL, Scope: "system/*.rs"})
	_, err := src.Token(context.Background())
	if err == nil || strings.Contains(err.Error(), "sekrit") || !strings.Contains(err.Error(), "expires_in") {
		t.Errorf("got %v", err)
	}
}
