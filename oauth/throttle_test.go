package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/pquerna/otp/totp"

	"github.com/oncofhir/oncofhir/fhir"
)

// throttleAccounts is an account registry on a fresh store with a clock
// the test moves, reporting to rec, with ann (a patient) in it. The
// clock starts at the real time: the store expires records (the failure
// counters among them) by the real clock, so a clock fixed at a date
// would find every counter gone from a day after that date on.
func throttleAccounts(t *testing.T) (Accounts, *time.Time, *recorder) {
	t.Helper()
	st := storeForTest(t)
	now := time.Now().UTC()
	rec := &recorder{}
	as := Accounts{Records: st, Now: func() time.Time { return now }, Events: rec,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := as.Add(context.Background(), "ann", "patient", "Patient/p1", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	return as, &now, rec
}

// TestSignInThrottling: after five failures a sign-in must wait, longer
// each time, for known and unknown usernames alike; the right password
// clears the count once the wait is over.
func TestSignInThrottling(t *testing.T) {
	as, now, _ := throttleAccounts(t)
	ctx := context.Background()
	for _, user := range []string{"ann", "nobody"} {
		for i := range freeAttempts {
			if _, err := as.Authenticate(ctx, user, "wrong"); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("%s attempt %d: %v", user, i+1, err)
			}
		}
		if _, err := as.Authenticate(ctx, user, "correct horse battery"); !errors.Is(err, ErrThrottled) {
			t.Errorf("%s: an attempt right after five failures: %v, want ErrThrottled", user, err)
		}
	}
	*now = now.Add(1500 * time.Millisecond)
	if _, err := as.Authenticate(ctx, "nobody", "wrong"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("after the first wait an attempt is checked: %v", err)
	}
	*now = now.Add(1500 * time.Millisecond)
	if _, err := as.Authenticate(ctx, "nobody", "wrong"); !errors.Is(err, ErrThrottled) {
		t.Errorf("the second wait is longer (2 s): %v", err)
	}
	if a, err := as.Authenticate(ctx, "ann", "correct horse battery"); err != nil || a.Username != "ann" {
		t.Fatalf("after the wait, the right password: %v", err)
	}
	for range freeAttempts {
		if _, err := as.Authenticate(ctx, "ann", "wrong"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("a success clears the count: %v", err)
		}
	}
	if got := (failures{Count: 60, Last: *now}).wait(freeAttempts, *now); got != maxDelay {
		t.Errorf("wait after 60 failures = %v, want the cap %v", got, maxDelay)
	}
	if got := (failures{Count: 60, Last: *now}).wait(freeAttempts, now.Add(failMemory)); got != 0 {
		t.Errorf("a day without failures: wait %v, want none", got)
	}
}

// failTimes makes n failed sign-ins of user, each after the longest wait.
func failTimes(t *testing.T, as Accounts, now *time.Time, user string, n int) {
	t.Helper()
	for i := range n {
		*now = now.Add(maxDelay)
		if _, err := as.Authenticate(context.Background(), user, fmt.Sprintf("wrong %d", i)); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("%s failure %d: %v", user, i+1, err)
		}
	}
}

// TestAccountLocksAfter100Failures: NIST SP 800-63B's cap. After the
// 100th consecutive failure the right password is refused too, with the
// answer any failure gets, until an administrator unlocks the account;
// time alone does not unlock it; a success before the 100th resets the
// count. The lock and the unlock are reported.
func TestAccountLocksAfter100Failures(t *testing.T) {
	as, now, rec := throttleAccounts(t)
	ctx := context.Background()

	failTimes(t, as, now, "ann", LockAfter-1)
	*now = now.Add(maxDelay)
	if _, err := as.Authenticate(ctx, "ann", "correct horse battery"); err != nil {
		t.Fatalf("after 99 failures the right password still signs in: %v", err)
	}
	failTimes(t, as, now, "ann", LockAfter-1)
	*now = now.Add(maxDelay)
	if _, err := as.Authenticate(ctx, "ann", "correct horse battery"); err != nil {
		t.Fatalf("a success reset the count: 99 more failures do not lock: %v", err)
	}
	if n := rec.count(AccountLocked); n != 0 {
		t.Fatalf("no lock yet, but %d lock events", n)
	}

	failTimes(t, as, now, "ann", LockAfter)
	if e := rec.last(t, AccountLocked); !e.Success || e.Account == "" || !strings.Contains(e.Detail, "locked") {
		t.Errorf("lock event %+v", e)
	}
	*now = now.Add(maxDelay)
	_, err := as.Authenticate(ctx, "ann", "correct horse battery")
	if !errors.Is(err, ErrBadCredentials) || !errors.Is(err, ErrLocked) {
		t.Fatalf("the 101st attempt, with the right password: %v, want the failure answer (locked)", err)
	}
	*now = now.Add(30 * 24 * time.Hour)
	if _, err := as.Authenticate(ctx, "ann", "correct horse battery"); !errors.Is(err, ErrLocked) {
		t.Fatalf("a month later, still locked: %v", err)
	}
	if locked, err := as.Locked(ctx, "ann"); err != nil || !locked {
		t.Fatalf("Locked = %v, %v", locked, err)
	}

	if err := as.Unlock(ctx, "ANN"); err != nil {
		t.Fatal(err)
	}
	if e := rec.last(t, AccountUnlocked); !e.Success || !strings.Contains(e.Detail, "unlocked") {
		t.Errorf("unlock event %+v", e)
	}
	if _, err := as.Authenticate(ctx, "ann", "correct horse battery"); err != nil {
		t.Fatalf("after unlock the right password signs in: %v", err)
	}
	if locked, _ := as.Locked(ctx, "ann"); locked {
		t.Error("still locked after unlock and a success")
	}
	if err := as.Unlock(ctx, "nobody"); !errors.Is(err, fhir.ErrNotFound) {
		t.Errorf("unlocking an unknown user: %v", err)
	}
}

// opsRecords records which operations reach the store, and on which kind.
type opsRecords struct {
	fhir.Records
	mu  sync.Mutex
	ops []string
}

func (o *opsRecords) add(op, kind string) {
	o.mu.Lock()
	o.ops = append(o.ops, op+" "+kind)
	o.mu.Unlock()
}

func (o *opsRecords) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	ops := o.ops
	o.ops = nil
	return ops
}

func (o *opsRecords) GetRecord(ctx context.Context, kind, key string) (*fhir.Record, error) {
	o.add("get", kind)
	return o.Records.GetRecord(ctx, kind, key)
}

func (o *opsRecords) PutRecord(ctx context.Context, r *fhir.Record) error {
	o.add("put", r.Kind)
	return o.Records.PutRecord(ctx, r)
}

func (o *opsRecords) DeleteRecord(ctx context.Context, kind, key string) error {
	o.add("delete", kind)
	return o.Records.DeleteRecord(ctx, kind, key)
}

func (o *opsRecords) FindRecords(ctx context.Context, kind, name, value string) ([]*fhir.Record, error) {
	o.add("find", kind)
	return o.Records.FindRecords(ctx, kind, name, value)
}

// TestUnknownAndKnownUsernamesReadTheSame: a wrong password for an
// account, a locked account and a username no account has get the same
// answers, attempt after attempt (backoff included), and cost the same
// work: one password hash each and the same store operations.
func TestUnknownAndKnownUsernamesReadTheSame(t *testing.T) {
	as, now, _ := throttleAccounts(t)
	ops := &opsRecords{Records: as.Records}
	as.Records = ops
	ctx := withAddress(context.Background(), "198.51.100.7")
	if _, err := as.Add(ctx, "bea", "patient", "Patient/p2", "another good password"); err != nil {
		t.Fatal(err)
	}
	failTimes(t, as, now, "bea", LockAfter)
	// A day later bea's backoff is forgotten, not her lock.
	*now = now.Add(failMemory)
	// Each sequence starts from a fresh address, so only the username
	// counts.
	answers := func(user, password string, addr int) (out []string) {
		actx := withAddress(context.Background(), fmt.Sprintf("203.0.113.%d", addr))
		for i := range 8 {
			if i == 7 {
				*now = now.Add(maxDelay)
			}
			_, err := as.Authenticate(actx, user, password)
			switch {
			case errors.Is(err, ErrThrottled):
				out = append(out, "throttled")
			case errors.Is(err, ErrBadCredentials):
				out = append(out, "refused")
			default:
				out = append(out, fmt.Sprint(err))
			}
		}
		return out
	}
	want := []string{"refused", "refused", "refused", "refused", "refused", "throttled", "throttled", "refused"}
	for _, c := range []struct{ name, user, password string }{
		{"a known username, wrong password", "ann", "wrong"},
		{"an unknown username", "nobody", "wrong"},
		{"a locked account, right password", "bea", "another good password"},
	} {
		if got := answers(c.user, c.password, len(c.name)); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", c.name, got, want)
		}
	}

	*now = now.Add(48 * time.Hour)
	ops.take()
	try := func(user, password string) []string {
		_, err := as.Authenticate(withAddress(context.Background(), "192.0.2.1"), user, password)
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("%s: %v", user, err)
		}
		return ops.take()
	}
	knownOps := try("ann", "wrong")
	unknownOps := try("nobody", "wrong")
	lockedOps := try("bea", "another good password")
	if !slices.Equal(knownOps, unknownOps) {
		t.Errorf("store work differs:\nknown   %v\nunknown %v", knownOps, unknownOps)
	}
	if !slices.Equal(lockedOps, knownOps) {
		t.Errorf("store work differs:\nwrong password %v\nlocked, right  %v", knownOps, lockedOps)
	}
}

// TestAddressBackoffAcrossUsernames: one address guessing over many
// usernames, known or not, is slowed after addrFreeAttempts failures,
// whatever the username; another address is not; a success from the
// address does not clear its count; time does.
func TestAddressBackoffAcrossUsernames(t *testing.T) {
	as, now, _ := throttleAccounts(t)
	ctx := withAddress(context.Background(), "203.0.113.9")
	for i := range addrFreeAttempts {
		user := fmt.Sprintf("user%d", i)
		if i%5 == 0 {
			user = "ann"
			*now = now.Add(maxDelay) // ann's own backoff is not what this tests
		}
		if _, err := as.Authenticate(ctx, user, "wrong"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d (%s): %v", i+1, user, err)
		}
	}
	if _, err := as.Authenticate(ctx, "fresh-name", "wrong"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("a new username from the same address: %v, want ErrThrottled", err)
	}
	other := withAddress(context.Background(), "198.51.100.20")
	if _, err := as.Authenticate(other, "fresh-name", "wrong"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("another address is not slowed: %v", err)
	}
	if _, err := as.Authenticate(context.Background(), "another-name", "wrong"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("a caller without an address (the command line) is not slowed by addresses: %v", err)
	}
	*now = now.Add(maxDelay)
	if _, err := as.Authenticate(ctx, "ann", "correct horse battery"); err != nil {
		t.Fatalf("after the wait the address may try again: %v", err)
	}
	if _, err := as.Authenticate(ctx, "user-x", "wrong"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("checked: %v", err)
	}
	if _, err := as.Authenticate(ctx, "user-y", "wrong"); !errors.Is(err, ErrThrottled) {
		t.Fatalf("a success from the address did not clear its count: %v, want ErrThrottled", err)
	}
	*now = now.Add(failMemory)
	for i := range addrFreeAttempts {
		if _, err := as.Authenticate(ctx, fmt.Sprintf("later%d", i), "wrong"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("a day later, failure %d: %v", i+1, err)
		}
	}
}

// fixedClock is a time that moves only when the test moves it.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// codeServer is the authorization server over HTTP with a settable clock,
// and accounts with an authenticator app and recovery codes.
type codeServer struct {
	*Server
	url    string
	clock  *fixedClock
	rec    *recorder
	secret map[string]string   // username → TOTP secret
	codes  map[string][]string // username → recovery codes
}

func startCodes(t *testing.T, users ...string) *codeServer {
	t.Helper()
	ctx := context.Background()
	st := storeForTest(t)
	var h http.Handler
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(ts.Close)
	clock := &fixedClock{t: time.Now()} // stores expire records by their own clock
	rec := &recorder{}
	s, err := New(ctx, Config{BaseURL: ts.URL + "/fhir", Records: st, Store: st, Now: clock.now, Events: rec,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(middleware.RequestID())
	s.Register(e, e.Group("/fhir"))
	h = e
	cs := &codeServer{Server: s, url: ts.URL, clock: clock, rec: rec, secret: map[string]string{}, codes: map[string][]string{}}
	for i, u := range users {
		if _, err := s.accounts.Add(ctx, u, "patient", fmt.Sprintf("Patient/p%d", i), annPassword); err != nil {
			t.Fatal(err)
		}
		uri, err := s.accounts.EnrollTOTP(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		parsed, _ := url.Parse(uri)
		cs.secret[u] = parsed.Query().Get("secret")
		if cs.codes[u], err = s.accounts.NewRecoveryCodes(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return cs
}

// password signs user in with the password and returns the code page.
func (cs *codeServer) password(t *testing.T, b *browser, user string) string {
	t.Helper()
	_, page := b.do(http.MethodGet, cs.url+"/oauth/login", nil)
	resp, page := b.do(http.MethodPost, cs.url+"/oauth/login", url.Values{"csrf": {csrfOf(t, page)}, "next": {"/oauth/signed-in"},
		"username": {user}, "password": {annPassword}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="code"`) {
		t.Fatalf("password for %s: %d, not the code page:\n%s", user, resp.StatusCode, page)
	}
	return page
}

// code posts a code on the code page and returns the status.
func (cs *codeServer) code(t *testing.T, b *browser, page, code string) (int, string) {
	t.Helper()
	resp, body := b.do(http.MethodPost, cs.url+"/oauth/login/code", url.Values{"csrf": {csrfOf(t, page)}, "code": {code}})
	return resp.StatusCode, body
}

func (cs *codeServer) totp(t *testing.T, user string) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(cs.secret[user], cs.clock.now(), totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCodeGuessesLimitedAcrossPendingSignIns: each pending sign-in takes
// five wrong codes, but giving the password again does not give fresh
// guesses: after ten wrong codes on one account, across pending
// sign-ins, the next code waits (even the right one is not checked);
// after the wait the right code signs in and clears the count.
func TestCodeGuessesLimitedAcrossPendingSignIns(t *testing.T) {
	cs := startCodes(t, "ann")
	b := newBrowser(t)
	for round := range codeFreeFails / maxCodeFails {
		page := cs.password(t, b, "ann")
		for i := range maxCodeFails {
			if status, _ := cs.code(t, b, page, "000000"); status != http.StatusUnauthorized {
				t.Fatalf("round %d wrong code %d: %d", round, i+1, status)
			}
		}
	}
	page := cs.password(t, b, "ann")
	status, body := cs.code(t, b, page, cs.totp(t, "ann"))
	if status != http.StatusTooManyRequests || !strings.Contains(body, "Wait a few minutes") {
		t.Fatalf("a code after ten wrong ones across sign-ins: %d, want 429 with a plain wait message", status)
	}
	if locked, _ := cs.accounts.Locked(context.Background(), "ann"); locked {
		t.Fatal("ten wrong codes do not lock the account")
	}
	cs.clock.advance(2 * time.Second)
	if status, _ := cs.code(t, b, page, cs.totp(t, "ann")); status != http.StatusSeeOther {
		t.Fatalf("after the wait the right code signs in: %d", status)
	}
	b = newBrowser(t)
	page = cs.password(t, b, "ann")
	for i := range maxCodeFails - 1 {
		if status, _ := cs.code(t, b, page, "000000"); status != http.StatusUnauthorized {
			t.Fatalf("after a success, wrong code %d is checked: %d", i+1, status)
		}
	}
}

// TestCodeLockAfter100 counts wrong codes toward the account's cap: the
// 100th locks it, a right code is then refused like a wrong one (and a
// recovery code is not used up), and Unlock ends it.
func TestCodeLockAfter100(t *testing.T) {
	cs := startCodes(t, "ann")
	ctx := context.Background()
	codes := counter{cs.cfg.Records, kindCodeFail, ""}
	a, err := cs.accounts.ByUsername(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	codes.key = a.ID
	for range LockAfter - 1 { // as if 99 had been typed, over days
		if _, err := codes.fail(ctx, cs.clock.now().Add(-failMemory), true); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t)
	page := cs.password(t, b, "ann")
	if status, _ := cs.code(t, b, page, "000000"); status != http.StatusUnauthorized {
		t.Fatalf("the 100th wrong code: %d", status)
	}
	if locked, _ := cs.accounts.Locked(ctx, "ann"); !locked {
		t.Fatal("100 wrong codes lock the account")
	}
	cs.clock.advance(maxDelay)
	recovery := cs.codes["ann"][0]
	if status, body := cs.code(t, b, page, recovery); status != http.StatusUnauthorized || !strings.Contains(body, "not right") {
		t.Fatalf("a right recovery code on a locked account: %d, want the wrong-code answer", status)
	}
	if err := cs.accounts.Unlock(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	b = newBrowser(t)
	page = cs.password(t, b, "ann")
	if status, _ := cs.code(t, b, page, recovery); status != http.StatusOK {
		t.Fatalf("after unlock the same recovery code (not used up) signs in: %d", status)
	}
}

// TestRecoveryCodesLimitedPerAddress: wrong recovery codes from one
// address, over several accounts (each under its own limit), slow the
// address's recovery codes down; its authenticator codes are still
// checked, and another address's recovery codes too.
func TestRecoveryCodesLimitedPerAddress(t *testing.T) {
	cs := startCodes(t, "ann", "bea", "cai")
	wrong := "aaaa-bbbb-cccc-dddd"
	for _, user := range []string{"ann", "bea"} {
		b := newBrowser(t)
		page := cs.password(t, b, user)
		for i := range recoveryFreeFails / 2 {
			if status, _ := cs.code(t, b, page, wrong); status != http.StatusUnauthorized {
				t.Fatalf("%s wrong recovery code %d: %d", user, i+1, status)
			}
		}
	}
	b := newBrowser(t)
	page := cs.password(t, b, "cai")
	if status, _ := cs.code(t, b, page, cs.codes["cai"][0]); status != http.StatusTooManyRequests {
		t.Fatalf("a recovery code after ten wrong ones from the address: %d, want 429", status)
	}
	if status, _ := cs.code(t, b, page, cs.totp(t, "cai")); status != http.StatusSeeOther {
		t.Fatalf("an authenticator code from the same address is checked: %d", status)
	}
	// The same limit does not reach another address.
	req := httptest.NewRequest(http.MethodPost, "/oauth/login/code", nil)
	req.RemoteAddr = "198.51.100.3:4000"
	c := echo.New().NewContext(req, httptest.NewRecorder())
	cai, _ := cs.accounts.ByUsername(context.Background(), "cai")
	if _, err := cs.checkCode(c, cai, cs.codes["cai"][1], false); err != nil {
		t.Fatalf("another address's recovery code: %v", err)
	}
}
