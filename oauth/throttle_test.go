package oauth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
)

// TestSignInThrottling: after five failures a sign-in must wait, longer
// each time, for known and unknown usernames alike; the right password
// clears the count once the wait is over.
func TestSignInThrottling(t *testing.T) {
	st, err := sqlitestore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	as := Accounts{Records: st, Now: func() time.Time { return now }}
	ctx := context.Background()
	if _, err := as.Add(ctx, "ann", "patient", "Patient/p1", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
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
	now = now.Add(1500 * time.Millisecond)
	if _, err := as.Authenticate(ctx, "nobody", "wrong"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("after the first wait an attempt is checked: %v", err)
	}
	now = now.Add(1500 * time.Millisecond)
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
	if got := (failures{Count: 60}).wait(); got != maxDelay {
		t.Errorf("wait after 60 failures = %v, want the cap %v", got, maxDelay)
	}
}
