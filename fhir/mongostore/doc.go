// Package mongostore is the MongoDB engine behind fhir.Store, through
// go.mongodb.org/mongo-driver/v2, for deployments where several fhirserver
// processes share one replica set or sharded cluster. It also runs on
// FerretDB v1, which the tests use, and so keeps to what FerretDB v1
// supports: no $lookup or TTL indexes, and transactions and $elemMatch
// over sub-documents only where the server shows it has them.
//
// Layout, in the database named by the URI path (else Open's dbName, else
// "fhir"):
//
//   - resources: the current version of every resource, _id "Type/id", with
//     type, id, version, lastUpdated (Unix microseconds), deleted, method,
//     the resource's JSON as BSON binary (the client's bytes, never decoded:
//     1.50 stays 1.50) and keys, its token index entries as strings
//     "param|system|code" and "param||code" (any system), so that a token
//     search is equality on an array field; and idx, the search index
//     entries of the version (see entry in index.go), none for a deletion;
//   - history: every version, _id "Type/id/version", with order, a string
//     sorting versions by lastUpdated and then by write order, and never
//     before the version it replaces, which serves newest-first paging of
//     one resource, one type or the whole system without a shared counter
//     (the cursor is the order of a page's last entry), and until, when the
//     version stopped being current, for _at;
//   - ledger: the resources of ledger types (fhir.IsLedger: AuditEvent),
//     which are in neither resources nor history: one document each, _id an
//     ObjectID the writer makes (it orders entries of one date as stored),
//     with type, id (unique together), lo and hi, the date range in Unix
//     milliseconds (fhir.LedgerKeys, else lastUpdated to the next
//     millisecond), lu (lastUpdated, Unix microseconds), m (the method),
//     json (binary) and k, the search keys of fhir.LedgerKeys. A search is
//     one find sorted by lo and _id, history one sorted by lu and _id; a
//     journalled unit inserts its entries, with one ordered insert, after
//     its versions are committed and without a journal (ledger.go);
//   - txlog: journals of units of work being committed without a server
//     transaction (see below);
//   - guards: a counter per search key ("Type/id", "Type|param||code" or
//     "Type"), _id the type and a hash of the key, that serialises the
//     units of work deciding from a search (see below and guard.go). It
//     keeps one small document for every key searched by a unit that
//     wrote; none is ever deleted;
//   - probes: one document, written at Open on servers other than
//     FerretDB, that the search probe queries (see below);
//   - records: the documents of fhir.Records (OAuth clients, codes and
//     tokens, accounts, sessions, keys), _id the escaped kind, '|' and the
//     key, so that GetRecord is one find by _id, with find, the attributes
//     as strings "kind|name|value" for FindRecords (equality on an array
//     field), expires and rev. Expiry is checked against Options.Now; the
//     first PutRecord of a minute deletes the expired ones (FerretDB has no
//     TTL indexes). Updates replace on the condition of _id, rev and
//     expiry;
//   - recordclaims: on servers without transactions, where the server may
//     be FerretDB v1, whose conditional replace is a find and then a write
//     by _id alone, an update first inserts a claim, _id the revision it
//     writes and the record's _id, so that one writer per revision gets
//     through; the claim is deleted after the replace, and one left by a
//     writer that died is taken over once older than the lease. A guard's
//     swap is claimed the same way ("guard|", the value it writes, "|"
//     and the guard's _id).
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
// # Search
//
// Search, Tx.Search and Count run the clauses, sort keys and paging of
// fhir.Query with the matching rules of fhir.Clause, as fhir/search.Match
// states them, and answer what the SQLite engine answers. The index
// entries live on the current document, so they are written, replaced and
// removed in the same unit as the version. There are two ways to run a
// search, chosen at Open (Options.Search; IndexedSearch tells which):
//
//   - On a server with $elemMatch over sub-documents (MongoDB), each value
//     of a clause is an $elemMatch on idx (filter.go), so that its
//     conditions hold in one entry; multikey indexes on (type, idx.p,
//     idx.c), (type, idx.p, idx.t), (type, idx.p, idx.lo) and (type, idx.p,
//     idx.i) serve codes, prefixes, ranges and bare ids. A query with sort
//     keys is an aggregation that computes each resource's sort values
//     from its entries. Open decides by a probe: it stores a document in
//     probes and runs, through the same code, queries that such a server
//     answers in a known way; any error or other answer means no.
//   - Elsewhere (FerretDB v1, which answers those filters with an error, or
//     wrongly when a condition has one field, and which buildInfo names),
//     the server selects candidates by type, ids, tokens and conditions
//     every match meets (an entry of the param, one of the codes) and the
//     clauses are evaluated in Go on the decoded entries; the matches are
//     sorted and paged in Go, and only then are the page's documents read,
//     JSON included (one by _id, which FerretDB answers without a scan, or
//     all in one query for a long page). A document changed in between is
//     checked again. A page without sort keys reads the candidates in id
//     order and stops at its last match. Such a search examines at most
//     Options.ScanLimit candidates; a broader one is refused with
//     fhir.CodeTooCostly and status 400. A query without clauses and sort keys always runs on the
//     server.
//
// Both honour the caller's deadline. A unit of work (journal) merges its
// own writes into the stored results and sorts and pages them again.
//
// Driver errors are translated here (duplicate key and write conflicts are
// fhir.ErrVersionConflict, no document is fhir.ErrNotFound, network,
// timeout and server selection failures wrap fhir.ErrUnavailable); no
// driver type leaves the package.
package mongostore
