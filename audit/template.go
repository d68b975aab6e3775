package audit

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/google/uuid"
	models "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/oncofhir/oncofhir/fhir"
)

// Preparing an event.
//
// Most of the work of recording an event (writing the canonical form of
// each member of the AuditEvent, see encode.go, and from them the
// canonical form and the stored JSON) does not depend on its place in the
// chain. Record does it
// in the caller's goroutine, in parallel with every other caller, and
// leaves slots where the chain values go: a random marker string, unique
// to the Recorder, stands in for each value while encoding, and the
// encoded bytes are cut around the markers. The appender, which alone
// knows seq and prev, only joins the pieces with the values and hashes the
// result. The joined canonical form is byte for byte what canonical()
// computes from the joined stored JSON (the tests check it).

// The values a template leaves a slot for.
const (
	slotChain = iota
	slotSeq
	slotPrev
	slotHash
	slotTime
	numSlots
)

// markers are the marker strings, and the chain extension with them in
// place of its values, in canonical form.
type markers struct {
	s        [numSlots]string
	chainExt []byte
}

func newMarkers() (markers, error) {
	var nonce [16]byte
	_, err := rand.Read(nonce[:])
	if err != nil {
		return markers{}, fmt.Errorf("audit: random marker: %w", err)
	}
	n := hex.EncodeToString(nonce[:])
	var m markers
	for i, name := range []string{"chain", "seq", "prev", "hash", "time"} {
		m.s[i] = "oncofhir-slot-" + n + "-" + name
	}
	b, _ := json.Marshal(chainExtension(m.s[slotChain], m.s[slotSeq], m.s[slotPrev], m.s[slotHash]))
	m.chainExt, err = appendCanonical(nil, b)
	return m, err
}

// slotted is a template: encoded JSON with slots: parts[0] slot[0] parts[1] ... parts[n].
type slotted struct {
	parts [][]byte
	slots []int
}

// cut finds each of the wanted markers (quoted) exactly once in b, and
// no other, in one pass: every marker starts with the same prefix.
func (m *markers) cut(b []byte, want ...int) (slotted, error) {
	bad := errors.New("audit: event could not be prepared for its chain")
	prefix := []byte(`"` + m.s[0][:len(m.s[0])-len("chain")])
	var t slotted
	var seen [numSlots]bool
	last := 0
	for {
		i := bytes.Index(b[last:], prefix)
		if i < 0 {
			break
		}
		i += last
		rest := b[i+len(prefix):]
		end := bytes.IndexByte(rest, '"')
		slot := -1
		for s := range m.s {
			if end >= 0 && string(rest[:end]) == m.s[s][len(prefix)-1:] {
				slot = s
			}
		}
		if slot < 0 || seen[slot] || !slices.Contains(want, slot) {
			return slotted{}, bad
		}
		seen[slot] = true
		t.parts = append(t.parts, b[last:i])
		t.slots = append(t.slots, slot)
		last = i + len(prefix) + end + 1
	}
	if len(t.slots) != len(want) {
		return slotted{}, bad
	}
	t.parts = append(t.parts, b[last:])
	return t, nil
}

// fill appends the template to dst with each slot replaced by its value
// (already encoded JSON).
func (t *slotted) fill(dst []byte, vals *[numSlots][]byte) []byte {
	for i, s := range t.slots {
		dst = append(dst, t.parts[i]...)
		dst = append(dst, vals[s]...)
	}
	return append(dst, t.parts[len(t.parts)-1]...)
}

// size is the length of the template filled with vals.
func (t *slotted) size(vals *[numSlots][]byte) int {
	n := 0
	for _, p := range t.parts {
		n += len(p)
	}
	for _, s := range t.slots {
		n += len(vals[s])
	}
	return n
}

// prepared is an event ready for the appender.
type prepared struct {
	id     string
	canon  slotted // the canonical form: slots chain, seq, prev, hash ("" there)
	stored slotted // the stored JSON: slots chain, seq, prev, hash, time
	index  []fhir.IndexEntry
	bufs   *templateBufs // what canon and stored are cut from
}

// templateBufs hold the two templates of a prepared event. Once its unit
// of work is over (release), they serve another event's.
type templateBufs struct{ canon, stored []byte }

var templatePool = sync.Pool{New: func() any { return new(templateBufs) }}

// room is b emptied, with room for n bytes.
func room(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, 0, n)
	}
	return b[:0]
}

// release gives the buffers of p's templates back: p is not used again.
func (p *prepared) release() {
	if b := p.bufs; b != nil && cap(b.canon)+cap(b.stored) <= maxScratch {
		templatePool.Put(b)
	}
	p.bufs = nil
}

// prepare builds the templates of one event. The event is not changed: an
// AuditEvent without an id gets one in the copy that is stored.
func (m *markers) prepare(ev *Event) (*prepared, error) {
	res := ev.Resource
	id := ""
	if res.Id != nil {
		id = *res.Id
	}
	if id == "" {
		id = eventID()
		res.Id = &id
	}
	if !fhir.ValidID(id) {
		return nil, fmt.Errorf("audit: an AuditEvent id must be a FHIR id, got %d characters", len(id))
	}
	sc := scratchPool.Get().(*scratch)
	ms, buf, meta, err := m.members(&res, sc)
	defer sc.keep(&ms, &buf)
	if err != nil {
		return nil, fmt.Errorf("audit: AuditEvent %s: %w", id, err)
	}
	kept, ext := ms[:0], -1
	for _, mb := range ms {
		if mb.name == "extension" {
			ext = len(kept)
		}
		kept = append(kept, mb)
	}

	// The chain extension goes last in the extension array.
	start := len(buf)
	if ext < 0 {
		buf = append(buf, '[')
		kept = append(kept, member{name: "extension"})
		ext = len(kept) - 1
	} else {
		arr := buf[kept[ext].start:kept[ext].end]
		elems, err := splitArray(arr)
		if err != nil {
			return nil, fmt.Errorf("audit: AuditEvent %s: extension is not an array", id)
		}
		if slices.ContainsFunc(elems, isChainExtension) {
			return nil, fmt.Errorf("audit: AuditEvent %s already carries a chain extension", id)
		}
		buf = append(buf, arr[:len(arr)-1]...)
		if len(elems) > 0 {
			buf = append(buf, ',')
		}
	}
	buf = append(buf, m.chainExt...)
	buf = append(buf, ']')
	kept[ext].start, kept[ext].end = start, len(buf)

	p := &prepared{id: id, index: ev.Index}
	if p.index == nil { // not built by a builder: index it here
		p.index = storedIndexOf(&res)
	}
	tb := templatePool.Get().(*templateBufs)
	tb.canon = writeObject(room(tb.canon, len(buf)+16*len(kept)), kept, buf) // sorts kept
	if p.canon, err = m.cut(tb.canon, slotChain, slotSeq, slotPrev, slotHash); err != nil {
		return nil, err
	}
	tb.stored = writeStored(room(tb.stored, len(tb.canon)+len(meta)+16), kept, buf, meta)
	if p.stored, err = m.cut(tb.stored, slotChain, slotSeq, slotPrev, slotHash, slotTime); err != nil {
		return nil, err
	}
	p.bufs = tb
	return p, nil
}

// members returns the members of res but meta, each in canonical form,
// and the meta to store: the builder's, if any, with versionId 1 and a
// slot for lastUpdated. They are written straight from the struct
// (encode.go), or where its plan does not reach, read back from its JSON.
func (m *markers) members(res *models.AuditEvent, sc *scratch) ([]member, []byte, []byte, error) {
	stored := models.Meta{VersionId: ptr("1"), LastUpdated: ptr(m.s[slotTime])}
	if res.Meta != nil {
		stored = *res.Meta
		stored.VersionId, stored.LastUpdated = ptr("1"), ptr(m.s[slotTime])
	}
	bare := *res
	bare.Meta = nil
	ms, buf, err := auditEventMembers(&bare, sc.ms[:0], sc.buf[:0])
	if err == nil {
		var meta []byte
		if meta, err = canonicalMeta(&stored); err == nil {
			return ms, buf, meta, nil
		}
	}
	if !errors.Is(err, errNoPlan) {
		return nil, nil, nil, err
	}
	b, err := res.MarshalJSON() // not json.Marshal, which would compact it all again
	if err != nil {
		return nil, nil, nil, err
	}
	if ms, buf, err = canonicalMembers(b); err != nil {
		return nil, nil, nil, err
	}
	var meta []byte
	kept := ms[:0]
	for _, mb := range ms {
		if mb.name == "meta" {
			meta = buf[mb.start:mb.end]
			continue
		}
		kept = append(kept, mb)
	}
	if meta, err = m.storedMeta(meta); err != nil {
		return nil, nil, nil, err
	}
	return kept, buf, meta, nil
}

// scratch is where prepare writes each member of an event before joining
// them: reused from event to event (scratchPool), since an event's
// members take some kilobytes and their places a slice of members.
type scratch struct {
	ms  []member
	buf []byte
}

// maxScratch is the most scratch space kept for reuse: an event with more
// is rare, and its space goes.
const maxScratch = 64 << 10

var scratchPool = sync.Pool{New: func() any { return &scratch{ms: make([]member, 0, 24), buf: make([]byte, 0, 8<<10)} }}

// keep puts the scratch back for the next event, with the space that
// *ms and *buf grew to (nothing may refer to them any more).
func (sc *scratch) keep(ms *[]member, buf *[]byte) {
	if cap(*buf) > maxScratch {
		return
	}
	sc.ms, sc.buf = (*ms)[:0], (*buf)[:0]
	scratchPool.Put(sc)
}

// storedMeta is meta (JSON) with versionId 1 and a slot for lastUpdated.
func (m *markers) storedMeta(meta []byte) ([]byte, error) {
	if meta == nil {
		return []byte(`{"lastUpdated":"` + m.s[slotTime] + `","versionId":"1"}`), nil
	}
	var o map[string]any
	d := json.NewDecoder(bytes.NewReader(meta))
	d.UseNumber()
	if err := d.Decode(&o); err != nil || o == nil {
		return nil, errors.New("meta is not an object")
	}
	o["versionId"], o["lastUpdated"] = "1", m.s[slotTime]
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	return appendCanonical(nil, b)
}

// writeStored writes the members as every stored resource has them:
// resourceType, id and meta first, then the rest in name order (ms is
// sorted; the last of equal names kept).
func writeStored(dst []byte, ms []member, buf, meta []byte) []byte {
	last := func(name string) int {
		at := -1
		for i, m := range ms {
			if m.name == name {
				at = i
			}
		}
		return at
	}
	dst = append(dst, '{')
	for _, name := range []string{"resourceType", "id"} {
		if i := last(name); i >= 0 {
			dst = appendJSONString(dst, name)
			dst = append(dst, ':')
			dst = append(dst, buf[ms[i].start:ms[i].end]...)
			dst = append(dst, ',')
		}
	}
	dst = append(dst, `"meta":`...)
	dst = append(dst, meta...)
	for i, m := range ms {
		if m.name == "resourceType" || m.name == "id" || i+1 < len(ms) && ms[i+1].name == m.name {
			continue
		}
		dst = append(dst, ',')
		dst = appendJSONString(dst, m.name)
		dst = append(dst, ':')
		dst = append(dst, buf[m.start:m.end]...)
	}
	return append(dst, '}')
}

// eventID returns an id as the server makes them: a UUID, version 7 so that
// ids sort by creation time.
func eventID() string {
	u, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return u.String()
}
