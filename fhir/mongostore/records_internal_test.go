package mongostore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/oncofhir/oncofhir/fhir"
)

// testClock is a clock a test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func countDocs(t *testing.T, s *Store, coll string) int64 {
	t.Helper()
	n, err := s.db.Collection(coll).CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRecordExpiryFollowsTheStoreClock(t *testing.T) {
	clock := &testClock{now: t0}
	s, _ := openTest(t, Options{Now: clock.Now})
	ctx := context.Background()
	r := &fhir.Record{Kind: "oauth.code", Key: "c", Data: []byte(`{}`), Expires: t0.Add(time.Minute),
		Attrs: map[string]string{"client": "app"}}
	if err := s.PutRecord(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRecord(ctx, "oauth.code", "c"); err != nil {
		t.Fatalf("GetRecord before expiry: %v", err)
	}
	clock.Add(time.Minute)
	if _, err := s.GetRecord(ctx, "oauth.code", "c"); !errors.Is(err, fhir.ErrNotFound) {
		t.Fatalf("GetRecord at expiry: %v, want ErrNotFound", err)
	}
	if found, err := s.FindRecords(ctx, "oauth.code", "client", "app"); err != nil || len(found) != 0 {
		t.Fatalf("FindRecords at expiry: %v, %v", found, err)
	}
}

func TestExpiredRecordsArePurgedByWrites(t *testing.T) {
	clock := &testClock{now: t0}
	s, _ := openTest(t, Options{Now: clock.Now})
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		r := &fhir.Record{Kind: "oauth.code", Key: k, Data: []byte(`{}`), Expires: t0.Add(time.Second)}
		if err := s.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(purgeEvery)
	if err := s.PutRecord(ctx, &fhir.Record{Kind: "oauth.code", Key: "c", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if n := countDocs(t, s, recordsColl); n != 1 {
		t.Errorf("%d records after the purge, want 1", n)
	}
}

// TestRecordClaimOfADeadWriterIsTakenOver leaves a claim as a writer that
// died before replacing would: updates of that revision conflict until
// the claim is older than the lease, and then succeed.
func TestRecordClaimOfADeadWriterIsTakenOver(t *testing.T) {
	clock := &testClock{now: t0}
	s, _ := openTest(t, Options{Units: UnitsJournal, Now: clock.Now, Lease: 10 * time.Second})
	ctx := context.Background()
	r := &fhir.Record{Kind: "session", Key: "s", Data: []byte(`{"v":1}`)}
	if err := s.PutRecord(ctx, r); err != nil {
		t.Fatal(err)
	}
	dead := recordClaim{ID: "2|" + recordID("session", "s"), Owner: "dead", Created: micros(clock.Now())}
	if _, err := s.rec.claims.InsertOne(ctx, dead); err != nil {
		t.Fatal(err)
	}
	upd := *r
	upd.Data = []byte(`{"v":2}`)
	if err := s.PutRecord(ctx, &upd); !errors.Is(err, fhir.ErrVersionConflict) {
		t.Fatalf("update while the claim is fresh: %v, want ErrVersionConflict", err)
	}
	clock.Add(11 * time.Second)
	if err := s.PutRecord(ctx, &upd); err != nil {
		t.Fatalf("update once the claim is past the lease: %v", err)
	}
	if got, err := s.GetRecord(ctx, "session", "s"); err != nil || got.Rev != 2 || string(got.Data) != `{"v":2}` {
		t.Fatalf("GetRecord: %+v, %v", got, err)
	}
	if n := countDocs(t, s, claimsColl); n != 0 {
		t.Errorf("%d claims left after the update, want 0", n)
	}
}
