package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/audit"
	"github.com/oncofhir/oncofhir/fhir"
)

// specHash computes an event's hash from the canonical form as the
// package documents it, independently of the package's code.
func specHash(t testing.TB, stored []byte) string {
	t.Helper()
	doc := decode(t, stored)
	delete(doc, "meta")
	for _, e := range doc["extension"].([]any) {
		if m := e.(map[string]any); m["url"] == audit.ChainURL {
			for _, s := range m["extension"].([]any) {
				if s := s.(map[string]any); s["url"] == "hash" {
					s["valueString"] = ""
				}
			}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return hex.EncodeToString(sum[:])
}

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// forge makes the JSON of an event as a forger who knows the format
// would: base with a new id, placed at chain/seq after prev, its hash
// recomputed.
func forge(t testing.TB, base []byte, id, chain string, seq int64, prev string) []byte {
	t.Helper()
	doc := decode(t, base)
	doc["id"] = id
	for _, e := range doc["extension"].([]any) {
		if m := e.(map[string]any); m["url"] == audit.ChainURL {
			for _, s := range m["extension"].([]any) {
				s := s.(map[string]any)
				switch s["url"] {
				case "chain":
					s["valueString"] = chain
				case "seq":
					s["valueInteger"] = seq
				case "prev":
					s["valueString"] = prev
				}
			}
		}
	}
	doc["outcomeDesc"] = "forged"
	setHash := func(h string) {
		for _, e := range doc["extension"].([]any) {
			if m := e.(map[string]any); m["url"] == audit.ChainURL {
				for _, s := range m["extension"].([]any) {
					if s := s.(map[string]any); s["url"] == "hash" {
						s["valueString"] = h
					}
				}
			}
		}
	}
	b, _ := json.Marshal(doc)
	setHash(specHash(t, b))
	b, _ = json.Marshal(doc)
	return b
}

// put writes versions directly through the store, as someone with write
// access to it (but not the checkpoint key) could.
func put(t testing.TB, s fhir.Store, rs ...*fhir.Resource) {
	t.Helper()
	err := s.Write(context.Background(), func(tx fhir.Tx) error {
		for _, r := range rs {
			if err := tx.Put(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
}

func verify(t testing.TB, s backend, pub ed25519.PublicKey) *audit.Report {
	t.Helper()
	r, err := audit.Verify(context.Background(), s, s, pub, nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return r
}

func verifyOK(t testing.TB, s backend, key ed25519.PrivateKey) *audit.Report {
	t.Helper()
	r := verify(t, s, key.Public().(ed25519.PublicKey))
	if !r.OK() {
		t.Errorf("verify: %s", r)
	}
	return r
}

func parseCheckpointRecord(t testing.TB, b []byte) audit.Checkpoint {
	t.Helper()
	var c audit.Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// found lists a report's problems as "kind chain-label seq id".
func found(r *audit.Report, labels map[string]string) []string {
	var out []string
	for _, p := range r.Problems {
		out = append(out, fmt.Sprintf("%s %s %d %s", p.Kind, labels[p.Chain], p.Seq, p.ID))
	}
	sort.Strings(out)
	return out
}

// recordNumbered records n events, one Record each, with ids prefix01...,
// so that event i has seq i.
func recordNumbered(t testing.TB, rec *audit.Recorder, prefix string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		ev := testEvent(i)
		id := fmt.Sprintf("%s%02d", prefix, i)
		ev.Resource.Id = &id
		if err := rec.Record(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// The test: events edited, deleted and inserted directly in the
// store, and a chain's tail removed, are each named with their kind.
func TestVerifyNamesEachTampering(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *engine) {
		s := e.open(t)
		key := newKey(t)
		ctx := context.Background()

		rec := newRecorder(t, s, key, audit.Config{})
		recordNumbered(t, rec, "a", 20)
		if err := rec.Close(); err != nil {
			t.Fatal(err)
		}
		// A restart: a second chain, checkpointed at its close (seq 10).
		rec = newRecorder(t, s, key, audit.Config{})
		recordNumbered(t, rec, "b", 10)
		if err := rec.Close(); err != nil {
			t.Fatal(err)
		}
		r := verifyOK(t, s, key)
		if r.Chains != 2 || r.Events != 30 {
			t.Fatalf("untouched: %d chains, %d events", r.Chains, r.Events)
		}
		events := auditEvents(t, s)
		chainA, _, _, _ := chainOf(t, events["a01"].JSON)
		chainB, _, _, _ := chainOf(t, events["b01"].JSON)
		_, _, _, hash20 := chainOf(t, events["a20"].JSON)
		now := time.Now().UTC().Truncate(time.Millisecond)
		created := func(id string, js []byte) *fhir.Resource {
			return &fhir.Resource{Type: "AuditEvent", ID: id, Version: 1, LastUpdated: now, Method: "POST", JSON: js}
		}

		// Edited: who read what is changed in place.
		e.modify(t, "a05", bytes.Replace(events["a05"].JSON, []byte("Patient/p5"), []byte("Patient/p6"), 1))
		// Deleted from the middle of chain A.
		e.erase(t, "a08")
		// Inserted: an event no Recorder wrote.
		noChain := decode(t, events["a03"].JSON)
		noChain["id"], noChain["extension"] = "forged-plain", nil
		plain, _ := json.Marshal(noChain)
		put(t, s, created("forged-plain", plain))
		// Inserted: a copy of seq 12 with a new id and a recomputed hash.
		put(t, s, created("forged-dup", forge(t, events["a12"].JSON, "forged-dup", chainA, 12, mustPrev(t, events["a12"].JSON))))
		// Inserted: appended after the chain's closing checkpoint.
		put(t, s, created("forged-after", forge(t, events["a20"].JSON, "forged-after", chainA, 21, hash20)))
		// Inserted: a whole chain made up, correctly linked.
		put(t, s, created("forged-chain", forge(t, events["a01"].JSON, "forged-chain", "feedfeedfeedfeedfeedfeedfeedfeed", 1, audit.ZeroHash)))
		// The tails of both chains removed, leaving no trace but the
		// checkpoints at their close.
		e.erase(t, "a19", "a20")
		e.erase(t, "b09", "b10")

		r, err := audit.Verify(ctx, s, s, key.Public().(ed25519.PublicKey), nil)
		if err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{chainA: "A", chainB: "B", "": "-", "feedfeedfeedfeedfeedfeedfeedfeed": "F"}
		want := []string{
			"inserted - 0 forged-plain",
			"inserted A 12 forged-dup",
			"inserted A 21 forged-after",
			"inserted F 1 forged-chain",
			"missing A 19 ",
			"missing A 8 ",
			"missing B 9 ",
			"modified A 5 a05",
		}
		if got := found(r, labels); !slices.Equal(got, want) {
			t.Errorf("problems:\n got %q\nwant %q\n%s", got, want, r)
		}
		if r.OK() || !strings.Contains(r.String(), "8 problems") {
			t.Errorf("report: %s", r)
		}
	})
}

func mustPrev(t testing.TB, js []byte) string {
	_, _, prev, _ := chainOf(t, js)
	return prev
}

// A checkpoint whose signature was tampered with is reported, and not
// relied on; with the wrong key nothing is.
func TestVerifyCatchesBadSignatures(t *testing.T) {
	s := engines()[0].open(t)
	key := newKey(t)
	rec := newRecorder(t, s, key, audit.Config{CheckpointEvents: 5})
	recordNumbered(t, rec, "e", 12)
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	other := newKey(t).Public().(ed25519.PublicKey)
	r := verify(t, s, other)
	var bad, inserted int
	for _, p := range r.Problems {
		switch p.Kind {
		case audit.BadSignature:
			bad++
		case audit.Inserted:
			inserted++
		}
	}
	if bad != 4 || inserted != 1 || len(r.Problems) != 5 {
		t.Errorf("with another key: %s", r)
	}

	ctx := context.Background()
	list, _ := s.FindRecords(ctx, audit.CheckpointKind, "", "")
	cp := list[1] // seq 5
	c := parseCheckpointRecord(t, cp.Data)
	c.Statement.Hash = strings.Repeat("1", 64) // claims another hash: the signature no longer fits
	cp.Data, _ = json.Marshal(c)
	if err := s.PutRecord(ctx, cp); err != nil {
		t.Fatal(err)
	}
	r = verify(t, s, pub)
	if len(r.Problems) != 1 || r.Problems[0].Kind != audit.BadSignature || r.Problems[0].Seq != 5 {
		t.Errorf("tampered checkpoint: %s", r)
	}
}

// Exported checkpoints still tell what was signed after the store's were
// removed along with the tail of the chain; a tampered export line is
// reported.
func TestVerifyWithExportedCheckpoints(t *testing.T) {
	e := engines()[0]
	s := e.open(t)
	key := newKey(t)
	pub := key.Public().(ed25519.PublicKey)
	rec := newRecorder(t, s, key, audit.Config{})
	recordNumbered(t, rec, "e", 6)
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var exported bytes.Buffer
	if err := audit.ExportCheckpoints(ctx, s, &exported); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(exported.String(), "\n"); n != 2 {
		t.Fatalf("exported %d lines, want 2:\n%s", n, exported.String())
	}

	// The closing checkpoint removed from the store, and the tail with it.
	list, _ := s.FindRecords(ctx, audit.CheckpointKind, "", "")
	if err := s.DeleteRecord(ctx, audit.CheckpointKind, list[1].Key); err != nil {
		t.Fatal(err)
	}
	e.erase(t, "e05", "e06")
	if r := verify(t, s, pub); !r.OK() {
		t.Errorf("without the export the cut is invisible, yet: %s", r)
	}
	r, err := audit.Verify(ctx, s, s, pub, bytes.NewReader(exported.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 1 || r.Problems[0].Kind != audit.Missing || r.Problems[0].Seq != 5 {
		t.Errorf("with the export: %s", r)
	}

	tampered := strings.Replace(exported.String(), `"seq":6`, `"seq":4`, 1)
	r, err = audit.Verify(ctx, s, s, pub, strings.NewReader(tampered+"not json\n"))
	if err != nil {
		t.Fatal(err)
	}
	var bad int
	for _, p := range r.Problems {
		if p.Kind == audit.BadSignature {
			bad++
		}
	}
	if bad != 2 {
		t.Errorf("tampered export: %s", r)
	}
}

// Two Recorders sharing one store (two server processes), each its own
// chain, both verify.
func TestTwoRecordersShareAStore(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *engine) {
		s := e.open(t)
		key := newKey(t)
		var wg sync.WaitGroup
		for p := range 2 {
			rec := newRecorder(t, s, key, audit.Config{CheckpointEvents: 7})
			wg.Go(func() {
				defer rec.Close()
				for i := range 15 {
					if err := rec.Record(context.Background(), testEvent(p*100+i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if r := verifyOK(t, s, key); r.Chains != 2 || r.Events != 30 {
			t.Errorf("%d chains, %d events; want 2, 30", r.Chains, r.Events)
		}
	})
}
