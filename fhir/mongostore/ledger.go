package mongostore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/oncofhir/oncofhir/fhir"
)

// Ledger types (fhir.IsLedger: AuditEvent) live in a collection of their
// own, one document per resource, never in resources or history: see
// ledgerDoc. A ledger resource has one version, so that document is its
// current version and its history both.

// ledgerColl is the collection of ledger resources.
const ledgerColl = "ledger"

// ledgerDoc is a document of the ledger collection. Lo and Hi are the
// resource's date range in Unix milliseconds (fhir.LedgerKeys, else its
// LastUpdated to the next millisecond); K are its search keys. The _id is
// an ObjectID the writer makes when it inserts: it orders the entries of
// one date in the order they were stored.
type ledgerDoc struct {
	OID         bson.ObjectID `bson:"_id"`
	Type        string        `bson:"type"`
	ID          string        `bson:"id"`
	Lo          float64       `bson:"lo"`
	Hi          float64       `bson:"hi"`
	LastUpdated int64         `bson:"lu"` // Unix microseconds, as lastUpdated in resources
	Method      string        `bson:"m"`
	JSON        []byte        `bson:"json"`
	Keys        []string      `bson:"k"`
}

// ledgerIndexes serve search by key and date, search by date alone,
// and history; the unique one makes a second version 1 a duplicate key.
var (
	ledgerUnique  = []string{"type", "id"}
	ledgerIndexes = [][]string{{"k", "lo"}, {"type", "lo", "_id"}, {"type", "lu"}}
)

// newLedgerDoc is the document of res, without its _id.
func newLedgerDoc(res *fhir.Resource) *ledgerDoc {
	keys, lo, hi, ok := fhir.LedgerKeys(res.Type, res.Index)
	if !ok {
		lo = float64(res.LastUpdated.UnixMilli())
		hi = lo + 1
	}
	if keys == nil {
		keys = []string{}
	}
	return &ledgerDoc{
		Type: res.Type, ID: res.ID, Lo: lo, Hi: hi,
		LastUpdated: micros(res.LastUpdated), Method: res.Method,
		JSON: slices.Clone(res.JSON), Keys: keys,
	}
}

func (d *ledgerDoc) resource() *fhir.Resource {
	return &fhir.Resource{
		Type: d.Type, ID: d.ID, Version: 1,
		LastUpdated: fromMicros(d.LastUpdated),
		Method:      d.Method, JSON: d.JSON,
	}
}

// checkLedgerPut refuses what a ledger cannot store: any version but a
// first one, which never changes.
func checkLedgerPut(res *fhir.Resource) error {
	if err := checkPut(res); err != nil {
		return err
	}
	if res.Version != 1 || res.Deleted {
		return fhir.Errorf(fhir.CodeNotSupported, "%s is append-only: version %d (deleted %v) cannot be stored",
			res.Type, res.Version, res.Deleted)
	}
	if err := checkIndex(res.Index); err != nil {
		return fmt.Errorf("mongostore: %s: %w", what(res), err)
	}
	return nil
}

func ledgerKey(typ, id string) bson.D {
	return bson.D{{Key: "type", Value: typ}, {Key: "id", Value: id}}
}

// readLedger reads the ledger resource typ/id.
func (s *Store) readLedger(ctx context.Context, typ, id string) (*fhir.Resource, error) {
	var d ledgerDoc
	if err := s.ledger.FindOne(ctx, ledgerKey(typ, id)).Decode(&d); err != nil {
		return nil, err
	}
	return d.resource(), nil
}

func (s *Store) ledgerExists(ctx context.Context, typ, id string) (bool, error) {
	return exists(ctx, s.ledger, ledgerKey(typ, id))
}

// putLedger stores res inside the transaction. It looks for the id first,
// so that a duplicate is answered while the transaction stays usable; a
// race lost after that aborts it.
func (t *sessionTx) putLedger(res *fhir.Resource) error {
	if err := checkLedgerPut(res); err != nil {
		return err
	}
	found, err := t.s.ledgerExists(t.ctx, res.Type, res.ID)
	if err != nil {
		t.err = t.s.fail(what(res), err)
		return t.err
	}
	if found {
		return conflict(res)
	}
	d := newLedgerDoc(res)
	d.OID = bson.NewObjectID()
	if _, err := t.s.ledger.InsertOne(t.ctx, d); err != nil {
		t.err = t.s.fail(what(res), err)
		return t.err
	}
	t.wrote = true
	return nil
}

func (t *sessionTx) readLedger(typ, id string) (*fhir.Resource, error) {
	r, err := t.s.readLedger(t.ctx, typ, id)
	if err != nil {
		return nil, t.readErr("read "+typ+"/"+id, err)
	}
	return r, nil
}

// putLedger buffers res for commit, which inserts the unit's ledger
// resources after its other writes, without a journal: a resource stored
// once is never changed, so there is nothing to undo. A duplicate of a
// stored id is refused at commit (fhir.ErrVersionConflict from Write).
func (t *journalTx) putLedger(res *fhir.Resource) error {
	if err := checkLedgerPut(res); err != nil {
		return err
	}
	key := res.Key()
	if _, ok := t.ledger[key]; ok {
		return conflict(res)
	}
	// An id stored already is found by the unique index at commit, which
	// fails the unit with a conflict: looking it up here would cost every
	// Put a read (a scan on servers that do not use the index for it), for
	// ids the server makes unique anyway.
	d := newLedgerDoc(res)
	// Provisional, to order the unit's searches; commit makes the stored one.
	d.OID = bson.NewObjectID()
	if t.ledger == nil {
		t.ledger = map[string]*ledgerDoc{}
	}
	t.ledger[key] = d
	t.ledgerOrder = append(t.ledgerOrder, d)
	return nil
}

func (t *journalTx) readLedger(typ, id string) (*fhir.Resource, error) {
	if d, ok := t.ledger[resourceKey(typ, id)]; ok {
		return d.resource(), nil
	}
	r, err := t.s.readLedger(t.ctx, typ, id)
	if err != nil {
		return nil, t.s.fail("read "+typ+"/"+id, err)
	}
	return r, nil
}

// commitLedger inserts the unit's ledger resources in the order they were
// Put, in one ordered insert: a duplicate stops it there, with the ones
// before it stored.
func (t *journalTx) commitLedger() error {
	if len(t.ledgerOrder) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), t.s.lease/2)
	defer cancel()
	docs := make([]any, len(t.ledgerOrder))
	for i, d := range t.ledgerOrder {
		d.OID = bson.NewObjectID()
		docs[i] = d
	}
	if _, err := t.s.ledger.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true)); err != nil {
		return t.s.fail(fmt.Sprintf("write: %d %s resources", len(docs), t.ledgerOrder[0].Type), err)
	}
	return nil
}

// PurgeLedger deletes the ledger resources of typ named by ids
// (fhir.LedgerPurger) and answers how many there were. On an error it
// answers how many it had deleted before.
func (s *Store) PurgeLedger(ctx context.Context, typ string, ids []string) (int, error) {
	if s.isClosed() {
		return 0, errClosed
	}
	if !fhir.IsLedger(typ) {
		return 0, fmt.Errorf("mongostore: purge %s: not a ledger type", typ)
	}
	n := 0
	for batch := range slices.Chunk(ids, purgeBatch) {
		r, err := s.ledger.DeleteMany(ctx, bson.D{{Key: "type", Value: typ}, {Key: "id", Value: bson.D{{Key: "$in", Value: batch}}}})
		if err != nil {
			return n, s.fail("purge "+typ, err)
		}
		n += int(r.DeletedCount)
	}
	return n, nil
}

// purgeBatch is how many ids one delete names, to keep commands small
// however many ids a caller passes.
const purgeBatch = 1000

var _ fhir.LedgerPurger = (*Store)(nil)

// refused reports an error of the server about the command itself (an
// operator it lacks), not about reaching it.
func refused(err error) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && !unavailable(err)
}
