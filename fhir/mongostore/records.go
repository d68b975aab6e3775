package mongostore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/oncofhir/oncofhir/fhir"
)

var _ fhir.Records = (*Store)(nil)

// recordStore holds the collections of fhir.Records (see the package
// comment).
type recordStore struct {
	records   *mongo.Collection
	claims    *mongo.Collection
	lastPurge atomic.Int64 // Unix microseconds of this process's last purge
}

// recordIndexes serve FindRecords by attribute and by kind, and the purge.
// FerretDB v1 accepts them and scans all the same.
var recordIndexes = [][]string{{"find"}, {"kind"}, {"expires"}}

// recordDoc is a document of the records collection.
type recordDoc struct {
	ID    string       `bson:"_id"` // see recordID
	Kind  string       `bson:"kind"`
	Key   string       `bson:"key"`
	Data  []byte       `bson:"data"`
	Attrs []recordAttr `bson:"attrs,omitempty"`
	// Find holds an attrKey per attribute: equality on an array field
	// matches any element, which FerretDB v1 supports.
	Find    []string `bson:"find,omitempty"`
	Expires int64    `bson:"expires"` // Unix microseconds; openEnd: never
	Rev     int64    `bson:"rev"`
}

// recordAttr is one attribute. Names are values, not field names, so that
// one with a dot or a dollar sign is stored as it is.
type recordAttr struct {
	N string `bson:"n"`
	V string `bson:"v"`
}

// recordID is the _id of kind/key: the kind escaped (see escapeKey), so
// that its first unescaped '|' ends it, then the key.
func recordID(kind, key string) string { return escapeKey(kind) + "|" + key }

// attrKey is the find key of an attribute of a record of kind.
func attrKey(kind, name, value string) string {
	return escapeKey(kind) + "|" + escapeKey(name) + "|" + escapeKey(value)
}

func newRecordDoc(r *fhir.Record, rev int64) *recordDoc {
	d := &recordDoc{ID: recordID(r.Kind, r.Key), Kind: r.Kind, Key: r.Key, Data: r.Data, Expires: openEnd, Rev: rev}
	if !r.Expires.IsZero() {
		d.Expires = micros(r.Expires)
	}
	for _, n := range slices.Sorted(maps.Keys(r.Attrs)) {
		d.Attrs = append(d.Attrs, recordAttr{N: n, V: r.Attrs[n]})
		d.Find = append(d.Find, attrKey(r.Kind, n, r.Attrs[n]))
	}
	return d
}

func (d *recordDoc) record() *fhir.Record {
	r := &fhir.Record{Kind: d.Kind, Key: d.Key, Data: d.Data, Rev: d.Rev}
	if d.Expires != openEnd {
		r.Expires = fromMicros(d.Expires)
	}
	if len(d.Attrs) > 0 {
		r.Attrs = make(map[string]string, len(d.Attrs))
		for _, a := range d.Attrs {
			r.Attrs[a.N] = a.V
		}
	}
	return r
}

// noFind leaves the find keys out of what reads return.
var noFind = bson.D{{Key: "find", Value: 0}}

// GetRecord returns the live record kind/key, or fhir.ErrNotFound: one
// find by _id, which FerretDB too answers without a scan; expiry is
// checked here. Keys stay out of error messages: some are token
// signatures.
func (s *Store) GetRecord(ctx context.Context, kind, key string) (*fhir.Record, error) {
	if s.isClosed() {
		return nil, errClosed
	}
	var d recordDoc
	err := s.rec.records.FindOne(ctx, bson.D{{Key: "_id", Value: recordID(kind, key)}},
		options.FindOne().SetProjection(noFind)).Decode(&d)
	if err != nil {
		return nil, s.fail("get record "+kind, err)
	}
	if d.Expires <= micros(s.now()) {
		return nil, fmt.Errorf("mongostore: get record %s: %w", kind, fhir.ErrNotFound)
	}
	return d.record(), nil
}

// FindRecords returns the live records of kind whose attribute name has
// value, or all live records of kind when name is "", ordered by key.
func (s *Store) FindRecords(ctx context.Context, kind, name, value string) ([]*fhir.Record, error) {
	if s.isClosed() {
		return nil, errClosed
	}
	filter := bson.D{{Key: "find", Value: attrKey(kind, name, value)}}
	if name == "" {
		filter = bson.D{{Key: "kind", Value: kind}}
	}
	filter = append(filter, bson.E{Key: "expires", Value: bson.D{{Key: "$gt", Value: micros(s.now())}}})
	cur, err := s.rec.records.Find(ctx, filter, options.Find().SetProjection(noFind))
	if err != nil {
		return nil, s.fail("find records "+kind, err)
	}
	var docs []recordDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.fail("find records "+kind, err)
	}
	out := make([]*fhir.Record, len(docs))
	for i := range docs {
		out[i] = docs[i].record()
	}
	slices.SortFunc(out, func(a, b *fhir.Record) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// PutRecord creates the record (rec.Rev 0) by inserting it, or, when an
// expired one holds its _id, by replacing that one; it updates it (rec.Rev
// the stored revision) by a replace conditional on _id and rev. Where
// updates are claimed (see claimRevision), both replaces are.
func (s *Store) PutRecord(ctx context.Context, rec *fhir.Record) error {
	if rec == nil || rec.Kind == "" || rec.Key == "" {
		return errors.New("mongostore: put record: kind and key are required")
	}
	if err := s.beginWrite(); err != nil {
		return err
	}
	defer s.writes.Done()
	now := micros(s.now())
	var rev int64
	var err error
	if rec.Rev == 0 {
		rev, err = s.createRecord(ctx, rec, now)
	} else {
		rev, err = s.swapRecord(ctx, rec, rec.Rev, false, now)
	}
	if err != nil {
		return err
	}
	rec.Rev = rev
	s.purgeRecords(ctx, now)
	return nil
}

func recordConflict(r *fhir.Record) error {
	return fmt.Errorf("mongostore: put record %s revision %d: %w", r.Kind, r.Rev, fhir.ErrVersionConflict)
}

// createRecord inserts rec as revision 1 or replaces the expired record
// that holds its _id. A record deleted or purged between the steps is
// tried again, a few times.
func (s *Store) createRecord(ctx context.Context, rec *fhir.Record, now int64) (int64, error) {
	for range 3 {
		_, err := s.rec.records.InsertOne(ctx, newRecordDoc(rec, 1))
		if err == nil {
			return 1, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return 0, s.fail("put record "+rec.Kind, err)
		}
		var old recordDoc
		err = s.rec.records.FindOne(ctx, bson.D{{Key: "_id", Value: recordID(rec.Kind, rec.Key)}},
			options.FindOne().SetProjection(bson.D{{Key: "rev", Value: 1}, {Key: "expires", Value: 1}})).Decode(&old)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			continue
		case err != nil:
			return 0, s.fail("put record "+rec.Kind, err)
		case old.Expires > now:
			return 0, recordConflict(rec)
		}
		// Go on from the expired record's revision, so that no holder of
		// the old one can update the new.
		rev, err := s.swapRecord(ctx, rec, old.Rev, true, now)
		if !errors.Is(err, fhir.ErrVersionConflict) {
			return rev, err
		}
	}
	return 0, recordConflict(rec)
}

// swapRecord replaces revision base of the record, live or (expired)
// expired, with rec as revision base+1.
func (s *Store) swapRecord(ctx context.Context, rec *fhir.Record, base int64, expired bool, now int64) (int64, error) {
	if base < 1 {
		return 0, recordConflict(rec)
	}
	id := recordID(rec.Kind, rec.Key)
	if !s.transactions {
		release, err := s.claimRevision(ctx, id, base+1, now)
		if err != nil {
			if errors.Is(err, fhir.ErrVersionConflict) {
				return 0, recordConflict(rec)
			}
			return 0, s.fail("put record "+rec.Kind, err)
		}
		defer release()
	}
	cmp := "$gt"
	if expired {
		cmp = "$lte"
	}
	r, err := s.rec.records.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "rev", Value: base},
		{Key: "expires", Value: bson.D{{Key: cmp, Value: now}}}}, newRecordDoc(rec, base+1))
	if err != nil {
		return 0, s.fail("put record "+rec.Kind, err)
	}
	if r.MatchedCount == 0 {
		return 0, recordConflict(rec)
	}
	return base + 1, nil
}

// recordClaim is a document of the recordclaims collection: the right to
// write one revision of one record (or to bump one guard, see bumpGuards).
type recordClaim struct {
	ID      string `bson:"_id"` // rev|recordID
	Owner   string `bson:"owner"`
	Created int64  `bson:"created"` // Unix microseconds, writer's clock
}

// claimRevision claims revision rev of record id, for the writer that
// replaces the revision before it. A conditional replace is atomic on
// MongoDB, but on FerretDB v1 it is a find followed by a write by _id
// alone, so two writers of the same revision could both succeed; a unique
// _id per revision lets only one of them through. Units without server
// transactions mean such a server may be in use, so they go through here.
//
// A claim taken is a conflict, unless it is older than the lease (its
// writer died holding it): then it is taken over. release deletes the
// claim, which the writer holds only while it replaces.
func (s *Store) claimRevision(ctx context.Context, id string, rev, now int64) (release func(), err error) {
	return s.claim(ctx, strconv.FormatInt(rev, 10)+"|"+id, now)
}

// claim takes the claim of _id id in the recordclaims collection, as
// claimRevision describes: fhir.ErrVersionConflict when another writer
// holds it. Record claims begin with a digit, the others with a letter.
func (s *Store) claim(ctx context.Context, id string, now int64) (release func(), err error) {
	c := recordClaim{ID: id, Owner: hex.EncodeToString(randomBytes(8)), Created: now}
	for range 2 {
		_, err := s.rec.claims.InsertOne(ctx, c)
		if err == nil {
			return func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.lease/2)
				defer cancel()
				// Left behind, it holds up only writers of a revision
				// that is no longer current, until the purge.
				_, _ = s.rec.claims.DeleteOne(ctx, bson.D{{Key: "_id", Value: c.ID}, {Key: "owner", Value: c.Owner}})
			}, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return nil, err
		}
		var held recordClaim
		err = s.rec.claims.FindOne(ctx, bson.D{{Key: "_id", Value: c.ID}}).Decode(&held)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments): // released meanwhile
			continue
		case err != nil:
			return nil, err
		case held.Created > now-s.lease.Microseconds():
			return nil, fhir.ErrVersionConflict
		}
		_, err = s.rec.claims.DeleteOne(ctx, bson.D{{Key: "_id", Value: c.ID}, {Key: "owner", Value: held.Owner}})
		if err != nil {
			return nil, err
		}
	}
	return nil, fhir.ErrVersionConflict
}

// DeleteRecord removes the record.
func (s *Store) DeleteRecord(ctx context.Context, kind, key string) error {
	if err := s.beginWrite(); err != nil {
		return err
	}
	defer s.writes.Done()
	if _, err := s.rec.records.DeleteOne(ctx, bson.D{{Key: "_id", Value: recordID(kind, key)}}); err != nil {
		return s.fail("delete record "+kind, err)
	}
	return nil
}

// purgeEvery is how often a process purges: its first PutRecord after
// that long deletes the expired records and the claims older than the
// lease. (FerretDB v1 has no TTL indexes.) A failed purge is tried again
// at the next PutRecord.
const purgeEvery = time.Minute

func (s *Store) purgeRecords(ctx context.Context, now int64) {
	last := s.rec.lastPurge.Load()
	if now-last < purgeEvery.Microseconds() || !s.rec.lastPurge.CompareAndSwap(last, now) {
		return
	}
	_, err := s.rec.records.DeleteMany(ctx, bson.D{{Key: "expires", Value: bson.D{{Key: "$lte", Value: now}}}})
	if err == nil {
		_, err = s.rec.claims.DeleteMany(ctx,
			bson.D{{Key: "created", Value: bson.D{{Key: "$lt", Value: now - s.lease.Microseconds()}}}})
	}
	if err != nil {
		s.rec.lastPurge.CompareAndSwap(now, last)
	}
}
