package sqlitestore

import (
	"encoding/json"
	"strings"
)

// sqlBuf is SQL text and its arguments, in order. Values always go in as
// arguments: the text holds only the query's structure (table and column
// names, aliases, operators).
type sqlBuf struct {
	text strings.Builder
	args []any
}

func frag(text string, args ...any) *sqlBuf {
	b := &sqlBuf{}
	return b.add(text, args...)
}

func (b *sqlBuf) add(text string, args ...any) *sqlBuf {
	b.text.WriteString(text)
	b.args = append(b.args, args...)
	return b
}

func (b *sqlBuf) addBuf(o *sqlBuf) *sqlBuf { return b.add(o.text.String(), o.args...) }

// join adds the fragments separated by sep.
func (b *sqlBuf) join(fs []*sqlBuf, sep string) *sqlBuf {
	for i, f := range fs {
		if i > 0 {
			b.add(sep)
		}
		b.addBuf(f)
	}
	return b
}

// or is the fragments as one parenthesised disjunction.
func or(fs []*sqlBuf) *sqlBuf {
	if len(fs) == 1 {
		return frag("(").addBuf(fs[0]).add(")")
	}
	b := frag("(")
	for i, f := range fs {
		if i > 0 {
			b.add(" OR ")
		}
		b.add("(").addBuf(f).add(")")
	}
	return b.add(")")
}

// maxInlineIDs is the longest list written as parameters.
const maxInlineIDs = 200

// in adds "expr IN (...)" over vals: parameters for a short list, one
// JSON array for a long one (SQLite caps the parameters of a statement).
func (b *sqlBuf) in(expr string, vals []string) *sqlBuf {
	if len(vals) > maxInlineIDs {
		list, _ := json.Marshal(vals) // strings always marshal
		return b.add(expr+" IN (SELECT value FROM json_each(?))", string(list))
	}
	b.add(expr + " IN (?" + strings.Repeat(", ?", len(vals)-1) + ")")
	for _, v := range vals {
		b.args = append(b.args, v)
	}
	return b
}
