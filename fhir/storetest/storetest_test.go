package storetest_test

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/storetest"
)

// TestSuiteOnReferenceStore runs the suite against memStore, the port's
// documentation written as plainly as possible in Go, so that a failure on
// an engine points at the engine and not at the suite.
func TestSuiteOnReferenceStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) fhir.Store { return &memStore{current: map[string]*version{}} })
	storetest.RunSearch(t, func(*testing.T) fhir.Store { return &memStore{current: map[string]*version{}} })
}

// version is one stored version. ord is the time it sorts by in history:
// its LastUpdated, or the ord of the version it replaced if that is later.
type version struct {
	res *fhir.Resource // with Tokens, which are never returned
	ord time.Time
	seq int // position in memStore.history
}

// out is the copy of v returned to callers: no Tokens, no Index.
func (v *version) out() *fhir.Resource {
	c := *v.res
	c.Tokens, c.Index = nil, nil
	return &c
}

// memStore keeps everything in memory. Units of work are serialised by
// wmu; each runs on a copy of the current map and a staged tail of history,
// swapped in under mu on success, so reads never wait for a unit.
type memStore struct {
	wmu     sync.Mutex
	mu      sync.Mutex
	current map[string]*version // by Key
	history []*version          // in write order
}

func (m *memStore) Read(_ context.Context, typ, id string) (*fhir.Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return read(m.current, typ, id)
}

func read(current map[string]*version, typ, id string) (*fhir.Resource, error) {
	v, ok := current[typ+"/"+id]
	if !ok {
		return nil, fhir.ErrNotFound
	}
	return v.out(), nil
}

func (m *memStore) VRead(_ context.Context, typ, id string, ver int) (*fhir.Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.history {
		if v.res.Type == typ && v.res.ID == id && v.res.Version == ver {
			return v.out(), nil
		}
	}
	return nil, fhir.ErrNotFound
}

func (m *memStore) Search(_ context.Context, q fhir.Query) ([]*fhir.Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return search(m.current, q)
}

func search(current map[string]*version, q fhir.Query) ([]*fhir.Resource, error) {
	var found []*version
	for _, v := range current {
		r := v.res
		if r.Deleted || (q.Type != "" && r.Type != q.Type) {
			continue
		}
		if len(q.IDs) > 0 && !slices.Contains(q.IDs, r.ID) {
			continue
		}
		if len(q.Tokens) > 0 && !slices.ContainsFunc(q.Tokens, func(want fhir.Token) bool {
			return slices.ContainsFunc(r.Tokens, func(have fhir.Token) bool {
				return have.Param == want.Param && have.Code == want.Code && (want.System == "" || have.System == want.System)
			})
		}) {
			continue
		}
		ok, err := matchAll(r.Index, q.Clauses)
		if err != nil {
			return nil, err
		}
		if ok {
			found = append(found, v)
		}
	}
	sortByKeys(found, q.Sort)
	found = found[min(q.Offset, len(found)):]
	if q.Limit > 0 && len(found) > q.Limit {
		found = found[:q.Limit]
	}
	out := make([]*fhir.Resource, len(found))
	for i, v := range found {
		out[i] = v.out()
	}
	return out, nil
}

// newestFirst orders versions by ord, then seq, both descending.
func newestFirst(a, b *version) int {
	return cmp.Or(b.ord.Compare(a.ord), cmp.Compare(b.seq, a.seq))
}

// History sorts every version on every call; its cursor is the (ord, seq)
// of the last entry of the page.
func (m *memStore) History(_ context.Context, q fhir.HistoryQuery) (*fhir.HistoryPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var all []*version
	for _, v := range m.history {
		if m.keep(v.res, q) {
			all = append(all, v)
		}
	}
	slices.SortFunc(all, newestFirst)
	if q.Cursor != "" {
		ord, seq, ok := parseCursor(q.Cursor)
		if !ok {
			return nil, fmt.Errorf("bad cursor %q", q.Cursor)
		}
		pos, _ := slices.BinarySearchFunc(all, &version{ord: ord, seq: seq}, newestFirst)
		for pos < len(all) && newestFirst(all[pos], &version{ord: ord, seq: seq}) <= 0 {
			pos++
		}
		all = all[pos:]
	}
	count := q.Count
	if count <= 0 {
		count = 10
	}
	page := &fhir.HistoryPage{}
	for i, v := range all {
		if i == count {
			last := all[i-1]
			page.Next = last.ord.Format(time.RFC3339Nano) + " " + strconv.Itoa(last.seq)
			break
		}
		page.Entries = append(page.Entries, v.out())
	}
	return page, nil
}

func parseCursor(c string) (time.Time, int, bool) {
	var ts string
	var seq int
	if _, err := fmt.Sscanf(c, "%s %d", &ts, &seq); err != nil {
		return time.Time{}, 0, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	return t, seq, err == nil
}

func (m *memStore) keep(r *fhir.Resource, q fhir.HistoryQuery) bool {
	if (q.Type != "" && r.Type != q.Type) || (q.ID != "" && r.ID != q.ID) {
		return false
	}
	if !q.Since.IsZero() && r.LastUpdated.Before(q.Since) {
		return false
	}
	if q.AtStart.IsZero() && q.AtEnd.IsZero() {
		return true
	}
	inWindow := (q.AtStart.IsZero() || !r.LastUpdated.Before(q.AtStart)) && (q.AtEnd.IsZero() || r.LastUpdated.Before(q.AtEnd))
	if inWindow || q.AtStart.IsZero() || !r.LastUpdated.Before(q.AtStart) {
		return inWindow
	}
	// Before AtStart: kept if no later version of it is also before AtStart.
	for _, o := range m.history {
		if o.res.Type == r.Type && o.res.ID == r.ID && o.res.Version > r.Version && o.res.LastUpdated.Before(q.AtStart) {
			return false
		}
	}
	return true
}

func (m *memStore) Write(_ context.Context, fn func(fhir.Tx) error) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	m.mu.Lock()
	tx := &memTx{current: maps.Clone(m.current), next: len(m.history)}
	m.mu.Unlock()
	if err := fn(tx); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.current = tx.current
	m.history = append(m.history, tx.added...)
	return nil
}

func (m *memStore) Close() error {
	m.wmu.Lock() // waits for the unit of work in progress
	defer m.wmu.Unlock()
	return nil
}

type memTx struct {
	current map[string]*version
	added   []*version
	next    int // seq of the next version
}

func (t *memTx) Read(typ, id string) (*fhir.Resource, error) { return read(t.current, typ, id) }

func (t *memTx) Search(q fhir.Query) ([]*fhir.Resource, error) { return search(t.current, q) }

func (t *memTx) Put(res *fhir.Resource) error {
	want, ord := 1, res.LastUpdated
	if cur, ok := t.current[res.Key()]; ok {
		want = cur.res.Version + 1
		if cur.ord.After(ord) {
			ord = cur.ord
		}
	}
	if res.Version != want {
		return fmt.Errorf("put %s version %d: %w", res.Key(), res.Version, fhir.ErrVersionConflict)
	}
	c := *res
	c.JSON = slices.Clone(res.JSON)
	c.Tokens = slices.Clone(res.Tokens)
	c.Index = slices.Clone(res.Index)
	v := &version{res: &c, ord: ord, seq: t.next}
	t.next++
	t.current[res.Key()] = v
	t.added = append(t.added, v)
	return nil
}
