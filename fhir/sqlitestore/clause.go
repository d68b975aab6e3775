package sqlitestore

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// Ranks of a clause as the one that drives a search (its entries are read
// first, the other criteria checked on what they yield): lower is expected
// to match fewer resources.
const (
	rankTokens = iota // Query.Tokens: identifiers
	rankRef           // a reference to one resource
	rankEqual         // a code, an exact string, an identifier
	rankPrefix        // a string or code prefix
	rankRange         // date, number, quantity bounds
	rankComposite
	noDrive // :not, :missing, :contains, ne, a token without code, a bare id: checked per resource
)

// cond is a compiled clause: the entries of one parameter (in one table,
// alias e; a composite joins its parts as e1, e2 …) a resource must have,
// or must not have.
type cond struct {
	from   string // the FROM of the entry lookup
	param  string
	fixed  string    // a structural condition on e, with its leading AND
	arms   []*sqlBuf // alternatives on e (OR); none: any entry of param
	negate bool      // the resource must have no such entry
	rank   int
	// typeInKey: the table's key holds type right after what every arm
	// fixes by equality (param, code; param, pos), so a type filter
	// narrows the key; otherwise it is kept out of SQLite's choice of
	// index (see plan.drivers).
	typeInKey bool
	// byOwner: exists tests a resource with one seek in the table's owner
	// index (type, id, param), which a walk over many resources needs
	// (see walk); other arms may lead SQLite to a range of another index.
	byOwner bool
	// A range clause (date, number, quantity without modifier) also
	// bounds e.low, for a driver over its parameter (see rangeGroup):
	// low >= min(lowA, lowB - span) and low <= high.
	rng        bool
	lowA, lowB float64
	high       float64
}

// exists adds the test for one resource, the type and id of alias k:
// [NOT] EXISTS (…).
func (c *cond) exists(b *sqlBuf, k string) {
	if c.negate {
		b.add("NOT ")
	}
	b.add("EXISTS (SELECT 1 FROM " + c.from + " WHERE e.type = " + k + ".type AND e.id = " + k + ".id AND e.param = ?" + c.fixed)
	b.args = append(b.args, c.param)
	if len(c.arms) > 0 {
		b.add(" AND ").addBuf(or(c.arms))
	}
	b.add(")")
}

// notSupported is a search the store cannot run: a bad request (400), as
// the search parser answers it, not the 405 of the code alone.
func notSupported(format string, args ...any) *fhir.Error {
	e := fhir.Errorf(fhir.CodeNotSupported, format, args...)
	e.Status = 400
	return e
}

func unsupported(c fhir.Clause) error {
	return notSupported("modifier :%s is not supported on %s parameter %s", c.Modifier, c.Type, c.Param)
}

// compile turns a clause into a cond, or answers why it cannot be run.
func compile(c fhir.Clause) (*cond, error) {
	if c.Param == "" {
		return nil, fhir.Errorf(fhir.CodeInvalid, "search clause without a parameter")
	}
	tab, ok := tableFor(c.Param, c.Type)
	if !ok || c.Type == fhir.TypeSpecial && c.Missing == nil {
		return nil, notSupported("search parameter %s of type %q is not supported", c.Param, c.Type)
	}
	k := &cond{from: indexTables[tab].name + " e", param: c.Param, rank: noDrive}
	if c.Missing != nil {
		k.negate = *c.Missing
		return k, nil
	}
	if len(c.Values) == 0 {
		return nil, fhir.Errorf(fhir.CodeInvalid, "search parameter %s has no value", c.Param)
	}
	var err error
	switch c.Type {
	case fhir.TypeString:
		err = k.stringArms(c)
	case fhir.TypeToken:
		err = k.tokenArms(c)
	case fhir.TypeReference:
		err = k.referenceArms(c)
	case fhir.TypeURI:
		err = k.uriArms(c)
	case fhir.TypeDate, fhir.TypeNumber, fhir.TypeQuantity:
		err = k.rangeArms(c)
	case fhir.TypeComposite:
		err = k.compositeArms(c)
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// prefixArm: col starts with v. Text is UTF-8, in which the byte 0xFF never
// occurs, so every string with prefix v lies in [v, v+"\xff").
func prefixArm(col, v string) *sqlBuf {
	return frag(col+" >= ? AND "+col+" < ?", v, v+"\xff")
}

func (k *cond) stringArms(c fhir.Clause) error {
	for _, v := range c.Values {
		switch c.Modifier {
		case "":
			k.arms = append(k.arms, prefixArm("e.text", v.Code))
			k.rank, k.byOwner = rankPrefix, true
		case "exact":
			k.arms = append(k.arms, frag("e.code = ?", v.Code))
			k.rank = rankEqual
		case "contains":
			// No index helps: every entry of the parameter of each
			// candidate resource is read (see doc.go).
			k.arms = append(k.arms, frag("instr(e.text, ?) > 0", v.Code))
		default:
			return unsupported(c)
		}
	}
	return nil
}

// tokenArm: (v.AnySystem or system = v.System) and (v.Code == "" or code =
// v.Code), on alias a.
func tokenArm(a string, v fhir.Value) *sqlBuf {
	var conds []string
	var args []any
	if !v.AnySystem {
		conds = append(conds, a+".system = ?")
		args = append(args, v.System)
	}
	if v.Code != "" {
		conds = append(conds, a+".code = ?")
		args = append(args, v.Code)
	}
	if len(conds) == 0 {
		return frag("1")
	}
	return frag(strings.Join(conds, " AND "), args...)
}

func (k *cond) tokenArms(c fhir.Clause) error {
	k.rank = rankEqual
	k.typeInKey = c.Modifier != "text"
	for _, v := range c.Values {
		switch c.Modifier {
		case "", "not":
			k.arms = append(k.arms, tokenArm("e", v))
			if v.Code == "" {
				k.rank = noDrive
			}
		case "text":
			k.rank = rankPrefix
			if v.Code == "" {
				k.arms = append(k.arms, frag("1"))
				continue
			}
			// text <> '' lets SQLite use the partial index ix_code_text.
			k.arms = append(k.arms, frag("e.text <> '' AND ").addBuf(prefixArm("e.text", v.Code)))
		case "of-type":
			k.param = c.Param + ofTypeSuffix
			k.arms = append(k.arms, frag("e.system = ? AND e.code = ? AND e.text = ?", v.System, v.Code, v.Text))
		default:
			return unsupported(c)
		}
	}
	if c.Modifier == "not" {
		k.negate, k.rank = true, noDrive
	}
	return nil
}

func (k *cond) referenceArms(c fhir.Clause) error {
	switch c.Modifier {
	case "":
		k.rank, k.typeInKey = rankRef, true
		for _, v := range c.Values {
			k.arms = append(k.arms, referenceArm("e", v))
			if v.AnySystem {
				k.rank = noDrive // no key holds the id alone
			}
		}
	case "identifier":
		// The identifier's value is the entry's Text (see fhir.IndexEntry),
		// matched as a token's code.
		k.param, k.rank = c.Param+identifierSuffix, rankEqual
		for _, v := range c.Values {
			var conds []string
			var args []any
			if !v.AnySystem {
				conds = append(conds, "e.system = ?")
				args = append(args, v.System)
			}
			if v.Code != "" {
				conds = append(conds, "e.text <> '' AND e.text = ?")
				args = append(args, v.Code)
			} else {
				k.rank = noDrive
			}
			if len(conds) == 0 {
				conds = append(conds, "1")
			}
			k.arms = append(k.arms, frag(strings.Join(conds, " AND "), args...))
		}
	default:
		return unsupported(c)
	}
	return nil
}

// referenceArm: code = v.Code; a bare id on a parameter that may refer to
// any type (v.AnySystem, see search.Match) matches a reference to this
// server, System "Type", whatever its type: code = system || '/' || id.
func referenceArm(a string, v fhir.Value) *sqlBuf {
	if v.AnySystem {
		return frag(a+".system <> '' AND "+a+".code = "+a+".system || '/' || ?", v.Code)
	}
	return frag(a+".code = ?", v.Code)
}

func (k *cond) uriArms(c fhir.Clause) error {
	for _, v := range c.Values {
		switch c.Modifier {
		case "":
			k.arms = append(k.arms, frag("e.code = ?", v.Code))
			k.rank, k.typeInKey = rankEqual, true
		case "below":
			k.arms = append(k.arms, prefixArm("e.code", v.Code))
			k.rank = rankPrefix
		case "above":
			// v starts with the entry's code: the code is one of v's
			// prefixes, each looked up in the key.
			list, err := json.Marshal(prefixes(v.Code))
			if err != nil {
				return err
			}
			k.arms = append(k.arms, frag("e.code IN (SELECT value FROM json_each(?))", string(list)))
			k.rank = rankEqual
		default:
			return unsupported(c)
		}
	}
	return nil
}

// prefixes lists the prefixes of s that end on a character boundary,
// s included and "" too.
func prefixes(s string) []string {
	out := []string{""}
	for i := range s {
		if i > 0 {
			out = append(out, s[:i])
		}
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// rangeArm is the test of prefix p between the range [a.low, a.high) and
// [lo, hi) widened by approx (ap); one fragment per alternative of the
// rule, so that each can drive an index scan on its own.
func rangeArm(a, p string, lo, hi, approx float64) ([]*sqlBuf, error) {
	l, h := a+".low", a+".high"
	eq := func() *sqlBuf { return frag(l+" >= ? AND "+h+" <= ?", lo, hi) }
	switch p {
	case "", "eq":
		return []*sqlBuf{eq()}, nil
	case "ne":
		return []*sqlBuf{frag("NOT ("+l+" >= ? AND "+h+" <= ?)", lo, hi)}, nil
	case "gt":
		return []*sqlBuf{frag(h+" > ?", hi)}, nil
	case "lt":
		return []*sqlBuf{frag(l+" < ?", lo)}, nil
	case "ge":
		return []*sqlBuf{frag(h+" > ?", hi), eq()}, nil
	case "le":
		return []*sqlBuf{frag(l+" < ?", lo), eq()}, nil
	case "sa":
		return []*sqlBuf{frag(l+" >= ?", hi)}, nil
	case "eb":
		return []*sqlBuf{frag(h+" <= ?", lo)}, nil
	case "ap":
		return []*sqlBuf{frag(l+" < ? AND "+h+" > ?", hi+approx, lo-approx)}, nil
	}
	return nil, fhir.Errorf(fhir.CodeInvalid, "unknown search prefix %q", p)
}

// unitArm: a quantity value with a unit (a code) also needs the entry's
// code and, when the value names a system, that system too.
func unitArm(a string, v fhir.Value) string {
	switch {
	case v.Code == "":
		return ""
	case v.System == "":
		return " AND " + a + ".code = ?"
	}
	return " AND " + a + ".code = ? AND " + a + ".system = ?"
}

func unitArgs(v fhir.Value) []any {
	switch {
	case v.Code == "":
		return nil
	case v.System == "":
		return []any{v.Code}
	}
	return []any{v.Code, v.System}
}

func (k *cond) rangeArms(c fhir.Clause) error {
	if c.Modifier != "" {
		return unsupported(c)
	}
	k.rng, k.rank, k.byOwner = true, rankRange, true
	inf := math.Inf(1)
	k.lowA, k.lowB, k.high = inf, inf, math.Inf(-1)
	for _, v := range c.Values {
		arms, err := rangeArm("e", v.Prefix, v.Low, v.High, v.Approx)
		if err != nil {
			return err
		}
		if c.Type == fhir.TypeQuantity {
			unit, args := unitArm("e", v), unitArgs(v)
			for _, a := range arms {
				a.add(unit, args...)
			}
		}
		k.arms = append(k.arms, arms...)
		a, b, h := rangeBounds(v)
		k.lowA, k.lowB, k.high = min(k.lowA, a), min(k.lowB, b), max(k.high, h)
	}
	if math.IsInf(k.lowA, -1) && math.IsInf(k.high, 1) {
		k.rank = noDrive // ne, or bounds that exclude nothing
	}
	return nil
}

// rangeBounds bounds the low end of an entry [low, high) that matches v
// under its prefix, given that high - low <= span (see rangeGroup):
// low >= min(a, b - span) and low <= h. They hold for every entry with
// low <= high; ±Inf means no bound.
func rangeBounds(v fhir.Value) (a, b, h float64) {
	inf := math.Inf(1)
	switch v.Prefix {
	case "", "eq":
		return v.Low, inf, v.High
	case "gt":
		return inf, v.High, inf
	case "lt":
		return -inf, inf, v.Low
	case "ge":
		return v.Low, v.High, inf
	case "le":
		return -inf, inf, max(v.Low, v.High)
	case "sa":
		return v.High, inf, inf
	case "eb":
		return -inf, inf, v.Low
	case "ap":
		return inf, v.Low - v.Approx, v.High + v.Approx
	}
	return -inf, inf, inf // ne
}

// compositeArms: an entry whose parts each match the value's parts, in
// order, and which has as many parts as the value. Each part is matched by
// the rule of its own kind, stored beside it.
func (k *cond) compositeArms(c fhir.Clause) error {
	if c.Modifier != "" {
		return unsupported(c)
	}
	k.rank, k.typeInKey = rankComposite, true
	k.fixed = " AND e.pos = 0"
	parts := 0
	for _, v := range c.Values {
		if len(v.Parts) == 0 {
			return fhir.Errorf(fhir.CodeInvalid, "composite search parameter %s has a value without parts", c.Param)
		}
		parts = max(parts, len(v.Parts))
		arm := frag("e.nparts = ?", len(v.Parts))
		for i, p := range v.Parts {
			pa, err := partArm(partAlias(i), p)
			if err != nil {
				return err
			}
			arm.add(" AND ").addBuf(pa)
		}
		k.arms = append(k.arms, arm)
	}
	var from strings.Builder
	comp := indexTables[tabComp].name
	from.WriteString(comp + " e")
	for i := 1; i < parts; i++ {
		a := partAlias(i)
		from.WriteString(" LEFT JOIN " + comp + " " + a + " ON " + a + ".param = e.param AND " + a + ".pos = " +
			strconv.Itoa(i) + " AND " + a + ".type = e.type AND " + a + ".id = e.id AND " + a + ".n = e.n")
	}
	k.from = from.String()
	return nil
}

func partAlias(i int) string {
	if i == 0 {
		return "e"
	}
	return "e" + strconv.Itoa(i)
}

// partArm matches one part, whatever its kind: each alternative is
// guarded by the kind it applies to.
func partArm(a string, v fhir.Value) (*sqlBuf, error) {
	b := frag("(("+a+".kind = ? AND ", fhir.TypeString).addBuf(prefixArm(a+".text", v.Code))
	b.add(") OR ("+a+".kind = ? AND ", fhir.TypeToken).addBuf(tokenArm(a, v))
	b.add(") OR ("+a+".kind = ? AND ", fhir.TypeReference).addBuf(referenceArm(a, v))
	b.add(") OR ("+a+".kind = ? AND "+a+".code = ?", fhir.TypeURI, v.Code)
	arms, err := rangeArm(a, v.Prefix, v.Low, v.High, v.Approx)
	if err != nil {
		return nil, err
	}
	b.add(") OR ("+a+".kind IN (?, ?) AND ", fhir.TypeDate, fhir.TypeNumber).addBuf(or(arms))
	b.add(") OR ("+a+".kind = ? AND ", fhir.TypeQuantity).addBuf(or(arms)).add(unitArm(a, v), unitArgs(v)...)
	return b.add("))"), nil
}
