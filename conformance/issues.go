package conformance

import (
	"slices"
	"strconv"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// issue is one problem found, located in the instance.
type issue struct {
	loc  []string // JSON member names and array indexes from the resource root
	code models.IssueType
	rule string // what is wrong, without the value
}

type issues struct {
	list []issue
}

func (is *issues) add(loc []string, code models.IssueType, rule string) {
	is.list = append(is.list, issue{loc: slices.Clone(loc), code: code, rule: rule})
}

// sorted orders the issues by element path, drops repeats (the schema and
// the cardinality check both see some missing elements) and renders the
// first max as fhir.Errors.
func (is *issues) sorted(max int) []*fhir.Error {
	if len(is.list) == 0 {
		return nil
	}
	slices.SortStableFunc(is.list, func(a, b issue) int {
		if c := compareLoc(a.loc, b.loc); c != 0 {
			return c
		}
		if a.code != b.code {
			return int(a.code) - int(b.code)
		}
		return strings.Compare(a.rule, b.rule)
	})
	var out []*fhir.Error
	for i, it := range is.list {
		if i > 0 && compareLoc(it.loc, is.list[i-1].loc) == 0 && it.code == is.list[i-1].code {
			continue
		}
		expr := it.expression()
		out = append(out, &fhir.Error{
			Code:        it.code,
			Diagnostics: expr + ": " + it.rule,
			Expression:  []string{expr},
		})
		if len(out) == max {
			break
		}
	}
	return out
}

// compareLoc orders locations member by member, array indexes by number.
func compareLoc(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		ai, aok := indexValue(a[i])
		bi, bok := indexValue(b[i])
		if aok && bok {
			return ai - bi
		}
		return strings.Compare(a[i], b[i])
	}
	return len(a) - len(b)
}

// expression renders a location in FHIRPath form: the resource type, then
// .member for members and [i] for array indexes. The first token is the
// resource type; tokens starting with "[" are indexes.
func (it issue) expression() string {
	var b strings.Builder
	for i, tok := range it.loc {
		switch {
		case strings.HasPrefix(tok, "["):
			b.WriteString(tok)
		case i == 0:
			b.WriteString(tok)
		default:
			b.WriteByte('.')
			b.WriteString(identifier(tok))
		}
	}
	return b.String()
}

// identifier writes a member name as a FHIRPath identifier, delimited with
// backticks when it is not a plain name (an unknown element may be named
// anything), shortened to 64 bytes.
func identifier(name string) string {
	if base, ok := strings.CutSuffix(name, "[x]"); ok && base != "" && identifier(base) == base {
		return name // a choice element, value[x]
	}
	plain := name != ""
	for i, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	if len(name) > 64 {
		cut := 64
		for cut > 0 && !utf8Start(name[cut]) {
			cut--
		}
		name = name[:cut] + "…"
	}
	if plain {
		return name
	}
	var b strings.Builder
	b.WriteByte('`')
	for _, r := range name {
		switch {
		case r == '`' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\u` + strconv.FormatInt(int64(r)+0x10000, 16)[1:])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('`')
	return b.String()
}

func utf8Start(c byte) bool { return c&0xC0 != 0x80 }

func indexValue(tok string) (int, bool) {
	if len(tok) < 3 || tok[0] != '[' {
		return 0, false
	}
	n, err := strconv.Atoi(tok[1 : len(tok)-1])
	return n, err == nil
}

// index renders an array index as a location token.
func index(i int) string { return "[" + strconv.Itoa(i) + "]" }
