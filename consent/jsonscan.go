package consent

import (
	"bytes"
	"encoding/json"
)

// members calls fn with the key (as written, quotes included) and the
// value (its bytes) of each member of doc, a JSON object, in order, until
// fn answers false. Values are skipped over, not decoded: strings by
// their quotes and escapes, objects and arrays by their brackets. It
// answers false when doc is not an object as far as that reading goes;
// it does not validate what it skips (stored JSON was validated when
// written).
func members(doc []byte, fn func(key, value []byte) bool) bool {
	i := skipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return false
	}
	i = skipSpace(doc, i+1)
	if i < len(doc) && doc[i] == '}' {
		return true
	}
	for i < len(doc) {
		if doc[i] != '"' {
			return false
		}
		end := skipString(doc, i)
		if end < 0 {
			return false
		}
		key := doc[i:end]
		i = skipSpace(doc, end)
		if i >= len(doc) || doc[i] != ':' {
			return false
		}
		i = skipSpace(doc, i+1)
		end = skipValue(doc, i)
		if end < 0 {
			return false
		}
		if !fn(key, doc[i:end]) {
			return true
		}
		i = skipSpace(doc, end)
		switch {
		case i >= len(doc):
			return false
		case doc[i] == '}':
			return true
		case doc[i] != ',':
			return false
		}
		i = skipSpace(doc, i+1)
	}
	return false
}

// keyIs reports whether key, a JSON string as written, is name once its
// escapes are decoded.
func keyIs(key []byte, name string) bool {
	if bytes.IndexByte(key, '\\') < 0 {
		return len(key) == len(name)+2 && string(key[1:len(key)-1]) == name
	}
	var k string
	return json.Unmarshal(key, &k) == nil && k == name
}

func skipSpace(doc []byte, i int) int {
	for i < len(doc) && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\n' || doc[i] == '\r') {
		i++
	}
	return i
}

// skipString answers the index just past the string opening at doc[i],
// or -1 when it does not close.
func skipString(doc []byte, i int) int {
	for i++; i < len(doc); i++ {
		switch doc[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue answers the index just past the value starting at doc[i], or
// -1 when there is none or it does not close.
func skipValue(doc []byte, i int) int {
	if i >= len(doc) {
		return -1
	}
	switch doc[i] {
	case '"':
		return skipString(doc, i)
	case '{', '[':
		var stack [32]byte
		open := stack[:0]
		for ; i < len(doc); i++ {
			switch c := doc[i]; c {
			case '"':
				end := skipString(doc, i)
				if end < 0 {
					return -1
				}
				i = end - 1
			case '{', '[':
				open = append(open, c)
			case '}', ']':
				if len(open) == 0 || open[len(open)-1] != c-2 { // '{'+2 == '}', '['+2 == ']'
					return -1
				}
				if open = open[:len(open)-1]; len(open) == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	start := i
	for i < len(doc) && doc[i] != ',' && doc[i] != '}' && doc[i] != ']' && doc[i] != ' ' && doc[i] != '\t' && doc[i] != '\n' && doc[i] != '\r' {
		i++
	}
	if i == start {
		return -1
	}
	return i
}
