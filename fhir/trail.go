package fhir

import (
	"context"
	"sync"
)

// Trail collects, during one request, what the request disclosed and
// changed: every resource it returned (reads, search matches and
// includes, history entries, $everything, batch and transaction
// entries) and every version it wrote. The audit trail turns it into
// AuditEvents before the response leaves. A nil *Trail records nothing.
type Trail struct {
	mu      sync.Mutex
	entries []TrailEntry
}

// TrailEntry is one resource a request returned or wrote.
type TrailEntry struct {
	// Interaction is the CapabilityStatement code of what happened to it:
	// read, vread, search-type, search-system, history-instance,
	// history-type, history-system, create, update, patch, delete, or
	// "everything" for Patient/$everything. A search's includes carry the
	// search's code.
	Interaction string
	Type, ID    string
	Version     int
	// JSON is the resource as returned or stored (the audit trail reads the
	// patients it refers to); for a delete, the content it deleted (the
	// version before); empty for a deletion read from history. It is not
	// kept beyond the request.
	JSON []byte
}

// Add records one entry; safe for concurrent use.
func (t *Trail) Add(e TrailEntry) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.entries = append(t.entries, e)
	t.mu.Unlock()
}

// AddResources records resources returned by one interaction.
func (t *Trail) AddResources(interaction string, list []*Resource) {
	if t == nil {
		return
	}
	t.mu.Lock()
	for _, r := range list {
		t.entries = append(t.entries, TrailEntry{Interaction: interaction, Type: r.Type, ID: r.ID, Version: r.Version, JSON: r.JSON})
	}
	t.mu.Unlock()
}

// Entries returns what was recorded, in order.
func (t *Trail) Entries() []TrailEntry {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]TrailEntry(nil), t.entries...)
}

type trailKey struct{}

// WithTrail returns ctx carrying t.
func WithTrail(ctx context.Context, t *Trail) context.Context {
	return context.WithValue(ctx, trailKey{}, t)
}

// TrailFrom returns the trail ctx carries, or nil.
func TrailFrom(ctx context.Context) *Trail {
	t, _ := ctx.Value(trailKey{}).(*Trail)
	return t
}
