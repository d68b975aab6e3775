package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/audit"
	"github.com/oncofhir/oncofhir/conformance"
	"github.com/oncofhir/oncofhir/fhir"
)

// Many callers at once: every event stored and readable as soon as its
// Record returns, all in one chain with seqs 1..n and every prev the hash
// of the event before.
func TestRecordFromManyGoroutines(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *engine) {
		s := e.open(t)
		key := newKey(t)
		rec := newRecorder(t, s, key, audit.Config{})
		const callers, calls = 8, 10
		var wg sync.WaitGroup
		var total atomic.Int64
		errs := make(chan error, callers*calls)
		for g := range callers {
			wg.Go(func() {
				for c := range calls {
					n := 1 + (g+c)%3
					evs := make([]*audit.Event, n)
					for i := range evs {
						evs[i] = testEvent(g*1000 + c*10 + i)
						id := fmt.Sprintf("g%d-c%d-e%d", g, c, i)
						evs[i].Resource.Id = &id
					}
					if err := rec.Record(context.Background(), evs...); err != nil {
						errs <- err
						return
					}
					total.Add(int64(n))
					for _, ev := range evs { // durable, so visible, once Record returns
						if _, err := s.Read(context.Background(), "AuditEvent", *ev.Resource.Id); err != nil {
							errs <- fmt.Errorf("read %s after Record: %w", *ev.Resource.Id, err)
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if err := rec.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}

		stored := auditEvents(t, s)
		if int64(len(stored)) != total.Load() {
			t.Fatalf("stored %d events, recorded %d", len(stored), total.Load())
		}
		bySeq := map[int64]*fhir.Resource{}
		chains := map[string]bool{}
		for _, r := range stored {
			chain, seq, _, _ := chainOf(t, r.JSON)
			chains[chain] = true
			if bySeq[seq] != nil {
				t.Errorf("seq %d twice", seq)
			}
			bySeq[seq] = r
			if r.Version != 1 || r.LastUpdated.IsZero() {
				t.Errorf("%s: version %d, lastUpdated %v", r.ID, r.Version, r.LastUpdated)
			}
			// Each stored event is its own, whole: events prepared at
			// once share no buffer.
			var body struct {
				ID     string `json:"id"`
				Entity []struct {
					Description string `json:"description"`
				} `json:"entity"`
			}
			var g, c, i int
			if err := json.Unmarshal(r.JSON, &body); err != nil || body.ID != r.ID || len(body.Entity) != 1 {
				t.Errorf("%s: stored as %s (%v)", r.ID, r.JSON, err)
			} else if _, err := fmt.Sscanf(r.ID, "g%d-c%d-e%d", &g, &c, &i); err != nil ||
				body.Entity[0].Description != fmt.Sprintf("event %d", g*1000+c*10+i) {
				t.Errorf("%s: holds %q", r.ID, body.Entity[0].Description)
			}
		}
		if len(chains) != 1 {
			t.Errorf("%d chains, want 1", len(chains))
		}
		prev := audit.ZeroHash
		for seq := int64(1); seq <= total.Load(); seq++ {
			r := bySeq[seq]
			if r == nil {
				t.Fatalf("seq %d missing", seq)
			}
			_, _, p, h := chainOf(t, r.JSON)
			if p != prev {
				t.Errorf("seq %d: prev %s, want %s", seq, p, prev)
			}
			if got := specHash(t, r.JSON); got != h {
				t.Errorf("seq %d: hash %s, but the documented canonical form hashes to %s", seq, h, got)
			}
			prev = h
		}
		verifyOK(t, s, key)
	})
}

// What is stored is a valid R4 AuditEvent, chain extension and all, with
// the meta every stored resource has.
func TestStoredEventsAreValidR4(t *testing.T) {
	s := engines()[0].open(t)
	rec := newRecorder(t, s, newKey(t), audit.Config{})
	defer rec.Close()
	if err := rec.Record(context.Background(), testEvent(1), testEvent(2)); err != nil {
		t.Fatal(err)
	}
	v, err := conformance.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	for id, r := range auditEvents(t, s) {
		if err := v.Validate("AuditEvent", r.JSON); err != nil {
			t.Errorf("%s: %v\n%s", id, err, r.JSON)
		}
		var doc struct {
			ResourceType, ID string
			Meta             struct{ VersionID, LastUpdated string }
		}
		if err := json.Unmarshal(r.JSON, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.ResourceType != "AuditEvent" || doc.ID != id || doc.Meta.VersionID != "1" ||
			doc.Meta.LastUpdated != r.LastUpdated.UTC().Format(fhir.InstantFormat) {
			t.Errorf("%s: resourceType %q, id %q, meta %+v; stored as version %d of %v", id, doc.ResourceType, doc.ID, doc.Meta, r.Version, r.LastUpdated)
		}
		if !bytes.HasPrefix(r.JSON, []byte(`{"resourceType":"AuditEvent","id":`)) {
			t.Errorf("%s: stored as %.60s", id, r.JSON)
		}
	}
}

func TestRecordGivesAnIDWhenTheEventHasNone(t *testing.T) {
	s := engines()[0].open(t)
	rec := newRecorder(t, s, newKey(t), audit.Config{})
	defer rec.Close()
	ev := testEvent(1)
	if err := rec.Record(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if ev.Resource.Id != nil {
		t.Error("Record changed the caller's event")
	}
	for id := range auditEvents(t, s) {
		if len(id) != 36 {
			t.Errorf("id %q is not a UUID", id)
		}
	}
}

func TestRecordFailsWhenTheStoreFails(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *engine) {
		s := e.open(t)
		rec := newRecorder(t, s, newKey(t), audit.Config{})
		if err := rec.Record(context.Background(), testEvent(1)); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := rec.Record(context.Background(), testEvent(2)); err == nil {
			t.Error("Record succeeded on a closed store")
		}
		if err := rec.Close(); err == nil {
			t.Error("Close wrote its checkpoint on a closed store")
		}
		if err := rec.Record(context.Background(), testEvent(3)); !errors.Is(err, audit.ErrClosed) {
			t.Errorf("Record after Close: %v, want ErrClosed", err)
		}
	})
}

// failingStore fails every Write while fail is set.
type failingStore struct {
	backend
	fail atomic.Bool
}

func (f *failingStore) Write(ctx context.Context, fn func(tx fhir.Tx) error) error {
	if f.fail.Load() {
		return fmt.Errorf("test: %w", fhir.ErrUnavailable)
	}
	return f.backend.Write(ctx, fn)
}

// A failed unit stores nothing and fails its callers; the events after it
// go to a new chain (the failed write might have landed after all), and
// both chains verify.
func TestFailedUnitStartsANewChain(t *testing.T) {
	s := &failingStore{backend: engines()[0].open(t)}
	key := newKey(t)
	rec := newRecorder(t, s, key, audit.Config{})
	for i := range 5 {
		if err := rec.Record(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.fail.Store(true)
	if err := rec.Record(context.Background(), testEvent(5), testEvent(6)); !errors.Is(err, fhir.ErrUnavailable) {
		t.Fatalf("Record on a failing store: %v", err)
	}
	s.fail.Store(false)
	for i := 7; i < 10; i++ {
		if err := rec.Record(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(auditEvents(t, s)); n != 8 {
		t.Errorf("%d events stored, want 8", n)
	}
	if r := verifyOK(t, s, key); r.Chains != 2 {
		t.Errorf("%d chains, want 2", r.Chains)
	}
}

// Callers that give up at any moment leave a chain that verifies, and
// every Record that returned nil is stored.
func TestCancelledCallersDoNotBreakTheChain(t *testing.T) {
	s := engines()[0].open(t)
	key := newKey(t)
	rec := newRecorder(t, s, key, audit.Config{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var confirmed []string
	for g := range 16 {
		wg.Go(func() {
			for c := range 20 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration((g*7+c*13)%50)*time.Microsecond)
				ev := testEvent(g*100 + c)
				id := fmt.Sprintf("x%d-%d", g, c)
				ev.Resource.Id = &id
				if rec.Record(ctx, ev) == nil {
					mu.Lock()
					confirmed = append(confirmed, id)
					mu.Unlock()
				}
				cancel()
			}
		})
	}
	wg.Wait()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	stored := auditEvents(t, s)
	for _, id := range confirmed {
		if stored[id] == nil {
			t.Errorf("%s: Record returned nil but it is not stored", id)
		}
	}
	verifyOK(t, s, key)
}

// Checkpoints: the chain's first at seq 0, one every CheckpointEvents
// events, one on the clock once the chain has moved, a closing one.
func TestCheckpointsAreWritten(t *testing.T) {
	s := engines()[0].open(t)
	key := newKey(t)
	rec := newRecorder(t, s, key, audit.Config{CheckpointEvents: 10, CheckpointEvery: time.Hour})
	for i := range 25 {
		if err := rec.Record(context.Background(), testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	got := checkpointSeqs(t, s)
	want := "0 10 20 25c"
	if got != want {
		t.Errorf("checkpoints %q, want %q", got, want)
	}

	s = engines()[0].open(t)
	rec = newRecorder(t, s, key, audit.Config{CheckpointEvery: 20 * time.Millisecond})
	if err := rec.Record(context.Background(), testEvent(1), testEvent(2)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for checkpointSeqs(t, s) != "0 2" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := checkpointSeqs(t, s); got != "0 2" {
		t.Errorf("checkpoints on the clock: %q, want %q", got, "0 2")
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if got := checkpointSeqs(t, s); got != "0 2c" {
		t.Errorf("after Close: %q, want %q (the closing one replaces the one at the same seq)", got, "0 2c")
	}
	verifyOK(t, s, key)
}

// checkpointSeqs lists the seqs of the stored checkpoints, "c" marking a
// closing one.
func checkpointSeqs(t testing.TB, s backend) string {
	t.Helper()
	list, err := s.FindRecords(context.Background(), audit.CheckpointKind, "", "")
	if err != nil {
		t.Fatal(err)
	}
	out := ""
	for i, r := range list {
		c := parseCheckpointRecord(t, r.Data)
		if i > 0 {
			out += " "
		}
		out += fmt.Sprint(c.Statement.Seq)
		if c.Statement.Closed {
			out += "c"
		}
	}
	return out
}

func TestNewRecorderRefuses(t *testing.T) {
	s := engines()[0].open(t)
	key := newKey(t)
	for name, cfg := range map[string]audit.Config{
		"no store":   {Records: s, Key: key},
		"no records": {Store: s, Key: key},
		"no key":     {Store: s, Records: s},
		"short key":  {Store: s, Records: s, Key: key[:10]},
	} {
		if _, err := audit.NewRecorder(context.Background(), cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	s.Close()
	if _, err := audit.NewRecorder(context.Background(), audit.Config{Store: s, Records: s, Key: key}); err == nil {
		t.Error("started a chain on a closed store")
	}
}
