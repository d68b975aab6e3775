package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
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
//   - Per network address (an IPv4 address, an IPv6 /64:
//     limitedNetwork), across usernames: the same growth after
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
//
// Each attempt is counted as a failure before its password or code is
// checked, by one compare-and-swap that also decides whether it may go
// ahead, and is taken back if it succeeds: attempts sent at once see
// each other, so a burst gets the backoff that attempts one after the
// other get, and no failure can go uncounted. An attempt told to wait
// is not counted at all, toward the lock neither: with the backoff,
// LockAfter counted failures take about a day, so nobody can lock
// another's account with one burst, while guessing stays capped.
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

// casRetries bounds the compare-and-swap retries of one counter update.
// Each retry means another update went through, so the bound is met
// only when that many racing updates land on one counter between a
// read and a write; the update then fails with errContended.
const casRetries = 100

// errContended is what an update of a counter fails with after
// casRetries conflicts. It is ErrThrottled (errors.Is): an attempt whose
// failure could not be counted first is refused without being checked.
var errContended = fmt.Errorf("%w (its failure count is too busy to update)", ErrThrottled)

// update reads the counter, lets change decide, and writes what change
// leaves when it returns true, under compare-and-swap: a racing write
// makes it read and decide again. change also sets the record's expiry.
// It returns the counter as read and as written (the same when nothing
// is written).
func (c counter) update(ctx context.Context, change func(f *failures, expires *time.Time) bool) (before, after failures, err error) {
	if c.key == "" {
		return failures{}, failures{}, nil
	}
	for range casRetries {
		f, r, err := c.get(ctx)
		if err != nil {
			return f, f, err
		}
		if r == nil {
			r = &fhir.Record{Kind: c.kind, Key: c.key}
		}
		g := f
		if !change(&g, &r.Expires) {
			return f, f, nil
		}
		if r.Data, err = json.Marshal(g); err != nil {
			return f, f, err
		}
		err = c.rec.PutRecord(ctx, r)
		if !errors.Is(err, fhir.ErrVersionConflict) {
			return f, g, err
		}
	}
	return failures{}, failures{}, fmt.Errorf("oauth: count %s: %w", c.kind, errContended)
}

// count adds one failure at now to f. keep, when true, keeps the record
// until it is cleared (an account's consecutive count); otherwise it
// expires failMemory after now.
func count(f *failures, expires *time.Time, now time.Time, keep bool) {
	f.Count = f.backoff(now) + 1
	f.Consecutive++
	f.Last = now.UTC()
	*expires = f.Last.Add(failMemory)
	if keep {
		*expires = time.Time{}
	}
}

// fail counts one failure at now and returns the counter as stored.
func (c counter) fail(ctx context.Context, now time.Time, keep bool) (failures, error) {
	_, f, err := c.update(ctx, func(f *failures, expires *time.Time) bool {
		count(f, expires, now, keep)
		return true
	})
	return f, err
}

// reservation is one attempt counted as a failure before it is checked.
type reservation struct {
	c             counter
	before, after failures // the counter as read, and as written
}

// reserve counts an attempt at now as a failure before it is checked
// (keep as for count), unless the counter says it must wait (the first
// free failures cost nothing): then nothing is written and ok is false.
// The decision and the write are one compare-and-swap, so of attempts
// sent at once each sees the ones before it: a burst gets the backoff
// that attempts one after the other get, and no failure goes uncounted.
func (c counter) reserve(ctx context.Context, now time.Time, free int, keep bool) (res reservation, ok bool, err error) {
	res.c = c
	res.before, res.after, err = c.update(ctx, func(f *failures, expires *time.Time) bool {
		if ok = !f.waiting(free, now); ok {
			count(f, expires, now, keep)
		}
		return ok
	})
	return res, err == nil && (ok || c.key == ""), err
}

// undo takes back a reservation whose attempt turned out not to fail
// (or was not checked): the counter as it was when nothing has been
// written since, else one failure fewer.
func (r reservation) undo(ctx context.Context) error {
	if r.c.key == "" {
		return nil
	}
	_, _, err := r.c.update(ctx, func(f *failures, _ *time.Time) bool {
		switch {
		case f.Count == 0 && f.Consecutive == 0:
			return false // cleared or forgotten meanwhile
		case f.Count == r.after.Count && f.Consecutive == r.after.Consecutive && f.Last.Equal(r.after.Last):
			*f = r.before
		default:
			f.Count, f.Consecutive = max(f.Count-1, 0), max(f.Consecutive-1, 0)
		}
		return true
	})
	return err
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
	return counter{as.Records, kindAddrFail, path + "|" + limitedNetwork(addr)}
}

// attempt is a password sign-in counted as failed, for its username
// and its address, before the password is checked.
type attempt struct{ user, addr reservation }

// reserve counts a sign-in for username (from the address the request
// context carries, when it carries one) as failed before its password
// is checked, or fails with ErrThrottled, writing nothing, when it must
// wait. The same records are read and written whether the username
// names an account (known) or not; only the record's lifetime differs
// (an account's consecutive count is kept until cleared).
//
// Only attempts the backoff lets through are counted, toward the lock
// too: a burst of wrong passwords sent at once is mostly answered
// "wait", so locking an account takes LockAfter attempts spaced by the
// backoff (about a day), not one burst of a few seconds.
func (as Accounts) reserve(ctx context.Context, username string, known bool) (attempt, error) {
	now := as.Now()
	user, ok, err := as.userCounter(username).reserve(ctx, now, freeAttempts, known)
	if err == nil && !ok {
		err = ErrThrottled
	}
	if err != nil {
		return attempt{}, err
	}
	addr, ok, err := as.addrCounter("pwd", addressFrom(ctx)).reserve(ctx, now, addrFreeAttempts, false)
	if err == nil && !ok {
		err = ErrThrottled
	}
	if err != nil {
		// Not checked: not a failure of the username either.
		return attempt{}, errors.Join(err, user.undo(ctx))
	}
	return attempt{user, addr}, nil
}

// failed reports the lock when this failure, already counted, is the
// one that locks the account a (nil when the username names none).
func (as Accounts) failed(ctx context.Context, at attempt, a *Account) {
	if a != nil && at.user.after.Consecutive == LockAfter {
		as.reportLocked(ctx, a)
	}
}

// succeeded takes back the attempt's failure after a right password:
// username's count is cleared, the address's is as before (a success
// does not clear it). When the account was already locked the attempt
// stays a failure, counted as any other, and fails with ErrLocked.
func (as Accounts) succeeded(ctx context.Context, username string, at attempt) error {
	if at.user.before.Consecutive >= LockAfter {
		return ErrLocked
	}
	if err := at.addr.undo(ctx); err != nil && as.Logger != nil {
		// The address keeps one failure too many: it errs on the safe
		// side, and the right password still signs in.
		as.Logger.WarnContext(ctx, "sign-in address count not taken back", slog.Any("error", err))
	}
	return as.userCounter(username).clear(ctx)
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
// the recovery codes' per-address limit and the account lock, counted
// before the code is checked: ErrThrottled when the code must wait (it
// is not checked), ErrBadCode when it is wrong or the account is locked
// (it is then not checked either, and a recovery or fallback code is
// not used up).
func (s *Server) checkCode(c echo.Context, acct *Account, typed string, fallback bool) (codeUse, error) {
	ctx, now := c.Request().Context(), s.now()
	recovery := len(normalizeCode(typed)) == 16
	// The code is counted as wrong before it is checked, as a password is.
	codes, ok, err := counter{s.cfg.Records, kindCodeFail, acct.ID}.reserve(ctx, now, codeFreeFails, true)
	if err == nil && !ok {
		err = ErrThrottled
	}
	if err != nil {
		return codeUse{left: -1}, err
	}
	addr := reservation{}
	if recovery {
		addr, ok, err = s.accounts.addrCounter("recovery", c.RealIP()).reserve(ctx, now, recoveryFreeFails, false)
		if err == nil && !ok {
			err = ErrThrottled
		}
		if err != nil {
			return codeUse{left: -1}, errors.Join(err, codes.undo(ctx))
		}
	}
	use := codeUse{left: -1}
	switch {
	case codes.before.Consecutive >= LockAfter:
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
		if codes.after.Consecutive == LockAfter {
			s.accounts.reportLocked(ctx, acct)
		}
		return codeUse{left: -1}, ErrBadCode
	}
	if err != nil {
		return codeUse{left: -1}, err // counted as wrong: a failure to check is no success
	}
	if err := addr.undo(ctx); err != nil {
		s.log.WarnContext(ctx, "recovery code address count not taken back", slog.Any("error", err))
	}
	return use, codes.c.clear(ctx)
}

// countCode counts one more code on a pending sign-in (p, its record r
// as read) before the code is checked, under compare-and-swap: of codes
// posted at once on one pending sign-in only the first is checked, the
// others are answered ErrThrottled unchecked. Past maxCodeFails the code
// is not checked (ErrBadCode) and the sign-in ends.
func (s *Server) countCode(ctx context.Context, r *fhir.Record, p *pendingLogin) error {
	p.Fails++
	if p.Fails > maxCodeFails {
		return ErrBadCode
	}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	r.Data = data
	err = s.cfg.Records.PutRecord(ctx, r)
	if errors.Is(err, fhir.ErrVersionConflict) {
		return ErrThrottled
	}
	return err
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

// limitedNetwork is what the per-address limits count an address as:
// an IPv6 address's /64 (networkOf), since one client commonly holds a
// whole /64 and may take a fresh address of it for each attempt; an
// IPv4 address itself, since a /24 holds many unrelated customers
// behind their own NATs, whom one of them failing would slow down.
// Anything else is counted as itself.
func limitedNetwork(addr string) string {
	ip := net.ParseIP(strings.TrimSpace(addr))
	switch {
	case ip == nil:
		return addr
	case ip.To4() != nil:
		return ip.To4().String()
	}
	return networkOf(addr)
}

// hashing bounds concurrent argon2id evaluations (19 MiB each), so a
// burst of sign-ins cannot exhaust memory; hashed counts them.
var (
	hashing = make(chan struct{}, 4)
	hashed  atomic.Int64
)

func checkPasswordBounded(ctx context.Context, encoded, pw string) (bool, error) {
	select {
	case hashing <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-hashing }()
	hashed.Add(1)
	return checkPassword(encoded, pw), nil
}
