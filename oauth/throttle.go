package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

// Sign-in throttling. Every counter lives in the store (fhir.Records,
// written with compare-and-swap on the record's revision), so that every
// process of a deployment counts together.
//
//   - Per username (known or not, so that throttling tells nothing about
//     which usernames exist): after freeAttempts consecutive failures each
//     further attempt must wait twice as long as the last, up to maxDelay.
//   - Per network address, across usernames: the same growth after
//     addrFreeAttempts failures, so one address cannot spray passwords
//     over many accounts. A success does not clear it (an attacker with
//     an account of their own could otherwise clear it at will); it is
//     forgotten after failMemory without failures.
//   - Per account, NIST SP 800-63B's cap: after LockAfter consecutive
//     failed attempts (passwords and second-factor codes) the account
//     refuses every sign-in, the right password and code included, until
//     a success-free reset: Accounts.Unlock (fhirserver user unlock).
//     Only a successful sign-in or Unlock clears this count; time does not.
//   - Second-factor codes, per account across pending sign-ins: after
//     codeFreeFails wrong codes each further code waits, as above, so
//     giving the password again does not give fresh guesses; and recovery
//     codes per address, after recoveryFreeFails wrong ones.
//
// The backoff counts are forgotten after failMemory without a failure,
// the same way for known and unknown usernames.
const (
	freeAttempts      = 5
	addrFreeAttempts  = 20
	codeFreeFails     = 10
	recoveryFreeFails = 10
	maxDelay          = 15 * time.Minute
	failMemory        = 24 * time.Hour
	// LockAfter is the most consecutive failed attempts an account takes
	// (NIST SP 800-63B: no more than 100).
	LockAfter = 100
)

const (
	kindLoginFail = "login.fail"     // key: username, lower case
	kindAddrFail  = "login.addr"     // key: "pwd|" or "recovery|" and the address
	kindCodeFail  = "login.codefail" // key: account id
)

// ErrThrottled answers a sign-in attempted too soon after failures.
var ErrThrottled = errors.New("oauth: too many failed sign-ins; wait and try again")

// ErrLocked is what a locked account's sign-in fails with: it is
// ErrBadCredentials (errors.Is), so the person signing in reads what any
// failure reads; only the audit trail and the administrator learn more.
var ErrLocked error = lockedError{}

type lockedError struct{}

func (lockedError) Error() string        { return "oauth: account locked after repeated failed sign-ins" }
func (lockedError) Is(target error) bool { return target == ErrBadCredentials }

// failures is one counter.
type failures struct {
	Count int       `json:"count"` // failures counted for the backoff
	Last  time.Time `json:"last"`
	// Consecutive counts the failures since the last success (accounts
	// only); it is not forgotten with time.
	Consecutive int `json:"consecutive,omitempty"`
}

// backoff is how many failures still count for the backoff at now.
func (f failures) backoff(now time.Time) int {
	if now.Sub(f.Last) >= failMemory {
		return 0
	}
	return f.Count
}

// wait is how long after the last failure the next attempt must wait,
// when the first free failures cost nothing.
func (f failures) wait(free int, now time.Time) time.Duration {
	n := f.backoff(now)
	if n < free {
		return 0
	}
	return min(time.Second<<min(n-free, 20), maxDelay)
}

func (f failures) waiting(free int, now time.Time) bool {
	return now.Sub(f.Last) < f.wait(free, now)
}

// counter reads and updates one failure counter.
type counter struct {
	rec       fhir.Records
	kind, key string
}

func (c counter) get(ctx context.Context) (failures, *fhir.Record, error) {
	if c.key == "" {
		return failures{}, nil, nil
	}
	r, err := c.rec.GetRecord(ctx, c.kind, c.key)
	if errors.Is(err, fhir.ErrNotFound) {
		return failures{}, nil, nil
	} else if err != nil {
		return failures{}, nil, err
	}
	var f failures
	if err := json.Unmarshal(r.Data, &f); err != nil {
		return failures{}, nil, err
	}
	return f, r, nil
}

// fail counts one failure at now and returns the counter as stored.
// keep, when true, keeps the record until it is cleared (an account's
// consecutive count); otherwise it expires failMemory after now.
func (c counter) fail(ctx context.Context, now time.Time, keep bool) (failures, error) {
	if c.key == "" {
		return failures{}, nil
	}
	for range 8 {
		f, r, err := c.get(ctx)
		if err != nil {
			return f, err
		}
		f.Count = f.backoff(now) + 1
		f.Consecutive++
		f.Last = now.UTC()
		data, _ := json.Marshal(f)
		if r == nil {
			r = &fhir.Record{Kind: c.kind, Key: c.key}
		}
		r.Data, r.Expires = data, f.Last.Add(failMemory)
		if keep {
			r.Expires = time.Time{}
		}
		err = c.rec.PutRecord(ctx, r)
		if !errors.Is(err, fhir.ErrVersionConflict) {
			return f, err
		}
	}
	return failures{}, nil // racing failures were counted instead
}

func (c counter) clear(ctx context.Context) error {
	if c.key == "" {
		return nil
	}
	return c.rec.DeleteRecord(ctx, c.kind, c.key)
}

func userKey(username string) string { return strings.ToLower(strings.TrimSpace(username)) }

func (as Accounts) userCounter(username string) counter {
	return counter{as.Records, kindLoginFail, userKey(username)}
}

func (as Accounts) addrCounter(path, addr string) counter {
	if addr == "" {
		return counter{}
	}
	return counter{as.Records, kindAddrFail, path + "|" + addr}
}

// throttled tells whether a sign-in for username (from the address the
// request context carries, when it carries one) must wait.
func (as Accounts) throttled(ctx context.Context, username string) (bool, error) {
	now := as.Now()
	f, _, err := as.userCounter(username).get(ctx)
	if err != nil {
		return false, err
	}
	if f.waiting(freeAttempts, now) {
		return true, nil
	}
	a, _, err := as.addrCounter("pwd", addressFrom(ctx)).get(ctx)
	if err != nil {
		return false, err
	}
	return a.waiting(addrFreeAttempts, now), nil
}

// failed counts one more failure of username, and of the address. The
// same records are read and written whether the username names an
// account or not; only the record's lifetime differs (an account's
// consecutive count is kept until cleared).
func (as Accounts) failed(ctx context.Context, username string) error {
	now := as.Now()
	a, err := as.ByUsername(ctx, username)
	if err != nil && !errors.Is(err, fhir.ErrNotFound) {
		return err
	}
	f, err := as.userCounter(username).fail(ctx, now, a != nil)
	if err != nil {
		return err
	}
	if a != nil && f.Consecutive == LockAfter {
		as.reportLocked(ctx, a)
	}
	_, err = as.addrCounter("pwd", addressFrom(ctx)).fail(ctx, now, false)
	return err
}

// succeeded clears username's count after a right password, unless the
// account is locked: then the attempt is one more failure, counted as
// any other (the same records read and written), and fails with
// ErrLocked. The address's count stays.
func (as Accounts) succeeded(ctx context.Context, username string) error {
	c := as.userCounter(username)
	f, _, err := c.get(ctx)
	if err != nil {
		return err
	}
	if f.Consecutive >= LockAfter {
		if err := as.failed(ctx, username); err != nil {
			return err
		}
		return ErrLocked
	}
	return c.clear(ctx)
}

// Locked tells whether username's account refuses sign-in after too many
// consecutive failures.
func (as Accounts) Locked(ctx context.Context, username string) (bool, error) {
	a, err := as.ByUsername(ctx, username)
	if err != nil {
		return false, err
	}
	f, _, err := as.userCounter(a.Username).get(ctx)
	if err != nil {
		return false, err
	}
	g, _, err := counter{as.Records, kindCodeFail, a.ID}.get(ctx)
	return f.Consecutive >= LockAfter || g.Consecutive >= LockAfter, err
}

// Unlock clears an account's failed sign-in counts, ending a lock: what
// an administrator does (fhirserver user unlock) once the person is who
// they say, and what a recovery route calls. It is audited.
func (as Accounts) Unlock(ctx context.Context, username string) error {
	a, err := as.ByUsername(ctx, username)
	if err != nil {
		return err
	}
	err = errors.Join(as.userCounter(a.Username).clear(ctx), counter{as.Records, kindCodeFail, a.ID}.clear(ctx))
	reportChange(ctx, as.Events, as.Logger, as.Now, SecurityEvent{Kind: AccountUnlocked, Account: a.ID, Role: a.Role,
		Success: err == nil, Detail: "account unlocked: failed sign-in counts cleared"})
	return err
}

// reportLocked records that an account has just locked, and tells its
// owner.
func (as Accounts) reportLocked(ctx context.Context, a *Account) {
	reportChange(ctx, as.Events, as.Logger, as.Now, SecurityEvent{Kind: AccountLocked, Account: a.ID, Role: a.Role,
		Success: true, Detail: "sign-in locked after 100 consecutive failed attempts"})
	as.notify(ctx, a, AccountLocked, NoticeLocked)
}

// codeUse is what a right code was: left is how many recovery codes
// remain after one was used (-1 when none was); via the channel of a
// fallback code ("" when none was).
type codeUse struct {
	left int
	via  Channel
}

// checkCode checks a second-factor code typed on the code page (an
// authenticator code, a recovery code, or, when fallback is set, a code
// sent by text message or email), under the per-account code limits,
// the recovery codes' per-address limit and the account lock:
// ErrThrottled when the code must wait (it is not checked), ErrBadCode
// when it is wrong or the account is locked (it is then not checked
// either, and a recovery or fallback code is not used up).
func (s *Server) checkCode(c echo.Context, acct *Account, typed string, fallback bool) (codeUse, error) {
	ctx, now := c.Request().Context(), s.now()
	recovery := len(normalizeCode(typed)) == 16
	codes := counter{s.cfg.Records, kindCodeFail, acct.ID}
	addr := counter{}
	if recovery {
		addr = s.accounts.addrCounter("recovery", c.RealIP())
	}
	f, _, err := codes.get(ctx)
	if err != nil {
		return codeUse{left: -1}, err
	}
	g, _, err := addr.get(ctx)
	if err != nil {
		return codeUse{left: -1}, err
	}
	if f.waiting(codeFreeFails, now) || g.waiting(recoveryFreeFails, now) {
		return codeUse{left: -1}, ErrThrottled
	}
	use := codeUse{left: -1}
	switch {
	case f.Consecutive >= LockAfter:
		err = ErrBadCode
	case recovery:
		use.left, err = s.accounts.UseRecoveryCode(ctx, acct.ID, typed)
	default:
		err = s.accounts.VerifyTOTP(ctx, acct.ID, typed)
		if errors.Is(err, ErrBadCode) && fallback {
			use.via, err = s.useFallbackCode(ctx, acct, strings.TrimSpace(typed))
		}
	}
	if errors.Is(err, ErrBadCode) {
		f, ferr := codes.fail(ctx, now, true)
		if f.Consecutive == LockAfter {
			s.accounts.reportLocked(ctx, acct)
		}
		_, aerr := addr.fail(ctx, now, false)
		if err := errors.Join(ferr, aerr); err != nil {
			return codeUse{left: -1}, err
		}
		return codeUse{left: -1}, ErrBadCode
	}
	if err != nil {
		return codeUse{left: -1}, err
	}
	return use, codes.clear(ctx)
}

// The client's network address, as echo reads it (cmd/fhirserver sets
// which proxies are trusted), travels in the request context to the
// password check.
type addressKey struct{}

// clientAddress puts the request's network address into its context.
func clientAddress(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		c.SetRequest(r.WithContext(withAddress(r.Context(), c.RealIP())))
		return next(c)
	}
}

func withAddress(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, addressKey{}, addr)
}

func addressFrom(ctx context.Context) string {
	a, _ := ctx.Value(addressKey{}).(string)
	return a
}

// hashing bounds concurrent argon2id evaluations (19 MiB each), so a
// burst of sign-ins cannot exhaust memory.
var hashing = make(chan struct{}, 4)

func checkPasswordBounded(ctx context.Context, encoded, pw string) (bool, error) {
	select {
	case hashing <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-hashing }()
	return checkPassword(encoded, pw), nil
}
