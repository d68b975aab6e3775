package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

const (
	kindLogin   = "login"
	loginCookie = "oncofhir_login"
	csrfCookie  = "oncofhir_csrf"
)

// Login is a signed-in browser: server-side, found by the hash of the
// cookie's random value (the value itself is never stored).
type Login struct {
	Account  string    `json:"account"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"lastSeen"`
	AuthTime time.Time `json:"authTime"`
	AMR      []string  `json:"amr"`
	ACR      string    `json:"acr"`
	// Deferred: the account put off setting up a second factor in this
	// session, which may then reach the account pages (never a token).
	Deferred bool `json:"deferred,omitempty"`
	key      string
	rev      int64
}

type logins struct {
	rec            fhir.Records
	now            func() time.Time
	idle, absolute time.Duration
}

func hashKey(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// start creates a login session for an account and sets its cookie. A
// new random id at every sign-in: a session id is never carried over.
func (l logins) start(c echo.Context, account string, amr []string, acr string) (*Login, error) {
	now := l.now().UTC()
	value := randomToken(32)
	lg := &Login{Account: account, Created: now, LastSeen: now, AuthTime: now, AMR: amr, ACR: acr, key: hashKey(value)}
	data, err := json.Marshal(lg)
	if err != nil {
		return nil, err
	}
	if err := l.rec.PutRecord(c.Request().Context(), &fhir.Record{Kind: kindLogin, Key: lg.key, Data: data,
		Attrs: map[string]string{"account": account}, Expires: now.Add(l.absolute)}); err != nil {
		return nil, err
	}
	setCookie(c, loginCookie, value, 0)
	return lg, nil
}

// current returns the browser's login session, or nil when there is none
// or it has been idle too long; it refreshes the idle clock.
func (l logins) current(c echo.Context) (*Login, error) {
	ck, err := c.Cookie(loginCookie)
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	ctx := c.Request().Context()
	key := hashKey(ck.Value)
	r, err := l.rec.GetRecord(ctx, kindLogin, key)
	if errors.Is(err, fhir.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var lg Login
	if err := json.Unmarshal(r.Data, &lg); err != nil {
		return nil, err
	}
	lg.key, lg.rev = key, r.Rev
	now := l.now().UTC()
	// The absolute limit is the record's expiry too; checked here as well
	// so that it holds by this server's clock, whatever the store's.
	if now.Sub(lg.LastSeen) > l.idle || (l.absolute > 0 && now.Sub(lg.Created) >= l.absolute) {
		_ = l.rec.DeleteRecord(ctx, kindLogin, key)
		return nil, nil
	}
	if now.Sub(lg.LastSeen) > time.Minute {
		lg.LastSeen = now
		if data, err := json.Marshal(lg); err == nil {
			r.Data = data
			_ = l.rec.PutRecord(ctx, r) // a lost race only means another request refreshed it
		}
	}
	return &lg, nil
}

// maxRetries is how many times a read-modify-write of one record is
// tried while other requests keep changing it; then the request fails
// (errBusy) rather than spin.
const maxRetries = 10

var errBusy = errors.New("oauth: the record kept changing; gave up after repeated conflicts")

// markDeferred records in a login session that its account put off
// enrollment.
func (l logins) markDeferred(ctx context.Context, lg *Login) error {
	for range maxRetries {
		r, err := l.rec.GetRecord(ctx, kindLogin, lg.key)
		if err != nil {
			return err
		}
		var cur Login
		if err := json.Unmarshal(r.Data, &cur); err != nil {
			return err
		}
		cur.Deferred = true
		if r.Data, err = json.Marshal(cur); err != nil {
			return err
		}
		err = l.rec.PutRecord(ctx, r)
		if errors.Is(err, fhir.ErrVersionConflict) {
			continue // the idle clock moved: read again
		}
		lg.Deferred = err == nil
		return err
	}
	return errBusy
}

// alive tells whether a login session still exists (online_access refresh
// tokens end with it).
func (l logins) alive(ctx context.Context, key string) bool {
	r, err := l.rec.GetRecord(ctx, kindLogin, key)
	if err != nil {
		return false
	}
	var lg Login
	return json.Unmarshal(r.Data, &lg) == nil && l.now().Sub(lg.LastSeen) <= l.idle
}

// end signs the browser out: its session, and the online_access grants
// made in it, end now. It returns the session's account ("" when the
// browser had none).
func (l logins) end(c echo.Context) (account string) {
	if ck, err := c.Cookie(loginCookie); err == nil {
		ctx, key := c.Request().Context(), hashKey(ck.Value)
		if r, err := l.rec.GetRecord(ctx, kindLogin, key); err == nil {
			var lg Login
			if json.Unmarshal(r.Data, &lg) == nil {
				account = lg.Account
			}
		}
		_ = l.rec.DeleteRecord(ctx, kindLogin, key)
		st := &storage{rec: l.rec, now: l.now}
		for _, kind := range []string{kindAccess, kindRefresh} {
			_ = st.deleteWhere(ctx, kind, "online", key)
		}
	}
	setCookie(c, loginCookie, "", -1)
	return account
}

func setCookie(c echo.Context, name, value string, maxAge int) {
	secure := c.Scheme() == "https"
	c.SetCookie(&http.Cookie{Name: name, Value: value, Path: "/oauth", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

// csrfToken returns the form token of this browser: an HMAC of a random
// per-browser cookie, so a page from another site cannot forge it.
func (s *Server) csrfToken(c echo.Context) string {
	v := ""
	if ck, err := c.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 {
		v = ck.Value
	} else {
		v = randomToken(32)
		setCookie(c, csrfCookie, v, 0)
		c.Request().AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	}
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// formExpired answers a form whose CSRF token did not check (the page
// was too old, or came from elsewhere).
func (s *Server) formExpired(c echo.Context) error {
	return s.page(c, http.StatusBadRequest, "error", pageData{Title: "This form has expired", Message: "Go back, reload the page and try again."})
}

// checkCSRF compares a posted form token with this browser's, in
// constant time.
func (s *Server) checkCSRF(c echo.Context) bool {
	return s.checkCSRFToken(c, c.FormValue("csrf"))
}

// checkCSRFToken compares a token (a form field, or the header a page's
// script sends) with this browser's, in constant time.
func (s *Server) checkCSRFToken(c echo.Context, token string) bool {
	ck, err := c.Cookie(csrfCookie)
	if err != nil || len(ck.Value) < 32 {
		return false
	}
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(ck.Value))
	want := base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(want), []byte(token))
}
