package sqlitestore

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// A search is one SELECT. When some criterion can be looked up in an index
// key, one of them drives: its entries are read first (the driver, d, with
// rows (type, id, sure)) and every other criterion is checked for each
// candidate alone through the owner indexes, (type, id, param). Without
// such a criterion resources are read in (type, id) order and checked one
// by one, which stops early under a Limit. Either way the matches are
// sorted and paged by their keys and sort values, and only the resource
// rows of the page are read (see sql). A broad prefix or range alone may
// instead be paged by walking the type in id order (see walk).
//
// The driver is the criterion of lowest rank (identifier tokens, then a
// reference, then an equality, a prefix, ranges, a composite). Between
// prefixes or ranges of the same rank a probe counts how many entries
// each would yield, up to probeLimit, and the smallest drives.
//
// Ranges of one parameter drive together (rangeGroup): a resource matching
// every range clause of the parameter has one entry matching them all
// (sure), unless it has several entries of the parameter (multi), which
// are candidates to check. That is what turns date=ge…&date=lt… into one
// window of the index instead of everything after the start.
type plan struct {
	q     fhir.Query
	conds []*cond
	drv   *driver
	sorts []sortKey
}

// driver yields candidate resources. arms are SELECTs without the SELECT
// keyword, each of type, id and sure; rows with sure set match every cond
// in covers, others must be checked. exact: every row is sure.
type driver struct {
	rank   int
	arms   []*sqlBuf
	covers []int
	exact  bool
	tokens bool // the driver is Query.Tokens
	// grouped: write the arm as a plain subquery, the caller groups it.
	grouped bool
}

const probeLimit = 1000

func (d *driver) sql(b *sqlBuf) {
	if d.grouped {
		b.add("SELECT ").addBuf(d.arms[0])
		return
	}
	if len(d.arms) == 1 {
		b.add("SELECT DISTINCT ").addBuf(d.arms[0])
		return
	}
	b.add("SELECT type, id, max(sure) AS sure FROM (SELECT ").join(d.arms, " UNION ALL SELECT ").add(") GROUP BY type, id")
}

// newPlan compiles q; it may probe the database to choose the driver.
func newPlan(ctx context.Context, db querier, q fhir.Query) (*plan, error) {
	p := &plan{q: q}
	for _, c := range q.Clauses {
		k, err := compile(c)
		if err != nil {
			return nil, err
		}
		p.conds = append(p.conds, k)
	}
	for _, s := range q.Sort {
		k, err := compileSort(s)
		if err != nil {
			return nil, err
		}
		p.sorts = append(p.sorts, k)
	}
	if len(q.IDs) > 0 {
		return p, nil // the primary key of resource drives
	}
	var best []*driver
	for _, d := range p.drivers() {
		switch {
		case len(best) == 0 || d.rank < best[0].rank:
			best = []*driver{d}
		case d.rank == best[0].rank:
			best = append(best, d)
		}
	}
	if len(best) == 0 {
		return p, nil
	}
	p.drv = best[0]
	if len(best) > 1 && best[0].rank >= rankPrefix {
		least := int64(math.MaxInt64)
		for _, d := range best {
			n, err := probe(ctx, db, d, probeLimit)
			if err != nil {
				return nil, err
			}
			if n < least {
				p.drv, least = d, n
			}
		}
	}
	return p, nil
}

// probe counts the rows d yields, up to limit.
func probe(ctx context.Context, db querier, d *driver, limit int64) (int64, error) {
	b := frag("SELECT count(*) FROM (SELECT ").join(d.arms, " UNION ALL SELECT ").add(" LIMIT ?)", limit)
	rows, err := db.QueryContext(ctx, b.text.String(), b.args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
	}
	return n, rows.Err()
}

// drivers lists the criteria that could drive the search.
func (p *plan) drivers() []*driver {
	var out []*driver
	// Without statistics SQLite would rather walk an owner index, (type,
	// id, …), for its order than seek the key the driver is for: unless
	// type belongs to that key, the unary + keeps the filter out of its
	// choice of index.
	typeCond := func(b *sqlBuf, inKey bool) {
		switch {
		case p.q.Type == "":
		case inKey:
			b.add(" AND e.type = ?", p.q.Type)
		default:
			b.add(" AND +e.type = ?", p.q.Type)
		}
	}
	if len(p.q.Tokens) > 0 {
		d := &driver{rank: rankTokens, exact: true, tokens: true}
		for _, t := range p.q.Tokens {
			a := frag("e.type AS type, e.id AS id, 1 AS sure FROM token e WHERE e.param = ? AND e.code = ?", t.Param, t.Code)
			typeCond(a, true)
			if t.System != "" {
				a.add(" AND e.system = ?", t.System)
			}
			d.arms = append(d.arms, a)
		}
		out = append(out, d)
	}
	groups := map[string][]int{} // range conds by param
	var order []string
	for i, c := range p.conds {
		if c.rng {
			if _, ok := groups[c.param]; !ok {
				order = append(order, c.param)
			}
			groups[c.param] = append(groups[c.param], i)
			continue
		}
		if c.rank >= noDrive {
			continue
		}
		d := &driver{rank: c.rank, exact: true, covers: []int{i}}
		for _, arm := range c.arms {
			a := frag("e.type AS type, e.id AS id, 1 AS sure FROM "+c.from+" WHERE e.param = ?"+c.fixed, c.param)
			typeCond(a, c.typeInKey)
			d.arms = append(d.arms, a.add(" AND ").addBuf(or([]*sqlBuf{arm})))
		}
		out = append(out, d)
	}
	for _, param := range order {
		if d := p.rangeGroup(param, groups[param], typeCond); d != nil {
			out = append(out, d)
		}
	}
	return out
}

// rangeGroup drives by the range clauses on one parameter (members, all of
// them); nil when none of them bounds anything.
//
// An entry matching every member has its low end bounded in each span
// class w: low >= max over members of min(lowA, lowB - w), and low <=
// min over members of high. The spans the parameter has are read first,
// each one seek in the key, by a recursive query; then one range of low
// per span. Entries of span -1 (no known width) are read whole.
func (p *plan) rangeGroup(param string, members []int, typeCond func(*sqlBuf, bool)) *driver {
	drives := false
	inf := math.Inf(1)
	upper := inf
	var lower []*sqlBuf
	conj := &sqlBuf{}
	for n, i := range members {
		c := p.conds[i]
		drives = drives || c.rank < noDrive
		upper = min(upper, c.high)
		switch {
		case math.IsInf(c.lowB, 1):
			lower = append(lower, frag("?", c.lowA))
		case math.IsInf(c.lowA, 1):
			lower = append(lower, frag("coalesce(? - s.w, ?)", c.lowB, -inf))
		default:
			lower = append(lower, frag("min(?, coalesce(? - s.w, ?))", c.lowA, c.lowB, -inf))
		}
		if n > 0 {
			conj.add(" AND ")
		}
		conj.addBuf(or(c.arms))
	}
	if !drives {
		return nil
	}
	d := &driver{rank: rankRange, covers: members, exact: len(members) == 1}

	a := frag(`e.type AS type, e.id AS id, 1 AS sure FROM (WITH RECURSIVE spans(w) AS (
		SELECT (SELECT min(span) FROM ix_range WHERE param = ? AND span >= 0)
		UNION ALL
		SELECT (SELECT min(span) FROM ix_range WHERE param = ? AND span > spans.w) FROM spans WHERE spans.w IS NOT NULL)
		SELECT w FROM spans WHERE w IS NOT NULL) s
		CROSS JOIN ix_range e WHERE e.param = ? AND e.span = s.w AND e.low >= `, param, param, param)
	if len(lower) == 1 {
		a.addBuf(lower[0])
	} else {
		a.add("max(").join(lower, ", ").add(")")
	}
	a.add(" AND e.low <= ?", upper)
	typeCond(a, false)
	d.arms = append(d.arms, a.add(" AND ").addBuf(conj))

	a = frag("e.type AS type, e.id AS id, 1 AS sure FROM ix_range e WHERE e.param = ? AND e.span = -1", param)
	typeCond(a, false)
	d.arms = append(d.arms, a.add(" AND ").addBuf(conj))

	if len(members) > 1 {
		// Several entries may match the members between them.
		a = frag("e.type AS type, e.id AS id, 0 AS sure FROM ix_range e WHERE e.param = ? AND e.multi = 1", param)
		typeCond(a, true)
		d.arms = append(d.arms, a)
	}
	return d
}

const resultColumns = `r.type, r.id, r.version, r.last_updated, r.deleted, r.method, r.json`

// sql is the search (count: the number of matches, without paging).
//
// The matches are found, sorted and paged by type and id (and their sort
// values) alone; only the resource rows of the page are then read: sorting
// whole rows, JSON included, would cost more than finding them.
func (p *plan) sql(count bool) *sqlBuf {
	b := &sqlBuf{}
	if count {
		b.add("SELECT count(*) FROM ")
		p.matches(b)
		return b
	}
	k := p.key()
	b.add("SELECT " + resultColumns + " FROM (SELECT " + k + ".type AS type, " + k + ".id AS id")
	for i, s := range p.sorts {
		b.add(", ").addBuf(s.value(k)).add(" AS s" + strconv.Itoa(i))
	}
	b.add(" FROM ")
	q := p.q
	if p.streams() {
		// One index arm, paged in (type, id) order: grouping the arm's rows
		// in the same SELECT lets SQLite walk the index in key order and
		// stop at the page's end instead of collecting every match first.
		// A criterion checked per row is checked per resource all the
		// same: (sure OR check) holds on some row of a resource exactly
		// when (some row is sure) OR check.
		p.drv.grouped = true
		p.matches(b)
		p.drv.grouped = false
		limit := q.Limit
		if limit <= 0 {
			limit = -1
		}
		b.add(" GROUP BY d.type, d.id ORDER BY d.type, d.id LIMIT ? OFFSET ?", limit, max(q.Offset, 0))
		return b.add(") k CROSS JOIN resource r ON r.type = k.type AND r.id = k.id ORDER BY k.type, k.id")
	}
	p.matches(b)
	if q.Limit > 0 || q.Offset > 0 {
		b.add(" ORDER BY " + p.order("", k))
		limit := q.Limit
		if limit <= 0 {
			limit = -1 // SQLite: no limit
		}
		b.add(" LIMIT ? OFFSET ?", limit, max(q.Offset, 0))
	}
	return b.add(") k CROSS JOIN resource r ON r.type = k.type AND r.id = k.id ORDER BY " + p.order("k.", "k"))
}

// streams reports whether a page can be read in index order (see sql):
// one index arm drives, no sort keys, and the search is paged.
func (p *plan) streams() bool {
	return p.drv != nil && !p.drv.tokens && len(p.drv.arms) == 1 && len(p.sorts) == 0 && (p.q.Limit > 0 || p.q.Offset > 0)
}

// key is the alias whose type and id the criteria test: the driver's
// rows, tested before any resource row is read, or resource r.
func (p *plan) key() string {
	if p.drv != nil {
		return "d"
	}
	return "r"
}

// order lists the sort values (named s0, s1 … with prefix), then the type
// and id of alias k.
func (p *plan) order(prefix, k string) string {
	var terms []string
	for i, s := range p.sorts {
		terms = append(terms, s.order(prefix+"s"+strconv.Itoa(i)))
	}
	return strings.Join(append(terms, k+".type", k+".id"), ", ")
}

// matches adds the FROM and WHERE that select the matches of q. Index
// entries exist for current versions that are not deletions only, so
// rows of a driver over them need no resource row.
func (p *plan) matches(b *sqlBuf) {
	q := p.q
	k := p.key()
	switch {
	case p.drv == nil:
		b.add("resource r WHERE r.deleted = 0")
		if q.Type != "" {
			b.add(" AND r.type = ?", q.Type)
		}
	case p.drv.tokens: // tokens are kept as given, also for a deletion
		b.add("(")
		p.drv.sql(b)
		b.add(") d CROSS JOIN resource r ON r.type = d.type AND r.id = d.id WHERE r.deleted = 0")
	default:
		// The driver filters the type itself (and SQLite would push an
		// r.type = ? down into it, through r.type = d.type, as a bare
		// e.type = ?).
		b.add("(")
		p.drv.sql(b)
		b.add(") d WHERE 1")
	}
	p.idsCond(b)
	if len(q.Tokens) > 0 && (p.drv == nil || !p.drv.tokens) {
		b.add(" AND (" + k + ".type, " + k + ".id) IN (SELECT type, id FROM token WHERE ")
		for i, tok := range q.Tokens {
			if i > 0 {
				b.add(" OR ")
			}
			b.add("(param = ? AND code = ?", tok.Param, tok.Code)
			if q.Type != "" {
				b.add(" AND type = ?", q.Type)
			}
			if tok.System != "" {
				b.add(" AND system = ?", tok.System)
			}
			b.add(")")
		}
		b.add(")")
	}
	for i, c := range p.conds {
		switch {
		case p.drv != nil && slices.Contains(p.drv.covers, i) && p.drv.exact:
		case p.drv != nil && slices.Contains(p.drv.covers, i):
			b.add(" AND (d.sure OR ")
			c.exists(b, k)
			b.add(")")
		default:
			b.add(" AND ")
			c.exists(b, k)
		}
	}
}

func (p *plan) idsCond(b *sqlBuf) {
	if len(p.q.IDs) > 0 {
		b.in(" AND r.id", p.q.IDs)
	}
}
