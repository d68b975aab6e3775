package fhirpath

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// function is a FHIRPath function. call receives the focus the call's term
// started from (ordinary arguments are evaluated on it) and the input
// collection the function is applied to.
type function struct {
	name     string
	min, max int  // argument count
	typeArg  bool // takes one type specifier: as(Quantity)
	call     func(c *evalCtx, focus, in []Node, x *callExpr) ([]Node, error)
}

func (f *function) arity() string {
	switch {
	case f.min == f.max && f.max == 0:
		return "no arguments"
	case f.min == f.max && f.max == 1:
		return "one argument"
	case f.min == f.max:
		return fmt.Sprintf("%d arguments", f.max)
	}
	return fmt.Sprintf("%d to %d arguments", f.min, f.max)
}

// functions are the supported functions, by name.
var functions = map[string]*function{}

func init() {
	for _, f := range []*function{
		{name: "empty", call: func(_ *evalCtx, _, in []Node, _ *callExpr) ([]Node, error) {
			return boolResult(len(in) == 0), nil
		}},
		{name: "exists", max: 1, call: fnExists},
		{name: "all", min: 1, max: 1, call: fnAll},
		{name: "not", call: fnNot},
		{name: "count", call: func(_ *evalCtx, _, in []Node, _ *callExpr) ([]Node, error) {
			return []Node{{Value: json.Number(strconv.Itoa(len(in))), Type: "integer"}}, nil
		}},
		{name: "first", call: func(_ *evalCtx, _, in []Node, _ *callExpr) ([]Node, error) {
			return in[:min(len(in), 1):min(len(in), 1)], nil
		}},
		{name: "last", call: func(_ *evalCtx, _, in []Node, _ *callExpr) ([]Node, error) {
			return in[max(len(in)-1, 0):len(in):len(in)], nil
		}},
		{name: "tail", call: func(_ *evalCtx, _, in []Node, _ *callExpr) ([]Node, error) {
			return in[min(len(in), 1):len(in):len(in)], nil
		}},
		{name: "skip", min: 1, max: 1, call: fnSkipTake},
		{name: "take", min: 1, max: 1, call: fnSkipTake},
		{name: "single", call: func(_ *evalCtx, _, in []Node, _ *callExpr) ([]Node, error) {
			if len(in) > 1 {
				return nil, fmt.Errorf("%d items, want at most one", len(in))
			}
			return in[:len(in):len(in)], nil
		}},
		{name: "distinct", call: func(_ *evalCtx, _, in []Node, _ *callExpr) ([]Node, error) {
			return union(in, nil), nil
		}},
		{name: "where", min: 1, max: 1, call: fnWhere},
		{name: "select", min: 1, max: 1, call: fnSelect},
		{name: "ofType", typeArg: true, min: 1, max: 1, call: fnAs},
		{name: "as", typeArg: true, min: 1, max: 1, call: fnAs},
		{name: "is", typeArg: true, min: 1, max: 1, call: func(_ *evalCtx, _, in []Node, x *callExpr) ([]Node, error) {
			return isNodes(in, x.typ)
		}},
		{name: "resolve", call: func(c *evalCtx, _, in []Node, _ *callExpr) ([]Node, error) {
			return resolve(c.root, in), nil
		}},
		{name: "extension", min: 1, max: 1, call: fnExtension},
		{name: "hasValue", call: fnHasValue},
		{name: "union", min: 1, max: 1, call: fnCombine},
		{name: "combine", min: 1, max: 1, call: fnCombine},
		{name: "startsWith", min: 1, max: 1, call: fnString},
		{name: "endsWith", min: 1, max: 1, call: fnString},
		{name: "contains", min: 1, max: 1, call: fnString},
		{name: "lower", call: fnString},
		{name: "upper", call: fnString},
		{name: "length", call: fnString},
	} {
		functions[f.name] = f
	}
}

// eachItem evaluates a lambda argument once per input item, with the item
// as focus and $this and its position as $index.
func eachItem(c *evalCtx, in []Node, arg expr, do func(i int, r []Node) error) error {
	if len(in) == 0 {
		return nil
	}
	sub := *c
	for i := range in {
		sub.index = i
		r, err := arg.eval(&sub, in[i:i+1:i+1])
		if err != nil {
			return err
		}
		if err := do(i, r); err != nil {
			return err
		}
	}
	return nil
}

func fnWhere(c *evalCtx, _, in []Node, x *callExpr) ([]Node, error) {
	var out []Node
	err := eachItem(c, in, x.args[0], func(i int, r []Node) error {
		v, ok, err := singletonBool(r)
		if ok && v {
			out = append(out, in[i])
		}
		return err
	})
	return out, err
}

func fnSelect(c *evalCtx, _, in []Node, x *callExpr) ([]Node, error) {
	var out []Node
	err := eachItem(c, in, x.args[0], func(_ int, r []Node) error {
		out = append(out, r...)
		return nil
	})
	return out, err
}

func fnExists(c *evalCtx, focus, in []Node, x *callExpr) ([]Node, error) {
	if len(x.args) == 1 {
		var err error
		if in, err = fnWhere(c, focus, in, x); err != nil {
			return nil, err
		}
	}
	return boolResult(len(in) > 0), nil
}

func fnAll(c *evalCtx, _, in []Node, x *callExpr) ([]Node, error) {
	all := true
	err := eachItem(c, in, x.args[0], func(_ int, r []Node) error {
		v, ok, err := singletonBool(r)
		all = all && ok && v
		return err
	})
	if err != nil {
		return nil, err
	}
	return boolResult(all), nil
}

func fnNot(_ *evalCtx, _, in []Node, _ *callExpr) ([]Node, error) {
	v, ok, err := singletonBool(in)
	if err != nil || !ok {
		return nil, err
	}
	return boolResult(!v), nil
}

func fnSkipTake(c *evalCtx, focus, in []Node, x *callExpr) ([]Node, error) {
	arg, err := x.args[0].eval(c, focus)
	if err != nil {
		return nil, err
	}
	n, ok, err := singletonInt(arg)
	if err != nil || !ok {
		return nil, err
	}
	n = max(0, min(n, len(in)))
	if x.fn.name == "skip" {
		return in[n:len(in):len(in)], nil
	}
	return in[:n:n], nil
}

func fnAs(_ *evalCtx, _, in []Node, x *callExpr) ([]Node, error) {
	return asNodes(in, x.typ), nil
}

// fnExtension is extension(url): the extensions of each item with that url.
func fnExtension(c *evalCtx, focus, in []Node, x *callExpr) ([]Node, error) {
	arg, err := x.args[0].eval(c, focus)
	if err != nil {
		return nil, err
	}
	url, ok, err := singletonString(arg)
	if err != nil || !ok {
		return nil, err
	}
	var out []Node
	for _, e := range navigate(in, "extension") {
		if m, ok := e.Value.(map[string]any); ok && m["url"] == url {
			e.Type = "Extension"
			out = append(out, e)
		}
	}
	return out, nil
}

// fnHasValue is true for a single primitive item that has a value.
func fnHasValue(_ *evalCtx, _, in []Node, _ *callExpr) ([]Node, error) {
	if len(in) != 1 {
		return boolResult(false), nil
	}
	switch in[0].Value.(type) {
	case string, bool, json.Number, float64:
		return boolResult(true), nil
	}
	return boolResult(false), nil
}

// fnCombine is union(other), which drops duplicates, and combine(other),
// which keeps them.
func fnCombine(c *evalCtx, focus, in []Node, x *callExpr) ([]Node, error) {
	other, err := x.args[0].eval(c, focus)
	if err != nil {
		return nil, err
	}
	if x.fn.name == "union" {
		return union(in, other), nil
	}
	out := make([]Node, 0, len(in)+len(other))
	return append(append(out, in...), other...), nil
}

// fnString applies the string functions to a single string item.
func fnString(c *evalCtx, focus, in []Node, x *callExpr) ([]Node, error) {
	s, ok, err := singletonString(in)
	if err != nil || !ok {
		return nil, err
	}
	switch x.fn.name {
	case "lower":
		return []Node{{Value: strings.ToLower(s), Type: "string"}}, nil
	case "upper":
		return []Node{{Value: strings.ToUpper(s), Type: "string"}}, nil
	case "length":
		return []Node{{Value: json.Number(strconv.Itoa(utf8.RuneCountInString(s))), Type: "integer"}}, nil
	}
	arg, err := x.args[0].eval(c, focus)
	if err != nil {
		return nil, err
	}
	sub, ok, err := singletonString(arg)
	if err != nil || !ok {
		return nil, err
	}
	switch x.fn.name {
	case "startsWith":
		return boolResult(strings.HasPrefix(s, sub)), nil
	case "endsWith":
		return boolResult(strings.HasSuffix(s, sub)), nil
	}
	return boolResult(strings.Contains(s, sub)), nil
}
