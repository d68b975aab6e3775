package storetest

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// RunRecords runs the behaviours of fhir.Records as subtests, each on a
// store of its own. open must return a new, empty store and close it when
// the test ends (t.Cleanup).
//
// Expiry is measured against the engine's own clock, which the suite takes
// to be the real time: a live record expires in an hour, an expired one
// did an hour ago.
func RunRecords(t *testing.T, open func(t *testing.T) fhir.Records) {
	for _, b := range recordBehaviours {
		t.Run(b.name, func(t *testing.T) {
			b.run(&recEnv{t: t, ctx: context.Background(), r: open(t)})
		})
	}
}

type recordBehaviour struct {
	name string
	run  func(e *recEnv)
}

// recEnv is what a record behaviour works with.
type recEnv struct {
	t   *testing.T
	ctx context.Context
	r   fhir.Records
}

// live is an expiry an hour ahead, to the millisecond; expired, an hour
// ago.
func live() time.Time    { return fhir.TruncateTime(time.Now().Add(time.Hour)) }
func expired() time.Time { return fhir.TruncateTime(time.Now().Add(-time.Hour)) }

// rec builds a record; attrs are name, value pairs.
func rec(kind, key, data string, expires time.Time, attrs ...string) *fhir.Record {
	r := &fhir.Record{Kind: kind, Key: key, Data: []byte(data), Expires: expires}
	if len(attrs) > 0 {
		r.Attrs = map[string]string{}
		for i := 0; i+1 < len(attrs); i += 2 {
			r.Attrs[attrs[i]] = attrs[i+1]
		}
	}
	return r
}

// put stores r and fails the test if that does not succeed.
func (e *recEnv) put(r *fhir.Record) *fhir.Record {
	e.t.Helper()
	if err := e.r.PutRecord(e.ctx, r); err != nil {
		e.t.Fatalf("PutRecord %s %q (rev %d): %v", r.Kind, r.Key, r.Rev, err)
	}
	return r
}

// conflict checks that putting r fails with ErrVersionConflict and leaves
// r.Rev as it was.
func (e *recEnv) conflict(r *fhir.Record) {
	e.t.Helper()
	rev := r.Rev
	if err := e.r.PutRecord(e.ctx, r); !errors.Is(err, fhir.ErrVersionConflict) {
		e.t.Fatalf("PutRecord %s %q with rev %d: %v, want ErrVersionConflict", r.Kind, r.Key, rev, err)
	}
	if r.Rev != rev {
		e.t.Errorf("a PutRecord that failed changed Rev from %d to %d", rev, r.Rev)
	}
}

func (e *recEnv) get(kind, key string) *fhir.Record {
	e.t.Helper()
	got, err := e.r.GetRecord(e.ctx, kind, key)
	if err != nil {
		e.t.Fatalf("GetRecord %s %q: %v", kind, key, err)
	}
	return got
}

func (e *recEnv) absent(kind, key string) {
	e.t.Helper()
	if got, err := e.r.GetRecord(e.ctx, kind, key); !errors.Is(err, fhir.ErrNotFound) {
		e.t.Fatalf("GetRecord %s %q = %v, %v; want ErrNotFound", kind, key, got, err)
	}
}

// find checks that FindRecords answers exactly the records with the given
// keys, in that order, and returns them.
func (e *recEnv) find(kind, name, value string, want ...string) []*fhir.Record {
	e.t.Helper()
	got, err := e.r.FindRecords(e.ctx, kind, name, value)
	if err != nil {
		e.t.Fatalf("FindRecords %s %q=%q: %v", kind, name, value, err)
	}
	var keys []string
	for _, r := range got {
		keys = append(keys, r.Key)
		if r.Kind != kind {
			e.t.Errorf("FindRecords %s returned a record of kind %s", kind, r.Kind)
		}
	}
	if !slices.Equal(keys, want) {
		e.t.Fatalf("FindRecords %s %q=%q = %q, want %q", kind, name, value, keys, want)
	}
	return got
}

// sameRecord checks that got is what was stored as want.
func sameRecord(t *testing.T, got, want *fhir.Record) {
	t.Helper()
	if got.Kind != want.Kind || got.Key != want.Key {
		t.Errorf("got record %s %q, want %s %q", got.Kind, got.Key, want.Kind, want.Key)
	}
	if !bytes.Equal(got.Data, want.Data) {
		t.Errorf("%s %q: Data = %q, want %q", want.Kind, want.Key, got.Data, want.Data)
	}
	if len(got.Attrs) != 0 || len(want.Attrs) != 0 {
		if !maps.Equal(got.Attrs, want.Attrs) {
			t.Errorf("%s %q: Attrs = %q, want %q", want.Kind, want.Key, got.Attrs, want.Attrs)
		}
	}
	if !got.Expires.Equal(want.Expires) {
		t.Errorf("%s %q: Expires = %s, want %s", want.Kind, want.Key,
			got.Expires.Format(time.RFC3339Nano), want.Expires.Format(time.RFC3339Nano))
	}
	if got.Rev != want.Rev {
		t.Errorf("%s %q: Rev = %d, want %d", want.Kind, want.Key, got.Rev, want.Rev)
	}
}

var recordBehaviours = []recordBehaviour{
	{name: "create then get returns Data, Attrs, Expires to the millisecond and Rev 1", run: func(e *recEnv) {
		at := fhir.TruncateTime(time.Now().Add(90*time.Minute + 123*time.Millisecond))
		r := e.put(rec("oauth.access", "sig-1", `{"scope":"patient/*.rs","n":1.50}`, at,
			"client", "app-1", "grant", "g-1"))
		if r.Rev != 1 {
			e.t.Errorf("Rev after create = %d, want 1", r.Rev)
		}
		got := e.get("oauth.access", "sig-1")
		sameRecord(e.t, got, r)
		if got.Expires.UnixMilli() != at.UnixMilli() {
			e.t.Errorf("Expires = %d ms, want %d ms", got.Expires.UnixMilli(), at.UnixMilli())
		}
	}},

	{name: "a zero Expires never expires and comes back zero", run: func(e *recEnv) {
		r := e.put(rec("oauth.client", "app-1", `{}`, time.Time{}))
		got := e.get("oauth.client", "app-1")
		sameRecord(e.t, got, r)
		if !got.Expires.IsZero() {
			e.t.Errorf("Expires = %s, want the zero time", got.Expires)
		}
	}},

	{name: "get of an absent record → ErrNotFound", run: func(e *recEnv) {
		e.absent("oauth.client", "nobody")
		e.put(rec("oauth.client", "app-1", `{}`, live()))
		e.absent("oauth.code", "app-1") // the same key in another kind
		e.absent("oauth.client", "app-")
		e.absent("oauth.client", "app-1 ")
	}},

	{name: "create of an existing key → ErrVersionConflict, nothing changes", run: func(e *recEnv) {
		first := e.put(rec("account", "alice", `{"v":1}`, live(), "email", "a@example.org"))
		e.conflict(rec("account", "alice", `{"v":2}`, live(), "email", "b@example.org"))
		sameRecord(e.t, e.get("account", "alice"), first)
		e.find("account", "email", "a@example.org", "alice")
		e.find("account", "email", "b@example.org")
	}},

	{name: "update with the current Rev succeeds and bumps Rev", run: func(e *recEnv) {
		r := e.put(rec("session", "s1", `{"step":"password"}`, live(), "subject", "alice"))
		r.Data, r.Attrs = []byte(`{"step":"mfa"}`), map[string]string{"subject": "alice", "acr": "mfa"}
		r.Expires = live().Add(time.Minute)
		e.put(r)
		if r.Rev != 2 {
			e.t.Errorf("Rev after an update = %d, want 2", r.Rev)
		}
		sameRecord(e.t, e.get("session", "s1"), r)
		e.find("session", "acr", "mfa", "s1")
		r.Attrs = map[string]string{"subject": "bob"}
		e.put(r)
		if r.Rev != 3 {
			e.t.Errorf("Rev after a second update = %d, want 3", r.Rev)
		}
		e.find("session", "subject", "alice")
		e.find("session", "acr", "mfa")
		e.find("session", "subject", "bob", "s1")
	}},

	{name: "update with a stale, future or absent Rev → ErrVersionConflict, nothing changes", run: func(e *recEnv) {
		r := e.put(rec("session", "s1", `{"v":1}`, live(), "subject", "alice"))
		r.Data = []byte(`{"v":2}`)
		e.put(r)
		want := *r
		for _, rev := range []int64{1, 3, 99, -1} {
			stale := rec("session", "s1", `{"v":"stale"}`, live(), "subject", "mallory")
			stale.Rev = rev
			e.conflict(stale)
		}
		sameRecord(e.t, e.get("session", "s1"), &want)
		e.find("session", "subject", "mallory")
		absent := rec("session", "never-created", `{}`, live())
		absent.Rev = 1
		e.conflict(absent)
		e.absent("session", "never-created")
	}},

	{name: "racing read-modify-write: exactly one writer wins each revision", run: racingIncrements},

	{name: "racing creates of one key: exactly one wins", run: racingCreates(false)},

	{name: "racing creates over an expired record: exactly one wins", run: racingCreates(true)},

	{name: "delete removes the record, its attributes and its key", run: func(e *recEnv) {
		e.put(rec("oauth.refresh", "r1", `{}`, live(), "grant", "g1"))
		e.put(rec("oauth.refresh", "r2", `{}`, live(), "grant", "g1"))
		if err := e.r.DeleteRecord(e.ctx, "oauth.refresh", "r1"); err != nil {
			e.t.Fatalf("DeleteRecord: %v", err)
		}
		e.absent("oauth.refresh", "r1")
		e.find("oauth.refresh", "grant", "g1", "r2")
		e.find("oauth.refresh", "", "", "r2")
		again := e.put(rec("oauth.refresh", "r1", `{"again":true}`, live()))
		sameRecord(e.t, e.get("oauth.refresh", "r1"), again)
		e.find("oauth.refresh", "grant", "g1", "r2")
	}},

	{name: "delete of an absent record is no error", run: func(e *recEnv) {
		if err := e.r.DeleteRecord(e.ctx, "oauth.refresh", "never"); err != nil {
			e.t.Errorf("DeleteRecord of a record never stored: %v", err)
		}
		e.put(rec("oauth.refresh", "r1", `{}`, live()))
		for range 2 {
			if err := e.r.DeleteRecord(e.ctx, "oauth.refresh", "r1"); err != nil {
				e.t.Errorf("DeleteRecord: %v", err)
			}
		}
		e.absent("oauth.refresh", "r1")
	}},

	{name: "find by attribute returns the matching live records ordered by key", run: func(e *recEnv) {
		for _, r := range []*fhir.Record{
			rec("oauth.access", "d", `{}`, live(), "client", "app-1", "subject", "alice"),
			rec("oauth.access", "b", `{}`, live(), "client", "app-2", "subject", "alice"),
			rec("oauth.access", "a", `{}`, time.Time{}, "client", "app-1"),
			rec("oauth.access", "c", `{}`, live(), "client", "app-1", "subject", "bob"),
			rec("oauth.access", "e", `{}`, expired(), "client", "app-1"),
			rec("oauth.refresh", "a0", `{}`, live(), "client", "app-1"),
			rec("oauth.access", "f", `{}`, live(), "subject", "app-1"),
		} {
			e.put(r)
		}
		got := e.find("oauth.access", "client", "app-1", "a", "c", "d")
		if got[2].Attrs["subject"] != "alice" {
			e.t.Errorf("found record d with Attrs %q", got[2].Attrs)
		}
		e.find("oauth.access", "subject", "alice", "b", "d")
		e.find("oauth.refresh", "client", "app-1", "a0")
		e.find("oauth.access", "client", "app-3")
		e.find("oauth.access", "grant", "app-1")
		e.find("oauth.code", "client", "app-1")
		e.find("oauth.access", "", "", "a", "b", "c", "d", "f")
		e.find("oauth.refresh", "", "", "a0")
		e.find("oauth.code", "", "")
	}},

	{name: "attribute names and values never run together", run: func(e *recEnv) {
		e.put(rec("k", "1", `{}`, live(), "a", "b=c"))
		e.put(rec("k", "2", `{}`, live(), "a=b", "c"))
		e.put(rec("k", "3", `{}`, live(), "a", "b|c"))
		e.put(rec("k", "4", `{}`, live(), "a|b", "c"))
		e.put(rec("k", "5", `{}`, live(), "a", "b"))
		e.find("k", "a", "b=c", "1")
		e.find("k", "a=b", "c", "2")
		e.find("k", "a", "b|c", "3")
		e.find("k", "a|b", "c", "4")
		e.find("k", "a", "b", "5")
		e.find("k", "a", "")
	}},

	{name: "expired records are invisible to Get and Find", run: func(e *recEnv) {
		e.put(rec("oauth.code", "old", `{}`, expired(), "client", "app-1"))
		e.put(rec("oauth.code", "new", `{}`, live(), "client", "app-1"))
		e.absent("oauth.code", "old")
		e.find("oauth.code", "client", "app-1", "new")
		e.find("oauth.code", "", "", "new")
	}},

	{name: "create may replace an expired record; an update of one → ErrVersionConflict", run: func(e *recEnv) {
		old := e.put(rec("oauth.code", "c1", `{"old":true}`, expired(), "client", "app-1"))
		upd := *old
		upd.Expires = live()
		e.conflict(&upd)
		e.absent("oauth.code", "c1")
		fresh := e.put(rec("oauth.code", "c1", `{"new":true}`, live(), "client", "app-2"))
		if fresh.Rev <= 0 {
			e.t.Errorf("Rev after replacing an expired record = %d", fresh.Rev)
		}
		sameRecord(e.t, e.get("oauth.code", "c1"), fresh)
		e.find("oauth.code", "client", "app-1")
		e.find("oauth.code", "client", "app-2", "c1")
		fresh.Data = []byte(`{"used":true}`)
		e.put(fresh)
		sameRecord(e.t, e.get("oauth.code", "c1"), fresh)
	}},

	{name: "kinds, keys and values with unusual characters", run: func(e *recEnv) {
		keys := []string{"a/b/c", "Ünïcødé 😀", "a.b.c", "$set", "a|b", `a\b`, " spaced ", "x%2Fy", "日本/語"}
		var stored []*fhir.Record
		for i, key := range keys {
			stored = append(stored, e.put(rec("oauth.client", key, `{"i":`+strconv.Itoa(i)+`}`, live(),
				"redirect", "https://app.example/cb?x=1&y=2#"+key, "a.b", "$v", "$n", "ünï")))
		}
		// A kind and key that would meet if joined without care.
		stored = append(stored, e.put(rec("k|a", "b", `{"which":1}`, live())), e.put(rec("k", "a|b", `{"which":2}`, live())))
		for _, want := range stored {
			sameRecord(e.t, e.get(want.Kind, want.Key), want)
		}
		byKey := slices.Sorted(slices.Values(keys)) // byte order
		e.find("oauth.client", "a.b", "$v", byKey...)
		e.find("oauth.client", "$n", "ünï", byKey...)
		e.find("oauth.client", "redirect", "https://app.example/cb?x=1&y=2#日本/語", "日本/語")
		e.find("k|a", "", "", "b")
		e.find("k", "", "", "a|b")
	}},

	{name: "a record with nil Attrs works", run: func(e *recEnv) {
		r := e.put(rec("signing.key", "k1", `{"kty":"EC"}`, time.Time{}))
		got := e.get("signing.key", "k1")
		sameRecord(e.t, got, r)
		if len(got.Attrs) != 0 {
			e.t.Errorf("Attrs = %q, want none", got.Attrs)
		}
		e.find("signing.key", "", "", "k1")
		r.Attrs = map[string]string{"use": "sig"}
		e.put(r)
		e.find("signing.key", "use", "sig", "k1")
		r.Attrs = nil
		e.put(r)
		e.find("signing.key", "use", "sig")
		sameRecord(e.t, e.get("signing.key", "k1"), r)
	}},
}
