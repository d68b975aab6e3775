package audit

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// A canonical JSON encoder that works on bytes.
//
// appendCanonical writes exactly what encoding/json writes when a value
// decoded with UseNumber into any is encoded again with
// SetEscapeHTML(false) (step 4 of the canonical form, chain.go), without
// building the maps: object members sorted by the bytes of their decoded
// names (the last of duplicate names kept, as decoding into a map does),
// strings decoded and escaped again as encoding/json escapes them, numbers
// as their literal text. It is several times faster than the round trip
// through maps, and recording pays it on every event. The tests hold it to
// encoding/json on generated and fuzzed input.

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

var errSyntax = errors.New("not valid JSON")

type canonParser struct {
	src   []byte
	i     int
	depth int
}

// appendCanonical appends the canonical encoding of the one JSON value in
// src (whitespace around it allowed).
func appendCanonical(dst, src []byte) ([]byte, error) {
	p := canonParser{src: src}
	p.ws()
	dst, err := p.value(dst)
	if err != nil {
		return nil, err
	}
	if p.ws(); p.i != len(p.src) {
		return nil, errors.New("data after the JSON value")
	}
	return dst, nil
}

// member is one object member: its decoded name and its canonical value,
// buf[start:end] of the buffer its object was read into.
type member struct {
	name       string
	start, end int
}

// canonicalMembers reads the JSON object in src into its members, each
// value in canonical form in the returned buffer, in document order.
func canonicalMembers(src []byte) ([]member, []byte, error) {
	p := canonParser{src: src}
	p.ws()
	if p.i >= len(p.src) || p.src[p.i] != '{' {
		return nil, nil, errors.New("not a JSON object")
	}
	ms, buf, err := p.members()
	if err != nil {
		return nil, nil, err
	}
	if p.ws(); p.i != len(p.src) {
		return nil, nil, errors.New("data after the JSON object")
	}
	return ms, buf, nil
}

// writeObject writes members (values in buf) as a canonical object:
// sorted by name, the last of equal names kept.
func writeObject(dst []byte, ms []member, buf []byte) []byte {
	slices.SortStableFunc(ms, func(a, b member) int { return strings.Compare(a.name, b.name) })
	dst = append(dst, '{')
	first := true
	for i, m := range ms {
		if i+1 < len(ms) && ms[i+1].name == m.name {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, m.name)
		dst = append(dst, ':')
		dst = append(dst, buf[m.start:m.end]...)
	}
	return append(dst, '}')
}

func (p *canonParser) ws() {
	for p.i < len(p.src) {
		switch p.src[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *canonParser) value(dst []byte) ([]byte, error) {
	if p.i >= len(p.src) {
		return nil, errSyntax
	}
	switch c := p.src[p.i]; {
	case c == '{':
		ms, buf, err := p.members()
		if err != nil {
			return nil, err
		}
		return writeObject(dst, ms, buf), nil
	case c == '[':
		return p.array(dst)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return appendJSONString(dst, s), nil
	case c == 't':
		return p.literal(dst, "true")
	case c == 'f':
		return p.literal(dst, "false")
	case c == 'n':
		return p.literal(dst, "null")
	default:
		return p.number(dst)
	}
}

func (p *canonParser) enter() error {
	if p.depth++; p.depth > maxDepth {
		return errors.New("JSON nested too deeply")
	}
	return nil
}

// members reads an object (p.i at its '{').
func (p *canonParser) members() ([]member, []byte, error) {
	if err := p.enter(); err != nil {
		return nil, nil, err
	}
	defer func() { p.depth-- }()
	p.i++
	var ms []member
	var buf []byte
	if p.ws(); p.i < len(p.src) && p.src[p.i] == '}' {
		p.i++
		return ms, buf, nil
	}
	for {
		if p.ws(); p.i >= len(p.src) || p.src[p.i] != '"' {
			return nil, nil, errSyntax
		}
		name, err := p.str()
		if err != nil {
			return nil, nil, err
		}
		if p.ws(); p.i >= len(p.src) || p.src[p.i] != ':' {
			return nil, nil, errSyntax
		}
		p.i++
		p.ws()
		start := len(buf)
		if buf, err = p.value(buf); err != nil {
			return nil, nil, err
		}
		ms = append(ms, member{name: name, start: start, end: len(buf)})
		p.ws()
		if p.i < len(p.src) && p.src[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.src) && p.src[p.i] == '}' {
			p.i++
			return ms, buf, nil
		}
		return nil, nil, errSyntax
	}
}

func (p *canonParser) array(dst []byte) ([]byte, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.i++
	dst = append(dst, '[')
	if p.ws(); p.i < len(p.src) && p.src[p.i] == ']' {
		p.i++
		return append(dst, ']'), nil
	}
	for {
		p.ws()
		var err error
		if dst, err = p.value(dst); err != nil {
			return nil, err
		}
		p.ws()
		if p.i < len(p.src) && p.src[p.i] == ',' {
			p.i++
			dst = append(dst, ',')
			continue
		}
		if p.i < len(p.src) && p.src[p.i] == ']' {
			p.i++
			return append(dst, ']'), nil
		}
		return nil, errSyntax
	}
}

func (p *canonParser) literal(dst []byte, lit string) ([]byte, error) {
	if !bytes.HasPrefix(p.src[p.i:], []byte(lit)) {
		return nil, errSyntax
	}
	p.i += len(lit)
	return append(dst, lit...), nil
}

// number copies a number literal, checked against the JSON grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *canonParser) number(dst []byte) ([]byte, error) {
	s, i := p.src, p.i
	digits := func() bool {
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		digits()
	default:
		return nil, errSyntax
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return nil, errSyntax
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return nil, errSyntax
		}
	}
	dst = append(dst, s[p.i:i]...)
	p.i = i
	return dst, nil
}

// str reads a string (p.i at its opening quote) and returns it decoded as
// encoding/json decodes it: escapes resolved, an invalid surrogate or an
// invalid UTF-8 byte replaced by U+FFFD.
func (p *canonParser) str() (string, error) {
	s := p.src
	i := p.i + 1
	start := i
	for i < len(s) { // fast path: nothing to decode
		c := s[i]
		if c == '"' {
			p.i = i + 1
			return string(s[start:i]), nil
		}
		if c == '\\' || c < ' ' {
			break
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	b := append([]byte(nil), s[start:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			p.i = i + 1
			return string(b), nil
		case c < ' ':
			return "", errSyntax
		case c == '\\':
			if i+1 >= len(s) {
				return "", errSyntax
			}
			i++
			switch s[i] {
			case '"', '\\', '/':
				b = append(b, s[i])
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := canonHex4(s[i+1:])
				if r < 0 {
					return "", errSyntax
				}
				i += 4
				if utf16.IsSurrogate(r) {
					if i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
						if r2 := canonHex4(s[i+3:]); r2 >= 0 {
							if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
								b = utf8.AppendRune(b, dec)
								i += 7
								continue
							}
						}
					}
					r = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, r)
			default:
				return "", errSyntax
			}
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			b = utf8.AppendRune(b, r) // RuneError for an invalid byte, as encoding/json
			i += size
		}
	}
	return "", errSyntax
}

// canonHex4 reads four hex digits, -1 if there are not.
func canonHex4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// appendJSONString writes s as encoding/json does with SetEscapeHTML(false).
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
