package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

const (
	// reauthWindow is how recent the sign-in must be to add or remove a
	// passkey: changing how one signs in asks for proof again.
	reauthWindow = 5 * time.Minute
	// MaxPasskeys an account may hold.
	MaxPasskeys  = 20
	passkeysPath = "/oauth/passkeys"
)

// passkeyRow is one passkey as the management page lists it.
type passkeyRow struct {
	ID, Name, Created, LastUsed string
	Synced, BackedUp, Cloned    bool
}

// signedInAccount returns the browser's sign-in session and its active
// account, or nil when there is none.
func (s *Server) signedInAccount(c echo.Context) (*Login, *Account, error) {
	login, err := s.logins.current(c)
	if err != nil || login == nil {
		return nil, nil, err
	}
	acct, err := s.accounts.Get(c.Request().Context(), login.Account)
	if errors.Is(err, fhir.ErrNotFound) || (err == nil && acct.Disabled) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	return login, acct, nil
}

// recent tells whether a sign-in session was signed in to within the
// re-authentication window, and not through a trusted device: changing
// factors needs the factors themselves.
func (s *Server) recent(login *Login) bool {
	return s.now().Sub(login.AuthTime) <= reauthWindow && !slices.Contains(login.AMR, AMRTrustedDevice)
}

// passkeysPage lists the signed-in user's passkeys, with forms to rename
// and remove each and to add one.
func (s *Server) passkeysPage(c echo.Context) error {
	return s.showPasskeys(c, http.StatusOK, pageData{})
}

func (s *Server) showPasskeys(c echo.Context, status int, d pageData) error {
	login, acct, err := s.signedInAccount(c)
	if err != nil {
		return err
	}
	if login == nil {
		return c.Redirect(http.StatusSeeOther, "/oauth/login?next="+passkeysPath)
	}
	keys, err := s.passkeys.of(c.Request().Context(), acct.ID)
	if err != nil {
		return err
	}
	d.Title = "Your passkeys"
	if d.Error != "" {
		d.Title = "Your passkeys: please check"
	}
	fresh, err := s.mayChangeFactors(c.Request().Context(), login, acct)
	if err != nil {
		return err
	}
	d.PasskeysOn, d.Script, d.Fresh = s.rp != nil, s.rp != nil, fresh && s.recent(login)
	d.Next = "/oauth/login?next=" + passkeysPath
	for _, k := range keys {
		row := passkeyRow{ID: k.ID(), Name: k.Name, Created: k.Created.Format("2 January 2006"),
			Synced: k.Synced(), BackedUp: k.Credential.Flags.BackupState, Cloned: k.Credential.Authenticator.CloneWarning}
		if !k.LastUsed.IsZero() {
			row.LastUsed = k.LastUsed.Format("2 January 2006")
		}
		d.Passkeys = append(d.Passkeys, row)
	}
	if c.QueryParam("added") == "1" && d.Notice == "" {
		d.Notice = "Your passkey was added. Next time, choose \"Sign in with a passkey\"."
	}
	return s.page(c, status, "passkeys", d)
}

// passkeysNoScript answers the add form posted without its script.
func (s *Server) passkeysNoScript(c echo.Context) error {
	return s.showPasskeys(c, http.StatusBadRequest, pageData{ErrorFor: "passkey-name",
		Error: "Adding a passkey needs JavaScript, which did not run in this browser. Turn it on, or use another browser."})
}

// passkeyRegisterOptions starts adding a passkey: only in a sign-in made
// within the last few minutes.
func (s *Server) passkeyRegisterOptions(c echo.Context) error {
	if ok, err := s.jsonCall(c); !ok {
		return err
	}
	if limited, err := s.rateLimited(c); limited {
		return err
	}
	ctx := c.Request().Context()
	login, acct, err := s.signedInAccount(c)
	if err != nil {
		return err
	}
	if login == nil {
		return jsonError(c, http.StatusUnauthorized, "You are signed out. Sign in again, then add your passkey.")
	}
	if ok, err := s.mayChangeFactors(ctx, login, acct); err != nil {
		return err
	} else if !ok || !s.recent(login) {
		return c.JSON(http.StatusForbidden, map[string]string{"error": "For your safety, sign in again with your authenticator app, a recovery code or a passkey before adding a passkey.",
			"reauth": "/oauth/login?next=" + passkeysPath})
	}
	var body struct {
		Name string `json:"name"`
	}
	_ = json.NewDecoder(c.Request().Body).Decode(&body)
	name, ok := cleanPasskeyName(body.Name)
	if !ok {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "Give the passkey a name of 1 to 60 characters, such as \"My phone\".", "field": "passkey-name"})
	}
	keys, err := s.passkeys.of(ctx, acct.ID)
	if err != nil {
		return err
	}
	if len(keys) >= MaxPasskeys {
		return jsonError(c, http.StatusConflict, "You have as many passkeys as an account may hold. Remove one you no longer use first.")
	}
	user := userOf(acct, keys)
	creation, session, err := s.rp.BeginRegistration(user,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExclusions(webauthn.Credentials(user.creds).CredentialDescriptors()),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation))
	if err != nil {
		return err
	}
	if err := s.startCeremony(c, &ceremony{Purpose: ceremonyRegister, Session: *session, Login: login.key, Account: acct.ID, Name: name}); err != nil {
		if errors.Is(err, errNoCeremony) {
			return jsonError(c, http.StatusForbidden, "This page had expired. Reload it and try again.")
		}
		return err
	}
	return c.JSON(http.StatusOK, creation)
}

// passkeyRegister finishes adding a passkey to the account.
func (s *Server) passkeyRegister(c echo.Context) error {
	if ok, err := s.jsonCall(c); !ok {
		return err
	}
	ctx := c.Request().Context()
	cer, err := s.takeCeremony(c, ceremonyRegister)
	if errors.Is(err, errNoCeremony) {
		return jsonError(c, http.StatusBadRequest, "This request had expired. Try adding the passkey again.")
	} else if err != nil {
		return err
	}
	login, acct, err := s.signedInAccount(c)
	if err != nil {
		return err
	}
	if login == nil || login.key != cer.Login || acct.ID != cer.Account {
		return jsonError(c, http.StatusUnauthorized, "You are signed out. Sign in again, then add your passkey.")
	}
	ev := SecurityEvent{Kind: FactorEnrolled, Account: acct.ID, Role: acct.Role}
	refuse := func(why string) error {
		ev.Detail = why
		s.report(c, ev)
		return jsonError(c, http.StatusBadRequest, "The passkey could not be added. Try again, or try another device.")
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(c.Request().Body)
	if err != nil {
		return refuse("passkey refused: malformed answer")
	}
	keys, err := s.passkeys.of(ctx, acct.ID)
	if err != nil {
		return err
	}
	cred, err := s.rp.CreateCredential(userOf(acct, keys), cer.Session, parsed)
	if err != nil || !cred.Flags.UserVerified {
		return refuse("passkey refused: registration not valid (challenge, origin, RP ID or user verification)")
	}
	key := &Passkey{Account: acct.ID, Name: cer.Name, Created: s.now().UTC(), Credential: *cred}
	if err := s.passkeys.put(ctx, key); errors.Is(err, fhir.ErrVersionConflict) {
		return refuse("passkey refused: credential id already registered")
	} else if err != nil {
		return err
	}
	ev.Success, ev.Detail = true, "passkey added ("+key.AMR()[0]+"); the account's other sessions and tokens ended"
	if err := s.endOtherAccess(ctx, acct.ID, login.key); err != nil {
		ev.Detail = "passkey added (" + key.AMR()[0] + "); ending the other sessions and tokens failed"
		s.report(c, ev)
		return err
	}
	s.report(c, ev)
	s.accounts.notify(ctx, acct, FactorEnrolled, NoticePasskeyAdded)
	return c.JSON(http.StatusOK, map[string]string{"next": passkeysPath + "?added=1"})
}

// ownPasskey reads the signed-in user's passkey that a posted form names
// (its id). When answered, the response is already given (or err is):
// the form expired, nobody is signed in (the sign-in page), or the
// account has no such passkey (404; another's is as good as none).
func (s *Server) ownPasskey(c echo.Context) (login *Login, acct *Account, key *Passkey, answered bool, err error) {
	if !s.checkCSRF(c) {
		return nil, nil, nil, true, s.formExpired(c)
	}
	login, acct, err = s.signedInAccount(c)
	if err != nil {
		return nil, nil, nil, true, err
	}
	if login == nil {
		return nil, nil, nil, true, c.Redirect(http.StatusSeeOther, "/oauth/login?next="+passkeysPath)
	}
	none := func() (*Login, *Account, *Passkey, bool, error) {
		return nil, nil, nil, true, s.showPasskeys(c, http.StatusNotFound, pageData{Error: "That passkey is no longer on your account."})
	}
	id, err := decodeCredID(c.FormValue("id"))
	if err != nil {
		return none()
	}
	key, err = s.passkeys.get(c.Request().Context(), id)
	switch {
	case errors.Is(err, fhir.ErrNotFound), err == nil && key.Account != acct.ID:
		return none()
	case err != nil:
		return nil, nil, nil, true, err
	}
	return login, acct, key, false, nil
}

// passkeyRename gives a passkey a new name.
func (s *Server) passkeyRename(c echo.Context) error {
	_, _, key, answered, err := s.ownPasskey(c)
	if answered {
		return err
	}
	name, ok := cleanPasskeyName(c.FormValue("name"))
	if !ok {
		return s.showPasskeys(c, http.StatusBadRequest, pageData{ErrorFor: "name-" + key.ID(),
			Error: "Give the passkey a name of 1 to 60 characters, such as \"My phone\"."})
	}
	key.Name = name
	if err := s.passkeys.put(c.Request().Context(), key); err != nil && !errors.Is(err, fhir.ErrVersionConflict) {
		return err
	}
	return c.Redirect(http.StatusSeeOther, passkeysPath)
}

// passkeyRemove takes a passkey off the account, after a recent sign-in,
// and ends the account's other sign-in sessions: whoever else signed in
// with it is signed out.
func (s *Server) passkeyRemove(c echo.Context) error {
	ctx := c.Request().Context()
	login, acct, key, answered, err := s.ownPasskey(c)
	if answered {
		return err
	}
	if ok, err := s.mayChangeFactors(ctx, login, acct); err != nil {
		return err
	} else if !ok {
		return s.showPasskeys(c, http.StatusForbidden, pageData{Error: "For your safety, sign in again with your authenticator app, a recovery code or a passkey before removing a passkey."})
	}
	if err := s.passkeys.remove(ctx, key); err != nil {
		return err
	}
	ev := SecurityEvent{Kind: FactorRemoved, Account: acct.ID, Role: acct.Role, Success: true,
		Detail: "passkey removed; the account's other sessions and tokens ended"}
	if err := s.endOtherAccess(ctx, acct.ID, login.key); err != nil {
		ev.Detail = "passkey removed; ending the other sessions and tokens failed"
		s.report(c, ev)
		return err
	}
	if err := s.endDevicesNow(c, acct, revokedPasskeyGone); err != nil {
		return err
	}
	s.report(c, ev)
	s.accounts.notify(ctx, acct, FactorRemoved, NoticePasskeyRemoved)
	return s.showPasskeys(c, http.StatusOK, pageData{Notice: "The passkey \"" + key.Name + "\" was removed. It can no longer be used to sign in."})
}

// endOtherLogins ends every sign-in session of an account but one, and
// the online_access grants made in them.
func (s *Server) endOtherLogins(ctx context.Context, account, keep string) error {
	found, err := s.cfg.Records.FindRecords(ctx, kindLogin, "account", account)
	if err != nil {
		return err
	}
	for _, r := range found {
		if r.Key == keep {
			continue
		}
		if err := s.cfg.Records.DeleteRecord(ctx, kindLogin, r.Key); err != nil {
			return err
		}
		for _, kind := range []string{kindAccess, kindRefresh} {
			if err := s.storage.deleteWhere(ctx, kind, "online", r.Key); err != nil {
				return err
			}
		}
	}
	return nil
}
