package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

// RecoveryCodes is how many one-time recovery codes an account gets.
const RecoveryCodes = 10

var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newRecoveryCode is 80 random bits, written as four groups of four
// letters and digits (easy to read out and type).
func newRecoveryCode() string {
	s := strings.ToLower(codeEncoding.EncodeToString(randomBytes(10)))
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// normalizeCode accepts a code typed with or without dashes, spaces or
// capitals.
func normalizeCode(code string) string {
	code = strings.ToLower(strings.TrimSpace(code))
	return strings.NewReplacer("-", "", " ", "").Replace(code)
}

func hashCode(code string) string {
	sum := sha256.Sum256([]byte(normalizeCode(code)))
	return codeEncoding.EncodeToString(sum[:])
}

// NewRecoveryCodes replaces an account's recovery codes and returns the
// new ones, to show once; only their hashes are kept (80 random bits
// each, so a fast hash is enough).
func (as Accounts) NewRecoveryCodes(ctx context.Context, username string) ([]string, error) {
	codes := make([]string, RecoveryCodes)
	hashes := make([]string, RecoveryCodes)
	for i := range codes {
		codes[i] = newRecoveryCode()
		hashes[i] = hashCode(codes[i])
	}
	for range maxRetries {
		a, err := as.ByUsername(ctx, username)
		if err != nil {
			return nil, err
		}
		a.Recovery = hashes
		err = as.put(ctx, a)
		if errors.Is(err, fhir.ErrVersionConflict) {
			continue
		}
		return codes, err
	}
	return nil, errBusy
}

// UseRecoveryCode accepts one of an account's recovery codes once, and
// returns how many remain.
func (as Accounts) UseRecoveryCode(ctx context.Context, accountID, code string) (int, error) {
	want := hashCode(code)
	for range maxRetries {
		a, err := as.Get(ctx, accountID)
		if err != nil {
			return 0, err
		}
		if a.Disabled || len(normalizeCode(code)) != 16 {
			return 0, ErrBadCode
		}
		found := -1
		for i, h := range a.Recovery {
			if subtle.ConstantTimeCompare([]byte(h), []byte(want)) == 1 {
				found = i
			}
		}
		if found < 0 {
			return 0, ErrBadCode
		}
		a.Recovery = append(a.Recovery[:found:found], a.Recovery[found+1:]...)
		err = as.put(ctx, a)
		if errors.Is(err, fhir.ErrVersionConflict) {
			continue // a racing use: read again; a second use then fails
		}
		return len(a.Recovery), err
	}
	return 0, errBusy
}

// mayChangeFactors tells whether a sign-in session may change how its
// account signs in: set up or replace an authenticator app, add or
// remove a passkey, make new recovery codes, change the phone or email
// codes and notices go to. An account that has a factor needs a sign-in
// within reauthWindow whose second factor was strong (an authenticator
// code, a recovery code or a passkey; never a password alone, a trusted
// device or a code by text or email), so that a stolen password, with or
// without a redirected text message, cannot replace the owner's
// factors. An account with none yet sets up its first with its password
// session, unless a staff reset asked for its link (EnrollByLink).
func (s *Server) mayChangeFactors(ctx context.Context, login *Login, acct *Account) (bool, error) {
	has, err := s.hasFactor(ctx, acct)
	if err != nil {
		return false, err
	}
	if !has {
		return !acct.EnrollByLink, nil
	}
	return s.recent(login) && StrongAuthentication(login.ACR, login.AMR), nil
}

// endOtherAccess ends, after a factor change, every sign-in session of
// the account but keep (this browser's) and every code and token not
// made in keep: whoever else was signed in must sign in again.
func (s *Server) endOtherAccess(ctx context.Context, account, keep string) error {
	if err := s.endOtherLogins(ctx, account, keep); err != nil {
		return err
	}
	for _, kind := range []string{kindAccess, kindRefresh, kindCode, kindPKCE, kindOIDC} {
		found, err := s.cfg.Records.FindRecords(ctx, kind, "subject", account)
		if err != nil {
			return err
		}
		for _, r := range found {
			if keep != "" && r.Attrs["login"] == keep {
				continue
			}
			if err := s.cfg.Records.DeleteRecord(ctx, kind, r.Key); err != nil && !errors.Is(err, fhir.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// refuseFactorChange answers a factor change that mayChangeFactors
// refused: after a staff reset, the set-up link; otherwise a fresh
// sign-in with a strong factor, then back to next.
func (s *Server) refuseFactorChange(c echo.Context, acct *Account, next string) error {
	if acct.EnrollByLink && !acct.HasSecondFactor() {
		return s.page(c, http.StatusForbidden, "error", pageData{Title: "Use the set-up link the care team gave you",
			Message: "Your sign-in was reset by staff, so a new second step can be set up only through the link they gave you. Ask the front desk or your nurse for a new one if it no longer works."})
	}
	return s.page(c, http.StatusForbidden, "error", pageData{Title: "Sign in again to change how you sign in",
		Message: "For your safety, this needs a sign-in from the last few minutes with your authenticator app, a recovery code or a passkey.",
		Next:    "/oauth/login?next=" + url.QueryEscape(next)})
}
