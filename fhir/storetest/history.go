package storetest

import (
	"fmt"
	"slices"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

var historyBehaviours = []behaviour{
	{name: "instance history lists every version newest first, deletions included", run: func(e *env) {
		v1 := e.create("Patient", "a")
		e.create("Patient", "b")
		v2 := e.update(v1)
		v3 := e.remove(v2)
		v4 := e.update(v3)
		e.onlyVersions("Patient", "a", v4, v3, v2, v1)
	}},

	{name: "instance history of an unknown resource is empty", run: func(e *env) {
		// History is a query: whether the resource exists is Read's answer.
		e.create("Patient", "a")
		if got := e.walk(fhir.HistoryQuery{Type: "Patient", ID: "nobody"}, 0); len(got) != 0 {
			e.t.Errorf("history = %v, want nothing", versionKeys(got))
		}
	}},

	{name: "type history lists the versions of that type only, newest first", run: func(e *env) {
		a1 := e.create("Patient", "a")
		e.create("Observation", "o")
		b1 := e.create("Patient", "b")
		a2 := e.update(a1)
		b2 := e.remove(b1)
		e.wantHistory(fhir.HistoryQuery{Type: "Patient"}, b2, a2, b1, a1)
	}},

	{name: "system history lists every version newest first", run: func(e *env) {
		a1 := e.create("Patient", "a")
		o1 := e.create("Observation", "o")
		a2 := e.update(a1)
		c1 := e.create("Condition", "c")
		o2 := e.remove(o1)
		e.wantHistory(fhir.HistoryQuery{}, o2, c1, a2, o1, a1)
	}},

	{name: "history is newest first by LastUpdated, and by version for one resource", run: func(e *env) {
		// Writers take the time before they write, so a later write can
		// carry an earlier LastUpdated.
		t0 := e.clock.Next()
		e.clock.Next()
		t2 := e.clock.Next()
		x1 := e.first("Patient", "x")
		y1 := e.first("Patient", "y")
		x2 := e.next(x1)
		x1.LastUpdated, y1.LastUpdated, x2.LastUpdated = t2, t0, t0.Add(time.Second)
		e.put(x1)
		e.put(y1) // written after x1, older
		e.put(x2) // older than x1, which it replaces: still newer in history
		e.wantHistory(fhir.HistoryQuery{}, x2, x1, y1)
		e.wantHistory(fhir.HistoryQuery{Type: "Patient"}, x2, x1, y1)
		e.wantHistory(fhir.HistoryQuery{Type: "Patient", ID: "x"}, x2, x1)
		e.wantHistory(fhir.HistoryQuery{Since: t0.Add(time.Millisecond)}, x2, x1)
	}},

	{name: "versions of one unit of work are all in history", run: func(e *env) {
		a1 := e.first("Patient", "a")
		b1 := e.first("Patient", "b")
		a2 := e.next(a1)
		e.put(a1, b1, a2)
		e.wantHistory(fhir.HistoryQuery{}, a2, b1, a1)
	}},

	{name: "history Since keeps versions at or after it", run: func(e *env) {
		a1 := e.create("Patient", "a")
		b1 := e.create("Patient", "b")
		a2 := e.update(a1)
		b2 := e.update(b1)
		e.wantHistory(fhir.HistoryQuery{Since: b1.LastUpdated}, b2, a2, b1)
		e.wantHistory(fhir.HistoryQuery{Type: "Patient", ID: "a", Since: b1.LastUpdated}, a2)
		e.wantHistory(fhir.HistoryQuery{Since: b1.LastUpdated.Add(time.Millisecond)}, b2, a2)
		e.wantHistory(fhir.HistoryQuery{Since: b2.LastUpdated.Add(time.Millisecond)})
	}},

	{name: "history At keeps the versions current at some time in [AtStart, AtEnd)", run: func(e *env) {
		w := atTimeline(e)
		e.wantHistory(fhir.HistoryQuery{AtStart: w.start, AtEnd: w.end}, w.a3, w.c1, w.e1, w.a2, w.b1, w.d2)
		e.wantHistory(fhir.HistoryQuery{Type: "Patient", ID: "a", AtStart: w.start, AtEnd: w.end}, w.a3, w.a2)
		e.wantHistory(fhir.HistoryQuery{Type: "Patient", ID: "c", AtStart: w.start, AtEnd: w.end}, w.c1)
		// A window holding no version keeps what was current at its start.
		e.wantHistory(fhir.HistoryQuery{AtStart: w.a1.LastUpdated.Add(time.Millisecond), AtEnd: w.d2.LastUpdated},
			w.a1, w.d1)
	}},

	{name: "history At with zero AtEnd has no upper bound", run: func(e *env) {
		w := atTimeline(e)
		e.wantHistory(fhir.HistoryQuery{AtStart: w.start}, w.b2, w.c2, w.a3, w.c1, w.e1, w.a2, w.b1, w.d2)
		e.wantHistory(fhir.HistoryQuery{Type: "Patient", ID: "b", AtStart: w.start}, w.b2, w.b1)
	}},

	{name: "history paging with Count and Cursor walks every version exactly once", run: func(e *env) {
		var all []*fhir.Resource // oldest first
		cur := map[string]*fhir.Resource{}
		for i := range 23 {
			id := fmt.Sprintf("r%d", i%5)
			var r *fhir.Resource
			switch {
			case i%7 == 6:
				r = e.first("Observation", fmt.Sprintf("o%d", i))
			case cur[id] == nil:
				r = e.first("Patient", id)
				cur[id] = r
			default:
				r = e.next(cur[id])
				cur[id] = r
			}
			e.put(r)
			all = append(all, r)
		}
		newest := reversed(all)
		for _, count := range []int{1, 3, 5, 23, 100} {
			got := e.walk(fhir.HistoryQuery{}, count)
			if !slices.Equal(versionKeys(got), versionKeys(newest)) {
				e.t.Errorf("Count %d: walk = %v,\nwant %v", count, versionKeys(got), versionKeys(newest))
			}
		}
		var patients []*fhir.Resource
		for _, r := range newest {
			if r.Type == "Patient" {
				patients = append(patients, r)
			}
		}
		if got := e.walk(fhir.HistoryQuery{Type: "Patient"}, 4); !slices.Equal(versionKeys(got), versionKeys(patients)) {
			e.t.Errorf("type walk = %v,\nwant %v", versionKeys(got), versionKeys(patients))
		}
		if got := e.walk(fhir.HistoryQuery{Type: "Patient", ID: "r1"}, 1); len(got) != cur["r1"].Version {
			e.t.Errorf("instance walk = %v, want %d versions", versionKeys(got), cur["r1"].Version)
		}
	}},

	{name: "history paging with At walks the same versions as one page", run: func(e *env) {
		w := atTimeline(e)
		q := fhir.HistoryQuery{AtStart: w.start, AtEnd: w.end}
		e.wantHistory(q, w.a3, w.c1, w.e1, w.a2, w.b1, w.d2) // wantHistory walks pages of 2
	}},

	{name: "versions written between pages neither repeat nor shift the walk", run: func(e *env) {
		var want []*fhir.Resource
		for i := range 6 {
			want = append(want, e.create("Patient", fmt.Sprintf("p%d", i)))
		}
		want = reversed(want)
		page, err := e.s.History(e.ctx, fhir.HistoryQuery{Count: 2})
		if err != nil {
			e.t.Fatal(err)
		}
		got := page.Entries
		for page.Next != "" {
			e.create("Patient", fmt.Sprintf("late%d", len(got))) // newer than the walk
			if page, err = e.s.History(e.ctx, fhir.HistoryQuery{Count: 2, Cursor: page.Next}); err != nil {
				e.t.Fatal(err)
			}
			got = append(got, page.Entries...)
		}
		if !slices.Equal(versionKeys(got), versionKeys(want)) {
			e.t.Errorf("walk = %v, want %v", versionKeys(got), versionKeys(want))
		}
	}},

	{name: "history with a malformed cursor fails", run: func(e *env) {
		e.create("Patient", "a")
		if _, err := e.s.History(e.ctx, fhir.HistoryQuery{Cursor: "not a cursor \x00"}); err == nil {
			e.t.Errorf("History with a malformed cursor: no error")
		}
	}},
}

// timeline is a set of versions written in this order (times rising):
//
//	d1  a1  d2(deleted)  b1  a2  | start: e1  c1  a3 | end: c2  b2
//
// For [start, end): written inside are e1, c1, a3; newest before start are
// d2, a2, b1 (a1 and d1 were superseded before start); c2 is at end,
// excluded.
type timeline struct {
	start, end                             time.Time
	a1, a2, a3, b1, b2, c1, c2, d1, d2, e1 *fhir.Resource
}

func atTimeline(e *env) timeline {
	var w timeline
	w.d1 = e.create("Patient", "d")
	w.a1 = e.create("Patient", "a")
	w.d2 = e.remove(w.d1)
	w.b1 = e.create("Patient", "b")
	w.a2 = e.update(w.a1)
	w.e1 = e.create("Patient", "e")
	w.start = w.e1.LastUpdated
	w.c1 = e.create("Patient", "c")
	w.a3 = e.update(w.a2)
	w.c2 = e.update(w.c1)
	w.end = w.c2.LastUpdated
	w.b2 = e.update(w.b1)
	return w
}

// walk follows a history query page by page and returns every entry.
func (e *env) walk(q fhir.HistoryQuery, count int) []*fhir.Resource {
	e.t.Helper()
	q.Count = count
	var all []*fhir.Resource
	for range 10_000 {
		page, err := e.s.History(e.ctx, q)
		if err != nil {
			e.t.Fatalf("History %+v: %v", q, err)
		}
		if count > 0 && len(page.Entries) > count {
			e.t.Fatalf("History page of %d entries for Count %d", len(page.Entries), count)
		}
		all = append(all, page.Entries...)
		if page.Next == "" {
			return all
		}
		if len(page.Entries) == 0 {
			e.t.Fatalf("History: empty page with a Next cursor")
		}
		q.Cursor = page.Next
	}
	e.t.Fatalf("History: no last page after 10000 pages")
	return nil
}

// wantHistory checks q in one walk of pages of 2 and compares every entry.
func (e *env) wantHistory(q fhir.HistoryQuery, want ...*fhir.Resource) {
	e.t.Helper()
	got := e.walk(q, 2)
	if !slices.Equal(versionKeys(got), versionKeys(want)) {
		e.t.Errorf("history %s = %v,\nwant %v", describe(q), versionKeys(got), versionKeys(want))
		return
	}
	for i := range want {
		same(e.t, got[i], want[i])
	}
}

func describe(q fhir.HistoryQuery) string {
	s := fmt.Sprintf("type %q id %q", q.Type, q.ID)
	for _, b := range []struct {
		name string
		t    time.Time
	}{{"since", q.Since}, {"atStart", q.AtStart}, {"atEnd", q.AtEnd}} {
		if !b.t.IsZero() {
			s += " " + b.name + " " + b.t.Format(fhir.InstantFormat)
		}
	}
	return s
}

func reversed(rs []*fhir.Resource) []*fhir.Resource {
	out := make([]*fhir.Resource, len(rs))
	for i, r := range rs {
		out[len(rs)-1-i] = r
	}
	return out
}
