package mongostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/oncofhir/oncofhir/fhir"
)

// DefaultDatabase is the database used when neither the URI nor the caller
// names one.
const DefaultDatabase = "fhir"

// Collection names.
const (
	resourcesColl = "resources"
	historyColl   = "history"
	txlogColl     = "txlog"
	guardsColl    = "guards"
	probesColl    = "probes"
	recordsColl   = "records"
	claimsColl    = "recordclaims"
)

// Units selects how Write makes a unit of work all-or-nothing.
type Units int

const (
	// UnitsAuto uses transactions when the server reports support for them
	// (a replica set or a mongos) and the journal otherwise.
	UnitsAuto Units = iota
	// UnitsTransactions always uses multi-document transactions.
	UnitsTransactions
	// UnitsJournal always uses the journal (see the package comment), even
	// on a server with transactions.
	UnitsJournal
)

func (u Units) String() string {
	switch u {
	case UnitsTransactions:
		return "transactions"
	case UnitsJournal:
		return "journal"
	}
	return "auto"
}

// Options tune Open; the zero value is what a server wants.
type Options struct {
	Units Units
	// Search selects how searches match their clauses (see Searches).
	Search Searches
	// ScanLimit bounds how many resources a search evaluated in Go may
	// examine (DefaultScanLimit when zero); a broader one is refused with
	// fhir.CodeTooCostly.
	ScanLimit int
	// Lease is how old a journal must be before another process may roll it
	// back as abandoned (DefaultLease when zero). It must exceed the longest
	// commit and the clock skew between processes.
	Lease time.Duration
	// Now is the clock for journal times (time.Now when nil).
	Now func() time.Time
}

// DefaultLease is the journal lease when Options.Lease is zero.
const DefaultLease = 30 * time.Second

// Store is the MongoDB engine. It is safe for concurrent use.
type Store struct {
	client    *mongo.Client
	db        *mongo.Database
	resources *mongo.Collection
	history   *mongo.Collection
	txlog     *mongo.Collection
	guards    *mongo.Collection
	ledger    *mongo.Collection // see ledger.go
	rec       recordStore       // see records.go

	transactions bool
	indexed      bool // searches run as $elemMatch filters (see Searches)
	markInf      bool // the server refuses infinite doubles (see entry)
	scanLimit    int
	lease        time.Duration
	now          func() time.Time

	mu      sync.Mutex
	closed  bool
	writes  sync.WaitGroup
	stop    chan struct{}
	stopped chan struct{}

	// hook, when set (by tests), runs before each step of a journalled
	// commit; an error from it fails that step.
	hook func(step string, res *fhir.Resource) error
}

var _ fhir.Store = (*Store)(nil)

// Open connects to the server at uri and prepares the database: the one
// named in the URI path when there is one, else dbName, else
// DefaultDatabase. It declares the indexes, chooses how units of work are
// made atomic (see Units) and rolls back journals left by crashed
// processes. A server that cannot be reached is an error wrapping
// fhir.ErrUnavailable.
func Open(ctx context.Context, uri, dbName string) (*Store, error) {
	return OpenWith(ctx, uri, dbName, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, uri, dbName string, o Options) (*Store, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		// The parser's message may quote option values, secrets among them.
		return nil, errors.New("mongostore: open: invalid MongoDB URI (check its scheme, hosts and options)")
	}
	if cs.Database != "" {
		dbName = cs.Database
	}
	if dbName == "" {
		dbName = DefaultDatabase
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return nil, fmt.Errorf("mongostore: open: %w", translate(err))
	}
	s := &Store{
		client:    client,
		db:        client.Database(dbName),
		lease:     o.Lease,
		now:       o.Now,
		scanLimit: o.ScanLimit,
	}
	if s.scanLimit <= 0 {
		s.scanLimit = DefaultScanLimit
	}
	if s.lease <= 0 {
		s.lease = DefaultLease
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.resources = s.db.Collection(resourcesColl)
	s.history = s.db.Collection(historyColl)
	s.txlog = s.db.Collection(txlogColl)
	s.guards = s.db.Collection(guardsColl)
	s.ledger = s.db.Collection(ledgerColl)
	s.rec.records = s.db.Collection(recordsColl)
	s.rec.claims = s.db.Collection(claimsColl)
	if err := s.open(ctx, o.Units, o.Search); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongostore: open %s: %w", dbName, translate(err))
	}
	if !s.transactions {
		s.stop, s.stopped = make(chan struct{}), make(chan struct{})
		go s.sweep()
	}
	return s, nil
}

func (s *Store) open(ctx context.Context, units Units, searches Searches) error {
	var hello bson.Raw
	err := s.db.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello)
	if err != nil && !unavailable(err) {
		// Servers before 4.4.2 know only the legacy name.
		err = s.db.RunCommand(ctx, bson.D{{Key: "isMaster", Value: 1}}).Decode(&hello)
	}
	if err != nil {
		return err
	}
	switch units {
	case UnitsTransactions:
		s.transactions = true
	case UnitsJournal:
		s.transactions = false
	default:
		s.transactions = supportsTransactions(hello)
	}
	if err := s.detectSearch(ctx, searches); err != nil {
		return err
	}
	if err := s.createIndexes(ctx); err != nil {
		return err
	}
	if err := createCollection(ctx, s.db, guardsColl); err != nil {
		return err
	}
	// Also under transactions: journals may be left from a time the
	// server had none, or from a process that forced the journal.
	return s.recover(ctx)
}

// supportsTransactions reads a hello reply: a replica set member names its
// set, a mongos says "isdbgrid". A standalone server, and FerretDB v1, do
// neither and have no multi-document transactions.
func supportsTransactions(hello bson.Raw) bool {
	if v, err := hello.LookupErr("setName"); err == nil {
		if name, ok := v.StringValueOK(); ok && name != "" {
			return true
		}
	}
	if v, err := hello.LookupErr("msg"); err == nil {
		if msg, ok := v.StringValueOK(); ok && msg == "isdbgrid" {
			return true
		}
	}
	return false
}

// createIndexes declares what the queries use, once per database: it
// lists the indexes there are and creates the missing ones, one per
// command. (FerretDB v1 accepts indexes but scans the collection for any
// filter but _id equality; and it fails a createIndexes that names two or
// more indexes that already exist, which every start after the first, or
// two processes starting at once, would send.)
func (s *Store) createIndexes(ctx context.Context) error {
	resources := [][]string{{"keys"}, {"type", "_id"}, {"id"}}
	if s.indexed {
		resources = append(resources, searchIndexes...)
	}
	for _, c := range []struct {
		coll   *mongo.Collection
		keys   [][]string
		unique []string // one more index, unique
	}{
		{s.resources, resources, nil},
		{s.history, [][]string{{"-order"}, {"type", "-order"}, {"type", "id", "-order"}, {"until", "lastUpdated"}}, nil},
		{s.txlog, [][]string{{"created"}}, nil},
		{s.rec.records, recordIndexes, nil},
		{s.rec.claims, [][]string{{"created"}}, nil},
		{s.ledger, ledgerIndexes, ledgerUnique},
	} {
		have, err := indexNames(ctx, c.coll)
		if err != nil {
			return err
		}
		all := c.keys
		if c.unique != nil {
			all = append(slices.Clip(all), c.unique)
		}
		for i, keys := range all {
			m, name := indexModel(keys)
			if have[name] {
				continue
			}
			if i == len(c.keys) {
				m.Options.SetUnique(true)
			}
			if _, err := c.coll.Indexes().CreateOne(ctx, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// createCollection creates a collection that has no index to declare,
// so that transactions never create one (servers before 4.4 refuse it,
// and so do later ones in a transaction that writes to several shards).
// One that exists already is fine.
func createCollection(ctx context.Context, db *mongo.Database, name string) error {
	names, err := db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: name}})
	if err != nil || len(names) > 0 {
		return err
	}
	if err := db.CreateCollection(ctx, name); err != nil && !hasCode(err, codeNamespaceExists) {
		return err
	}
	return nil
}

// indexModel is an index on the given fields ("-field" for descending),
// named as the server would name it.
func indexModel(keys []string) (mongo.IndexModel, string) {
	d := bson.D{}
	var name []string
	for _, k := range keys {
		dir := 1
		if k[0] == '-' {
			k, dir = k[1:], -1
		}
		d = append(d, bson.E{Key: k, Value: dir})
		name = append(name, fmt.Sprintf("%s_%d", k, dir))
	}
	n := strings.Join(name, "_")
	return mongo.IndexModel{Keys: d, Options: options.Index().SetName(n)}, n
}

func indexNames(ctx context.Context, c *mongo.Collection) (map[string]bool, error) {
	cur, err := c.Indexes().List(ctx)
	if err != nil {
		return nil, err
	}
	var specs []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(ctx, &specs); err != nil {
		return nil, err
	}
	names := make(map[string]bool, len(specs))
	for _, sp := range specs {
		names[sp.Name] = true
	}
	return names, nil
}

// Transactions reports whether units of work run as server transactions
// (true) or through the journal (false).
func (s *Store) Transactions() bool { return s.transactions }

// Close waits for the units of work in progress and disconnects. Calls
// after Close answer an error wrapping fhir.ErrUnavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.writes.Wait()
	if s.stop != nil {
		close(s.stop)
		<-s.stopped
	}
	if err := s.client.Disconnect(context.Background()); err != nil {
		return fmt.Errorf("mongostore: close: %w", translate(err))
	}
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// beginWrite registers a unit of work so that Close waits for it.
func (s *Store) beginWrite() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.writes.Add(1)
	return nil
}

// Read returns the current version of typ/id.
func (s *Store) Read(ctx context.Context, typ, id string) (*fhir.Resource, error) {
	if s.isClosed() {
		return nil, errClosed
	}
	read := s.readResource
	if fhir.IsLedger(typ) {
		read = s.readLedger
	}
	r, err := read(ctx, typ, id)
	if err != nil {
		return nil, s.fail("read "+typ+"/"+id, err)
	}
	return r, nil
}

// readCurrent reads the whole current document of typ/id, as a write
// needs it (a journal keeps it to restore).
func (s *Store) readCurrent(ctx context.Context, typ, id string) (*current, error) {
	var c current
	if err := s.resources.FindOne(ctx, bson.D{{Key: "_id", Value: resourceKey(typ, id)}}).Decode(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

// readResource reads the current version of typ/id without its index
// entries, which a read does not return.
func (s *Store) readResource(ctx context.Context, typ, id string) (*fhir.Resource, error) {
	var c current
	err := s.resources.FindOne(ctx, bson.D{{Key: "_id", Value: resourceKey(typ, id)}},
		options.FindOne().SetProjection(bson.D{{Key: "idx", Value: 0}})).Decode(&c)
	if err != nil {
		return nil, err
	}
	return c.resource(), nil
}

// VRead returns one version of typ/id.
func (s *Store) VRead(ctx context.Context, typ, id string, v int) (*fhir.Resource, error) {
	if s.isClosed() {
		return nil, errClosed
	}
	if fhir.IsLedger(typ) {
		if v != 1 {
			return nil, fmt.Errorf("mongostore: vread %s/%s version %d: %w", typ, id, v, fhir.ErrNotFound)
		}
		r, err := s.readLedger(ctx, typ, id)
		if err != nil {
			return nil, s.fail(fmt.Sprintf("vread %s/%s version %d", typ, id, v), err)
		}
		return r, nil
	}
	var h version
	err := s.history.FindOne(ctx, bson.D{{Key: "_id", Value: versionKey(typ, id, v)}}).Decode(&h)
	if err != nil {
		return nil, s.fail(fmt.Sprintf("vread %s/%s version %d", typ, id, v), err)
	}
	return h.resource(), nil
}
