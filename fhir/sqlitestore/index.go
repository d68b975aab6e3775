package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// indexSchema holds the search index entries (fhir.IndexEntry) of current
// versions, one table per family of matching rules, each keyed for its hot
// search:
//
//   - ix_code: token, reference and uri entries, and the "<param>:of-type"
//     and "<param>:identifier" entries, matched by equality on the code:
//     key (param, code, type, id, ...), so that "code=system|code" or
//     "patient=Patient/1" is one seek; ix_code_text, partial on a non-empty
//     text, serves :text, :identifier and of-type lookups by value.
//   - ix_string: string entries, key (param, text, ...) so that a prefix is
//     one range scan; ix_string_exact serves :exact.
//   - ix_range: date, number and quantity entries as [low, high), key
//     (param, span, low, ...). span is a power of two at least twice the
//     width high - low (0 for an empty range, +Inf for an open one, -1
//     when high < low or the width is not a number), so that for each
//     span every prefix bounds low: high > x implies low >= x - span. A
//     search reads the few spans a parameter has, then one range of low
//     in each (see rangeGroup). multi marks the entries of a resource
//     that has several of that parameter. ±Inf are stored as such.
//   - ix_comp: composite entries, one row per part: n numbers the entries
//     of a resource, pos the part, nparts how many parts the entry has;
//     the key (param, pos, type, id, n) joins the parts of one entry.
//
// Every table is WITHOUT ROWID, so each secondary index carries the whole
// key and covers the queries that use it; each has an owner index (type,
// id, param) through which an update or deletion removes a resource's
// entries and a search checks, sorts or tests for missing entries of one
// resource.
const indexSchema = `
CREATE TABLE IF NOT EXISTS ix_code (
	param  TEXT NOT NULL,
	code   TEXT NOT NULL,
	type   TEXT NOT NULL,
	id     TEXT NOT NULL,
	system TEXT NOT NULL,
	text   TEXT NOT NULL,
	PRIMARY KEY (param, code, type, id, system, text)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_code_text ON ix_code (param, text) WHERE text <> '';
CREATE INDEX IF NOT EXISTS ix_code_owner ON ix_code (type, id, param);
CREATE TABLE IF NOT EXISTS ix_string (
	param TEXT NOT NULL,
	text  TEXT NOT NULL,
	type  TEXT NOT NULL,
	id    TEXT NOT NULL,
	code  TEXT NOT NULL,
	PRIMARY KEY (param, text, type, id, code)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_string_exact ON ix_string (param, code);
CREATE INDEX IF NOT EXISTS ix_string_owner ON ix_string (type, id, param);
CREATE TABLE IF NOT EXISTS ix_range (
	param  TEXT    NOT NULL,
	span   REAL    NOT NULL,
	low    REAL    NOT NULL,
	high   REAL    NOT NULL,
	type   TEXT    NOT NULL,
	id     TEXT    NOT NULL,
	system TEXT    NOT NULL,
	code   TEXT    NOT NULL,
	multi  INTEGER NOT NULL,
	PRIMARY KEY (param, span, low, high, type, id, system, code)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_range_multi ON ix_range (param, type, id) WHERE multi = 1;
CREATE INDEX IF NOT EXISTS ix_range_owner ON ix_range (type, id, param);
CREATE TABLE IF NOT EXISTS ix_comp (
	param  TEXT    NOT NULL,
	pos    INTEGER NOT NULL,
	type   TEXT    NOT NULL,
	id     TEXT    NOT NULL,
	n      INTEGER NOT NULL,
	nparts INTEGER NOT NULL,
	kind   TEXT    NOT NULL,
	system TEXT    NOT NULL,
	code   TEXT    NOT NULL,
	text   TEXT    NOT NULL,
	low    REAL    NOT NULL,
	high   REAL    NOT NULL,
	PRIMARY KEY (param, pos, type, id, n)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ix_comp_owner ON ix_comp (type, id, param);
`

// The index tables, and the columns insertIndex writes, in order.
const (
	tabCode = iota
	tabString
	tabRange
	tabComp
	numTables
)

var indexTables = [numTables]struct {
	name string
	cols []string
}{
	tabCode:   {"ix_code", []string{"param", "code", "type", "id", "system", "text"}},
	tabString: {"ix_string", []string{"param", "text", "type", "id", "code"}},
	tabRange:  {"ix_range", []string{"param", "span", "low", "high", "type", "id", "system", "code", "multi"}},
	tabComp: {"ix_comp", []string{"param", "pos", "type", "id", "n", "nparts", "kind", "system", "code", "text",
		"low", "high"}},
}

// maxInsertRows bounds the rows of one INSERT: a resource's entries of a
// table go in as few statements as that allows, each prepared once per
// number of rows.
const maxInsertRows = 32

// insertSQL inserts n rows into table t; a duplicate entry is kept once.
//
// OR IGNORE rather than ON CONFLICT DO NOTHING: with the latter a NOT NULL
// column could still abort the statement after some of its rows, so SQLite
// copies every page the statement touches into a statement journal first
// (a sixth of the cost of the inserts). No row breaks NOT NULL here (the
// arguments are Go strings and numbers, and checkIndex refuses NaN, which
// SQLite would store as NULL), so IGNORE, which would skip such a row, only
// ever skips duplicates.
func insertSQL(t, n int) string {
	tab := indexTables[t]
	row := "(?" + strings.Repeat(", ?", len(tab.cols)-1) + ")"
	return "INSERT OR IGNORE INTO " + tab.name + " (" + strings.Join(tab.cols, ", ") + ") VALUES " +
		row + strings.Repeat(", "+row, n-1)
}

// Suffixes of the entries that some modifiers look at instead of the
// parameter's own.
const (
	ofTypeSuffix     = ":of-type"
	identifierSuffix = ":identifier"
)

// tableFor names the table that holds entries of kind k with param p. The
// of-type and identifier entries go with the codes whatever their kind:
// they are matched as tokens.
func tableFor(param string, k fhir.ParamType) (int, bool) {
	if strings.HasSuffix(param, ofTypeSuffix) || strings.HasSuffix(param, identifierSuffix) {
		return tabCode, true
	}
	switch k {
	case fhir.TypeString:
		return tabString, true
	case fhir.TypeToken, fhir.TypeReference, fhir.TypeURI, fhir.TypeSpecial:
		return tabCode, true
	case fhir.TypeDate, fhir.TypeNumber, fhir.TypeQuantity:
		return tabRange, true
	case fhir.TypeComposite:
		return tabComp, true
	}
	return 0, false
}

// checkIndex refuses entries the tables cannot hold: no param, an unknown
// kind, a range bound that is not a number (SQLite stores NaN as NULL), a
// composite inside a composite.
func checkIndex(entries []fhir.IndexEntry) error {
	for _, e := range entries {
		if e.Param == "" {
			return fmt.Errorf("index entry of kind %q without a param", e.Kind)
		}
		tab, ok := tableFor(e.Param, e.Kind)
		if !ok {
			return fmt.Errorf("index entry %s: unknown kind %q", e.Param, e.Kind)
		}
		if math.IsNaN(e.Low) || math.IsNaN(e.High) {
			return fmt.Errorf("index entry %s: a range bound is NaN", e.Param)
		}
		if tab != tabComp {
			continue
		}
		for i, p := range e.Parts {
			if t, ok := tableFor("", p.Kind); !ok || t == tabComp {
				return fmt.Errorf("index entry %s: part %d has kind %q", e.Param, i, p.Kind)
			}
			if math.IsNaN(p.Low) || math.IsNaN(p.High) {
				return fmt.Errorf("index entry %s: part %d: a range bound is NaN", e.Param, i)
			}
		}
	}
	return nil
}

// deleteIndex removes the entries of typ/id from every index table.
func (w *writeStmts) deleteIndex(ctx context.Context, typ, id string) error {
	for _, st := range w.deleteIx {
		if _, err := st.ExecContext(ctx, typ, id); err != nil {
			return err
		}
	}
	return nil
}

// insertIndex stores the entries of res (checked by checkIndex).
func (w *writeStmts) insertIndex(ctx context.Context, res *fhir.Resource) error {
	ranges := map[string]int{} // range entries by param
	for _, e := range res.Index {
		if tab, _ := tableFor(e.Param, e.Kind); tab == tabRange {
			ranges[e.Param]++
		}
	}
	var rows [numTables][]any // the arguments of each table's rows
	n := 0                    // numbers the composite entries
	for _, e := range res.Index {
		tab, _ := tableFor(e.Param, e.Kind)
		switch tab {
		case tabCode:
			rows[tab] = append(rows[tab], e.Param, e.Code, res.Type, res.ID, e.System, e.Text)
		case tabString:
			rows[tab] = append(rows[tab], e.Param, e.Text, res.Type, res.ID, e.Code)
		case tabRange:
			multi := 0
			if ranges[e.Param] > 1 {
				multi = 1
			}
			rows[tab] = append(rows[tab], e.Param, span(e.Low, e.High), e.Low, e.High, res.Type, res.ID, e.System, e.Code, multi)
		case tabComp:
			for pos, p := range e.Parts {
				text := ""
				if p.Kind == fhir.TypeString { // the only part whose text is matched
					text = p.Text
				}
				rows[tab] = append(rows[tab], e.Param, pos, res.Type, res.ID, n, len(e.Parts),
					string(p.Kind), p.System, p.Code, text, p.Low, p.High)
			}
			n++
		}
	}
	for tab, args := range rows {
		cols := len(indexTables[tab].cols)
		for len(args) > 0 {
			k := min(len(args)/cols, maxInsertRows)
			st, err := w.insertStmt(ctx, tab, k)
			if err != nil {
				return err
			}
			if _, err := st.ExecContext(ctx, args[:k*cols]...); err != nil {
				return err
			}
			args = args[k*cols:]
		}
	}
	return nil
}

// insertStmt is the statement inserting k rows into table tab, prepared on
// first use.
func (w *writeStmts) insertStmt(ctx context.Context, tab, k int) (*sql.Stmt, error) {
	if st := w.inserts[tab][k-1]; st != nil {
		return st, nil
	}
	st, err := w.conn.PrepareContext(ctx, insertSQL(tab, k))
	if err != nil {
		return nil, err
	}
	w.inserts[tab][k-1] = st
	return st, nil
}

// span is what ix_range keeps of the width of [low, high): a power of two
// at least twice the width (the factor absorbs the rounding of high - low),
// 0 for an empty range, +Inf for an infinite one, and -1 when the width
// is negative or not a number (both bounds the same infinity): -1 entries
// are read without any assumption on their width.
func span(low, high float64) float64 {
	w := high - low
	switch {
	case math.IsNaN(w) || w < 0:
		return -1
	case w == 0:
		return 0
	case math.IsInf(w, 1):
		return w
	}
	_, exp := math.Frexp(w) // w <= 2^exp
	return math.Ldexp(1, exp+1)
}
