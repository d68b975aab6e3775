package audit

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Patients returns the ids of the patients a resource concerns, in order
// of first appearance, without repeats: its own id when it is a Patient,
// and the id of every reference to a Patient in its JSON, wherever it
// sits (nested elements, contained resources), relative ("Patient/123",
// "Patient/123/_history/2") or absolute under base, the server's FHIR
// base URL ("https://example.org/fhir/Patient/123"). References to other
// servers, to contained resources ("#p1") and by identifier alone are not
// this server's patients and are left out.
//
// It runs on every resource a request returns, so it scans the bytes for
// "reference" keys instead of decoding the JSON. raw must be valid JSON
// (as stored resources are): then a `"reference"` that follows `{` or `,`
// and precedes `:` is a key, since a quote inside a string is escaped.
func Patients(typ, id string, raw []byte, base string) []string {
	var out []string
	if typ == "Patient" && id != "" {
		out = append(out, id)
	}
	base = strings.TrimRight(base, "/")
	rest := raw
	for {
		i := bytes.Index(rest, referenceKey)
		if i < 0 {
			return out
		}
		before := rest[:i]
		rest = rest[i+len(referenceKey):]
		if !afterObjectStart(before) {
			continue
		}
		value, n, ok := stringValue(rest)
		if !ok {
			continue
		}
		rest = rest[n:]
		if p := patientID(value, base); p != nil && !contains(out, p) {
			out = append(out, string(p))
		}
	}
}

var referenceKey = []byte(`"reference"`)

// afterObjectStart reports whether b ends with '{' or ',' and optional
// white space: the next string is a key.
func afterObjectStart(b []byte) bool {
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			continue
		case '{', ',':
			return true
		}
		return false
	}
	return false
}

// stringValue reads `: "value"` at the start of b (white space allowed
// around the colon) and returns the value unescaped (a slice of b when it
// has no escapes) and how many bytes it took. ok is false when no string
// value follows.
func stringValue(b []byte) (value []byte, n int, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != ':' {
		return nil, 0, false
	}
	i = skipSpace(b, i+1)
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	start := i + 1
	hasEscape := false
	for j := start; j < len(b); j++ {
		switch b[j] {
		case '\\':
			hasEscape = true
			j++ // skip the escaped byte
		case '"':
			if !hasEscape {
				return b[start:j], j + 1, true
			}
			s, ok := unescape(b[start:j])
			return s, j + 1, ok
		}
	}
	return nil, 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// unescape decodes the escapes of a JSON string's content.
func unescape(b []byte) ([]byte, bool) {
	s := bytes.NewBuffer(make([]byte, 0, len(b)))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			s.WriteByte(c)
			continue
		}
		i++
		if i >= len(b) {
			return nil, false
		}
		switch b[i] {
		case '"', '\\', '/':
			s.WriteByte(b[i])
		case 'b':
			s.WriteByte('\b')
		case 'f':
			s.WriteByte('\f')
		case 'n':
			s.WriteByte('\n')
		case 'r':
			s.WriteByte('\r')
		case 't':
			s.WriteByte('\t')
		case 'u':
			if i+4 >= len(b) {
				return nil, false
			}
			r, ok := hex4(b[i+1 : i+5])
			if !ok {
				return nil, false
			}
			i += 4
			// A surrogate pair cannot make an id or a type name: any
			// rune that is not ASCII leaves the reference unmatched.
			s.WriteRune(r)
		default:
			return nil, false
		}
	}
	return s.Bytes(), true
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return utf8.RuneError, false
		}
	}
	return r, true
}

// patientID is the id of a reference to a Patient on this server, or
// nil.
func patientID(ref []byte, base string) []byte {
	if !bytes.HasPrefix(ref, patientPrefix) {
		if base == "" || !bytes.HasPrefix(ref, []byte(base)) || !bytes.HasPrefix(ref[len(base):], slashPatient) {
			return nil
		}
		ref = ref[len(base)+1:]
	}
	id := ref[len(patientPrefix):]
	if i := bytes.IndexByte(id, '/'); i >= 0 {
		if !bytes.HasPrefix(id[i:], slashHistory) || !validID(id[i+len(slashHistory):]) {
			return nil
		}
		id = id[:i]
	}
	if !validID(id) {
		return nil
	}
	return id
}

var (
	patientPrefix = []byte("Patient/")
	slashPatient  = []byte("/Patient/")
	slashHistory  = []byte("/_history/")
)

// validID is fhir.ValidID without the regular expression: 1 to 64 of
// [A-Za-z0-9.-], not only dots.
func validID[S ~string | ~[]byte](s S) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	dots := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
		case c == '-', '0' <= c && c <= '9', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			dots = false
		default:
			return false
		}
	}
	return !dots
}

func contains(list []string, s []byte) bool {
	for _, x := range list {
		if x == string(s) {
			return true
		}
	}
	return false
}
