package fhir

import (
	"context"
	"time"
)

// Records is the storage port for the server's own documents that are not
// FHIR resources: OAuth clients, authorization codes and tokens, accounts,
// credentials, sessions, signing keys. Both engines implement it beside
// Store (the same database, no second one) and pass storetest.RunRecords.
//
// Expired records are invisible: GetRecord answers ErrNotFound for them,
// FindRecords leaves them out, PutRecord with Rev 0 may replace them and
// PutRecord with a Rev > 0 conflicts with them as with an absent record.
// An engine may purge them whenever it likes.
type Records interface {
	// GetRecord returns the record, or ErrNotFound.
	GetRecord(ctx context.Context, kind, key string) (*Record, error)
	// PutRecord stores rec. With rec.Rev 0 the record must not exist yet;
	// otherwise rec.Rev must equal the stored revision. On a mismatch it
	// returns ErrVersionConflict and stores nothing; on success it sets
	// rec.Rev to the new revision. Concurrent writers of one record, in one
	// process or several, see exactly one of them succeed per revision.
	PutRecord(ctx context.Context, rec *Record) error
	// DeleteRecord removes the record; removing an absent one is not an
	// error.
	DeleteRecord(ctx context.Context, kind, key string) error
	// FindRecords returns the live records of kind whose Attrs[name] equals
	// value, ordered by key; with name "" it returns every live record of
	// kind.
	FindRecords(ctx context.Context, kind, name, value string) ([]*Record, error)
}

// Record is one document kept through Records.
type Record struct {
	Kind string // what it is: "oauth.client", "oauth.access", "account", ...
	Key  string // unique within Kind
	Data []byte // the document, JSON
	// Attrs are the values FindRecords can look a record up by (a
	// grant id, a client id, a subject).
	Attrs   map[string]string
	Expires time.Time // zero: never
	Rev     int64     // revision, set by the engine
}
