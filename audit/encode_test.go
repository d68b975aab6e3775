package audit

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// strs need escaping, or not, each its own way.
var strs = []string{"", "plain", `quote " and \ back`, "<b>&amp;</b>", "line\nbreak\ttab\x01\x1f", "\u2028\u2029", "é 漢字 🙂", "\ufffd"}

// fillValue sets v (settable) at random: every pointer set or nil, slices
// nil, empty or of one to three elements, strings from strs, numbers of
// any sign. Types that contain themselves stop at depth 0.
func fillValue(rng *rand.Rand, v reflect.Value, depth int) {
	if v.Type() == numberType {
		v.SetString([]string{"", "0", "-1.50", "12", "3e5", "0.000"}[rng.IntN(6)])
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(strs[rng.IntN(len(strs))])
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(rng.IntN(7) - 1)) // code enums: known and unknown values
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(rng.IntN(5)))
	case reflect.Pointer:
		if depth <= 0 || rng.IntN(4) == 0 {
			return
		}
		p := reflect.New(v.Type().Elem())
		fillValue(rng, p.Elem(), depth-1)
		v.Set(p)
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			v.SetBytes([]byte([]string{`{"b":1, "a":[true,null]}`, `"x\u003cy"`, `null`}[rng.IntN(3)]))
			return
		}
		n := rng.IntN(4)
		if depth <= 0 || rng.IntN(5) == 0 {
			return // nil
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fillValue(rng, s.Index(i), depth-1)
		}
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillValue(rng, v.Field(i), depth)
			}
		}
	}
}

// TestCanonicalEncodersMatchTheLongWay: the members written straight from
// an AuditEvent are appendCanonical of its MarshalJSON, for events with
// every field of the models filled at random.
func TestCanonicalEncodersMatchTheLongWay(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	events := []models.AuditEvent{{}, {Agent: []models.AuditEventAgent{}, Entity: []models.AuditEventEntity{}}}
	for range 100 {
		var ev models.AuditEvent
		fillValue(rng, reflect.ValueOf(&ev).Elem(), 4)
		events = append(events, ev)
	}
	for i, ev := range events {
		b, err := ev.MarshalJSON()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		want, err := appendCanonical(nil, b)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		ms, buf, err := auditEventMembers(&ev, nil, nil)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if got := writeObject(nil, ms, buf); string(got) != string(want) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, got, want)
		}
		if ev.Meta != nil {
			mb, _ := json.Marshal(ev.Meta)
			want, _ := appendCanonical(nil, mb)
			if got, err := canonicalMeta(ev.Meta); err != nil || string(got) != string(want) {
				t.Fatalf("event %d meta: %s, %v\nwant %s", i, got, err, want)
			}
		}
	}
}

// TestCanonicalEncodersDeclineInvalidUTF8: a string that is not UTF-8 is
// left to the long way, which writes what encoding/json writes.
func TestCanonicalEncodersDeclineInvalidUTF8(t *testing.T) {
	ev := models.AuditEvent{Recorded: "2025-01-01T00:00:00Z", OutcomeDesc: ptr("bad \xff byte")}
	if _, _, err := auditEventMembers(&ev, nil, nil); !errors.Is(err, errNoPlan) {
		t.Fatalf("auditEventMembers = %v, want errNoPlan", err)
	}
	m, _ := newMarkers()
	p, err := m.prepare(&Event{Resource: ev})
	if err != nil {
		t.Fatal(err)
	}
	var vals [numSlots][]byte
	for i := range vals {
		vals[i] = []byte(`"x"`)
	}
	vals[slotSeq] = []byte("1")
	stored := p.stored.fill(nil, &vals)
	canon, _, err := canonical(stored)
	if err != nil {
		t.Fatal(err)
	}
	vals[slotHash] = []byte(`""`)
	if got := p.canon.fill(nil, &vals); string(got) != string(canon) {
		t.Fatalf("canonical form\n got %s\nwant %s", got, canon)
	}
}
