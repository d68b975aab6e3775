package fhirpath

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

type binaryExpr struct {
	op   string
	l, r expr
}

func (b *binaryExpr) eval(c *evalCtx, focus []Node) ([]Node, error) {
	l, err := b.l.eval(c, focus)
	if err != nil {
		return nil, err
	}
	switch b.op {
	case "and", "or", "implies":
		// Short-circuit where the left side decides the answer.
		lv, lok, err := singletonBool(l)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.op, err)
		}
		if lok && (b.op == "and" && !lv || b.op == "or" && lv || b.op == "implies" && !lv) {
			return boolResult(b.op != "and"), nil
		}
	}
	r, err := b.r.eval(c, focus)
	if err != nil {
		return nil, err
	}
	switch b.op {
	case "|":
		return union(l, r), nil
	case "=", "!=":
		if len(l) == 0 || len(r) == 0 {
			return nil, nil
		}
		return boolResult(collectionsEqual(l, r) == (b.op == "=")), nil
	case "~", "!~":
		return boolResult(collectionsEquivalent(l, r) == (b.op == "~")), nil
	case "<", "<=", ">", ">=":
		return compareOp(b.op, l, r)
	case "in", "contains":
		if b.op == "contains" {
			l, r = r, l
		}
		switch len(l) {
		case 0:
			return nil, nil
		case 1:
			return boolResult(containsEqual(r, l[0])), nil
		}
		return nil, fmt.Errorf("%s: %d items on the element side, want one", b.op, len(l))
	case "and", "or", "xor", "implies":
		return logic(b.op, l, r)
	}
	return arithmetic(b.op, l, r)
}

// logic applies the three-valued boolean operators; the left side has
// already been found not to decide the answer alone.
func logic(op string, l, r []Node) ([]Node, error) {
	lv, lok, err := singletonBool(l)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	rv, rok, err := singletonBool(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	switch op {
	case "and":
		if rok && !rv {
			return boolResult(false), nil
		}
		if lok && rok {
			return boolResult(true), nil
		}
	case "or":
		if rok && rv {
			return boolResult(true), nil
		}
		if lok && rok {
			return boolResult(false), nil
		}
	case "xor":
		if lok && rok {
			return boolResult(lv != rv), nil
		}
	case "implies":
		if rok && rv || lok && rok {
			return boolResult(rv), nil
		}
	}
	return nil, nil
}

// singletonBool converts a collection where a boolean is expected: empty is
// unknown (ok false), one boolean is itself, any other single item is true,
// several items are an error.
func singletonBool(in []Node) (v, ok bool, err error) {
	switch len(in) {
	case 0:
		return false, false, nil
	case 1:
		if b, isBool := in[0].Value.(bool); isBool {
			return b, true, nil
		}
		return true, true, nil
	}
	return false, false, fmt.Errorf("%d items where one boolean is expected", len(in))
}

// singletonInt converts a collection where an integer is expected.
func singletonInt(in []Node) (int, bool, error) {
	switch len(in) {
	case 0:
		return 0, false, nil
	case 1:
		if f, ok := toNumber(in[0].Value); ok && f == math.Trunc(f) && math.Abs(f) < 1<<31 {
			return int(f), true, nil
		}
		return 0, false, fmt.Errorf("%s where an integer is expected", kindOf(in[0]))
	}
	return 0, false, fmt.Errorf("%d items where one integer is expected", len(in))
}

// singletonString converts a collection where a string is expected.
func singletonString(in []Node) (string, bool, error) {
	switch len(in) {
	case 0:
		return "", false, nil
	case 1:
		if s, ok := in[0].Value.(string); ok {
			return s, true, nil
		}
		return "", false, fmt.Errorf("%s where a string is expected", kindOf(in[0]))
	}
	return "", false, fmt.Errorf("%d items where one string is expected", len(in))
}

// toNumber returns a JSON number as a float64.
func toNumber(v any) (float64, bool) {
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		return f, err == nil || isRangeErr(err)
	case float64:
		return v, true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	}
	return 0, false
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// valuesEqual is FHIRPath equality of two decoded JSON values: strings,
// booleans and numbers by value, objects and arrays member by member.
func valuesEqual(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		if reflect.ValueOf(x).UnsafePointer() == reflect.ValueOf(y).UnsafePointer() {
			return true
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !valuesEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !valuesEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case nil:
		return b == nil
	}
	if xs, ok := a.(json.Number); ok {
		if ys, ok := b.(json.Number); ok && xs == ys {
			return true
		}
	}
	x, ok1 := toNumber(a)
	y, ok2 := toNumber(b)
	return ok1 && ok2 && x == y
}

// collectionsEqual compares two non-empty collections item by item, in
// order.
func collectionsEqual(l, r []Node) bool {
	if len(l) != len(r) {
		return false
	}
	for i := range l {
		if !valuesEqual(l[i].Value, r[i].Value) {
			return false
		}
	}
	return true
}

// collectionsEquivalent is `~`: both empty is true; otherwise every item
// must have an equivalent in the other collection, in any order.
func collectionsEquivalent(l, r []Node) bool {
	if len(l) != len(r) {
		return false
	}
	used := make([]bool, len(r))
outer:
	for _, a := range l {
		for j, b := range r {
			if !used[j] && valuesEquivalent(a.Value, b.Value) {
				used[j] = true
				continue outer
			}
		}
		return false
	}
	return true
}

// valuesEquivalent is equality ignoring case and differences of white space
// in strings.
func valuesEquivalent(a, b any) bool {
	x, ok1 := a.(string)
	y, ok2 := b.(string)
	if ok1 && ok2 {
		return strings.EqualFold(strings.Join(strings.Fields(x), " "), strings.Join(strings.Fields(y), " "))
	}
	mx, ok1 := a.(map[string]any)
	my, ok2 := b.(map[string]any)
	if ok1 && ok2 {
		if len(mx) != len(my) {
			return false
		}
		for k, v := range mx {
			if w, ok := my[k]; !ok || !valuesEquivalent(v, w) {
				return false
			}
		}
		return true
	}
	return valuesEqual(a, b)
}

func containsEqual(in []Node, n Node) bool {
	for _, m := range in {
		if valuesEqual(m.Value, n.Value) {
			return true
		}
	}
	return false
}

// union merges two collections, dropping items equal to one already taken.
func union(l, r []Node) []Node {
	switch {
	case len(r) == 0 && len(l) <= 1:
		return l
	case len(l) == 0 && len(r) <= 1:
		return r
	}
	out := make([]Node, 0, len(l)+len(r))
	for _, in := range [2][]Node{l, r} {
		for _, n := range in {
			if !containsEqual(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// compareOp orders two single items: numbers by value, strings (and so
// dates and times) by their text. Dates of different precision where one is
// a prefix of the other are not ordered and give empty.
func compareOp(op string, l, r []Node) ([]Node, error) {
	if len(l) == 0 || len(r) == 0 {
		return nil, nil
	}
	if len(l) > 1 || len(r) > 1 {
		return nil, fmt.Errorf("%s: %d and %d items, want one each", op, len(l), len(r))
	}
	var cmp int
	if x, ok := toNumber(l[0].Value); ok {
		y, ok := toNumber(r[0].Value)
		if !ok {
			return nil, fmt.Errorf("%s: cannot compare %s with %s", op, kindOf(l[0]), kindOf(r[0]))
		}
		cmp = compareFloats(x, y)
	} else {
		x, ok1 := l[0].Value.(string)
		y, ok2 := r[0].Value.(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%s: cannot compare %s with %s", op, kindOf(l[0]), kindOf(r[0]))
		}
		n := min(len(x), len(y))
		cmp = strings.Compare(x[:n], y[:n])
		if cmp == 0 && len(x) != len(y) {
			if isTemporal(l[0]) || isTemporal(r[0]) {
				return nil, nil
			}
			cmp = compareFloats(float64(len(x)), float64(len(y)))
		}
	}
	switch op {
	case "<":
		return boolResult(cmp < 0), nil
	case "<=":
		return boolResult(cmp <= 0), nil
	case ">":
		return boolResult(cmp > 0), nil
	}
	return boolResult(cmp >= 0), nil
}

func compareFloats(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func isTemporal(n Node) bool {
	switch n.Type {
	case "date", "dateTime", "instant", "time":
		return true
	}
	return false
}
