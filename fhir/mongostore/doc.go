// Package mongostore is the MongoDB engine behind fhir.Store, through
// go.mongodb.org/mongo-driver/v2, for deployments where several fhirserver
// processes share one replica set or sharded cluster. It also runs on
// FerretDB v1, which the tests use, and so keeps to what FerretDB v1
// supports: no $elemMatch, $lookup or TTL indexes, and transactions only
// where the server reports them.
//
// Layout, in the database named by the URI path (else Open's dbName, else
// "fhir"):
//
//   - resources: the current version of every resource, _id "Type/id", with
//     type, id, version, lastUpdated (Unix microseconds), deleted, method,
//     the resource's JSON as BSON binary (the client's bytes, never decoded:
//     1.50 stays 1.50) and keys, its token index entries as strings
//     "param|system|code" and "param||code" (any system), so that a token
//     search is equality on an array field;
//   - history: every version, _id "Type/id/version", with order, a string
//     sorting versions by lastUpdated and then by write order, and never
//     before the version it replaces, which serves newest-first paging of
//     one resource, one type or the whole system without a shared counter
//     (the cursor is the order of a page's last entry), and until, when the
//     version stopped being current, for _at;
//   - txlog: journals of units of work being committed without a server
//     transaction (see below);
//   - guards: a counter per search key ("Type/id", "Type|param||code" or
//     "Type"), _id the type and a hash of the key, that serialises the
//     units of work deciding from a search (see below and guard.go). It
//     keeps one small document for every key searched by a unit that
//     wrote; none is ever deleted.
//
// # Units of work
//
// On a replica set or through mongos (hello reports setName, or msg
// "isdbgrid"), Write runs fn in a session with WithTransaction: the unit is
// all-or-nothing and invisible until committed. The driver may run fn
// again when the server reports the whole transaction as transient (an
// election, a lost commit acknowledgement).
//
// On a server without transactions (a standalone mongod, FerretDB v1),
// Write uses a journal. Puts are buffered (reads and searches through the
// unit see them) and checked against the stored versions. At commit a
// journal naming every version and the document each replaces goes into
// txlog; then, Put by Put, the history entry is inserted (its unique _id
// detects a second writer of the same version), the previous version's
// until is set, and the current document is swapped on the condition that
// it still holds the previous version. If any step fails the unit is
// undone (history entries deleted, current documents restored) and the
// journal deleted; deleting the journal while it is still pending is the
// commit. A journal left by a process that died is rolled back by the next
// Open, or by any running store's sweep, once it is older than the lease
// (Options.Lease, DefaultLease).
//
// # Units that decide from a search
//
// Neither mode serialises by itself a unit that decides from a search (a
// conditional create: "create unless one matches") against another doing
// the same: snapshot isolation, like the journal, only detects writes to
// the same document, so both would create. Guards close that gap in both
// modes. A search through the unit that names a type first reads its
// guards: one per id and one per token code, else one for the whole type
// (see guardKeys). When the unit has written, its commit bumps each of
// them, compare-and-swap from the value read (inside the transaction, or
// after writing the journal and before applying the versions). Of two
// units that searched the same key, the second to commit fails with
// fhir.ErrVersionConflict and, run again, finds the first's resource.
// Units that write without searching, or search without writing, touch no
// guard.
//
// Guards are coarser than searches: identifier X of any system has one
// guard, so conditional creates of X in different systems are serialised
// too (the loser runs again), and so are all the writing units that
// searched one type by criteria other than ids and token codes. They do
// not cover:
//
//   - searches without a type;
//   - units that searched different keys: one that searched identifier X
//     and creates a resource with identifier Y is not stopped by one that
//     searched Y and creates X.
//
// The journal's limits, which transactions do not have:
//
//   - readers outside the unit may briefly see a half-applied unit (some of
//     its versions and not others), and a unit that is then rolled back;
//   - a Put on a resource whose current version belongs to a unit still
//     committing is answered with fhir.ErrVersionConflict, and after a
//     crash that lasts until the journal is rolled back (up to two leases);
//   - so is a unit that writes after searching a key whose guard a unit
//     still committing has bumped (its search may have missed that unit's
//     versions), for as long;
//   - the lease must exceed the clock skew between processes.
//
// Driver errors are translated here (duplicate key and write conflicts are
// fhir.ErrVersionConflict, no document is fhir.ErrNotFound, network,
// timeout and server selection failures wrap fhir.ErrUnavailable); no
// driver type leaves the package.
package mongostore
