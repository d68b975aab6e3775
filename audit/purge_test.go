package audit_test

import (
	"context"
	"crypto/ed25519"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/audit"
	"github.com/oncofhir/oncofhir/fhir"
)

// testEvent(n) is recorded at testBase + n seconds.
var testBase = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// purgeAt purges as if now were the given time after testBase plus the
// shortest retention period: events recorded before testBase+after go.
func purgeAt(t *testing.T, s backend, key ed25519.PrivateKey, after time.Duration) audit.PurgeResult {
	t.Helper()
	res, err := audit.Purge(context.Background(), audit.PurgeConfig{
		Store: s, Purger: s.(fhir.LedgerPurger), Records: s, Key: key, Retention: audit.MinRetention,
		Now: func() time.Time { return testBase.Add(audit.MinRetention + after) },
	})
	if err != nil {
		t.Fatalf("purge: %v", err)
	}
	return res
}

func sortedIDs(s backend, t *testing.T) []string {
	var ids []string
	for id := range auditEvents(t, s) {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func TestPurgeDeletesOnlyPastRetentionAndKeepsChainsVerifiable(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *engine) {
		s := e.open(t)
		key := newKey(t)
		for _, prefix := range []string{"a", "b"} {
			rec := newRecorder(t, s, key, audit.Config{CheckpointEvents: 4})
			recordNumbered(t, rec, prefix, 12)
			if err := rec.Close(); err != nil {
				t.Fatal(err)
			}
		}

		res := purgeAt(t, s, key, 10500*time.Millisecond)
		if res.Deleted != 20 || res.Chains != 2 || !res.Before.Equal(testBase.Add(10500*time.Millisecond)) {
			t.Fatalf("purge: %+v, want 20 events of 2 chains before %s", res, testBase.Add(10500*time.Millisecond))
		}
		if got, want := sortedIDs(s, t), []string{"a11", "a12", "b11", "b12"}; !slices.Equal(got, want) {
			t.Fatalf("left %v, want %v", got, want)
		}
		r := verifyOK(t, s, key)
		if r.Events != 4 || r.Chains != 2 {
			t.Errorf("after the purge: %s", r)
		}

		// Again: nothing more is past the retention period.
		if res := purgeAt(t, s, key, 10500*time.Millisecond); res.Deleted != 0 {
			t.Errorf("second purge deleted %d", res.Deleted)
		}
		verifyOK(t, s, key)

		// A purge cannot reach inside the retention period.
		_, err := audit.Purge(context.Background(), audit.PurgeConfig{Store: s, Purger: s.(fhir.LedgerPurger), Records: s, Key: key,
			Retention: audit.MinRetention - time.Hour})
		if err == nil || !strings.Contains(err.Error(), "shorter than the 6 years") {
			t.Errorf("a retention below six years: %v", err)
		}

		// A deletion after the purge is still found, right after the
		// purged seqs.
		e.erase(t, "a11")
		r = verify(t, s, key.Public().(ed25519.PublicKey))
		if r.OK() || len(r.Problems) != 1 || r.Problems[0].Kind != audit.Missing || r.Problems[0].Seq != 11 {
			t.Errorf("a11 erased after the purge: %s", r)
		}
	})
}

// Without its signed statement a purge is a deletion like any other.
func TestPurgeWithoutItsStatementIsMissingEvents(t *testing.T) {
	s := engines()[0].open(t)
	key := newKey(t)
	rec := newRecorder(t, s, key, audit.Config{})
	recordNumbered(t, rec, "a", 6)
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	purgeAt(t, s, key, 3500*time.Millisecond)
	verifyOK(t, s, key)

	statements, err := s.FindRecords(context.Background(), audit.CheckpointKind, "", "")
	if err != nil {
		t.Fatal(err)
	}
	removed := 0
	for _, r := range statements {
		if strings.HasSuffix(r.Key, "/purged") {
			if err := s.DeleteRecord(context.Background(), r.Kind, r.Key); err != nil {
				t.Fatal(err)
			}
			removed++
		}
	}
	if removed != 1 {
		t.Fatalf("%d purge statements, want 1", removed)
	}
	r := verify(t, s, key.Public().(ed25519.PublicKey))
	if len(r.Problems) != 1 || r.Problems[0].Kind != audit.Missing || r.Problems[0].Seq != 1 ||
		!strings.Contains(r.Problems[0].Detail, "seq 1 to 3") {
		t.Errorf("the statement removed: %s", r)
	}

	// A statement signed by another key is not relied on either.
	purgeAt(t, s, newKey(t), 3500*time.Millisecond) // nothing left to purge: no statement
	rec = newRecorder(t, s, key, audit.Config{})
	recordNumbered(t, rec, "c", 2)
	rec.Close()
	before := len(verify(t, s, key.Public().(ed25519.PublicKey)).Problems)
	purgeAt(t, s, newKey(t), 1500*time.Millisecond) // c01 purged, signed by a stranger
	r = verify(t, s, key.Public().(ed25519.PublicKey))
	if len(r.Problems) != before+2 || !strings.Contains(r.String(), "does not verify") {
		t.Errorf("a purge signed by another key: %s", r)
	}
}
