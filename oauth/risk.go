package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

// Risk-based prompts. After a right password the sign-in is weighed
// against the account's recent successful sign-ins, kept in a small
// bounded history (historySize entries of keyed hashes: never an address
// or a cookie's value):
//
//   - new-device: the browser holds neither a live trusted-device token
//     of the account nor a device id (a long-lived random cookie, apart
//     from the trust token) seen in the history;
//   - new-network: the client's network (IPv4 /24, IPv6 /64 of the
//     address the server sees: the connection's, or the trusted
//     proxies' X-Forwarded-For) is not in the history;
//   - unusual-hour: once the history holds minHistoryForHours sign-ins,
//     the hour of day (in Config.Location) is neither one of theirs nor
//     next to one (a habit of signing in at 15:55 does not make 16:05
//     unusual);
//   - recent-failures: the throttle counted failed passwords or codes
//     for the account since its last success (within a day).
//
// Any signal removes the trusted-device shortcut and asks for the
// strongest factor the account has: its passkey, else the code page (a
// passkey-only account is asked for its passkey by the authorization
// itself, see decide).
// Each decision is audited as risk-assessed, its Detail naming the
// signals (a fixed vocabulary, no PHI).

const (
	kindHistory    = "login.history"
	deviceIDCookie = "oncofhir_device"
	// deviceIDLife is how long a browser keeps its device id (browsers
	// cap cookies at about 400 days).
	deviceIDLife = 400 * 24 * time.Hour
	// historySize is how many successful sign-ins an account's history
	// keeps; minHistoryForHours how many it needs before an hour of day
	// can be unusual.
	historySize        = 20
	minHistoryForHours = 5
)

// Risk signals, as the audit trail names them.
const (
	SignalNewDevice      = "new-device"
	SignalNewNetwork     = "new-network"
	SignalUnusualHour    = "unusual-hour"
	SignalRecentFailures = "recent-failures"
)

// seenSignIn is one successful sign-in in an account's history.
type seenSignIn struct {
	Device  string    `json:"device,omitempty"` // keyed hash of the device id
	Network string    `json:"network"`          // keyed hash of the network prefix
	Hour    int       `json:"hour"`             // hour of day, in Config.Location
	Time    time.Time `json:"time"`
}

type signInHistory struct {
	Seen []seenSignIn `json:"seen"`
}

// keyed is the hash kept for a device id or a network: an HMAC under a
// server secret, so that the history cannot be reversed by trying every
// IPv4 network.
func (s *Server) keyed(label, v string) string {
	m := hmac.New(sha256.New, s.riskKey)
	m.Write([]byte(label + "|" + v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// networkOf is an address's network: its IPv4 /24 or IPv6 /64.
func networkOf(addr string) string {
	ip := net.ParseIP(strings.TrimSpace(addr))
	if ip == nil {
		return "unknown"
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.Mask(net.CIDRMask(24, 32)).String() + "/24"
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// deviceHash is the keyed hash of this browser's device id ("" when it
// has none).
func (s *Server) deviceHash(c echo.Context) string {
	ck, err := c.Cookie(deviceIDCookie)
	if err != nil || len(ck.Value) < 43 {
		return ""
	}
	return s.keyed("device", ck.Value)
}

func (s *Server) history(ctx context.Context, account string) (*signInHistory, *fhir.Record, error) {
	r, err := s.cfg.Records.GetRecord(ctx, kindHistory, account)
	if errors.Is(err, fhir.ErrNotFound) {
		return &signInHistory{}, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	var h signInHistory
	if err := json.Unmarshal(r.Data, &h); err != nil {
		return nil, nil, err
	}
	return &h, r, nil
}

// riskAssessment is what a sign-in's signals are.
type riskAssessment struct {
	Signals []string
}

// assess weighs a sign-in whose password was right. trusted: the browser
// holds a live trusted-device token of the account; failedBefore: the
// username's failure count before this password cleared it.
func (s *Server) assess(c echo.Context, acct *Account, trusted, failedBefore bool) (riskAssessment, error) {
	ctx := c.Request().Context()
	h, _, err := s.history(ctx, acct.ID)
	if err != nil {
		return riskAssessment{}, err
	}
	device := s.deviceHash(c)
	network := s.keyed("network", networkOf(c.RealIP()))
	hour := s.now().In(s.cfg.Location).Hour()
	var a riskAssessment
	if !trusted && (device == "" || !slices.ContainsFunc(h.Seen, func(e seenSignIn) bool { return e.Device == device })) {
		a.Signals = append(a.Signals, SignalNewDevice)
	}
	if !slices.ContainsFunc(h.Seen, func(e seenSignIn) bool { return e.Network == network }) {
		a.Signals = append(a.Signals, SignalNewNetwork)
	}
	if len(h.Seen) >= minHistoryForHours && !slices.ContainsFunc(h.Seen, func(e seenSignIn) bool { return nearHour(e.Hour, hour) }) {
		a.Signals = append(a.Signals, SignalUnusualHour)
	}
	codes, _, err := counter{s.cfg.Records, kindCodeFail, acct.ID}.get(ctx)
	if err != nil {
		return riskAssessment{}, err
	}
	if failedBefore || codes.backoff(s.now()) > 0 {
		a.Signals = append(a.Signals, SignalRecentFailures)
	}
	return a, nil
}

// nearHour tells whether hours of day a and b are the same or next to
// each other (23 and 0 are).
func nearHour(a, b int) bool {
	d := (a - b + 24) % 24
	return d <= 1 || d == 23
}

// recentFailures tells whether username had failed sign-ins since its
// last success (within the throttle's memory): read before a right
// password clears the count.
func (as Accounts) recentFailures(ctx context.Context, username string) bool {
	f, _, err := as.userCounter(username).get(ctx)
	return err == nil && f.backoff(as.Now()) > 0
}

// remember adds a successful sign-in (a real second factor, or a trusted
// device) to the account's history, and gives the browser a device id
// when it has none.
func (s *Server) remember(c echo.Context, account string) error {
	ctx, now := c.Request().Context(), s.now()
	device := s.deviceHash(c)
	if device == "" {
		v := randomToken(32)
		s.setDeviceCookie(c, deviceIDCookie, v, int(deviceIDLife/time.Second))
		device = s.keyed("device", v)
	}
	e := seenSignIn{Device: device, Network: s.keyed("network", networkOf(c.RealIP())),
		Hour: now.In(s.cfg.Location).Hour(), Time: now.UTC()}
	for range 8 {
		h, r, err := s.history(ctx, account)
		if err != nil {
			return err
		}
		h.Seen = append(h.Seen, e)
		if len(h.Seen) > historySize {
			h.Seen = h.Seen[len(h.Seen)-historySize:]
		}
		data, err := json.Marshal(h)
		if err != nil {
			return err
		}
		if r == nil {
			r = &fhir.Record{Kind: kindHistory, Key: account}
		}
		r.Data, r.Expires = data, now.Add(deviceIDLife)
		err = s.cfg.Records.PutRecord(ctx, r)
		if !errors.Is(err, fhir.ErrVersionConflict) {
			return err
		}
	}
	return nil // racing sign-ins were remembered instead
}

// What a sign-in is asked for after its password.
type riskOutcome int

const (
	askNothing  riskOutcome = iota // the trusted device stands in for the second factor
	askPasskey                     // the strongest factor: the account's passkey
	askCodePage                    // the authenticator or a recovery code
	askLater                       // a passkey-only account: a password session, the passkey when an app needs it
)

// decide is what to ask of a sign-in whose password was right, for an
// account with a second factor (a code or a passkey). A passkey-only
// account gets a password session whatever the signals: it yields no
// token, and every app's authorization asks for the passkey; with a
// signal, only the trusted-device shortcut is gone.
func decide(signals []string, trusted, hasPasskey, hasCode bool) riskOutcome {
	switch {
	case trusted && len(signals) == 0:
		return askNothing
	case len(signals) > 0 && hasPasskey && hasCode:
		return askPasskey
	case hasCode:
		return askCodePage
	}
	return askLater
}

// riskDetail is the audit trail's fixed text of a decision.
func riskDetail(signals []string, trusted bool, out riskOutcome) string {
	var b strings.Builder
	b.WriteString("signals: ")
	if len(signals) == 0 {
		b.WriteString("none")
	} else {
		b.WriteString(strings.Join(signals, " "))
	}
	switch {
	case trusted && out == askNothing:
		b.WriteString("; trusted device used")
	case trusted:
		b.WriteString("; trusted device refused")
	default:
		b.WriteString("; no trusted device")
	}
	switch out {
	case askNothing:
		b.WriteString("; no second factor asked")
	case askPasskey:
		b.WriteString("; passkey asked")
	case askCodePage:
		b.WriteString("; authenticator or recovery code asked")
	case askLater:
		b.WriteString("; passkey asked when an app needs it")
	}
	return b.String()
}

// afterPassword decides, after a right password, what the sign-in still
// needs. It answers (true) for an account with a second factor; an
// account with none is the caller's (enrollment), as is a passkey-only
// account with nothing to ask now.
func (s *Server) afterPassword(c echo.Context, acct *Account, next string, failedBefore bool) (bool, error) {
	ctx := c.Request().Context()
	hasPasskey, err := s.passkeys.has(ctx, acct.ID)
	if err != nil {
		return true, err
	}
	if !acct.HasSecondFactor() && !hasPasskey {
		return false, nil
	}
	dev, err := s.trustedDevice(c, acct.ID)
	if err != nil {
		return true, err
	}
	if strings.HasPrefix(next, passkeysPath) {
		// Signing in again to change passkeys: the factors themselves,
		// never a trusted device.
		dev = nil
	}
	a, err := s.assess(c, acct, dev != nil, failedBefore)
	if err != nil {
		return true, err
	}
	out := decide(a.Signals, dev != nil, hasPasskey, acct.HasSecondFactor())
	ev := SecurityEvent{Kind: RiskAssessed, Account: acct.ID, Role: acct.Role, Success: true,
		Detail: riskDetail(a.Signals, dev != nil, out)}
	switch out {
	case askNothing:
		if err := s.reportOrFail(c, ev); err != nil {
			return true, s.unavailable(c)
		}
		if err := s.reportOrFail(c, SecurityEvent{Kind: SignIn, Account: acct.ID, Role: acct.Role, Success: true,
			Detail: "password on a trusted device"}); err != nil {
			return true, s.unavailable(c)
		}
		s.touchDevice(ctx, dev)
		s.logins.end(c)
		if _, err := s.logins.start(c, acct.ID, []string{"pwd", AMRTrustedDevice}, ACRTwoFactor); err != nil {
			return true, err
		}
		if err := s.remember(c, acct.ID); err != nil {
			s.log.Error("oauth: sign-in history not updated", "err", err)
		}
		return true, c.Redirect(http.StatusSeeOther, next)
	case askPasskey:
		// A passkey signs in on its own; the pending sign-in is kept only
		// for a user who cannot use it, to go on with a recovery code.
		s.report(c, ev)
		if err := s.putPending(c, pendingLogin{Account: acct.ID, Next: next, Signals: a.Signals, Trusted: dev != nil,
			PasskeyAsked: true}); err != nil {
			return true, err
		}
		return true, c.Redirect(http.StatusSeeOther, "/oauth/login?passkey=1&risk=1&next="+url.QueryEscape(next))
	case askCodePage:
		s.report(c, ev)
		p := pendingLogin{Account: acct.ID, Next: next, Signals: a.Signals, Trusted: dev != nil}
		if err := s.putPending(c, p); err != nil {
			return true, err
		}
		return true, s.codePage(c, http.StatusOK, acct, p, pageData{Title: "Enter your code"})
	}
	s.report(c, ev)
	return false, nil
}

// afterSecondFactor is what follows a sign-in with a real second factor:
// it joins the account's history, and the browser becomes a trusted
// device when the user ticked the box.
func (s *Server) afterSecondFactor(c echo.Context, acct *Account, trust bool) error {
	if err := s.remember(c, acct.ID); err != nil {
		s.log.Error("oauth: sign-in history not updated", "err", err)
	}
	if !trust {
		return nil
	}
	return s.trustDevice(c, acct)
}
