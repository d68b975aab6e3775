package storetest_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/storetest"
)

// TestSuiteOnReferenceStore runs the suite against memStore, the port's
// documentation written as plainly as possible in Go, so that a failure on
// an engine points at the engine and not at the suite.
func TestSuiteOnReferenceStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) fhir.Store { return &memStore{current: map[string]*fhir.Resource{}} })
}

// memStore keeps everything in memory. Units of work are serialised by
// wmu; each runs on a copy of the current map and a staged tail of history,
// swapped in under mu on success, so reads never wait for a unit.
type memStore struct {
	wmu     sync.Mutex
	mu      sync.Mutex
	current map[string]*fhir.Resource // by Key, with Tokens
	history []*fhir.Resource          // in write order; the index is the seq
}

func (m *memStore) Read(_ context.Context, typ, id string) (*fhir.Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return read(m.current, typ, id)
}

func read(current map[string]*fhir.Resource, typ, id string) (*fhir.Resource, error) {
	r, ok := current[typ+"/"+id]
	if !ok {
		return nil, fhir.ErrNotFound
	}
	c := *r
	return &c, nil
}

func (m *memStore) VRead(_ context.Context, typ, id string, version int) (*fhir.Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.history {
		if r.Type == typ && r.ID == id && r.Version == version {
			c := *r
			return &c, nil
		}
	}
	return nil, fhir.ErrNotFound
}

func (m *memStore) Search(_ context.Context, q fhir.Query) ([]*fhir.Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return search(m.current, q), nil
}

func search(current map[string]*fhir.Resource, q fhir.Query) []*fhir.Resource {
	var out []*fhir.Resource
	for _, r := range current {
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
		c := *r
		out = append(out, &c)
	}
	slices.SortFunc(out, func(a, b *fhir.Resource) int {
		if a.Type != b.Type {
			if a.Type < b.Type {
				return -1
			}
			return 1
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

func (m *memStore) History(_ context.Context, q fhir.HistoryQuery) (*fhir.HistoryPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	end := len(m.history) // walk seqs below end, newest first
	if q.Cursor != "" {
		n, err := strconv.Atoi(q.Cursor)
		if err != nil || n < 0 || n > len(m.history) {
			return nil, fmt.Errorf("bad cursor %q", q.Cursor)
		}
		end = n
	}
	count := q.Count
	if count <= 0 {
		count = 10
	}
	page := &fhir.HistoryPage{}
	for seq := end - 1; seq >= 0; seq-- {
		r := m.history[seq]
		if !m.keep(r, q) {
			continue
		}
		if len(page.Entries) == count {
			page.Next = strconv.Itoa(seq + 1)
			break
		}
		c := *r
		page.Entries = append(page.Entries, &c)
	}
	return page, nil
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
		if o.Type == r.Type && o.ID == r.ID && o.Version > r.Version && o.LastUpdated.Before(q.AtStart) {
			return false
		}
	}
	return true
}

func (m *memStore) Write(_ context.Context, fn func(fhir.Tx) error) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	m.mu.Lock()
	tx := &memTx{current: maps.Clone(m.current)}
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
	current map[string]*fhir.Resource
	added   []*fhir.Resource
}

func (t *memTx) Read(typ, id string) (*fhir.Resource, error) { return read(t.current, typ, id) }

func (t *memTx) Search(q fhir.Query) ([]*fhir.Resource, error) { return search(t.current, q), nil }

func (t *memTx) Put(res *fhir.Resource) error {
	want := 1
	if cur, ok := t.current[res.Key()]; ok {
		want = cur.Version + 1
	}
	if res.Version != want {
		return fmt.Errorf("put %s version %d: %w", res.Key(), res.Version, fhir.ErrVersionConflict)
	}
	c := *res
	c.JSON = slices.Clone(res.JSON)
	c.Tokens = slices.Clone(res.Tokens)
	t.current[res.Key()] = &c
	h := c
	h.Tokens = nil
	t.added = append(t.added, &h)
	return nil
}
