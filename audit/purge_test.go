package audit_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

// recordInTime records n numbered events as recordNumbered does, on a
// Recorder whose clock runs half a second behind each event's recorded
// time (testEvent(i) is recorded at testBase + i s), with a checkpoint
// every four events: the checkpoint after event i is signed at
// testBase + i.5 s.
func recordInTime(t *testing.T, s backend, key ed25519.PrivateKey, prefix string, n int) {
	t.Helper()
	var at time.Time
	rec := newRecorder(t, s, key, audit.Config{CheckpointEvents: 4, Now: func() time.Time { return at }})
	for i := 1; i <= n; i++ {
		at = testBase.Add(time.Duration(i)*time.Second + 500*time.Millisecond)
		ev := testEvent(i)
		id := fmt.Sprintf("%s%02d", prefix, i)
		ev.Resource.Id = &id
		if err := rec.Record(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPurgeDeletesOnlyPastRetentionAndKeepsChainsVerifiable(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *engine) {
		s := e.open(t)
		key := newKey(t)
		recordInTime(t, s, key, "a", 12)
		recordInTime(t, s, key, "b", 12)

		// Events 1 to 10 were recorded before the cutoff, but only 1 to 8
		// are covered by a checkpoint signed before it (the one at seq 8,
		// signed at 8.5 s): 9 and 10 wait for a later purge.
		res := purgeAt(t, s, key, 10500*time.Millisecond)
		if res.Deleted != 16 || res.Chains != 2 || !res.Before.Equal(testBase.Add(10500*time.Millisecond)) {
			t.Fatalf("purge: %+v, want 16 events of 2 chains before %s", res, testBase.Add(10500*time.Millisecond))
		}
		if got, want := sortedIDs(s, t), []string{"a09", "a10", "a11", "a12", "b09", "b10", "b11", "b12"}; !slices.Equal(got, want) {
			t.Fatalf("left %v, want %v", got, want)
		}
		r := verifyOK(t, s, key)
		if r.Events != 8 || r.Chains != 2 {
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
		e.erase(t, "a09")
		r = verify(t, s, key.Public().(ed25519.PublicKey))
		if r.OK() || len(r.Problems) != 1 || r.Problems[0].Kind != audit.Missing || r.Problems[0].Seq != 9 {
			t.Errorf("a09 erased after the purge: %s", r)
		}
	})
}

// Without its signed statement a purge is a deletion like any other.
func TestPurgeWithoutItsStatementIsMissingEvents(t *testing.T) {
	s := engines()[0].open(t)
	key := newKey(t)
	recordInTime(t, s, key, "a", 6)
	purgeAt(t, s, key, 5*time.Second) // the checkpoint at seq 4, signed at 4.5 s
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
		!strings.Contains(r.Problems[0].Detail, "seq 1 to 4") {
		t.Errorf("the statement removed: %s", r)
	}
}

// Someone who can write to the database but has not the key cannot use
// the purge to hide events still inside the retention period: neither by
// backdating an event in the store's date index, nor by a statement that
// reaches beyond the last checkpoint before its cutoff.
func TestPurgeCannotBeMadeToReachInsideRetention(t *testing.T) {
	e := engines()[0]
	s := e.open(t)
	key := newKey(t)
	recordInTime(t, s, key, "a", 10)
	events := auditEvents(t, s)

	// The newest event backdated in the index: the purge reads its own
	// recorded time and keeps it; what it signs stops at seq 4.
	e.exec(t, `UPDATE ledger SET low = 0, high = 1 WHERE id = ?`, "a10")
	res := purgeAt(t, s, key, 5*time.Second)
	if res.Deleted != 4 {
		t.Fatalf("purge deleted %d, want a01 to a04", res.Deleted)
	}
	if _, ok := auditEvents(t, s)["a10"]; !ok {
		t.Fatal("the backdated event was purged")
	}
	// Deleting 5 to 9 now is found.
	e.erase(t, "a05", "a06", "a07", "a08", "a09")
	r := verify(t, s, key.Public().(ed25519.PublicKey))
	if r.OK() || r.Problems[0].Kind != audit.Missing || r.Problems[0].Seq != 5 {
		t.Errorf("a05 to a09 erased after the purge: %s", r)
	}

	// A statement that claims more than the checkpoints allow (signed by
	// the key: a purge from a build that trusted the index) is held to
	// the last checkpoint before its cutoff.
	chain, _, _, hash9 := chainOf(t, events["a09"].JSON)
	st := audit.Statement{Chain: chain, Hash: hash9, Seq: 9, Purged: testBase.Add(5 * time.Second).Format(fhir.InstantFormat),
		Time: testBase.Add(audit.MinRetention).Format(fhir.InstantFormat)}
	signed, _ := json.Marshal(audit.Checkpoint{Statement: st, Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, st.Bytes()))})
	old, err := s.GetRecord(context.Background(), audit.CheckpointKind, chain+"/purged")
	if err != nil {
		t.Fatal(err)
	}
	old.Data = signed
	if err := s.PutRecord(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	r = verify(t, s, key.Public().(ed25519.PublicKey))
	if r.OK() || r.Problems[0].Kind != audit.Missing || r.Problems[0].Seq != 5 {
		t.Errorf("an over-reaching statement: %s", r)
	}
}
