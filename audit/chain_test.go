package audit

import (
	"bytes"
	"encoding/json"
	"strconv"
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
