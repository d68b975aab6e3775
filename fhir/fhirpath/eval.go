package fhirpath

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Node is one item of a result collection.
type Node struct {
	Value any    // decoded JSON: map[string]any, string, json.Number, bool (arrays are flattened into several nodes)
	Type  string // FHIR type when known: from a choice element's suffix (valueQuantity → "Quantity", effectivePeriod → "Period"), from `as`/`ofType`, or the resourceType of a resource node; "" when unknown
	Name  string // the element name the node came from ("value" for valueQuantity), "" for the root
}

// Expr is a compiled FHIRPath expression. It is immutable and safe for
// concurrent use.
type Expr struct {
	src  string
	root expr
}

// Compile parses an expression. The error is a *SyntaxError for malformed
// expressions, unknown functions, constants and wrong argument counts.
func Compile(src string) (*Expr, error) {
	x, err := parse(src)
	if err != nil {
		return nil, err
	}
	return &Expr{src: src, root: x}, nil
}

// MustCompile is Compile for expressions known to be valid; it panics on an
// error.
func MustCompile(src string) *Expr {
	e, err := Compile(src)
	if err != nil {
		panic(err)
	}
	return e
}

// String returns the source of the expression.
func (e *Expr) String() string { return e.src }

// Eval evaluates on a resource decoded with encoding/json and UseNumber
// (map[string]any). The resource is the starting point, %resource and
// %context. It never modifies the resource. The error reports an invalid
// operation, such as a boolean operator given several items or a comparison
// between a string and a number.
func (e *Expr) Eval(resource map[string]any) ([]Node, error) {
	root := resourceNode(resource)
	return e.eval(root, root)
}

// EvalAt evaluates with focus as the starting point and %context, and
// resource as %resource (and where resolve() looks for contained
// resources). This is how the components of a composite SearchParameter are
// evaluated on each node its own expression found.
func (e *Expr) EvalAt(resource map[string]any, focus Node) ([]Node, error) {
	return e.eval(resourceNode(resource), focus)
}

func (e *Expr) eval(root, focus Node) ([]Node, error) {
	c := &evalCtx{root: root, context: focus}
	out, err := e.root.eval(c, []Node{focus})
	if err != nil {
		return nil, fmt.Errorf("fhirpath: %s: %w", e.src, err)
	}
	return out, nil
}

func resourceNode(resource map[string]any) Node {
	typ, _ := resource["resourceType"].(string)
	return Node{Value: resource, Type: typ}
}

// evalCtx holds what an expression may refer to besides its input.
type evalCtx struct {
	root    Node // %resource
	context Node // %context
	index   int  // $index inside where(), select() and the like
}

// expr is a node of the syntax tree. eval returns the result for the given
// focus, the collection that terms (names, functions, $this) start from.
// Neither the focus nor a returned slice may be modified; appending to a
// returned slice must reallocate, so results that share storage are capped.
type expr interface {
	eval(c *evalCtx, focus []Node) ([]Node, error)
}

type literal struct{ nodes []Node }

func (l *literal) eval(*evalCtx, []Node) ([]Node, error) {
	return l.nodes[:len(l.nodes):len(l.nodes)], nil
}

type thisExpr struct{}

func (thisExpr) eval(_ *evalCtx, focus []Node) ([]Node, error) {
	return focus[:len(focus):len(focus)], nil
}

type indexVarExpr struct{}

func (indexVarExpr) eval(c *evalCtx, _ []Node) ([]Node, error) {
	return []Node{{Value: json.Number(strconv.Itoa(c.index)), Type: "integer"}}, nil
}

type varExpr struct{ context bool }

func (v varExpr) eval(c *evalCtx, _ []Node) ([]Node, error) {
	if v.context {
		return []Node{c.context}, nil
	}
	return []Node{c.root}, nil
}

// memberExpr navigates to a child element of each item. As the first step of
// a path (term), a name starting with an upper-case letter is a type name: it
// keeps the items of that type (Patient.name on a Patient) rather than
// navigating.
type memberExpr struct {
	target expr // nil for a term
	name   string
	term   bool
}

func (m *memberExpr) eval(c *evalCtx, focus []Node) ([]Node, error) {
	if m.term && m.name[0] >= 'A' && m.name[0] <= 'Z' {
		if len(focus) == 1 { // the usual case, the resource itself
			if isType(focus[0], m.name) {
				return focus[:1:1], nil
			}
			return nil, nil
		}
		var out []Node
		for _, n := range focus {
			if isType(n, m.name) {
				out = append(out, n)
			}
		}
		return out, nil
	}
	in := focus
	if m.target != nil {
		var err error
		if in, err = m.target.eval(c, focus); err != nil {
			return nil, err
		}
	}
	return navigate(in, m.name), nil
}

// navigate returns the elements called name of every object in the input,
// arrays flattened. When an object has no such key, keys name<Type> of a
// choice element are taken instead, typed by their suffix.
func navigate(in []Node, name string) []Node {
	var out []Node
	for _, n := range in {
		m, ok := n.Value.(map[string]any)
		if !ok {
			continue
		}
		if v, ok := m[name]; ok {
			out = appendValue(out, v, name, "")
			continue
		}
		var keys []string
		for k := range m {
			if len(k) > len(name) && strings.HasPrefix(k, name) && choiceTypes[k[len(name):]] != "" {
				keys = append(keys, k)
			}
		}
		if len(keys) > 1 {
			slices.Sort(keys) // only in invalid resources; keep the result stable
		}
		for _, k := range keys {
			out = appendValue(out, m[k], name, choiceTypes[k[len(name):]])
		}
	}
	return out
}

// appendValue adds a decoded JSON value as nodes: arrays flattened, nulls
// dropped, objects with a resourceType typed by it.
func appendValue(out []Node, v any, name, typ string) []Node {
	switch v := v.(type) {
	case nil:
		return out
	case []any:
		for _, e := range v {
			out = appendValue(out, e, name, typ)
		}
		return out
	case map[string]any:
		if rt, ok := v["resourceType"].(string); ok && rt != "" {
			typ = rt
		}
	}
	return append(out, Node{Value: v, Type: typ, Name: name})
}

type callExpr struct {
	target expr // nil when the function starts a term
	fn     *function
	args   []expr
	typ    string // the type argument of as(), is(), ofType()
}

func (x *callExpr) eval(c *evalCtx, focus []Node) ([]Node, error) {
	in := focus
	if x.target != nil {
		var err error
		if in, err = x.target.eval(c, focus); err != nil {
			return nil, err
		}
	}
	out, err := x.fn.call(c, focus, in, x)
	if err != nil {
		return nil, fmt.Errorf("%s(): %w", x.fn.name, err)
	}
	return out, nil
}

type indexExpr struct{ x, index expr }

func (x *indexExpr) eval(c *evalCtx, focus []Node) ([]Node, error) {
	in, err := x.x.eval(c, focus)
	if err != nil {
		return nil, err
	}
	idx, err := x.index.eval(c, focus)
	if err != nil {
		return nil, err
	}
	i, ok, err := singletonInt(idx)
	if err != nil {
		return nil, fmt.Errorf("indexer: %w", err)
	}
	if !ok || i < 0 || i >= len(in) {
		return nil, nil
	}
	return in[i : i+1 : i+1], nil
}

type typeExpr struct {
	is  bool // is, else as
	x   expr
	typ string
}

func (x *typeExpr) eval(c *evalCtx, focus []Node) ([]Node, error) {
	in, err := x.x.eval(c, focus)
	if err != nil {
		return nil, err
	}
	if x.is {
		return isNodes(in, x.typ)
	}
	return asNodes(in, x.typ), nil
}

// isNodes answers `is`: empty for no item, an error for several.
func isNodes(in []Node, typ string) ([]Node, error) {
	switch len(in) {
	case 0:
		return nil, nil
	case 1:
		return boolResult(isType(in[0], typ)), nil
	}
	return nil, fmt.Errorf("is %s: %d items, want at most one", typ, len(in))
}

// asNodes answers `as` and ofType(): the items of the type, typed by it when
// their type was unknown.
func asNodes(in []Node, typ string) []Node {
	var out []Node
	for _, n := range in {
		if isType(n, typ) {
			if n.Type == "" {
				n.Type = fhirTypeName(typ)
			}
			out = append(out, n)
		}
	}
	return out
}

type unaryExpr struct {
	neg bool
	x   expr
}

func (u *unaryExpr) eval(c *evalCtx, focus []Node) ([]Node, error) {
	in, err := u.x.eval(c, focus)
	if err != nil || len(in) == 0 {
		return nil, err
	}
	if len(in) > 1 {
		return nil, fmt.Errorf("unary operator: %d items, want one", len(in))
	}
	if _, ok := toNumber(in[0].Value); !ok {
		return nil, fmt.Errorf("unary operator on %s", kindOf(in[0]))
	}
	if !u.neg {
		return in, nil
	}
	return arithmetic("*", in, []Node{{Value: json.Number("-1"), Type: "integer"}})
}

var (
	trueNodes  = []Node{{Value: true, Type: "boolean"}}
	falseNodes = []Node{{Value: false, Type: "boolean"}}
)

// boolResult returns a shared, capped one-item collection.
func boolResult(b bool) []Node {
	if b {
		return trueNodes[:1:1]
	}
	return falseNodes[:1:1]
}
