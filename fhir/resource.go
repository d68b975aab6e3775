package fhir

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Resource is one stored version of a resource: the envelope every engine
// keeps, around the client's JSON exactly as sent (with server-set id and
// meta). JSON is nil for a deletion.
type Resource struct {
	Type        string
	ID          string
	Version     int // meta.versionId, 1 for the first version
	LastUpdated time.Time
	Deleted     bool   // this version records a deletion
	Method      string // the HTTP method that made this version: POST, PUT, PATCH or DELETE
	JSON        []byte
	// Tokens are the identifier index entries of this version, kept for
	// the current version only (conditional interactions use them).
	Tokens []Token
	// Index holds the search index entries of this version, kept for the
	// current version only.
	Index []IndexEntry
}

// ETag is the weak entity tag of the version.
func (r *Resource) ETag() string { return `W/"` + strconv.Itoa(r.Version) + `"` }

// Key is "Type/id".
func (r *Resource) Key() string { return r.Type + "/" + r.ID }

// Token is one token index entry: a search parameter, a system and a code.
type Token struct {
	Param  string `json:"p" bson:"p"`
	System string `json:"s,omitempty" bson:"s,omitempty"`
	Code   string `json:"c" bson:"c"`
}

// InstantFormat is how the server writes meta.lastUpdated.
const InstantFormat = "2006-01-02T15:04:05.000Z07:00"

// Now is the clock used for lastUpdated; UTC with millisecond precision so
// that the time in meta equals the one stored.
func TruncateTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

var (
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9\-\.]{1,64}$`)
	typePattern = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)
)

// ValidID reports whether s is a valid FHIR logical id. Ids made only of
// dots are refused: "." and ".." would change the meaning of a URL.
func ValidID(s string) bool { return idPattern.MatchString(s) && strings.Trim(s, ".") != "" }

// ValidTypeName reports whether s has the shape of a resource type name.
func ValidTypeName(s string) bool { return typePattern.MatchString(s) }

// Object is a JSON object kept as raw member values, so that numbers,
// strings and nested structures stay byte-for-byte as the client sent them.
type Object map[string]json.RawMessage

// ParseObject reads a JSON object. Malformed JSON answers a structure error
// naming the byte offset.
func ParseObject(b []byte) (Object, error) {
	if err := checkSyntax(b); err != nil {
		return nil, err
	}
	var o Object
	if err := json.Unmarshal(b, &o); err != nil || o == nil {
		return nil, Errorf(CodeStructure, "the body must be a JSON object")
	}
	return o, nil
}

func checkSyntax(b []byte) error {
	if json.Valid(b) {
		if !utf8.Valid(b) {
			return Errorf(CodeStructure, "the body is not valid UTF-8")
		}
		return nil
	}
	// Invalid: decode to find where, for the diagnostic.
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		var se *json.SyntaxError
		if ok := asSyntax(err, &se); ok {
			return Errorf(CodeStructure, "malformed JSON at offset %d: %s", se.Offset, se.Error())
		}
		var te *json.UnmarshalTypeError
		if asType(err, &te) {
			return Errorf(CodeStructure, "malformed JSON at offset %d", te.Offset)
		}
		return Errorf(CodeStructure, "malformed JSON at offset %d: %s", d.InputOffset(), err.Error())
	}
	if d.More() {
		return Errorf(CodeStructure, "malformed JSON at offset %d: data after the end of the object", d.InputOffset())
	}
	return nil
}

func asSyntax(err error, target **json.SyntaxError) bool {
	se, ok := err.(*json.SyntaxError)
	if ok {
		*target = se
	}
	return ok
}

func asType(err error, target **json.UnmarshalTypeError) bool {
	te, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*target = te
	}
	return ok
}

// String returns the member as a Go string, "" when absent or not a string.
func (o Object) String(key string) string {
	raw, ok := o[key]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// Set stores v (marshalled) under key.
func (o Object) Set(key string, v any) {
	b, _ := marshalNoEscape(v)
	o[key] = b
}

// Bytes writes the object compactly: resourceType, id and meta first, the
// rest in key order, every value as it was received (whitespace removed).
func (o Object) Bytes() []byte {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	rank := func(k string) int {
		switch k {
		case "resourceType":
			return 0
		case "id":
			return 1
		case "meta":
			return 2
		}
		return 3
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := rank(keys[i]), rank(keys[j])
		if ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	var buf bytes.Buffer
	buf.Grow(64 * len(keys))
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := marshalNoEscape(k)
		buf.Write(kb)
		buf.WriteByte(':')
		if err := json.Compact(&buf, o[k]); err != nil {
			buf.Write(o[k])
		}
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Stamp sets the server-owned elements of a resource about to be stored: id,
// meta.versionId and meta.lastUpdated. Every other member of meta (profile,
// tag, security, source) and of the resource is kept as sent.
func Stamp(o Object, id string, version int, lastUpdated time.Time) error {
	o.Set("id", id)
	meta := Object{}
	if raw, ok := o["meta"]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil || meta == nil {
			return &Error{Code: CodeStructure, Diagnostics: "meta must be an object", Expression: []string{"meta"}}
		}
	}
	meta.Set("versionId", strconv.Itoa(version))
	meta.Set("lastUpdated", lastUpdated.UTC().Format(InstantFormat))
	o["meta"] = meta.Bytes()
	return nil
}

// Identifiers extracts identifier tokens (system, value) from a resource's
// top-level identifier element (an array, or a single object as some
// resources have it).
func Identifiers(o Object) []Token {
	raw, ok := o["identifier"]
	if !ok {
		return nil
	}
	type ident struct {
		System string `json:"system"`
		Value  string `json:"value"`
	}
	var list []ident
	if len(raw) > 0 && raw[0] == '{' {
		var one ident
		if json.Unmarshal(raw, &one) != nil {
			return nil
		}
		list = []ident{one}
	} else if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	var toks []Token
	for _, id := range list {
		if id.Value == "" {
			continue
		}
		toks = append(toks, Token{Param: "identifier", System: id.System, Code: id.Value})
	}
	return toks
}

// Clone copies the object's member list; member values are shared, as they
// are never changed in place.
func (o Object) Clone() Object {
	c := make(Object, len(o)+2)
	for k, v := range o {
		c[k] = v
	}
	return c
}
