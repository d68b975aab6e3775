package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

// Fallback codes: a user who cannot use their authenticator app may ask,
// on the code page after a right password, for a one-time code by text
// message or email, sent through the Sender to the verified phone or
// email on their account. A code is 6 random digits, works once, for 5
// minutes, and is kept only as a keyed hash; a wrong one counts toward
// the same code limits and account lock as any other (checkCode). An
// account gets at most fallbackSendsPerHour codes an hour.
//
// A code by text or email is a weak second factor (it can be redirected
// or read elsewhere): it completes a routine sign-in (acr two factors,
// amr "sms" for a text message and "mca" for an email, RFC 8176's
// multiple-channel authentication), but never counts as strong
// (StrongAuthentication): step-up, labelled resources, a client that
// needs a passkey and every change of sign-in factors still ask for the
// authenticator app, a recovery code or a passkey. It is offered only at
// a routine sign-in with no risk signal, never when a signed-in session
// is asked for more.
const (
	kindFallback      = "login.fallback"      // key: account id
	kindFallbackSends = "login.fallbacksends" // key: account id
	fallbackLife      = 5 * time.Minute
	// fallbackSendsPerHour bounds the codes sent to one account an hour.
	fallbackSendsPerHour = 3

	// AMRSMS and AMREmail are the amr values (RFC 8176) of a second
	// factor that was a code sent by text message or by email.
	AMRSMS   = "sms"
	AMREmail = "mca"
)

// fallbackText is the one message a fallback code travels in.
const fallbackText = "Your sign-in code is %s. It expires in 5 minutes."

// fallbackAMR tells whether a sign-in's second factor was a code sent by
// text message or email.
func fallbackAMR(amr []string) bool {
	return slices.Contains(amr, AMRSMS) || slices.Contains(amr, AMREmail)
}

func amrOf(ch Channel) string {
	if ch == ChannelSMS {
		return AMRSMS
	}
	return AMREmail
}

// fallbackCode is the code last sent to an account, kept by its hash.
type fallbackCode struct {
	Hash    string    `json:"hash"`
	Channel Channel   `json:"channel"`
	Expires time.Time `json:"expires"`
}

// fallbackSends are the times codes were sent to an account in the last
// hour.
type fallbackSends struct {
	Sent []time.Time `json:"sent"`
}

// ErrTooManySends refuses a fallback code beyond the hourly limit.
var ErrTooManySends = errors.New("oauth: too many sign-in codes sent in the last hour")

// fallbackChoice is one "send me a code" button of the code page.
type fallbackChoice struct {
	Channel Channel
	Label   string // "Text me a code at •••• 1234"
}

// fallbackAllowed tells whether a pending sign-in may use a code by
// text or email: not without a Sender, when a signed-in session is asked
// for more, when the sign-in is made to change factors (which such a
// code cannot), nor after risk signals, which ask for the strongest
// factor the account has.
func (s *Server) fallbackAllowed(p pendingLogin) bool {
	return s.cfg.Sender != nil && p.Login == "" && !p.risky() && !p.PasskeyAsked &&
		!strings.HasPrefix(p.Next, passkeysPath) && !strings.HasPrefix(p.Next, enrollPath)
}

// fallbackChoices are the channels the code page may offer an account:
// its phone and email, where the pending sign-in allows such a code.
func (s *Server) fallbackChoices(acct *Account, p pendingLogin) []fallbackChoice {
	if !s.fallbackAllowed(p) {
		return nil
	}
	var out []fallbackChoice
	for _, d := range acct.destinations() {
		label := "Send me a code by text message instead, to " + d.masked()
		if d.Channel == ChannelEmail {
			label = "Send me a code by email instead, to " + d.masked()
		}
		out = append(out, fallbackChoice{Channel: d.Channel, Label: label})
	}
	return out
}

// fallbackHash is the keyed hash a code is kept as: six digits are few,
// so a plain hash would give them away.
func (s *Server) fallbackHash(account, code string) string {
	m := hmac.New(sha256.New, append([]byte("fallback"), s.csrfKey...))
	m.Write([]byte(account + "\x00" + code))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newFallbackCode is 6 random digits.
func newFallbackCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// countSend counts one more code sent to the account, unless the hourly
// limit is reached (ErrTooManySends).
func (s *Server) countSend(ctx context.Context, account string) error {
	now := s.now().UTC()
	for range 8 {
		var sends fallbackSends
		r, err := s.cfg.Records.GetRecord(ctx, kindFallbackSends, account)
		if errors.Is(err, fhir.ErrNotFound) {
			r = &fhir.Record{Kind: kindFallbackSends, Key: account}
		} else if err != nil {
			return err
		} else if err := json.Unmarshal(r.Data, &sends); err != nil {
			return err
		}
		sends.Sent = slices.DeleteFunc(sends.Sent, func(t time.Time) bool { return now.Sub(t) >= time.Hour })
		if len(sends.Sent) >= fallbackSendsPerHour {
			return ErrTooManySends
		}
		sends.Sent = append(sends.Sent, now)
		if r.Data, err = json.Marshal(sends); err != nil {
			return err
		}
		r.Expires = now.Add(time.Hour)
		err = s.cfg.Records.PutRecord(ctx, r)
		if !errors.Is(err, fhir.ErrVersionConflict) {
			return err
		}
	}
	return ErrTooManySends // racing sends: refuse this one
}

// sendFallback makes a new code for the account (the one sent before
// stops working), keeps its hash and sends it to dest.
func (s *Server) sendFallback(ctx context.Context, acct *Account, dest destination) error {
	code, err := newFallbackCode()
	if err != nil {
		return err
	}
	fc := fallbackCode{Hash: s.fallbackHash(acct.ID, code), Channel: dest.Channel, Expires: s.now().UTC().Add(fallbackLife)}
	data, err := json.Marshal(fc)
	if err != nil {
		return err
	}
	stored := false
	for range maxRetries {
		r, err := s.cfg.Records.GetRecord(ctx, kindFallback, acct.ID)
		if errors.Is(err, fhir.ErrNotFound) {
			r = &fhir.Record{Kind: kindFallback, Key: acct.ID}
		} else if err != nil {
			return err
		}
		r.Data, r.Expires = data, fc.Expires
		err = s.cfg.Records.PutRecord(ctx, r)
		if errors.Is(err, fhir.ErrVersionConflict) {
			continue
		}
		if err != nil {
			return err
		}
		stored = true
		break
	}
	if !stored {
		return errBusy
	}
	if err := s.cfg.Sender.Send(ctx, Message{Channel: dest.Channel, To: dest.To, Text: fmt.Sprintf(fallbackText, code)}); err != nil {
		_ = s.cfg.Records.DeleteRecord(ctx, kindFallback, acct.ID)
		return err
	}
	return nil
}

// useFallbackCode accepts the account's outstanding fallback code once,
// compared in constant time, and returns its channel; ErrBadCode when
// there is none, it expired, or it is not this one.
func (s *Server) useFallbackCode(ctx context.Context, acct *Account, typed string) (Channel, error) {
	if len(typed) != 6 {
		return "", ErrBadCode
	}
	r, err := s.cfg.Records.GetRecord(ctx, kindFallback, acct.ID)
	if errors.Is(err, fhir.ErrNotFound) {
		return "", ErrBadCode
	} else if err != nil {
		return "", err
	}
	var fc fallbackCode
	if err := json.Unmarshal(r.Data, &fc); err != nil {
		return "", err
	}
	want := s.fallbackHash(acct.ID, typed)
	if !s.now().Before(fc.Expires) || !hmac.Equal([]byte(want), []byte(fc.Hash)) {
		return "", ErrBadCode
	}
	// Used up: of two racing uses, the one whose write loses fails.
	fc.Expires = time.Time{}
	if r.Data, err = json.Marshal(fc); err != nil {
		return "", err
	}
	if err := s.cfg.Records.PutRecord(ctx, r); errors.Is(err, fhir.ErrVersionConflict) {
		return "", ErrBadCode
	} else if err != nil {
		return "", err
	}
	_ = s.cfg.Records.DeleteRecord(ctx, kindFallback, acct.ID)
	return fc.Channel, nil
}

// sendCodePost answers "send me a code instead" on the code page.
func (s *Server) sendCodePost(c echo.Context) error {
	ctx := c.Request().Context()
	p, _, answered, err := s.pending(c)
	if answered {
		return err
	}
	acct, err := s.accounts.Get(ctx, p.Account)
	if err != nil {
		return err
	}
	choices := s.fallbackChoices(acct, p)
	dest, ok := acct.destination(Channel(c.FormValue("channel")))
	if !ok || len(choices) == 0 || acct.Disabled {
		return s.codePage(c, http.StatusBadRequest, acct, p, pageData{Title: "Enter your code: please check",
			Error: "A code by text message or email is not available here. Use your authenticator app or a recovery code."})
	}
	if err := s.countSend(ctx, acct.ID); errors.Is(err, ErrTooManySends) {
		s.report(c, SecurityEvent{Kind: FallbackCodeSent, Account: acct.ID, Role: acct.Role,
			Detail: "sign-in code not sent: hourly limit reached"})
		return s.codePage(c, http.StatusTooManyRequests, acct, p, pageData{Title: "Enter your code: please wait",
			Error: "Several codes were sent in the last hour. Use your authenticator app or a recovery code, or try again in an hour."})
	} else if err != nil {
		return err
	}
	ev := SecurityEvent{Kind: FallbackCodeSent, Account: acct.ID, Role: acct.Role, Success: true,
		Detail: "sign-in code sent by " + dest.how() + " to " + dest.masked()}
	if err := s.sendFallback(ctx, acct, dest); err != nil {
		s.log.Error("oauth: sign-in code not sent", "channel", string(dest.Channel), "account", acct.ID, "err", err)
		ev.Success, ev.Detail = false, "sign-in code not sent by "+dest.how()+": the sender failed"
		s.report(c, ev)
		return s.codePage(c, http.StatusServiceUnavailable, acct, p, pageData{Title: "Enter your code: the code was not sent",
			Error: "The code could not be sent just now. Use your authenticator app or a recovery code, or try again in a few minutes."})
	}
	s.report(c, ev)
	return s.codePage(c, http.StatusOK, acct, p, pageData{Title: "Enter the code we sent",
		Notice: "We sent a 6-digit code by " + dest.how() + " to " + dest.masked() + ". It works once, for 5 minutes."})
}
