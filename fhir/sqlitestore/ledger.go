package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/oncofhir/oncofhir/fhir"
)

// Ledger types (fhir.IsLedger: AuditEvent) live apart from the general
// tables: one row each in ledger, and one ledger_key row per search key
// (fhir.LedgerKeys), ordered by (key, date, seq) so that the entries of
// one patient or agent come in date order straight from the key. Storing
// one costs the row, its (type, id) and date index entries and some eight
// key rows, where a general resource takes a current row, a history copy
// and an index row with two or three b-tree entries per search value.
//
// keys repeats the row's keys (joined by keySep), for a purge to find
// them. seq is the order stored: it breaks ties between equal dates, and orders
// history (newest first), as LastUpdated would but for clocks that step
// back.
const ledgerSchema = `
CREATE TABLE IF NOT EXISTS ledger (
	seq          INTEGER PRIMARY KEY,
	type         TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	low          REAL    NOT NULL,
	high         REAL    NOT NULL,
	last_updated INTEGER NOT NULL,
	method       TEXT    NOT NULL,
	json         BLOB    NOT NULL,
	keys         TEXT    NOT NULL,
	UNIQUE (type, id)
);
CREATE INDEX IF NOT EXISTS ledger_date ON ledger (type, low);
CREATE TABLE IF NOT EXISTS ledger_key (
	k   TEXT    NOT NULL,
	low REAL    NOT NULL,
	seq INTEGER NOT NULL,
	PRIMARY KEY (k, low, seq)
) WITHOUT ROWID;
`

// keySep joins a row's keys: no key holds it (fhir.LedgerKeys).
const keySep = "\x1e"

const (
	readLedgerSQL = `SELECT 1, last_updated, 0, method, json FROM ledger WHERE type = ? AND id = ?`
	ledgerColumns = `l.type, l.id, 1, l.last_updated, 0, l.method, l.json`
	// Rows of one INSERT, at most.
	ledgerRowsPerInsert = 32
	keyRowsPerInsert    = 128
)

// ledgerStmts are the writer connection's multi-row inserts, prepared on
// first use by number of rows.
type ledgerStmts struct {
	rows [ledgerRowsPerInsert]*sql.Stmt
	keys [keyRowsPerInsert]*sql.Stmt
}

func (l *ledgerStmts) close() error {
	var errs []error
	for _, st := range append(l.rows[:], l.keys[:]...) {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	*l = ledgerStmts{}
	return errors.Join(errs...)
}

// The inserts use OR IGNORE, as the index inserts do (see insertSQL): no
// statement journal. A duplicate (type, id) is found by the count of rows
// inserted.
func (l *ledgerStmts) stmt(ctx context.Context, c *sql.Conn, keys bool, n int) (*sql.Stmt, error) {
	var slot **sql.Stmt
	var text, row string
	if keys {
		slot, text, row = &l.keys[n-1], `INSERT OR IGNORE INTO ledger_key (k, low, seq) VALUES `, `(?, ?, ?)`
	} else {
		slot, text = &l.rows[n-1], `INSERT OR IGNORE INTO ledger (seq, type, id, low, high, last_updated, method, json, keys) VALUES `
		row = `(?, ?, ?, ?, ?, ?, ?, ?, ?)`
	}
	if *slot != nil {
		return *slot, nil
	}
	st, err := c.PrepareContext(ctx, text+strings.TrimSuffix(strings.Repeat(row+",", n), ","))
	if err != nil {
		return nil, err
	}
	*slot = st
	return st, nil
}

// ledgerRow is a ledger entry waiting in its unit for flushLedger.
type ledgerRow struct {
	res       *fhir.Resource
	keys      []string
	low, high float64
	packed    []byte
}

// ledgerDate is the stored date range of res: its date parameter's, else
// the millisecond of its LastUpdated.
func ledgerDate(res *fhir.Resource) (keys []string, low, high float64) {
	keys, low, high, ok := fhir.LedgerKeys(res.Type, res.Index)
	if !ok {
		low = float64(res.LastUpdated.UnixMilli())
		high = low + 1
	}
	return keys, low, high
}

// putLedger takes the first and only version of a ledger resource. It is
// stored with the unit's others by flushLedger, in a few multi-row
// inserts: an audited request's event costs its rows, not seven
// statements.
func (t *tx) putLedger(res *fhir.Resource) error {
	if res.Version != 1 || res.Deleted || res.JSON == nil {
		return fhir.Errorf(fhir.CodeNotSupported, "%s is append-only: version %d (deleted %v) cannot be stored",
			res.Type, res.Version, res.Deleted)
	}
	if t.ledgerIDs[res.Key()] {
		return t.conflict(res)
	}
	if t.ledgerIDs == nil {
		t.ledgerIDs = map[string]bool{}
	}
	t.ledgerIDs[res.Key()] = true
	keys, low, high := ledgerDate(res)
	t.ledger = append(t.ledger, ledgerRow{res: res, keys: keys, low: low, high: high, packed: packLedger(res.Type, res.JSON)})
	return nil
}

// flushLedger stores the ledger entries the unit put. They take the seqs
// after the highest stored (the unit holds the write lock), so that their
// keys go in with them. A duplicate id fails the unit with
// fhir.ErrVersionConflict.
func (t *tx) flushLedger() error {
	if len(t.ledger) == 0 {
		return nil
	}
	rows := t.ledger
	t.ledger, t.ledgerIDs = nil, nil
	ctx, c, w := context.Background(), t.s.wconn, &t.s.w.ledger
	var base int64
	if err := c.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM ledger`).Scan(&base); err != nil {
		return t.abort(t.s.fail("put ledger", err))
	}
	args := make([]any, 0, 9*min(len(rows), ledgerRowsPerInsert))
	var keyArgs []any
	for start := 0; start < len(rows); start += ledgerRowsPerInsert {
		chunk := rows[start:min(len(rows), start+ledgerRowsPerInsert)]
		args = args[:0]
		for i, r := range chunk {
			seq := base + int64(start+i) + 1
			args = append(args, seq, r.res.Type, r.res.ID, r.low, r.high, toMicros(r.res.LastUpdated), r.res.Method, r.packed,
				strings.Join(r.keys, keySep))
			for _, k := range r.keys {
				keyArgs = append(keyArgs, k, r.low, seq)
			}
		}
		st, err := w.stmt(ctx, c, false, len(chunk))
		if err != nil {
			return t.abort(t.s.fail("put ledger", err))
		}
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return t.abort(t.s.fail("put ledger", err))
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(chunk)) {
			if err == nil {
				err = fmt.Errorf("%w: a %s id of the unit is stored already", fhir.ErrVersionConflict, chunk[0].res.Type)
			}
			return t.abort(fmt.Errorf("sqlitestore: put ledger: %w", err))
		}
	}
	for len(keyArgs) > 0 {
		n := min(len(keyArgs)/3, keyRowsPerInsert)
		st, err := w.stmt(ctx, c, true, n)
		if err != nil {
			return t.abort(t.s.fail("put ledger keys", err))
		}
		if _, err := st.ExecContext(ctx, keyArgs[:3*n]...); err != nil {
			return t.abort(t.s.fail("put ledger keys", err))
		}
		keyArgs = keyArgs[3*n:]
	}
	return nil
}

// readLedger reads a ledger resource through st (readLedgerSQL).
func readLedger(ctx context.Context, db querier, typ, id string) (*fhir.Resource, error) {
	rows, err := db.QueryContext(ctx, readLedgerSQL, typ, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, sql.ErrNoRows
	}
	res := &fhir.Resource{Type: typ, ID: id}
	var lu int64
	if err := rows.Scan(&res.Version, &lu, &res.Deleted, &res.Method, &res.JSON); err != nil {
		return nil, err
	}
	res.LastUpdated = fromMicros(lu)
	if res.JSON, err = unpackLedger(res.JSON); err != nil {
		return nil, err
	}
	return res, rows.Close()
}

// Entries are stored compressed (zstd, with the type's dictionary) when
// the type has a dictionary: an AuditEvent of some 2.5 KB takes about
// 200 bytes, so a page holds many and a commit writes a fraction of the
// pages. A stored value that begins with '{' is JSON as it was given.
var ledgerCodecs struct {
	once sync.Once
	enc  map[string]*zstd.Encoder
	dec  *zstd.Decoder
	err  error
}

func codecs() error {
	c := &ledgerCodecs
	c.once.Do(func() {
		c.enc = map[string]*zstd.Encoder{}
		opts := []zstd.DOption{zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(64 << 20)}
		for _, typ := range fhir.LedgerTypes() {
			id, dict, ok := fhir.LedgerDictionary(typ)
			if !ok {
				continue
			}
			e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
				zstd.WithEncoderDictRaw(id, dict))
			if err != nil {
				c.err = err
				return
			}
			c.enc[typ] = e
			opts = append(opts, zstd.WithDecoderDictRaw(id, dict))
		}
		c.dec, c.err = zstd.NewReader(nil, opts...)
	})
	return c.err
}

// packLedger is what is stored of a ledger entry's JSON.
func packLedger(typ string, js []byte) []byte {
	if codecs() != nil {
		return js
	}
	e, ok := ledgerCodecs.enc[typ]
	if !ok {
		return js
	}
	return e.EncodeAll(js, make([]byte, 0, len(js)/4))
}

// unpackLedger reads what packLedger stored.
func unpackLedger(b []byte) ([]byte, error) {
	if len(b) == 0 || b[0] == '{' {
		return b, nil
	}
	if err := codecs(); err != nil {
		return nil, err
	}
	out, err := ledgerCodecs.dec.DecodeAll(b, make([]byte, 0, 12*len(b)))
	if err != nil {
		return nil, fmt.Errorf("a stored ledger entry cannot be read: %w", err)
	}
	return out, nil
}

// unpackAll unpacks the JSON of entries read by a search.
func unpackAll(rs []*fhir.Resource) ([]*fhir.Resource, error) {
	for _, r := range rs {
		var err error
		if r.JSON, err = unpackLedger(r.JSON); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// searchLedger answers a search of a ledger type (see fhir.IsLedger).
func searchLedger(ctx context.Context, db querier, q fhir.Query, counting bool) (*sqlBuf, error) {
	lq, err := fhir.CompileLedger(q)
	if err != nil {
		return nil, err
	}
	keys := make([][]string, 0, len(lq.Keys))
	for _, alts := range lq.Keys {
		ks, err := resolveKeys(ctx, db, alts)
		if err != nil {
			return nil, err
		}
		if len(ks) == 0 { // no entry has any of them
			return nil, nil
		}
		keys = append(keys, ks)
	}
	from, to := fhir.LowScan(lq.Dates)

	// The driver: the entries of one reference key (a patient, an agent)
	// in date order, else the date index when the dates bound it, else a
	// token key, else the date index whole.
	driver := -1
	for i, ks := range keys {
		if strings.Count(ks[0], "\x1f") == 2 && (driver < 0 || len(ks) < len(keys[driver])) {
			driver = i
		}
	}
	bounded := !math.IsInf(from, -1) || !math.IsInf(to, 1)
	if driver < 0 && !bounded && len(lq.IDs) == 0 {
		for i, ks := range keys {
			if driver < 0 || len(ks) < len(keys[driver]) {
				driver = i
			}
		}
	}

	b := &sqlBuf{}
	cols := ledgerColumns
	if counting {
		cols = "count(*)"
	}
	order := "l.low, l.seq"
	switch {
	case driver >= 0 && len(keys[driver]) == 1:
		// One key: its entries, already in date order.
		b.add("SELECT "+cols+" FROM ledger_key d CROSS JOIN ledger l ON l.seq = d.seq WHERE d.k = ?", keys[driver][0])
		b.add(" AND l.type = ?", q.Type)
		lowBounds(b, "d", from, to)
		order = "d.low, d.seq"
	case driver >= 0:
		// Several keys: the entries of any (an entry may have two of
		// them: a patient who is both agent and entity), each once.
		b.add("SELECT "+cols+" FROM ledger l WHERE l.seq IN (SELECT d.seq FROM ledger_key d WHERE").in(" d.k", keys[driver])
		lowBounds(b, "d", from, to)
		b.add(") AND l.type = ?", q.Type)
	default:
		b.add("SELECT "+cols+" FROM ledger l WHERE l.type = ?", q.Type)
		lowBounds(b, "l", from, to)
	}
	if len(lq.IDs) > 0 {
		b.in(" AND l.id", lq.IDs)
	}
	for i, ks := range keys {
		if i == driver {
			continue
		}
		b.add(" AND EXISTS (SELECT 1 FROM ledger_key x WHERE").in(" x.k", ks).add(" AND x.low = l.low AND x.seq = l.seq)")
	}
	for _, alts := range lq.Dates {
		var arms []*sqlBuf
		for _, v := range alts {
			fs, err := rangeArm("l", v.Prefix, v.Low, v.High, v.Approx)
			if err != nil {
				return nil, err
			}
			arms = append(arms, fs...)
		}
		b.add(" AND ").addBuf(or(arms))
	}
	if counting {
		return b, nil
	}
	if lq.Desc {
		order = strings.ReplaceAll(order, ",", " DESC,") + " DESC"
	}
	b.add(" ORDER BY " + order)
	limit := -1
	if lq.Limit > 0 {
		limit = lq.Limit
	}
	b.add(" LIMIT ? OFFSET ?", limit, max(lq.Offset, 0))
	return b, nil
}

// lowBounds limits the scan of alias's low column to [from, to).
func lowBounds(b *sqlBuf, alias string, from, to float64) {
	if !math.IsInf(from, -1) {
		b.add(" AND "+alias+".low >= ?", from)
	}
	if !math.IsInf(to, 1) {
		b.add(" AND "+alias+".low < ?", to)
	}
}

// resolveKeys turns the alternatives of a key criterion into the keys
// stored: a prefix (a code under any system) becomes each distinct key
// that starts with it, found by seeking from key to key rather than
// reading every entry under the prefix.
func resolveKeys(ctx context.Context, db querier, alts []fhir.LedgerMatch) ([]string, error) {
	var out []string
	for _, m := range alts {
		if !m.Prefix {
			out = append(out, m.Key)
			continue
		}
		after, inclusive := m.Key, true
		for range 64 { // a code is under a few systems at most
			op := ">"
			if inclusive {
				op = ">="
			}
			var k string
			rows, err := db.QueryContext(ctx, `SELECT k FROM ledger_key WHERE k `+op+` ? ORDER BY k LIMIT 1`, after)
			if err != nil {
				return nil, err
			}
			found := rows.Next()
			if found {
				err = rows.Scan(&k)
			}
			if cerr := rows.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, err
			}
			if !found || !strings.HasPrefix(k, m.Key) {
				break
			}
			out = append(out, k)
			after, inclusive = k, false
		}
	}
	return out, nil
}

func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// ledgerHistory is History for a ledger type: newest first in the order
// stored, the cursor being the seq of a page's last entry.
func (s *Store) ledgerHistory(ctx context.Context, q fhir.HistoryQuery, n int) (*fhir.HistoryPage, error) {
	b := frag(`SELECT `+ledgerColumns+`, l.seq FROM ledger l WHERE l.type = ?`, q.Type)
	if q.ID != "" {
		b.add(` AND l.id = ?`, q.ID)
	}
	if q.Cursor != "" {
		_, seq, ok := decodeCursor(q.Cursor)
		if !ok {
			return nil, fhir.Errorf(fhir.CodeInvalid, "invalid history page cursor")
		}
		b.add(` AND l.seq < ?`, seq)
	}
	if !q.Since.IsZero() {
		b.add(` AND l.last_updated >= ?`, ceilMicros(q.Since))
	}
	// Each entry is current from its LastUpdated on: it was current in
	// [AtStart, AtEnd) when written before AtEnd.
	if !q.AtEnd.IsZero() {
		b.add(` AND l.last_updated < ?`, ceilMicros(q.AtEnd))
	}
	b.add(` ORDER BY l.seq DESC LIMIT ?`, n+1)
	rows, err := s.queries.QueryContext(ctx, b.text.String(), b.args...)
	if err != nil {
		return nil, s.fail("history", err)
	}
	defer rows.Close()
	page := &fhir.HistoryPage{Entries: make([]*fhir.Resource, 0, min(n, 64))}
	var seq int64
	for rows.Next() {
		if len(page.Entries) == n {
			page.Next = encodeCursor(0, seq)
			break
		}
		res, err := scanFull(rows, &seq)
		if err == nil {
			res.JSON, err = unpackLedger(res.JSON)
		}
		if err != nil {
			return nil, s.fail("history", err)
		}
		page.Entries = append(page.Entries, res)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("history", err)
	}
	return page, nil
}

// PurgeLedger deletes the ledger entries of typ named by ids, with their
// keys (fhir.LedgerPurger), a few hundred to a unit of work.
func (s *Store) PurgeLedger(ctx context.Context, typ string, ids []string) (int, error) {
	if !fhir.IsLedger(typ) {
		return 0, fmt.Errorf("sqlitestore: purge: %s is not a ledger type", typ)
	}
	total := 0
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		deleted := 0
		err := s.Write(ctx, func(fhir.Tx) error {
			deleted = 0 // a unit may run again
			args := append([]any{typ}, anys(chunk)...)
			rows, err := s.wconn.QueryContext(ctx, `DELETE FROM ledger WHERE type = ? AND id IN (`+marks(len(chunk))+`)
				RETURNING seq, low, keys`, args...)
			if err != nil {
				return err
			}
			type gone struct {
				seq  int64
				low  float64
				keys string
			}
			var all []gone
			for rows.Next() {
				var g gone
				if err := rows.Scan(&g.seq, &g.low, &g.keys); err != nil {
					rows.Close()
					return err
				}
				all = append(all, g)
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return err
			}
			for _, g := range all {
				for _, k := range strings.Split(g.keys, keySep) {
					if k == "" {
						continue
					}
					if _, err := s.wconn.ExecContext(ctx, `DELETE FROM ledger_key WHERE k = ? AND low = ? AND seq = ?`, k, g.low, g.seq); err != nil {
						return err
					}
				}
			}
			deleted = len(all)
			return nil
		})
		if err != nil {
			return total, s.fail("purge", err)
		}
		total += deleted
	}
	return total, nil
}
