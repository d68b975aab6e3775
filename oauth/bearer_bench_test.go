package oauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
)

// BenchmarkBearer measures what the token check adds to every FHIR
// request: one access token resolved into a Principal.
func BenchmarkBearer(b *testing.B) {
	st, err := sqlitestore.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	s, err := New(ctx, Config{BaseURL: "http://localhost:8080/fhir", Records: st, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	c := &Client{ID: "bench", Type: ClientPublic, RedirectURIs: []string{"http://localhost/cb"}, Scopes: []string{"patient/*.rs"}}
	if _, err := s.clients.Add(ctx, c); err != nil {
		b.Fatal(err)
	}
	req := fosite.NewRequest()
	req.Client = c
	req.GrantedScope = fosite.Arguments{"patient/*.rs", "openid", "fhirUser"}
	sess := newSession()
	sess.Subject, sess.Patient, sess.FHIRUser = "acct", "pat-1", "Patient/pat-1"
	sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
	req.Session = sess
	tok, sig, err := s.strategy.GenerateAccessToken(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.storage.CreateAccessTokenSession(ctx, sig, req); err != nil {
		b.Fatal(err)
	}
	e := echo.New()
	h := s.Bearer(func(c echo.Context) error {
		if fhir.PrincipalFrom(c.Request().Context()) == nil {
			b.Fatal("no principal")
		}
		return nil
	})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, "/fhir/Patient/pat-1", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		if err := h(e.NewContext(r, httptest.NewRecorder())); err != nil {
			b.Fatal(err)
		}
	}
}
