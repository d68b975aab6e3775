package mongostore

import (
	"encoding/hex"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// current is a document of the resources collection: the current version
// of one resource. JSON is BSON binary, so the client's bytes come back as
// they were sent; nil (BSON null) for a deletion.
type current struct {
	Key         string `bson:"_id"` // Type/id
	Type        string `bson:"type"`
	ID          string `bson:"id"`
	Version     int    `bson:"version"`
	LastUpdated int64  `bson:"lastUpdated"` // Unix microseconds
	Deleted     bool   `bson:"deleted"`
	Method      string `bson:"method"`
	JSON        []byte `bson:"json"`
	// Keys are the token index entries as strings (see tokenKey): equality
	// on an array field matches any element, which FerretDB v1 supports,
	// where $elemMatch over sub-documents it does not.
	Keys []string `bson:"keys,omitempty"`
	// Index holds the search index entries of this version (see entry);
	// none for a deletion.
	Index []entry `bson:"idx,omitempty"`
	// Order is the history order key of this version (see nextOrder).
	Order string `bson:"order"`
	// Tx names the journal of the unit that wrote this version when units
	// are journalled (see journal.go); empty under transactions.
	Tx string `bson:"tx,omitempty"`
}

// version is a document of the history collection: one version of one
// resource, kept forever.
type version struct {
	Key         string `bson:"_id"` // Type/id/version
	Type        string `bson:"type"`
	ID          string `bson:"id"`
	Version     int    `bson:"version"`
	LastUpdated int64  `bson:"lastUpdated"`
	// Until is the LastUpdated of the next version, openEnd while this one
	// is current: "current at time T" is LastUpdated <= T < Until, one range
	// test instead of a search for the next version.
	Until   int64  `bson:"until"`
	Deleted bool   `bson:"deleted"`
	Method  string `bson:"method"`
	JSON    []byte `bson:"json"`
	Order   string `bson:"order"` // see orderKey
	Tx      string `bson:"tx,omitempty"`
}

// openEnd is the Until of a version that is still current.
const openEnd = int64(1<<63 - 1)

func resourceKey(typ, id string) string { return typ + "/" + id }

func versionKey(typ, id string, v int) string {
	return typ + "/" + id + "/" + strconv.Itoa(v)
}

// newCurrent is the current document of res; markInf: see entry.
func newCurrent(res *fhir.Resource, order, tx string, markInf bool) *current {
	var ix []entry
	if !res.Deleted {
		ix = encodeIndex(res.Index, markInf)
	}
	return &current{
		Key:         resourceKey(res.Type, res.ID),
		Type:        res.Type,
		ID:          res.ID,
		Version:     res.Version,
		LastUpdated: micros(res.LastUpdated),
		Deleted:     res.Deleted,
		Method:      res.Method,
		JSON:        res.JSON,
		Keys:        tokenKeys(res.Tokens),
		Index:       ix,
		Order:       order,
		Tx:          tx,
	}
}

func newVersion(res *fhir.Resource, order, tx string) *version {
	return &version{
		Key:         versionKey(res.Type, res.ID, res.Version),
		Type:        res.Type,
		ID:          res.ID,
		Version:     res.Version,
		LastUpdated: micros(res.LastUpdated),
		Until:       openEnd,
		Deleted:     res.Deleted,
		Method:      res.Method,
		JSON:        res.JSON,
		Order:       order,
		Tx:          tx,
	}
}

func (c *current) resource() *fhir.Resource {
	return &fhir.Resource{
		Type: c.Type, ID: c.ID, Version: c.Version,
		LastUpdated: fromMicros(c.LastUpdated),
		Deleted:     c.Deleted, Method: c.Method, JSON: c.JSON,
	}
}

func (v *version) resource() *fhir.Resource {
	return &fhir.Resource{
		Type: v.Type, ID: v.ID, Version: v.Version,
		LastUpdated: fromMicros(v.LastUpdated),
		Deleted:     v.Deleted, Method: v.Method, JSON: v.JSON,
	}
}

// Times are kept as Unix microseconds, like the SQLite engine: finer than
// the millisecond the server writes, and wide enough for the zero time.
func micros(t time.Time) int64 { return t.UnixMicro() }

// ceilMicros is the first stored instant not before t, for "at or after t"
// bounds.
func ceilMicros(t time.Time) int64 {
	m := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		m++
	}
	return m
}

func fromMicros(m int64) time.Time { return time.UnixMicro(m).UTC() }

// Token index keys. A token is stored under "param|system|code" for
// searches naming a system and under "param||code" for searches with any
// system; a token without a system has only the second. Each part is
// escaped (see escapeKey) so that a '|' inside a system or code cannot make
// two different tokens share a key.
func tokenKeys(toks []fhir.Token) []string {
	if len(toks) == 0 {
		return nil
	}
	keys := make([]string, 0, 2*len(toks))
	seen := make(map[string]bool, 2*len(toks))
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, t := range toks {
		add(tokenKey(t.Param, t.System, t.Code))
		add(tokenKey(t.Param, "", t.Code))
	}
	return keys
}

// tokenKey is the key a search for one token looks up: system "" means any
// system.
func tokenKey(param, system, code string) string {
	return escapeKey(param) + "|" + escapeKey(system) + "|" + escapeKey(code)
}

var keyEscaper = strings.NewReplacer(`\`, `\\`, `|`, `\|`)

func escapeKey(s string) string {
	if !strings.ContainsAny(s, `\|`) {
		return s
	}
	return keyEscaper.Replace(s)
}

// nextOrder is the history order key of res, the version after the one
// whose key is prev ("" for a first version): a string that sorts by
// LastUpdated, then by the order of writes within this process, then by a
// tag of the process, and ends with the version's _id so that no two keys
// are equal. One descending index on it serves history of one resource,
// one type or the whole system, and the key of a page's last entry is the
// cursor of the next.
//
// A version always sorts after the one it replaces, even when its
// LastUpdated is earlier (two writers took the time, then raced, and the
// later time lost): it then takes its predecessor's time and write count
// plus one. Versions written by different processes in the same
// microsecond are ordered by the process tag, arbitrary but fixed.
func nextOrder(res *fhir.Resource, prev string) string {
	var b [orderPrefixLen]byte
	hexUint(b[0:16], uint64(micros(res.LastUpdated))^(1<<63)) // signed order as unsigned
	hexUint(b[16:32], writeSeq.Add(1))
	copy(b[32:], processTag)
	if len(prev) >= orderPrefixLen && string(b[:]) <= prev[:orderPrefixLen] {
		copy(b[0:16], prev[0:16])
		n, _ := strconv.ParseUint(prev[16:32], 16, 64)
		hexUint(b[16:32], n+1)
	}
	return string(b[:]) + versionKey(res.Type, res.ID, res.Version)
}

// orderPrefixLen is the length of the sorting part of an order key: time,
// write count and process tag, 16 hex digits each.
const orderPrefixLen = 48

var (
	writeSeq   atomic.Uint64
	processTag = hex.EncodeToString(randomBytes(8))
)

func hexUint(dst []byte, v uint64) {
	const digits = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		dst[i] = digits[v&0xf]
		v >>= 4
	}
}
