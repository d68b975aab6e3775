package oauth

import (
	"crypto/hmac"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

const (
	kindCeremony   = "webauthn.ceremony"
	ceremonyCookie = "oncofhir_webauthn"
	// ceremonyLife is how long a passkey prompt may stay open.
	ceremonyLife = 3 * time.Minute
	csrfHeader   = "X-CSRF-Token"
)

// Ceremony purposes.
const (
	ceremonyLogin    = "login"
	ceremonyRegister = "register"
)

// ceremony is a WebAuthn ceremony in progress, kept server side (the
// browser holds only a random cookie, whose hash is the record key) and
// bound to the browser that started it, and for a registration to its
// sign-in session. The first answer uses it up, right or wrong: a
// challenge is never accepted twice.
type ceremony struct {
	Purpose string               `json:"purpose"`
	Session webauthn.SessionData `json:"session"`
	Browser string               `json:"browser"`           // hash of the browser's CSRF cookie
	Login   string               `json:"login,omitempty"`   // registration: the sign-in session's key
	Account string               `json:"account,omitempty"` // registration: whose passkey
	Name    string               `json:"name,omitempty"`    // registration: the name the user gave
	Next    string               `json:"next,omitempty"`    // sign-in: where to go after
	Trust   bool                 `json:"trust,omitempty"`   // sign-in: trust this device after
	Expires time.Time            `json:"expires"`
}

// errNoCeremony answers an unknown, used, expired or foreign ceremony.
var errNoCeremony = errors.New("oauth: no live passkey ceremony for this browser")

// startCeremony keeps a ceremony and gives the browser its cookie.
func (s *Server) startCeremony(c echo.Context, cer *ceremony) error {
	ck, err := c.Cookie(csrfCookie)
	if err != nil {
		return errNoCeremony
	}
	cer.Browser = hashKey(ck.Value)
	cer.Expires = s.now().UTC().Add(ceremonyLife)
	data, err := json.Marshal(cer)
	if err != nil {
		return err
	}
	value := randomToken(32)
	if err := s.cfg.Records.PutRecord(c.Request().Context(), &fhir.Record{Kind: kindCeremony, Key: hashKey(value), Data: data,
		Expires: cer.Expires}); err != nil {
		return err
	}
	setCookie(c, ceremonyCookie, value, int(ceremonyLife/time.Second))
	return nil
}

// takeCeremony returns this browser's ceremony of a purpose and removes
// it, so that it answers once only.
func (s *Server) takeCeremony(c echo.Context, purpose string) (*ceremony, error) {
	ck, err := c.Cookie(ceremonyCookie)
	if err != nil || ck.Value == "" {
		return nil, errNoCeremony
	}
	setCookie(c, ceremonyCookie, "", -1)
	ctx, key := c.Request().Context(), hashKey(ck.Value)
	r, err := s.cfg.Records.GetRecord(ctx, kindCeremony, key)
	if errors.Is(err, fhir.ErrNotFound) {
		return nil, errNoCeremony
	} else if err != nil {
		return nil, err
	}
	// Delete before use: of two racing answers, the second finds nothing.
	if err := s.cfg.Records.DeleteRecord(ctx, kindCeremony, key); err != nil {
		return nil, err
	}
	var cer ceremony
	if err := json.Unmarshal(r.Data, &cer); err != nil {
		return nil, err
	}
	browser, err := c.Cookie(csrfCookie)
	if err != nil || !hmac.Equal([]byte(hashKey(browser.Value)), []byte(cer.Browser)) ||
		cer.Purpose != purpose || !s.now().Before(cer.Expires) {
		return nil, errNoCeremony
	}
	return &cer, nil
}

// jsonCall checks what every passkey JSON endpoint needs: passkeys on,
// a JSON body, a same-origin request, and the page's CSRF token in the
// X-CSRF-Token header. It answers the refusal itself (ok false).
func (s *Server) jsonCall(c echo.Context) (ok bool, err error) {
	if s.rp == nil {
		return false, jsonError(c, http.StatusNotFound, "Passkeys are not available on this server.")
	}
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if mt != echo.MIMEApplicationJSON {
		return false, jsonError(c, http.StatusUnsupportedMediaType, "This request must be JSON.")
	}
	if o := c.Request().Header.Get("Origin"); o != "" && o != s.root {
		return false, jsonError(c, http.StatusForbidden, "This page had expired. Reload it and try again.")
	}
	if !s.checkCSRFToken(c, c.Request().Header.Get(csrfHeader)) {
		return false, jsonError(c, http.StatusForbidden, "This page had expired. Reload it and try again.")
	}
	return true, nil
}

// jsonError is the passkey endpoints' refusal: a message for the page to
// show, in plain words.
func jsonError(c echo.Context, status int, message string) error {
	return c.JSON(status, map[string]string{"error": message})
}

// rateLimited refuses a ceremony the address may not start now.
func (s *Server) rateLimited(c echo.Context) (bool, error) {
	ok, err := s.allowCeremony(c.Request().Context(), c.RealIP())
	if err != nil {
		return true, err
	}
	if !ok {
		return true, jsonError(c, http.StatusTooManyRequests, "There have been many passkey attempts from this network. Wait a few minutes, then try again.")
	}
	return false, nil
}
