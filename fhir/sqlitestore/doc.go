// Package sqlitestore is the embedded storage engine: one SQLite database
// file, through the pure-Go driver modernc.org/sqlite, behind fhir.Store.
//
// Layout (see schema in store.go):
//
//   - resource: the current version of every resource, keyed by (type, id),
//     with its JSON, so that a read is one indexed lookup;
//   - history: every version ever written, keyed by seq, an integer that
//     grows with every write and gives history its global order;
//   - token: the identifier tokens (fhir.Token) of the current version only;
//   - ix_code, ix_string, ix_range, ix_comp: the search index entries
//     (fhir.IndexEntry) of the current version only, written in the same
//     transaction as the version (see index.go);
//   - record, record_attr: the documents of fhir.Records (OAuth clients,
//     codes and tokens, accounts, sessions, keys), keyed by (kind, key),
//     and their attributes, keyed for FindRecords (see records.go). A
//     GetRecord is one prepared lookup on the read pool; PutRecord and
//     DeleteRecord are units of work of Write, serialised and durable like
//     resource writes, and PutRecord purges expired records now and then.
//
// Units of work (Store.Write) run one at a time on the single writer
// connection, inside a transaction opened with BEGIN IMMEDIATE, so they are
// serialised, also against other processes (a CLI command beside a live
// server) that open the same file. Units that queue up meanwhile join the
// open transaction, each in a savepoint, and share its commit and its sync
// of the disk (see commit.go). Reads go through a separate pool of
// read-only connections and, thanks to WAL mode, never wait for a writer.
// WAL checkpoints run on a connection of their own, not in a unit's commit
// (see checkpoint.go).
//
// LastUpdated is kept to the microsecond (stored as Unix microseconds) and
// returned in UTC. History is newest first by LastUpdated, for one
// resource by version, and in write order within the same microsecond; its
// cursor is the sort key of the last entry of a page. History pages hold
// DefaultPageSize entries when Count is zero and at most MaxPageSize.
//
// Search (plan.go, clause.go) compiles a fhir.Query into one SELECT (and,
// to choose between two prefixes or two ranges, a probe of at most
// probeLimit entries each), with every value a parameter, run under the
// caller's context: a deadline or cancellation interrupts it and Search
// answers the context's error. Tx.Search runs on the writer connection
// without its unit's context, checked before instead, for the reason the
// writes do (see tx). The
// criterion that promises the fewest matches drives it through its index
// key (an identifier, a reference, a code, an exact string, a prefix, a
// window of dates or numbers, a composite); the others are checked per
// candidate through the owner indexes. Results are sorted by the Sort keys
// (the smallest entry ascending, the largest descending, resources without
// the parameter last), then by type and id, so paging with Offset and
// Limit is stable; Count runs the same query without them.
//
// A page of a search whose one criterion is a string prefix or a range
// may be read another way (walk.go): when the index holds at least
// probeLimit matching entries, the type's resources are walked in id
// order from the first, each tested with one seek in the owner index,
// until the page is full, so that a broad criterion costs the page's size
// over the share of resources that match rather than a sort of every
// match. The walk reads one snapshot (a read transaction) and gives way to
// the SELECT when what it has seen says sorting the matches costs less.
//
// What no key helps with costs a read of every candidate's entries of the
// parameter: :contains (a substring of the folded text), :not, :missing,
// ne, a token without code, a bare id on a reference to any type. Alone in a query they are tested on every
// current resource of the type, in id order, so a Limit ends the scan
// early but a Count or a rare match reads them all (about a millisecond
// per thousand resources here); beside an indexed criterion they cost a
// lookup per candidate. Their bound is the caller's deadline.
//
// Errors from the driver are translated here: a write that lost a race is
// fhir.ErrVersionConflict, a busy, full or unreadable database is
// fhir.ErrUnavailable; no driver type leaves the package.
package sqlitestore
