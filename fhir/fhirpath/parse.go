package fhirpath

import (
	"encoding/json"
	"strings"
)

// maxDepth bounds the nesting of an expression so that a hostile one cannot
// exhaust the stack while it is parsed or evaluated.
const maxDepth = 200

type parser struct {
	toks  []token
	pos   int
	depth int
}

// parse turns an expression into its syntax tree.
func parse(src string) (expr, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	x, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, syntaxErr(t.pos, "unexpected %v", t)
	}
	return x, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) isPunct(s string) bool {
	t := p.peek()
	return t.kind == tPunct && t.text == s
}

func (p *parser) expect(s string) error {
	if !p.isPunct(s) {
		t := p.peek()
		return syntaxErr(t.pos, "expected %q, found %v", s, t)
	}
	p.next()
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return syntaxErr(p.peek().pos, "expression nested too deeply")
	}
	return nil
}

// Operator precedence, from the loosest to the tightest binding, as the
// FHIRPath grammar orders them.
const (
	precImplies = 1 + iota
	precOr
	precAnd
	precMembership
	precEquality
	precComparison
	precUnion
	precType
	precAdditive
	precMultiplicative
)

var binaryOps = map[string]int{
	"implies": precImplies,
	"or":      precOr, "xor": precOr,
	"and": precAnd,
	"in":  precMembership, "contains": precMembership,
	"=": precEquality, "!=": precEquality, "~": precEquality, "!~": precEquality,
	"<": precComparison, "<=": precComparison, ">": precComparison, ">=": precComparison,
	"|":  precUnion,
	"is": precType, "as": precType,
	"+": precAdditive, "-": precAdditive, "&": precAdditive,
	"*": precMultiplicative, "/": precMultiplicative, "div": precMultiplicative, "mod": precMultiplicative,
}

// expr parses a binary expression whose operators bind at least as tightly
// as minPrec; all binary operators are left-associative.
func (p *parser) expr(minPrec int) (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		prec := 0
		if t.kind == tPunct || t.kind == tWord {
			prec = binaryOps[t.text]
		}
		if prec == 0 || prec < minPrec {
			return left, nil
		}
		p.next()
		if prec == precType {
			typ, err := p.typeSpec()
			if err != nil {
				return nil, err
			}
			left = &typeExpr{is: t.text == "is", x: left, typ: typ}
			continue
		}
		right, err := p.expr(prec + 1)
		if err != nil {
			return nil, err
		}
		left = &binaryExpr{op: t.text, l: left, r: right}
	}
}

func (p *parser) unary() (expr, error) {
	if p.isPunct("+") || p.isPunct("-") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		op := p.next().text
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		if lit, ok := x.(*literal); ok && op == "-" && len(lit.nodes) == 1 {
			if n, ok := lit.nodes[0].Value.(json.Number); ok && !strings.HasPrefix(string(n), "-") {
				return numberLiteral("-" + string(n)), nil
			}
		}
		return &unaryExpr{neg: op == "-", x: x}, nil
	}
	return p.postfix()
}

func (p *parser) postfix() (expr, error) {
	x, err := p.term()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isPunct("."):
			p.next()
			if x, err = p.invocation(x); err != nil {
				return nil, err
			}
		case p.isPunct("["):
			p.next()
			idx, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			x = &indexExpr{x: x, index: idx}
		default:
			return x, nil
		}
	}
}

// invocation parses what follows a dot: a member name, a function call or
// $this.
func (p *parser) invocation(target expr) (expr, error) {
	t := p.next()
	switch t.kind {
	case tWord, tDelim:
		if t.kind == tWord && p.isPunct("(") {
			return p.call(target, t)
		}
		return &memberExpr{target: target, name: t.text}, nil
	case tSpecial:
		if t.text == "this" {
			return target, nil
		}
	}
	return nil, syntaxErr(t.pos, "expected a name after '.', found %v", t)
}

var quantityUnits = map[string]bool{
	"year": true, "years": true, "month": true, "months": true, "week": true, "weeks": true,
	"day": true, "days": true, "hour": true, "hours": true, "minute": true, "minutes": true,
	"second": true, "seconds": true, "millisecond": true, "milliseconds": true,
}

func (p *parser) term() (expr, error) {
	t := p.next()
	switch t.kind {
	case tPunct:
		switch t.text {
		case "(":
			x, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			return x, p.expect(")")
		case "{":
			return &literal{}, p.expect("}")
		}
	case tString:
		return &literal{nodes: []Node{{Value: t.text, Type: "string"}}}, nil
	case tNumber:
		if n := p.peek(); n.kind == tString || n.kind == tWord && quantityUnits[n.text] {
			return nil, syntaxErr(t.pos, "quantity literals are not supported")
		}
		return numberLiteral(t.text), nil
	case tDateTime:
		typ := "date"
		if strings.HasPrefix(t.text, "T") {
			typ = "time"
		} else if strings.Contains(t.text, "T") {
			typ = "dateTime"
		}
		return &literal{nodes: []Node{{Value: strings.TrimPrefix(t.text, "T"), Type: typ}}}, nil
	case tWord, tDelim:
		if t.kind == tWord && (t.text == "true" || t.text == "false") {
			return &literal{nodes: []Node{{Value: t.text == "true", Type: "boolean"}}}, nil
		}
		if t.kind == tWord && p.isPunct("(") {
			return p.call(nil, t)
		}
		return &memberExpr{name: t.text, term: true}, nil
	case tConst:
		return constant(t)
	case tSpecial:
		switch t.text {
		case "this":
			return thisExpr{}, nil
		case "index":
			return indexVarExpr{}, nil
		case "total":
			return nil, syntaxErr(t.pos, "$total is not supported")
		}
		return nil, syntaxErr(t.pos, "unknown variable %v", t)
	}
	return nil, syntaxErr(t.pos, "unexpected %v", t)
}

func numberLiteral(text string) *literal {
	typ := "integer"
	if strings.Contains(text, ".") {
		typ = "decimal"
	}
	return &literal{nodes: []Node{{Value: json.Number(text), Type: typ}}}
}

// constant resolves an external constant: the resource variables are bound
// at evaluation, the well-known code system URLs now.
func constant(t token) (expr, error) {
	switch t.text {
	case "resource", "rootResource":
		return varExpr{context: false}, nil
	case "context":
		return varExpr{context: true}, nil
	case "ucum":
		return stringLiteral("http://unitsofmeasure.org"), nil
	case "sct":
		return stringLiteral("http://snomed.info/sct"), nil
	case "loinc":
		return stringLiteral("http://loinc.org"), nil
	}
	return nil, syntaxErr(t.pos, "unknown constant %v", t)
}

func stringLiteral(s string) *literal {
	return &literal{nodes: []Node{{Value: s, Type: "string"}}}
}

// typeSpec parses a possibly qualified type name: Quantity, FHIR.Quantity,
// System.String.
func (p *parser) typeSpec() (string, error) {
	t := p.next()
	if t.kind != tWord && t.kind != tDelim {
		return "", syntaxErr(t.pos, "expected a type name, found %v", t)
	}
	name := t.text
	for p.isPunct(".") {
		if n := p.toks[p.pos+1]; n.kind != tWord && n.kind != tDelim {
			break
		}
		p.next()
		name += "." + p.next().text
	}
	return name, nil
}

// call parses the argument list of a function named by t.
func (p *parser) call(target expr, t token) (expr, error) {
	fn := functions[t.text]
	if fn == nil {
		return nil, syntaxErr(t.pos, "unknown function %s()", t.text)
	}
	if err := p.expect("("); err != nil {
		return nil, err
	}
	c := &callExpr{target: target, fn: fn}
	if fn.typeArg {
		typ, err := p.typeSpec()
		if err != nil {
			return nil, err
		}
		c.typ = typ
		return c, p.expect(")")
	}
	for !p.isPunct(")") {
		arg, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		c.args = append(c.args, arg)
		if !p.isPunct(",") {
			break
		}
		p.next()
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	if len(c.args) < fn.min || len(c.args) > fn.max {
		return nil, syntaxErr(t.pos, "%s() takes %s", t.text, fn.arity())
	}
	return c, nil
}
