package fhirpath

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

type tokKind int

const (
	tEOF      tokKind = iota
	tWord             // identifier or keyword: name, and, is, true
	tDelim            // `delimited identifier`
	tString           // 'string'
	tNumber           // 12 or 1.5
	tDateTime         // @2020-01-01, @2020-01-01T10:00:00Z, @T10:00
	tConst            // %resource, %'vs-name'
	tSpecial          // $this, $index, $total
	tPunct            // . , ( ) [ ] { } | = != ~ !~ < <= > >= + - * / &
)

// token is one lexeme; text holds the decoded value for strings and
// delimited identifiers, the name without % or $ for constants, and the
// literal text otherwise.
type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tString:
		return strconv.Quote(t.text)
	case tConst:
		return "%" + t.text
	case tSpecial:
		return "$" + t.text
	case tDateTime:
		return "@" + t.text
	}
	return fmt.Sprintf("%q", t.text)
}

// SyntaxError reports where an expression failed to compile.
type SyntaxError struct {
	Offset int // byte offset in the expression
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("fhirpath: syntax error at offset %d: %s", e.Offset, e.Msg)
}

func syntaxErr(pos int, format string, args ...any) error {
	return &SyntaxError{Offset: pos, Msg: fmt.Sprintf(format, args...)}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// maxTokens bounds the length of an expression; the longest R4 search
// expression has about 350 tokens. Evaluation recurses once per operator,
// so this also bounds its depth.
const maxTokens = 10000

// lex splits an expression into tokens, ending with a tEOF token.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		if len(toks) > maxTokens {
			return nil, syntaxErr(i, "expression longer than %d tokens", maxTokens)
		}
		c := src[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, syntaxErr(i, "unterminated comment")
			}
			i += end + 4
		case isLetter(c):
			for i < len(src) && (isLetter(src[i]) || isDigit(src[i])) {
				i++
			}
			toks = append(toks, token{tWord, src[start:i], start})
		case isDigit(c):
			for i < len(src) && isDigit(src[i]) {
				i++
			}
			if i+1 < len(src) && src[i] == '.' && isDigit(src[i+1]) {
				i++
				for i < len(src) && isDigit(src[i]) {
					i++
				}
			}
			toks = append(toks, token{tNumber, src[start:i], start})
		case c == '\'' || c == '`':
			s, n, err := unquote(src[i:], c)
			if err != nil {
				return nil, syntaxErr(i, "%v", err)
			}
			i += n
			kind := tString
			if c == '`' {
				kind = tDelim
				if s == "" {
					return nil, syntaxErr(start, "empty delimited identifier")
				}
			}
			toks = append(toks, token{kind, s, start})
		case c == '%':
			i++
			switch {
			case i < len(src) && isLetter(src[i]):
				for i < len(src) && (isLetter(src[i]) || isDigit(src[i])) {
					i++
				}
				toks = append(toks, token{tConst, src[start+1 : i], start})
			case i < len(src) && (src[i] == '\'' || src[i] == '`'):
				s, n, err := unquote(src[i:], src[i])
				if err != nil {
					return nil, syntaxErr(i, "%v", err)
				}
				i += n
				toks = append(toks, token{tConst, s, start})
			default:
				return nil, syntaxErr(start, "%% must be followed by a name")
			}
		case c == '$':
			i++
			for i < len(src) && isLetter(src[i]) {
				i++
			}
			toks = append(toks, token{tSpecial, src[start+1 : i], start})
		case c == '@':
			i++
			for i < len(src) && (isDigit(src[i]) || strings.IndexByte("-:TZ+", src[i]) >= 0 ||
				src[i] == '.' && i+1 < len(src) && isDigit(src[i+1])) { // @2020-01-01.toString()
				i++
			}
			if !validDateTime(src[start+1 : i]) {
				return nil, syntaxErr(start, "invalid date/time literal %q", src[start:i])
			}
			toks = append(toks, token{tDateTime, src[start+1 : i], start})
		default:
			op := ""
			for _, p := range []string{"!=", "!~", "<=", ">="} {
				if strings.HasPrefix(src[i:], p) {
					op = p
				}
			}
			if op == "" && strings.IndexByte(".,()[]{}|=~<>+-*/&", c) >= 0 {
				op = src[i : i+1]
			}
			if op == "" {
				r, _ := utf8.DecodeRuneInString(src[i:])
				return nil, syntaxErr(i, "unexpected character %q", r)
			}
			i += len(op)
			toks = append(toks, token{tPunct, op, start})
		}
	}
	return append(toks, token{tEOF, "", len(src)}), nil
}

// unquote decodes a quoted string or delimited identifier at the start of s
// and returns it with the number of bytes consumed.
func unquote(s string, q byte) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == q {
			return b.String(), i + 1, nil
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			break
		}
		switch s[i] {
		case '\'', '"', '`', '\\', '/':
			b.WriteByte(s[i])
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			if i+4 >= len(s) {
				return "", 0, fmt.Errorf("short \\u escape")
			}
			v, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", 0, fmt.Errorf("invalid \\u escape %q", s[i+1:i+5])
			}
			b.WriteRune(rune(v))
			i += 4
		default:
			return "", 0, fmt.Errorf("invalid escape \\%c", s[i])
		}
	}
	return "", 0, fmt.Errorf("unterminated %c", q)
}

// validDateTime checks the shape of a date/time literal after the @:
// a date (YYYY, YYYY-MM, YYYY-MM-DD), optionally followed by T and a time,
// or T and a time alone.
func validDateTime(s string) bool {
	date, tm, hasT := strings.Cut(s, "T")
	if date != "" && !matchDigits(date, "dddd", "dddd-dd", "dddd-dd-dd") {
		return false
	}
	if !hasT {
		return date != ""
	}
	if tm == "" {
		return date != "" // @2020-01-01T is a dateTime, @T alone is nothing
	}
	zone := ""
	if k := strings.IndexAny(tm, "Z+-"); k >= 0 {
		tm, zone = tm[:k], tm[k:]
		if date == "" {
			return false // a time literal has no zone
		}
	}
	if frac := strings.IndexByte(tm, '.'); frac >= 0 {
		if !matchDigits(tm[frac+1:], "d", "dd", "ddd", "dddd", "ddddd", "dddddd", "ddddddddd") {
			return false
		}
		tm = tm[:frac]
		if len(tm) != 8 {
			return false
		}
	}
	if !matchDigits(tm, "dd", "dd:dd", "dd:dd:dd") {
		return false
	}
	return zone == "" || zone == "Z" || matchDigits(zone[1:], "dd:dd")
}

// matchDigits reports whether s has one of the shapes, d standing for a digit.
func matchDigits(s string, shapes ...string) bool {
	for _, shape := range shapes {
		if len(s) != len(shape) {
			continue
		}
		ok := true
		for i := 0; i < len(s) && ok; i++ {
			if shape[i] == 'd' {
				ok = isDigit(s[i])
			} else {
				ok = s[i] == shape[i]
			}
		}
		if ok {
			return true
		}
	}
	return false
}
