package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
)

// burst runs n sign-ins of user at once, from addr, and counts the
// answers and the password hashes they cost.
func burst(t *testing.T, as Accounts, n int, user, password, addr string) (refused, throttled, hashes int) {
	t.Helper()
	ctx := withAddress(context.Background(), addr)
	start := hashed.Load()
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		other []error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := as.Authenticate(ctx, user, fmt.Sprintf("%s %d", password, i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrThrottled):
				throttled++
			case errors.Is(err, ErrBadCredentials):
				refused++
			default:
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	if len(other) > 0 {
		t.Fatalf("%d answers neither refused nor throttled: %v", len(other), other[0])
	}
	return refused, throttled, int(hashed.Load() - start)
}

// TestThrottleParallelBurst: wrong passwords sent all at once get the
// backoff that one after the other get: the free attempts are checked,
// every other attempt waits and costs no password hash; known and
// unknown usernames alike.
func TestThrottleParallelBurst(t *testing.T) {
	as, _, _ := throttleAccounts(t)
	for i, user := range []string{"ann", "nobody"} {
		refused, throttled, hashes := burst(t, as, 110, user, "wrong", fmt.Sprintf("203.0.113.%d", i))
		if refused != freeAttempts || throttled != 110-freeAttempts || hashes != freeAttempts {
			t.Errorf("%s: %d refused, %d throttled, %d hashes; want %d, %d, %d",
				user, refused, throttled, hashes, freeAttempts, 110-freeAttempts, freeAttempts)
		}
	}
}

// TestLockNotReachedByParallelBursts: only attempts the backoff lets
// through count toward the 100-failure lock, so bursts of wrong
// passwords, one after each wait, cannot lock an account in seconds:
// each adds one failure.
func TestLockNotReachedByParallelBursts(t *testing.T) {
	as, now, _ := throttleAccounts(t)
	ctx := context.Background()
	for i := range 3 {
		burst(t, as, 220, "ann", "wrong", fmt.Sprintf("203.0.113.%d", i))
		*now = now.Add(maxDelay)
	}
	if locked, err := as.Locked(ctx, "ann"); err != nil || locked {
		t.Fatalf("Locked after three bursts of 220 = %v, %v", locked, err)
	}
	f, _, err := as.userCounter("ann").get(ctx)
	if err != nil || f.Consecutive != freeAttempts+2 {
		t.Fatalf("failures counted toward the lock: %d, %v; want %d", f.Consecutive, err, freeAttempts+2)
	}
	if _, err := as.Authenticate(ctx, "ann", "correct horse battery"); err != nil {
		t.Fatalf("after the wait the right password signs in: %v", err)
	}
}

// TestAddressCountsEveryParallelFailure: failures from one address
// racing on its counter are all counted, none lost to the
// compare-and-swap: twenty at once fill the address's free attempts and
// the next one waits.
func TestAddressCountsEveryParallelFailure(t *testing.T) {
	as, _, _ := throttleAccounts(t)
	ctx := withAddress(context.Background(), "203.0.113.50")
	var wg sync.WaitGroup
	errs := make([]error, addrFreeAttempts)
	for i := range addrFreeAttempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = as.Authenticate(ctx, fmt.Sprintf("user%d", i), "wrong")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrBadCredentials) || errors.Is(err, ErrThrottled) {
			t.Fatalf("attempt %d of the free ones: %v", i, err)
		}
	}
	f, _, err := as.addrCounter("pwd", "203.0.113.50").get(ctx)
	if err != nil || f.Count != addrFreeAttempts {
		t.Errorf("address count %d, %v; want %d", f.Count, err, addrFreeAttempts)
	}
	if _, err := as.Authenticate(ctx, "fresh-name", "wrong"); !errors.Is(err, ErrThrottled) {
		t.Errorf("the next attempt from the address: %v, want ErrThrottled", err)
	}
}

// postCodes posts each code on its own page at once and returns the
// statuses.
func postCodes(cs *codeServer, bs []*browser, pages []string, code string) []int {
	statuses := make([]int, len(bs))
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := csrfInput.FindStringSubmatch(pages[i])
			if m == nil {
				return
			}
			form := url.Values{"csrf": {m[1]}, "code": {code}}
			req, _ := http.NewRequest(http.MethodPost, cs.url+"/oauth/login/code", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := b.c.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	return statuses
}

// answeredCodes fails on an answer to a wrong code that is none of:
// 401 (wrong, or past the pending sign-in's limit: sign in again), 429
// (wait, unchecked) and, with ended, 400 (the pending sign-in was
// already ended by the others: the sign-in page again).
func answeredCodes(t *testing.T, statuses []int, ended bool) {
	t.Helper()
	for _, s := range statuses {
		switch {
		case s == http.StatusTooManyRequests, s == http.StatusUnauthorized:
		case s == http.StatusBadRequest && ended:
		default:
			t.Errorf("a wrong code answered %d", s)
		}
	}
}

// checkedCodes is how many codes were checked against the account of
// username, read from the audit trail: each code checked and found wrong
// is one sign-in event saying so. The answers cannot tell (a code past a
// pending sign-in's limit is answered 401 unchecked), nor can the
// account's code counter, which is among what is tested.
func checkedCodes(t *testing.T, cs *codeServer, username string) int {
	t.Helper()
	a, err := cs.accounts.ByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range cs.rec.all() {
		if e.Kind == SignIn && e.Account == a.ID && e.Detail == "wrong authenticator code" {
			n++
		}
	}
	return n
}

// TestCodeGuessesInParallelLimited: wrong codes posted all at once on
// one pending sign-in are checked no more than its five allow (the
// fifth ends it, so later ones find it gone), and on
// many pending sign-ins of one account no more than the account's ten;
// the others are told to wait, unchecked.
func TestCodeGuessesInParallelLimited(t *testing.T) {
	cs := startCodes(t, "ann", "bea")
	b := newBrowser(t)
	page := cs.password(t, b, "ann")
	bs, pages := make([]*browser, 30), make([]string, 30)
	for i := range bs {
		bs[i], pages[i] = b, page
	}
	answeredCodes(t, postCodes(cs, bs, pages, "000000"), true)
	if n := checkedCodes(t, cs, "ann"); n < 1 || n > maxCodeFails {
		t.Errorf("30 codes at once on one pending sign-in: %d checked, want 1 to %d", n, maxCodeFails)
	}

	for i := range bs {
		bs[i] = newBrowser(t)
		pages[i] = cs.password(t, bs[i], "bea")
	}
	answeredCodes(t, postCodes(cs, bs, pages, "000000"), false)
	if n := checkedCodes(t, cs, "bea"); n < 1 || n > codeFreeFails {
		t.Errorf("30 codes at once on 30 pending sign-ins: %d checked, want 1 to %d", n, codeFreeFails)
	}
}

// TestLockCountsEveryRacingFailure: failures racing on one counter are
// all counted; none is lost to the compare-and-swap.
func TestLockCountsEveryRacingFailure(t *testing.T) {
	as, now, _ := throttleAccounts(t)
	ctx := context.Background()
	c := as.userCounter("ann")
	const n = 60
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.fail(ctx, *now, true)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if f, _, err := c.get(ctx); err != nil || f.Consecutive != n {
		t.Errorf("%d racing failures counted as %d, %v", n, f.Consecutive, err)
	}
}

// TestCodePastPendingLimitNotChecked: a code that reads its pending
// sign-in with the five codes it allows already spent (as one posted in
// the same instant as the fifth does) is not checked, not even a right
// one: it gets "sign in again", the account's code counter does not
// move, and no session starts.
func TestCodePastPendingLimitNotChecked(t *testing.T) {
	cs := startCodes(t, "ann")
	ctx := context.Background()
	b := newBrowser(t)
	page := cs.password(t, b, "ann")
	u, _ := url.Parse(cs.url + "/oauth/login/code")
	var key string
	for _, ck := range b.c.Jar.Cookies(u) {
		if ck.Name == pendingCookie {
			key = hashKey(ck.Value)
		}
	}
	r, err := cs.cfg.Records.GetRecord(ctx, kindPending, key)
	if err != nil {
		t.Fatal(err)
	}
	var p pendingLogin
	if err := json.Unmarshal(r.Data, &p); err != nil {
		t.Fatal(err)
	}
	p.Fails = maxCodeFails
	if r.Data, err = json.Marshal(p); err != nil {
		t.Fatal(err)
	}
	if err := cs.cfg.Records.PutRecord(ctx, r); err != nil {
		t.Fatal(err)
	}
	status, body := cs.code(t, b, page, cs.totp(t, "ann"))
	if status != http.StatusUnauthorized || !strings.Contains(body, "Sign in again") {
		t.Fatalf("a right code past the limit: %d, want 401 and the sign-in page", status)
	}
	if n := checkedCodes(t, cs, "ann"); n != 0 {
		t.Errorf("a code past the limit was checked: %d", n)
	}
	if f, _, err := (counter{cs.cfg.Records, kindCodeFail, p.Account}).get(ctx); err != nil || f.Consecutive != 0 {
		t.Errorf("a code past the limit was counted toward the account's limit: %+v, %v", f, err)
	}
	if ev := cs.rec.last(t, SignIn); ev.Success || ev.Detail != "code not checked: too many on this sign-in" {
		t.Errorf("a code past the limit audited as %+v", ev)
	}
	if resp, _ := b.do(http.MethodGet, cs.url+"/oauth/signed-in", nil); resp.StatusCode == http.StatusOK {
		t.Error("a code past the limit started a session")
	}
	if _, err := cs.cfg.Records.GetRecord(ctx, kindPending, key); !errors.Is(err, fhir.ErrNotFound) {
		t.Errorf("the pending sign-in outlived the limit: %v", err)
	}
}
