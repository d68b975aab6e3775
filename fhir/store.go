package fhir

import (
	"context"
	"time"
)

// Store is the storage port. Both engines (fhir/sqlitestore,
// fhir/mongostore) implement it and pass fhir/storetest.
//
// Errors: ErrNotFound when a resource or version does not exist,
// ErrVersionConflict when a write lost a race, ErrUnavailable (or an error
// wrapping it) when the engine cannot serve; anything else is internal.
type Store interface {
	// Read returns the current version of a resource. A resource whose
	// current version is a deletion is returned with Deleted set. Resources
	// returned by Read, VRead, Search and History carry no Tokens.
	Read(ctx context.Context, typ, id string) (*Resource, error)
	// VRead returns one version; deleted versions come back with Deleted set.
	VRead(ctx context.Context, typ, id string, version int) (*Resource, error)
	// Search returns current, not deleted resources matching q, ordered by
	// type and id, at most q.Limit of them (0 means no limit).
	Search(ctx context.Context, q Query) ([]*Resource, error)
	// History returns versions newest first (see HistoryQuery).
	History(ctx context.Context, q HistoryQuery) (*HistoryPage, error)
	// Write runs fn as one unit of work: every Put inside it is stored, or
	// none is (fn's error, or a failure to commit, discards them all). Reads
	// through tx see the unit's own writes. An engine may run fn more than
	// once (a transaction retried after a transient failure), so fn must
	// not keep state between runs.
	Write(ctx context.Context, fn func(tx Tx) error) error
	// Close releases the engine; it waits for writes in progress.
	Close() error
}

// Tx is the view of the store inside Store.Write.
type Tx interface {
	Read(typ, id string) (*Resource, error)
	Search(q Query) ([]*Resource, error)
	// Put stores res as a new version. res.Version must be one more than the
	// current version (1 for a new resource), else ErrVersionConflict. The
	// store keeps res.JSON and res.Tokens as given.
	Put(res *Resource) error
}

// Query selects current resources of one type (all types when Type is
// empty). Every non-empty criterion must match (AND); the values inside one
// criterion are alternatives (OR).
type Query struct {
	Type   string
	IDs    []string
	Tokens []Token // all with the same Param; Token.System "" matches any system
	// Clauses are further criteria over the index entries (see Clause).
	Clauses []Clause
	// Sort orders the results; without it they are ordered by type and id.
	Sort   []SortKey
	Offset int // results to skip (paging)
	Limit  int
}

// HistoryQuery selects versions for instance (Type and ID), type (Type) or
// system history.
type HistoryQuery struct {
	Type  string
	ID    string
	Since time.Time // versions with LastUpdated >= Since (zero: no bound)
	// At keeps the versions that were current at some time in
	// [AtStart, AtEnd): those with LastUpdated in that range, and for each
	// resource the newest version before AtStart. Zero AtEnd: no bound.
	AtStart, AtEnd time.Time
	Count          int    // page size (the store may cap it)
	Cursor         string // opaque: from HistoryPage.Next
}

// HistoryPage is one page of versions, newest first: by LastUpdated, and
// for one resource always by version. Engines may order versions of
// different resources written in the same millisecond differently. Next is empty on the
// last page.
type HistoryPage struct {
	Entries []*Resource
	Next    string
}
