package storetest

import (
	"errors"
	"slices"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

var crudBehaviours = []behaviour{
	{name: "Put of a new resource stores version 1", run: func(e *env) {
		want := e.create("Patient", "p1")
		same(e.t, e.read("Patient", "p1"), want)
		got, err := e.s.VRead(e.ctx, "Patient", "p1", 1)
		if err != nil {
			e.t.Fatalf("VRead version 1: %v", err)
		}
		same(e.t, got, want)
	}},

	{name: "Put of the next version makes it current, older versions stay readable", run: func(e *env) {
		v1 := e.create("Patient", "p1")
		v2 := e.update(v1)
		v3 := e.update(v2)
		same(e.t, e.read("Patient", "p1"), v3)
		for _, want := range []*fhir.Resource{v1, v2, v3} {
			got, err := e.s.VRead(e.ctx, "Patient", "p1", want.Version)
			if err != nil {
				e.t.Fatalf("VRead version %d: %v", want.Version, err)
			}
			same(e.t, got, want)
		}
	}},

	{name: "Read returns the JSON byte for byte as it was Put", run: func(e *env) {
		at := e.clock.Next()
		// Whitespace, member order, escapes, number spellings, a primitive
		// extension, a null and a trailing newline: none may be normalised.
		body := "{\"resourceType\":\"Patient\" , \"id\":\"exact\",\n  \"meta\":{\"versionId\":\"1\"},\n" +
			`"_birthDate":{"extension":[{"url":"http://example.org/x","valueString":"\u00e9\"\\/<>&"}]},` +
			`"n":1.50,"big":12345678901234567890.000,"e":1E+2,"s":"e` + "\u0301 – 日本 \U0001F600" + `",` +
			`"contained":[],"z":null,"a":{"b":[{},[]]}}` + "\n"
		large := `{"resourceType":"Binary","id":"large","data":"` + strings.Repeat("QUJD", 64*1024) + `"}`
		small := &fhir.Resource{Type: "Patient", ID: "exact", Version: 1, LastUpdated: at, Method: "PUT", JSON: []byte(body)}
		big := &fhir.Resource{Type: "Binary", ID: "large", Version: 1, LastUpdated: at, Method: "POST", JSON: []byte(large)}
		e.put(small, big)
		same(e.t, e.read("Patient", "exact"), small)
		same(e.t, e.read("Binary", "large"), big)
	}},

	{name: "LastUpdated and Method are kept as given", run: func(e *env) {
		r := e.first("Patient", "p1")
		r.LastUpdated = fhir.TruncateTime(r.LastUpdated.Add(987 * 1e6)) // .665 in the next second
		r.Method = "PUT"
		e.put(r)
		got := e.read("Patient", "p1")
		same(e.t, got, r)
		if got.LastUpdated.UnixMilli() != r.LastUpdated.UnixMilli() {
			e.t.Errorf("LastUpdated = %d ms, want %d ms", got.LastUpdated.UnixMilli(), r.LastUpdated.UnixMilli())
		}
	}},

	{name: "Read of an unknown resource → ErrNotFound", run: func(e *env) {
		e.create("Patient", "p1")
		for _, k := range [][2]string{{"Patient", "p2"}, {"Observation", "p1"}, {"Nothing", "x"}} {
			_, err := e.s.Read(e.ctx, k[0], k[1])
			if !errors.Is(err, fhir.ErrNotFound) {
				e.t.Errorf("Read %s/%s: err = %v, want ErrNotFound", k[0], k[1], err)
			}
		}
	}},

	{name: "VRead of a missing version → ErrNotFound", run: func(e *env) {
		v1 := e.create("Patient", "p1")
		e.update(v1)
		for _, c := range []struct {
			typ, id string
			version int
		}{{"Patient", "p1", 0}, {"Patient", "p1", 3}, {"Patient", "p1", -1}, {"Patient", "p2", 1}, {"Observation", "p1", 1}} {
			_, err := e.s.VRead(e.ctx, c.typ, c.id, c.version)
			if !errors.Is(err, fhir.ErrNotFound) {
				e.t.Errorf("VRead %s/%s version %d: err = %v, want ErrNotFound", c.typ, c.id, c.version, err)
			}
		}
	}},

	{name: "a deletion is the current version, with Deleted set and no JSON", run: func(e *env) {
		v1 := e.create("Patient", "p1")
		v2 := e.update(v1)
		gone := e.remove(v2)
		got := e.read("Patient", "p1")
		if !got.Deleted || got.JSON != nil {
			e.t.Errorf("Read after deletion: Deleted = %v, JSON = %q; want true, nil", got.Deleted, got.JSON)
		}
		same(e.t, got, gone)
		dv, err := e.s.VRead(e.ctx, "Patient", "p1", gone.Version)
		if err != nil {
			e.t.Fatalf("VRead of the deletion: %v", err)
		}
		same(e.t, dv, gone)
	}},

	{name: "VRead of versions before a deletion still works", run: func(e *env) {
		v1 := e.create("Patient", "p1")
		v2 := e.update(v1)
		e.remove(v2)
		for _, want := range []*fhir.Resource{v1, v2} {
			got, err := e.s.VRead(e.ctx, "Patient", "p1", want.Version)
			if err != nil {
				e.t.Fatalf("VRead version %d: %v", want.Version, err)
			}
			same(e.t, got, want)
		}
	}},

	{name: "a deleted resource can be written again with the next version", run: func(e *env) {
		v1 := e.create("Patient", "p1")
		gone := e.remove(v1)
		again := e.update(gone)
		if again.Version != 3 {
			e.t.Fatalf("test setup: version %d", again.Version)
		}
		same(e.t, e.read("Patient", "p1"), again)
	}},

	{name: "Put of a stale version → ErrVersionConflict, nothing stored", run: func(e *env) {
		v1 := e.create("Patient", "p1")
		v2 := e.update(v1)
		e.conflicts(e.next(v1)) // version 2 again
		stale := e.first("Patient", "p1")
		e.conflicts(stale) // version 1 of an existing resource
		same(e.t, e.read("Patient", "p1"), v2)
		e.onlyVersions("Patient", "p1", v2, v1)
	}},

	{name: "Put skipping a version → ErrVersionConflict, nothing stored", run: func(e *env) {
		v1 := e.create("Patient", "p1")
		skip := e.next(v1)
		skip.Version = 3
		e.conflicts(skip)
		same(e.t, e.read("Patient", "p1"), v1)
		e.onlyVersions("Patient", "p1", v1)
		if _, err := e.s.VRead(e.ctx, "Patient", "p1", 3); !errors.Is(err, fhir.ErrNotFound) {
			e.t.Errorf("VRead of the refused version: err = %v, want ErrNotFound", err)
		}
	}},

	{name: "Put of a version after 1 for an unknown resource → ErrVersionConflict", run: func(e *env) {
		r := e.first("Patient", "new")
		r.Version = 2
		e.conflicts(r)
		if _, err := e.s.Read(e.ctx, "Patient", "new"); !errors.Is(err, fhir.ErrNotFound) {
			e.t.Errorf("Read after the refused Put: err = %v, want ErrNotFound", err)
		}
		r.Version = 0
		e.conflicts(r)
	}},
}

// conflicts checks that putting r alone fails with ErrVersionConflict.
func (e *env) conflicts(r *fhir.Resource) {
	e.t.Helper()
	err := e.s.Write(e.ctx, func(tx fhir.Tx) error { return tx.Put(r) })
	if !errors.Is(err, fhir.ErrVersionConflict) {
		e.t.Errorf("Put %s version %d: err = %v, want ErrVersionConflict", r.Key(), r.Version, err)
	}
}

// onlyVersions checks the instance history of typ/id: exactly want, newest
// first.
func (e *env) onlyVersions(typ, id string, want ...*fhir.Resource) {
	e.t.Helper()
	got := e.walk(fhir.HistoryQuery{Type: typ, ID: id}, 0)
	if !slices.Equal(versionKeys(got), versionKeys(want)) {
		e.t.Fatalf("history of %s/%s = %v, want %v", typ, id, versionKeys(got), versionKeys(want))
	}
	for i := range want {
		same(e.t, got[i], want[i])
	}
}
