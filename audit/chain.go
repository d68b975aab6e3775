package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// The chain.
//
// Every AuditEvent a Recorder stores carries one extension, ChainURL, with
// four sub-extensions:
//
//	chain  valueString   the chain's id (32 hex digits, random, one per Recorder)
//	seq    valueInteger  the event's place in its chain, from 1, no gaps
//	prev   valueString   the hash of the event at seq-1; ZeroHash at seq 1
//	hash   valueString   the event's own hash
//
// hash is the lower-case hex SHA-256 of the event's canonical form, which
// is computed from the stored JSON alone:
//
//  1. decode the stored JSON, keeping every number as its literal text
//     (encoding/json with UseNumber; of duplicate member names the last
//     counts, as decoding into a map keeps);
//  2. remove the top-level member "meta" (versionId and lastUpdated are
//     the store's; meta is not covered);
//  3. in the one element of the top-level "extension" array whose url is
//     ChainURL, set the valueString of the sub-extension whose url is
//     "hash" to "" (every other member, chain, seq and prev included,
//     stays);
//  4. encode the result with no whitespace: object members sorted by the
//     bytes of their names in UTF-8, arrays in order, numbers as their
//     literal text, true, false and null as such, and strings with '"'
//     and '\' escaped as \" and \\, U+0008, U+000C, U+000A, U+000D and
//     U+0009 as \b, \f, \n, \r and \t, the other characters below U+0020
//     as \u00xx (lower-case hex), U+2028 and U+2029 as \u2028 and \u2029,
//     and every other character as itself in UTF-8 ('<', '>', '&' and '/'
//     included); invalid UTF-8 and unpaired surrogate escapes become
//     U+FFFD. That is what encoding/json writes for the decoded value with
//     SetEscapeHTML(false); canon.go computes the same on bytes.
//
// An event that is changed, in any member but meta, no longer matches its
// hash; one whose hash is recomputed no longer matches the prev of its
// successor, nor a signed checkpoint (see checkpoint.go) at its seq.
//
// prev at seq 1 is ZeroHash rather than "": FHIR strings may not be empty.
// A checkpoint at seq 0 (a chain's first, written before any event) has
// hash ZeroHash too, so that every checkpoint's hash is the prev of the
// event after it.

// ChainURL is the url of the extension that places an AuditEvent in its
// chain.
const ChainURL = "https://oncofhir.org/fhir/StructureDefinition/audit-chain"

// ZeroHash is prev of the first event of a chain, and the hash of a chain's
// checkpoint at seq 0.
const ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// The urls of the sub-extensions.
const (
	subChain = "chain"
	subSeq   = "seq"
	subPrev  = "prev"
	subHash  = "hash"
)

// chainLink is what an event's chain extension says.
type chainLink struct {
	Chain string
	Seq   int64
	Prev  string
	Hash  string
}

var errNoChain = errors.New("no chain extension")

// canonical returns the canonical form of a stored AuditEvent (see above)
// and the link its chain extension holds. An event without the chain
// extension answers errNoChain; a malformed one, another error.
func canonical(stored []byte) ([]byte, chainLink, error) {
	ms, buf, err := canonicalMembers(stored)
	if err != nil {
		return nil, chainLink{}, err
	}
	kept, ext := ms[:0], -1
	for _, m := range ms {
		if m.name == "meta" {
			continue
		}
		if m.name == "extension" {
			ext = len(kept) // the last one, as decoding keeps
		}
		kept = append(kept, m)
	}
	if ext < 0 {
		return nil, chainLink{}, errNoChain
	}
	elems, err := splitArray(buf[kept[ext].start:kept[ext].end])
	if err != nil {
		return nil, chainLink{}, errNoChain // not an array: no element is the chain's
	}
	at := -1
	for i, e := range elems {
		if isChainExtension(e) {
			if at >= 0 {
				return nil, chainLink{}, errors.New("two chain extensions")
			}
			at = i
		}
	}
	if at < 0 {
		return nil, chainLink{}, errNoChain
	}
	var chain map[string]any
	d := json.NewDecoder(bytes.NewReader(elems[at]))
	d.UseNumber()
	if err := d.Decode(&chain); err != nil {
		return nil, chainLink{}, fmt.Errorf("chain extension: %w", err)
	}
	l, err := readLink(chain)
	if err != nil {
		return nil, chainLink{}, err
	}
	blanked, err := json.Marshal(chain)
	if err != nil {
		return nil, chainLink{}, fmt.Errorf("chain extension: %w", err)
	}
	if elems[at], err = appendCanonical(nil, blanked); err != nil {
		return nil, chainLink{}, err
	}
	start := len(buf)
	buf = append(buf, '[')
	buf = append(buf, bytes.Join(elems, []byte{','})...)
	buf = append(buf, ']')
	kept[ext].start, kept[ext].end = start, len(buf)
	return writeObject(nil, kept, buf), l, nil
}

// splitArray returns the elements of a JSON array in canonical form.
func splitArray(arr []byte) ([][]byte, error) {
	if len(arr) < 2 || arr[0] != '[' {
		return nil, errors.New("not an array")
	}
	p := canonParser{src: arr, i: 1}
	var elems [][]byte
	if arr[1] == ']' {
		return nil, nil
	}
	var scratch []byte
	for {
		start := p.i
		var err error
		if scratch, err = p.value(scratch[:0]); err != nil {
			return nil, err
		}
		elems = append(elems, arr[start:p.i])
		if p.i >= len(arr) || arr[p.i] != ',' {
			return elems, nil
		}
		p.i++
	}
}

var quotedChainURL = []byte(`"` + ChainURL + `"`)

// isChainExtension reports whether a canonical element of an extension
// array is an object whose url is ChainURL.
func isChainExtension(elem []byte) bool {
	if len(elem) == 0 || elem[0] != '{' || !bytes.Contains(elem, quotedChainURL) {
		return false
	}
	ms, buf, err := canonicalMembers(elem)
	if err != nil {
		return false
	}
	url := -1
	for i, m := range ms {
		if m.name == "url" {
			url = i
		}
	}
	return url >= 0 && bytes.Equal(buf[ms[url].start:ms[url].end], quotedChainURL)
}

// readLink reads the sub-extensions of a chain extension and blanks the
// hash, in place.
func readLink(chain map[string]any) (chainLink, error) {
	var l chainLink
	subs, _ := chain["extension"].([]any)
	seen := map[string]bool{}
	for _, s := range subs {
		m, ok := s.(map[string]any)
		if !ok {
			return l, errors.New("chain extension: a sub-extension is not an object")
		}
		url, _ := m["url"].(string)
		if seen[url] {
			return l, fmt.Errorf("chain extension: two %q", url)
		}
		seen[url] = true
		var str string
		if url == subSeq {
			n, ok := m["valueInteger"].(json.Number)
			if !ok {
				return l, errors.New("chain extension: seq is not an integer")
			}
			seq, err := strconv.ParseInt(n.String(), 10, 64)
			if err != nil {
				return l, errors.New("chain extension: seq is not an integer")
			}
			l.Seq = seq
			continue
		}
		str, ok = m["valueString"].(string)
		if !ok {
			return l, fmt.Errorf("chain extension: %q has no valueString", url)
		}
		switch url {
		case subChain:
			l.Chain = str
		case subPrev:
			l.Prev = str
		case subHash:
			l.Hash = str
			m["valueString"] = ""
		}
	}
	for _, u := range []string{subChain, subSeq, subPrev, subHash} {
		if !seen[u] {
			return l, fmt.Errorf("chain extension: no %q", u)
		}
	}
	return l, nil
}

// hashOf is the hex SHA-256 of a canonical form.
func hashOf(canon []byte) string {
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

// chainExtension builds the chain extension with the given values, as a
// decoded JSON value (so that it encodes like the rest of the event).
func chainExtension(chain, seq, prev, hash any) map[string]any {
	return map[string]any{
		"url": ChainURL,
		"extension": []any{
			map[string]any{"url": subChain, "valueString": chain},
			map[string]any{"url": subSeq, "valueInteger": seq},
			map[string]any{"url": subPrev, "valueString": prev},
			map[string]any{"url": subHash, "valueString": hash},
		},
	}
}
