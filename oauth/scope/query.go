package scope

import (
	"net/url"
	"sort"
	"strings"
)

// A granular query is name=value(&name=value)*, in search syntax.
//
// Names start with a letter or "_" and go on with letters, digits, "_", "-",
// "." (chains) and ":" (modifiers). Values are not empty and hold URL
// unreserved characters, the "|", ":", "/", "," and "@" that token, URI and
// OR searches write, and percent-encoded bytes; a raw "+" is refused, since
// in a query it means a space.

// checkQuery says what is wrong with a granular query, or "" if nothing.
func checkQuery(q string) string {
	if q == "" {
		return `nothing after the "?"`
	}
	for _, pair := range strings.Split(q, "&") {
		name, value, ok := strings.Cut(pair, "=")
		switch {
		case !ok:
			return "each part of the query must be name=value"
		case !validParamName(name):
			return "a query parameter name must start with a letter or _ and hold letters, digits, _ - . or :"
		case !validParamValue(value):
			return "a query value must not be empty and may hold letters, digits, - . _ ~ | : / , @ and %XX escapes"
		}
	}
	return ""
}

func validParamName(n string) bool {
	if n == "" || !(isLetter(n[0]) || n[0] == '_') {
		return false
	}
	for i := 1; i < len(n); i++ {
		c := n[i]
		if !(isLetter(c) || isDigit(c) || strings.IndexByte("_-.:", c) >= 0) {
			return false
		}
	}
	return true
}

func validParamValue(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case isLetter(c) || isDigit(c) || strings.IndexByte("-._~|:/,@", c) >= 0:
		case c == '%':
			if i+2 >= len(v) || !isHex(v[i+1]) || !isHex(v[i+2]) {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// param is one decoded name=value pair of a granular query.
type param struct{ name, value string }

// params decodes a query Parse accepted, in the order written.
func params(q string) []param {
	if q == "" {
		return nil
	}
	parts := strings.Split(q, "&")
	ps := make([]param, len(parts))
	for i, pair := range parts {
		name, value, _ := strings.Cut(pair, "=")
		ps[i] = param{unescape(name), unescape(value)}
	}
	return ps
}

// unescape decodes %XX escapes; Parse has checked them.
func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// canonicalQuery is the form two granular queries are compared in: the
// decoded pairs, sorted, so that the order they were written in and the
// choice of escapes do not matter.
func canonicalQuery(q string) string {
	ps := params(q)
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].name != ps[j].name {
			return ps[i].name < ps[j].name
		}
		return ps[i].value < ps[j].value
	})
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p.name))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p.value))
	}
	return b.String()
}
