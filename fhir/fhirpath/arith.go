package fhirpath

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// arithmetic applies + - * / div mod and & to single items: integers stay
// integers (except under /), other numbers are decimals, + and & join
// strings. Division by zero and overflow give empty.
func arithmetic(op string, l, r []Node) ([]Node, error) {
	if len(l) > 1 || len(r) > 1 {
		return nil, fmt.Errorf("%s: %d and %d items, want one each", op, len(l), len(r))
	}
	if op == "&" {
		var s [2]string
		for i, in := range [2][]Node{l, r} {
			if len(in) == 0 {
				continue
			}
			v, ok := in[0].Value.(string)
			if !ok {
				return nil, fmt.Errorf("&: %s is not a string", kindOf(in[0]))
			}
			s[i] = v
		}
		return []Node{{Value: s[0] + s[1], Type: "string"}}, nil
	}
	if len(l) == 0 || len(r) == 0 {
		return nil, nil
	}
	a, b := l[0], r[0]
	if x, ok := a.Value.(string); ok && op == "+" {
		if y, ok := b.Value.(string); ok {
			return []Node{{Value: x + y, Type: "string"}}, nil
		}
	}
	x, ok1 := toNumber(a.Value)
	y, ok2 := toNumber(b.Value)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%s: cannot apply to %s and %s", op, kindOf(a), kindOf(b))
	}
	if isType(a, "Integer") && isType(b, "Integer") && op != "/" {
		i, iok := toInt(a.Value)
		j, jok := toInt(b.Value)
		if iok && jok {
			return intArithmetic(op, i, j), nil
		}
	}
	var f float64
	switch op {
	case "+":
		f = x + y
	case "-":
		f = x - y
	case "*":
		f = x * y
	case "/":
		if y == 0 {
			return nil, nil
		}
		f = x / y
	case "div":
		if y == 0 {
			return nil, nil
		}
		f = math.Trunc(x / y)
		if math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > 1<<53 {
			return nil, nil
		}
		return []Node{{Value: json.Number(strconv.FormatFloat(f, 'f', -1, 64)), Type: "integer"}}, nil
	case "mod":
		if y == 0 {
			return nil, nil
		}
		f = math.Mod(x, y)
	default:
		return nil, fmt.Errorf("unknown operator %s", op)
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, nil
	}
	return []Node{{Value: json.Number(strconv.FormatFloat(f, 'f', -1, 64)), Type: "decimal"}}, nil
}

func toInt(v any) (int64, bool) {
	switch v := v.(type) {
	case json.Number:
		i, err := strconv.ParseInt(string(v), 10, 64)
		return i, err == nil
	case int:
		return int64(v), true
	case int64:
		return v, true
	}
	return 0, false
}

// intArithmetic applies an integer operator; overflow and division by zero
// give empty.
func intArithmetic(op string, i, j int64) []Node {
	var k int64
	switch op {
	case "+":
		k = i + j
		if (i > 0 && j > 0 && k < 0) || (i < 0 && j < 0 && k >= 0) {
			return nil
		}
	case "-":
		k = i - j
		if (i >= 0 && j < 0 && k < 0) || (i < 0 && j > 0 && k >= 0) {
			return nil
		}
	case "*":
		if i != 0 && j != 0 {
			k = i * j
			if k/j != i || (i == -1 && j == math.MinInt64) || (j == -1 && i == math.MinInt64) {
				return nil
			}
		}
	case "div", "mod":
		if j == 0 || (i == math.MinInt64 && j == -1) {
			return nil
		}
		if op == "div" {
			k = i / j
		} else {
			k = i % j
		}
	}
	return []Node{{Value: json.Number(strconv.FormatInt(k, 10)), Type: "integer"}}
}
