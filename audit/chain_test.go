package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/oncofhir/oncofhir/fhir"
)

// The canonical form, on a hand-written stored event: meta gone, the hash
// blanked, members sorted, numbers and characters as they were.
func TestCanonicalForm(t *testing.T) {
	stored := `{"resourceType":"AuditEvent","id":"a1","meta":{"versionId":"1","lastUpdated":"2025-01-01T00:00:00.000Z"},` +
		`"recorded":"2025-01-01T00:00:00Z","extension":[{"url":"x","valueDecimal":1.50},` +
		`{"url":"` + ChainURL + `","extension":[{"url":"chain","valueString":"c"},{"url":"seq","valueInteger":2},` +
		`{"url":"prev","valueString":"p"},{"url":"hash","valueString":"h"}]}],` +
		`"agent":[{"name":"<A> & B\u2028","requestor":true,"big":12345678901234567890}]}`
	canon, l, err := canonical([]byte(stored))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"agent":[{"big":12345678901234567890,"name":"<A> & B\u2028","requestor":true}],` +
		`"extension":[{"url":"x","valueDecimal":1.50},{"extension":[{"url":"chain","valueString":"c"},` +
		`{"url":"seq","valueInteger":2},{"url":"prev","valueString":"p"},{"url":"hash","valueString":""}],` +
		`"url":"` + ChainURL + `"}],"id":"a1","recorded":"2025-01-01T00:00:00Z","resourceType":"AuditEvent"}`
	if string(canon) != want {
		t.Errorf("canonical form\n got %s\nwant %s", canon, want)
	}
	if l != (chainLink{Chain: "c", Seq: 2, Prev: "p", Hash: "h"}) {
		t.Errorf("link = %+v", l)
	}
}

func TestCanonicalRefusesMalformedChains(t *testing.T) {
	for name, js := range map[string]string{
		"no chain":      `{"resourceType":"AuditEvent"}`,
		"no seq":        `{"extension":[{"url":"` + ChainURL + `","extension":[{"url":"chain","valueString":"c"},{"url":"prev","valueString":"p"},{"url":"hash","valueString":"h"}]}]}`,
		"seq not int":   `{"extension":[{"url":"` + ChainURL + `","extension":[{"url":"chain","valueString":"c"},{"url":"seq","valueInteger":1.5},{"url":"prev","valueString":"p"},{"url":"hash","valueString":"h"}]}]}`,
		"two chains":    `{"extension":[{"url":"` + ChainURL + `"},{"url":"` + ChainURL + `"}]}`,
		"not an object": `[1]`,
		"trailing data": `{} {}`,
		"hash twice":    `{"extension":[{"url":"` + ChainURL + `","extension":[{"url":"hash","valueString":"h"},{"url":"hash","valueString":"h"}]}]}`,
	} {
		if _, _, err := canonical([]byte(js)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// What the appender joins is what Verify recomputes from the stored JSON.
func TestPreparedEventMatchesItsCanonicalForm(t *testing.T) {
	m, err := newMarkers()
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	dec := json.Number("1.50")
	ev := &Event{Resource: models.AuditEvent{
		Meta:      &models.Meta{Source: str("urn:test")},
		Extension: []models.Extension{{Url: "https://example.org/x", ValueDecimal: &dec}},
		Type:      models.Coding{Code: str("rest")},
		Recorded:  "2025-01-01T00:00:00Z",
		Agent:     []models.AuditEventAgent{{Name: str("<Dr> & \"Co\"\u2028\x01"), Requestor: true}},
	}}
	p, err := m.prepare(ev)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Resource.Id != nil {
		t.Error("prepare changed the caller's event")
	}
	var vals [numSlots][]byte
	vals[slotChain] = []byte(`"0123"`)
	vals[slotSeq] = []byte("42")
	vals[slotPrev] = strconv.AppendQuote(nil, ZeroHash)
	vals[slotTime] = []byte(`"2025-01-01T00:00:00.000Z"`)
	vals[slotHash] = []byte(`""`)
	canon := p.canon.fill(nil, &vals)
	h := hashOf(canon)
	vals[slotHash] = strconv.AppendQuote(nil, h)
	stored := p.stored.fill(nil, &vals)

	again, l, err := canonical(stored)
	if err != nil {
		t.Fatalf("canonical(%s): %v", stored, err)
	}
	if !bytes.Equal(again, canon) {
		t.Errorf("canonical form of the stored event\n got %s\nwant %s", again, canon)
	}
	if l != (chainLink{Chain: "0123", Seq: 42, Prev: ZeroHash, Hash: h}) {
		t.Errorf("link = %+v", l)
	}
	if !bytes.HasPrefix(stored, []byte(`{"resourceType":"AuditEvent","id":"`+p.id+`","meta":{"lastUpdated":"2025-01-01T00:00:00.000Z","source":"urn:test","versionId":"1"},`)) {
		t.Errorf("stored event starts %.160s", stored)
	}
	if !bytes.Contains(stored, []byte(`"valueDecimal":1.50`)) {
		t.Errorf("decimal not kept as written: %s", stored)
	}
}

func TestPrepareRefuses(t *testing.T) {
	m, _ := newMarkers()
	bad := "not an id!"
	if _, err := m.prepare(&Event{Resource: models.AuditEvent{Id: &bad}}); err == nil {
		t.Error("an invalid id was accepted")
	}
	chained := &Event{Resource: models.AuditEvent{Extension: []models.Extension{{Url: ChainURL}}}}
	if _, err := m.prepare(chained); err == nil {
		t.Error("an event already chained was accepted")
	}
}

// BenchmarkPrepare is the work Record does in the caller's goroutine.
func BenchmarkPrepare(b *testing.B) {
	m, _ := newMarkers()
	str := func(s string) *string { return &s }
	action := models.AuditEventActionR
	ev := &Event{Resource: models.AuditEvent{
		Type:     models.Coding{System: str("http://terminology.hl7.org/CodeSystem/audit-event-type"), Code: str("rest")},
		Subtype:  []models.Coding{{System: str("http://hl7.org/fhir/restful-interaction"), Code: str("read")}},
		Action:   &action,
		Recorded: "2025-01-01T00:00:00Z",
		Agent: []models.AuditEventAgent{
			{Who: &models.Reference{Reference: str("Practitioner/dr-1")}, Name: str("Dr One"), Requestor: true},
			{Who: &models.Reference{Reference: str("Device/app")}, Requestor: false},
		},
		Entity: []models.AuditEventEntity{{What: &models.Reference{Reference: str("Patient/p1")}}},
	}}
	for b.Loop() {
		if _, err := m.prepare(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrepareRead is what a read's event costs before the appender:
// built, then prepared, its templates given back as the appender does.
func BenchmarkPrepareRead(b *testing.B) {
	m, _ := newMarkers()
	a := access(RESTAccess{Interaction: "read", Type: "Observation", ID: "obs-1",
		Trail: []fhir.TrailEntry{{Interaction: "read", Type: "Observation", ID: "obs-1", Version: 1, JSON: benchObservation}}})
	b.ReportAllocs()
	for b.Loop() {
		p, err := m.prepare(RESTEvents(a)[0])
		if err != nil {
			b.Fatal(err)
		}
		p.release()
	}
}

// TestPreparedEventsShareNoBuffer: an event prepared, then another
// prepared before the first is filled (as the appender fills a batch
// prepared by many callers), still fills to exactly what it fills to
// when prepared alone: the reused working space and templates are no
// longer the first one's once it is prepared.
func TestPreparedEventsShareNoBuffer(t *testing.T) {
	m, err := newMarkers()
	if err != nil {
		t.Fatal(err)
	}
	event := func(typ, id string) *Event {
		return RESTEvents(access(RESTAccess{Interaction: "read", Type: typ, ID: id,
			Trail: []fhir.TrailEntry{entry("read", typ, id, 1, "p1")}}))[0]
	}
	var vals [numSlots][]byte
	vals[slotChain], vals[slotSeq], vals[slotPrev] = []byte(`"c"`), []byte(`7`), []byte(`"p"`)
	vals[slotHash], vals[slotTime] = []byte(`"h"`), []byte(`"2025-01-01T00:00:00.000Z"`)
	fill := func(p *prepared) string {
		return string(p.canon.fill(nil, &vals)) + "\n" + string(p.stored.fill(nil, &vals))
	}
	a := event("Observation", "o1")
	alone, err := m.prepare(a)
	if err != nil {
		t.Fatal(err)
	}
	want := fill(alone)
	alone.release()
	for range 3 {
		first, err := m.prepare(a)
		if err != nil {
			t.Fatal(err)
		}
		second, err := m.prepare(event("MedicationRequest", "a-much-longer-id-than-the-first-one"))
		if err != nil {
			t.Fatal(err)
		}
		if got := fill(first); got != want {
			t.Fatalf("the first event changed once another was prepared:\n%s\nwant\n%s", got, want)
		}
		second.release()
		first.release()
	}

	// Many callers at once, each checking its own.
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			ev := event("Observation", fmt.Sprintf("o-%d-%s", g, strings.Repeat("x", 8*g)))
			p, err := m.prepare(ev)
			if err != nil {
				errs <- err.Error()
				return
			}
			want := fill(p)
			p.release()
			for range 1000 {
				p, err := m.prepare(ev)
				if err != nil {
					errs <- err.Error()
					return
				}
				got := fill(p)
				p.release()
				if got != want {
					errs <- fmt.Sprintf("caller %d: an event changed while others were prepared:\n%s\nwant\n%s", g, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
