package oauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/oncofhir/oncofhir/fhir"
)

// TestBearerRefusesExpiredAndUnknownTokens: the token check against an
// injected clock.
func TestBearerRefusesExpiredAndUnknownTokens(t *testing.T) {
	st := storeForTest(t)
	now := time.Now()
	clock := func() time.Time { return now }
	ctx := context.Background()
	s, err := New(ctx, Config{BaseURL: "http://localhost:8080/fhir", Records: st, Store: st, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{ID: "app", Type: ClientPublic, RedirectURIs: []string{"http://localhost/cb"}, Scopes: []string{"patient/*.rs"}}
	if _, err := s.clients.Add(ctx, c); err != nil {
		t.Fatal(err)
	}
	req := fosite.NewRequest()
	req.Client = c
	req.GrantedScope = fosite.Arguments{"patient/*.rs"}
	sess := newSession()
	sess.Subject, sess.Patient = "acct", "pat-1"
	sess.SetExpiresAt(fosite.AccessToken, now.Add(10*time.Minute))
	req.Session = sess
	tok, sig, err := s.strategy.GenerateAccessToken(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.storage.CreateAccessTokenSession(ctx, sig, req); err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	check := func(token string) (int, *fhir.Principal) {
		var got *fhir.Principal
		h := s.Bearer(func(c echo.Context) error {
			got = fhir.PrincipalFrom(c.Request().Context())
			return c.NoContent(http.StatusOK)
		})
		r := httptest.NewRequest(http.MethodGet, "/fhir/Patient/pat-1", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		if err := h(e.NewContext(r, w)); err != nil {
			if fe, ok := err.(*fhir.Error); ok {
				return fe.Status, nil
			}
			t.Fatal(err)
		}
		return w.Code, got
	}
	if status, p := check(tok); status != 200 || p == nil || p.Patient != "pat-1" || p.Client != "app" || len(p.Scopes) != 1 {
		t.Fatalf("valid token: %d %+v", status, p)
	}
	for name, bad := range map[string]string{
		"signature altered → 401":      tok[:len(tok)-2] + "xx",
		"another server's token → 401": "ory_at_" + strings.Repeat("A", 43) + "." + strings.Repeat("B", 43),
		"not a token → 401":            "hello",
	} {
		if status, _ := check(bad); status != 401 {
			t.Errorf("%s: %d", name, status)
		}
	}
	now = now.Add(11 * time.Minute)
	if status, _ := check(tok); status != 401 {
		t.Errorf("expired token: %d, want 401", status)
	}
}
