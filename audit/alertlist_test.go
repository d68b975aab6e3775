package audit

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
)

func alertRecords(t *testing.T) fhir.Records {
	t.Helper()
	st, err := sqlitestore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestAlertList(t *testing.T) {
	rec := alertRecords(t)
	h := newHarness(t, AlertConfig{Records: rec})
	// A second process sharing the store keeps its alerts in the same list.
	other := newHarness(t, AlertConfig{Records: rec})
	other.now = h.now

	h.observe(breakGlass("u1"))
	other.observe(breakGlass("u9")) // the same instant
	h.advance(time.Hour)
	for range 11 {
		h.observe(refusalAccess("", "", "198.51.100.7", 401))
	}
	h.advance(time.Hour)
	h.observe(searchAccess("u2", "nurse", false, "p1", "p2"))
	flush(t, h.a)
	flush(t, other.a)

	ctx := t.Context()
	all, err := ListAlerts(ctx, rec, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, al := range all {
		got = append(got, al.Detector+":"+al.Subject)
	}
	if len(all) != 4 || !strings.HasPrefix(got[2], DetectRefusals) || got[3] != DetectBroadSearch+":u2" {
		t.Fatalf("list: %v", got)
	}
	r := all[2]
	if r.SubjectKind != SubjectAddress || r.Subject != "198.51.100.7" || r.Refusals != 11 || r.Threshold != 10 ||
		r.Window != 5*time.Minute || !r.Time.Equal(alertTuesday10.Add(time.Hour)) || r.Text == "" {
		t.Fatalf("stored alert: %+v", r)
	}

	for _, c := range []struct {
		name  string
		since time.Time
		want  int
	}{
		{"since the first alert's instant: all of them", alertTuesday10, 4},
		{"since a nanosecond later", alertTuesday10.Add(time.Nanosecond), 2},
		{"since the last alert's instant, in another zone", alertTuesday10.Add(2 * time.Hour).In(time.FixedZone("x", -5*3600)), 1},
		{"since after the last", alertTuesday10.Add(3 * time.Hour), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			list, err := ListAlerts(ctx, rec, c.since)
			if err != nil || len(list) != c.want {
				t.Fatalf("got %d alerts (%v), want %d", len(list), err, c.want)
			}
		})
	}

	t.Run("records of kind audit.alert, keyed by the alert id, never expiring", func(t *testing.T) {
		for _, al := range all {
			r, err := rec.GetRecord(ctx, AlertKind, al.ID)
			if err != nil || !r.Expires.IsZero() || r.Attrs["detector"] != al.Detector {
				t.Fatalf("record %s: %+v, %v", al.ID, r, err)
			}
		}
	})
}

// flakyRecords fails its first writes.
type flakyRecords struct {
	fhir.Records
	mu    sync.Mutex
	fails int
}

func (f *flakyRecords) PutRecord(ctx context.Context, r *fhir.Record) error {
	f.mu.Lock()
	fail := f.fails > 0
	f.fails--
	f.mu.Unlock()
	if fail {
		return errors.New("database is locked")
	}
	return f.Records.PutRecord(ctx, r)
}

func TestAlertListRetriesAFailingStore(t *testing.T) {
	rec := alertRecords(t)
	h := newHarness(t, AlertConfig{Records: &flakyRecords{Records: rec, fails: 2}, retry: time.Millisecond})
	h.observe(breakGlass("u1"))
	flush(t, h.a)
	if list, err := ListAlerts(t.Context(), rec, time.Time{}); err != nil || len(list) != 1 {
		t.Fatalf("list: %v, %v", list, err)
	}
	if strings.Contains(h.log.String(), "not delivered") {
		t.Fatalf("log:\n%s", h.log)
	}
}
