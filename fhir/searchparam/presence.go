package searchparam

import "strings"

// A parameter whose expression is a union of plain paths from the resource
// (Observation.code, (Observation.value as Quantity),
// Observation.subject.where(resolve() is Patient)) selects nothing from a
// resource that lacks the first element of every path. Extract checks that
// first, from the resource's top-level names, before evaluating: most of a
// type's parameters concern elements a given resource does not have.

// firstSteps returns the first element name of each branch of expr after
// its root type ("value" for "(Observation.value as Quantity)"), or nil when
// some branch is not a plain path, which must then always be evaluated:
// one that stops at the root, or uses an operator or a function (exists(),
// empty(), not()…) that gives a value even from nothing.
func firstSteps(expr string) []string {
	branches := splitUnion(expr)
	if branches == nil {
		return nil
	}
	names := make([]string, 0, len(branches))
	for _, br := range branches {
		name, ok := firstStep(br)
		if !ok {
			return nil
		}
		names = append(names, name)
	}
	return names
}

func firstStep(branch string) (string, bool) {
	root, ok := rootOf(branch)
	if !ok || !plainPath(branch) {
		return "", false
	}
	s := strings.TrimLeft(branch, "( ")[len(root):]
	if len(s) < 2 || s[0] != '.' {
		return "", false
	}
	s = s[1:]
	end := 0
	for end < len(s) && isIdentChar(s[end]) {
		end++
	}
	if end == 0 {
		return "", false
	}
	return s[:end], true
}

// pathFuncs are the functions a plain path may use: none makes something
// out of an empty input.
var pathFuncs = map[string]bool{"where": true, "as": true, "ofType": true, "resolve": true, "first": true, "extension": true}

// plainPath reports whether a branch is made of member steps, indexers,
// the 'as' operator and the functions of pathFuncs; the arguments of
// where() are not looked at, as where() on nothing is nothing.
func plainPath(branch string) bool {
	var b strings.Builder
	for i := 0; i < len(branch); i++ {
		c := branch[i]
		if !isIdentChar(c) {
			switch c {
			case '.', '(', ')', '[', ']', ' ':
				b.WriteByte(c)
				continue
			}
			return false
		}
		start := i
		for i < len(branch) && isIdentChar(branch[i]) {
			i++
		}
		word := branch[start:i]
		b.WriteString(word)
		if i < len(branch) && branch[i] == '(' {
			if !pathFuncs[word] {
				return false
			}
			if word == "where" || word == "extension" {
				end := closing(branch, i)
				if end < 0 {
					return false
				}
				b.WriteString("()")
				i = end
				continue
			}
		}
		i--
	}
	// White space only around the 'as' operator.
	return !strings.Contains(strings.ReplaceAll(b.String(), " as ", "."), " ")
}

// closing returns the index of the parenthesis closing the one at open,
// skipping quoted strings; -1 when there is none.
func closing(s string, open int) int {
	depth := 0
	var quote byte
	for i := open; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func isIdentChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// topNames is the set of a resource's top-level element names, each
// choice element also under its name without the type suffix
// (valueQuantity: value), so that a first step can be looked up directly.
type topNames map[string]struct{}

func namesOf(res map[string]any) topNames {
	set := make(topNames, 2*len(res))
	for k := range res {
		if k == "" || k[0] == '_' {
			continue // primitive extensions, which paths do not reach
		}
		set[k] = struct{}{}
		for i := 1; i < len(k); i++ {
			if 'A' <= k[i] && k[i] <= 'Z' {
				set[k[:i]] = struct{}{}
				break
			}
		}
	}
	return set
}

// any reports whether one of names is present; true for no names at all,
// a parameter that is always evaluated.
func (t topNames) any(names []string) bool {
	if names == nil {
		return true
	}
	for _, n := range names {
		if _, ok := t[n]; ok {
			return true
		}
	}
	return false
}

// relativeSteps is firstSteps for an expression relative to a node (a
// composite's component: "code", "value.as(Quantity) | value.as(Range)"):
// the first element name of each branch, or nil when a branch is not a
// plain path from the node.
func relativeSteps(expr string) []string {
	branches := splitUnion(expr)
	if branches == nil {
		return nil
	}
	names := make([]string, 0, len(branches))
	for _, br := range branches {
		if br == "" || br[0] < 'a' || br[0] > 'z' || !plainPath(br) {
			return nil
		}
		end := 0
		for end < len(br) && isIdentChar(br[end]) {
			end++
		}
		if end < len(br) && br[end] == '(' {
			return nil // a function of the node itself
		}
		names = append(names, br[:end])
	}
	return names
}

// hasAny reports whether the object m has one of the elements names,
// choice elements by their name without the type suffix; true for no names.
func hasAny(m map[string]any, names []string) bool {
	if names == nil {
		return true
	}
	for _, n := range names {
		if _, ok := m[n]; ok {
			return true
		}
		for k := range m {
			if len(k) > len(n) && k[:len(n)] == n && 'A' <= k[len(n)] && k[len(n)] <= 'Z' {
				return true
			}
		}
	}
	return false
}
