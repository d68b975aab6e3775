package oauth

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// alwaysChanged answers every write of kind with a version conflict, as
// if another request always changed the record first.
type alwaysChanged struct {
	fhir.Records
	kind   string
	writes atomic.Int32
}

func (a *alwaysChanged) PutRecord(ctx context.Context, r *fhir.Record) error {
	if r.Kind == a.kind && r.Rev != 0 {
		a.writes.Add(1)
		return fhir.ErrVersionConflict
	}
	return a.Records.PutRecord(ctx, r)
}

// within runs f, failing the test if it does not return in time.
func within(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("still retrying after 5 seconds")
		return nil
	}
}

// TestConflictRetriesAreBounded: marking a session deferred and counting
// a deferral give up with an error after a few conflicts in a row.
func TestConflictRetriesAreBounded(t *testing.T) {
	st := storeForTest(t)
	ctx := context.Background()

	t.Run("deferral counted on the account", func(t *testing.T) {
		rec := &alwaysChanged{Records: st, kind: kindAccount}
		as := Accounts{Records: rec, Now: time.Now}
		a, err := as.Add(ctx, "dan", "patient", "Patient/p1", "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		if err := within(t, func() error { _, err := as.countDeferral(ctx, a.ID, 3); return err }); !errors.Is(err, errBusy) {
			t.Errorf("countDeferral: %v, want errBusy", err)
		}
		if n := rec.writes.Load(); n != maxRetries {
			t.Errorf("%d writes tried, want %d", n, maxRetries)
		}
	})
	t.Run("deferral marked on the session", func(t *testing.T) {
		rec := &alwaysChanged{Records: st, kind: kindLogin}
		if err := st.PutRecord(ctx, &fhir.Record{Kind: kindLogin, Key: "k", Data: []byte(`{"account":"a"}`)}); err != nil {
			t.Fatal(err)
		}
		l := logins{rec: rec, now: time.Now}
		lg := &Login{key: "k"}
		if err := within(t, func() error { return l.markDeferred(ctx, lg) }); !errors.Is(err, errBusy) || lg.Deferred {
			t.Errorf("markDeferred: %v (deferred %v), want errBusy", err, lg.Deferred)
		}
		if n := rec.writes.Load(); n != maxRetries {
			t.Errorf("%d writes tried, want %d", n, maxRetries)
		}
	})
}

// TestAccountWritesGiveUpUnderConflicts: every read-modify-write of an
// account (recovery codes made and used, an authenticator code's step,
// a change that ends sessions, new contact details) stops with errBusy
// after maxRetries conflicts in a row instead of spinning.
func TestAccountWritesGiveUpUnderConflicts(t *testing.T) {
	st := storeForTest(t)
	ctx := context.Background()
	plain := Accounts{Records: st, Now: time.Now}
	a, err := plain.Add(ctx, "eve", "patient", "Patient/p1", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	codes, err := plain.NewRecoveryCodes(ctx, "eve")
	if err != nil {
		t.Fatal(err)
	}
	phone := "+15555550123"
	for name, write := range map[string]func(Accounts) error{
		"new recovery codes":   func(as Accounts) error { _, err := as.NewRecoveryCodes(ctx, "eve"); return err },
		"a recovery code used": func(as Accounts) error { _, err := as.UseRecoveryCode(ctx, a.ID, codes[0]); return err },
		"a changed account": func(as Accounts) error {
			_, err := as.changeAndRevoke(ctx, "eve", func(*Account) {})
			return err
		},
		"new contact details": func(as Accounts) error { _, _, err := as.SetContact(ctx, "eve", &phone, nil); return err },
	} {
		t.Run(name, func(t *testing.T) {
			rec := &alwaysChanged{Records: st, kind: kindAccount}
			if err := within(t, func() error { return write(Accounts{Records: rec, Now: time.Now}) }); !errors.Is(err, errBusy) {
				t.Errorf("%v, want errBusy", err)
			}
			if n := rec.writes.Load(); n != maxRetries {
				t.Errorf("%d writes tried, want %d", n, maxRetries)
			}
		})
	}
}
