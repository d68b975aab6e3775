package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Notices: every recovery, staff reset, factor change and account lock
// is told to the account's owner at their verified phone and email,
// through the Sender, in one of these fixed texts. None names a code, a
// person, a record or anything of their care. The audit trail records
// each notice sent, with its destinations masked.
type Notice string

const (
	NoticeRecoveryCode   Notice = "A recovery code was used to sign in to your patient portal account. If this was not you, call your care team."
	NoticeReset          Notice = "Staff reset the second sign-in step of your patient portal account after checking your identity. If you did not ask for this, call your care team."
	NoticeTOTP           Notice = "An authenticator app was set up for your patient portal account. If this was not you, call your care team."
	NoticePasskeyAdded   Notice = "A passkey was added to your patient portal account. If this was not you, call your care team."
	NoticePasskeyRemoved Notice = "A passkey was removed from your patient portal account. If this was not you, call your care team."
	NoticeRecoveryCodes  Notice = "New recovery codes were made for your patient portal account; the old ones no longer work. If this was not you, call your care team."
	NoticeLocked         Notice = "Your patient portal account is locked after many failed sign-ins. Call your care team to unlock it."
	NoticeContact        Notice = "The phone number or email for your patient portal account was changed. If this was not you, call your care team."
	NoticeEnrollLink     Notice = "Staff issued a one-time link to set up a second sign-in step for your patient portal account. If you did not ask for this, call your care team."
)

// noticeNames are how the audit trail names each notice (fixed text).
var noticeNames = map[Notice]string{
	NoticeRecoveryCode: "recovery code used", NoticeReset: "staff reset", NoticeTOTP: "authenticator app set up",
	NoticePasskeyAdded: "passkey added", NoticePasskeyRemoved: "passkey removed", NoticeRecoveryCodes: "recovery codes renewed",
	NoticeLocked: "account locked", NoticeContact: "contact details changed", NoticeEnrollLink: "set-up link issued",
}

// destination is one place a message may go.
type destination struct {
	Channel Channel
	To      string
}

// destinations are an account's verified phone and email.
func (a *Account) destinations() []destination {
	var out []destination
	if a.Phone != "" {
		out = append(out, destination{ChannelSMS, a.Phone})
	}
	if a.Email != "" {
		out = append(out, destination{ChannelEmail, a.Email})
	}
	return out
}

// destination returns the account's destination on a channel.
func (a *Account) destination(ch Channel) (destination, bool) {
	for _, d := range a.destinations() {
		if d.Channel == ch {
			return d, true
		}
	}
	return destination{}, false
}

// masked is a destination as pages and the audit trail show it.
func (d destination) masked() string {
	if d.Channel == ChannelSMS {
		return MaskPhone(d.To)
	}
	return MaskEmail(d.To)
}

// how names the channel in plain words.
func (d destination) how() string {
	if d.Channel == ChannelSMS {
		return "text message"
	}
	return "email"
}

// notify sends a notice to every destination of the account, when a
// Sender is set and the account has one, and records what was sent
// (kind: the event the notice is about). A failure is logged and
// recorded; it never undoes the change.
func (as Accounts) notify(ctx context.Context, a *Account, kind string, n Notice) {
	if a == nil {
		return
	}
	for _, d := range a.destinations() {
		as.notifyAt(ctx, a, d, kind, n)
	}
}

// notifyAt sends a notice about account a to one destination.
func (as Accounts) notifyAt(ctx context.Context, a *Account, d destination, kind string, n Notice) {
	if as.Sender == nil {
		return
	}
	err := as.Sender.Send(ctx, Message{Channel: d.Channel, To: d.To, Text: string(n)})
	e := SecurityEvent{Kind: kind, Account: a.ID, Role: a.Role, Success: err == nil,
		Detail: "notice sent by " + d.how() + " to " + d.masked() + ": " + noticeNames[n]}
	if err != nil {
		as.logger().Error("oauth: notice not sent", "channel", string(d.Channel), "account", a.ID, "err", err)
		e.Detail = "notice not sent by " + d.how() + " to " + d.masked() + ": " + noticeNames[n]
	}
	reportChange(ctx, as.Events, as.Logger, as.Now, e)
}

func (as Accounts) logger() *slog.Logger {
	if as.Logger != nil {
		return as.Logger
	}
	return slog.Default()
}

var (
	phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	phoneFiller  = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "", ".", "")
)

// NormalizePhone reads a phone number in international form (E.164:
// "+" and up to 15 digits; spaces, dashes, dots and brackets are
// dropped), or "" for none.
func NormalizePhone(p string) (string, error) {
	p = phoneFiller.Replace(strings.TrimSpace(p))
	if p == "" {
		return "", nil
	}
	if !phonePattern.MatchString(p) {
		return "", errors.New("phone: write it in international form, such as +1 555 555 0123")
	}
	return p, nil
}

// NormalizeEmail reads a bare email address (no name, no brackets), its
// domain in lower case, or "" for none.
func NormalizeEmail(e string) (string, error) {
	e = strings.TrimSpace(e)
	if e == "" {
		return "", nil
	}
	addr, err := mail.ParseAddress(e)
	at := strings.LastIndexByte(e, '@')
	if err != nil || addr.Address != e || addr.Name != "" || at < 1 || len(e) > 254 ||
		!strings.Contains(e[at:], ".") || !utf8.ValidString(e) {
		return "", errors.New("email: write one address, such as name@example.org")
	}
	return e[:at] + strings.ToLower(e[at:]), nil
}

// MaskPhone shows the last four digits only: "•••• 1234".
func MaskPhone(p string) string {
	if len(p) < 4 {
		return "••••"
	}
	return "•••• " + p[len(p)-4:]
}

// MaskEmail shows the first character and the domain: "a•••@example.org".
func MaskEmail(e string) string {
	at := strings.LastIndexByte(e, '@')
	if at < 1 {
		return "•••"
	}
	first, _ := utf8.DecodeRuneInString(e)
	return string(first) + "•••" + e[at:]
}

// MaskedContact lists an account's phone and email, masked, or "none".
func MaskedContact(a *Account) string {
	var parts []string
	for _, d := range a.destinations() {
		parts = append(parts, d.how()+" "+d.masked())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// ChangeContact changes an account's verified phone or email (nil leaves
// one as it is, "" removes it), ends its sessions and tokens (where its
// codes go is part of how it signs in), records the change and tells the
// owner at both the old and the new destinations.
func (as Accounts) ChangeContact(ctx context.Context, username string, phone, email *string) error {
	before, after, err := as.SetContact(ctx, username, phone, email)
	if err != nil {
		return err
	}
	if as.Revoke != nil {
		err = as.Revoke(ctx, after.ID)
	}
	e := SecurityEvent{Kind: ContactChanged, Account: after.ID, Role: after.Role, Success: err == nil,
		Detail: "contact details changed to " + MaskedContact(after) + "; sessions and tokens ended"}
	if err != nil {
		e.Detail = "contact details changed to " + MaskedContact(after) + "; ending the sessions and tokens failed"
	}
	reportChange(ctx, as.Events, as.Logger, as.Now, e)
	// The old destinations hear of it too: someone else may have made it.
	seen := map[destination]bool{}
	for _, d := range append(before.destinations(), after.destinations()...) {
		if !seen[d] {
			seen[d] = true
			as.notifyAt(ctx, after, d, ContactChanged, NoticeContact)
		}
	}
	return err
}
