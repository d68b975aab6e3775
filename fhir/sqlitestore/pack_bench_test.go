package sqlitestore

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// auditEventJSON is an AuditEvent as the audit trail stores it for a REST
// interaction of a clinician through a portal (about 3 KB): its ids,
// times and chain hashes differ from event to event, as they would.
func auditEventJSON(r *rand.Rand, seq int, prev string) (js []byte, hash string) {
	hexOf := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return hex.EncodeToString(b)
	}
	uuid := func() string {
		h := hexOf(16)
		return h[:8] + "-" + h[8:12] + "-7" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC).Add(time.Duration(seq) * 137 * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
	interaction, action, role := [...]string{"read", "search-type", "update", "vread"}[seq%4], [...]string{"R", "E", "U", "R"}[seq%4],
		[...]string{`"IRCP","display":"information recipient"`, `"IRCP","display":"information recipient"`,
			`"AUT","display":"author (originator)"`, `"IRCP","display":"information recipient"`}[seq%4]
	var query string
	if interaction == "search-type" {
		query = `{"query":"` + hexOf(60) + `","role":{"code":"24","display":"Query","system":"http://terminology.hl7.org/CodeSystem/object-role"},` +
			`"type":{"code":"2","display":"System Object","system":"http://terminology.hl7.org/CodeSystem/audit-entity-type"}},`
	}
	hash = hexOf(32)
	js = fmt.Appendf(nil, `{"resourceType":"AuditEvent","id":%q,"meta":{"lastUpdated":%q,"versionId":"1"},"action":%q,`+
		`"agent":[{"altId":%q,"purposeOfUse":[{"coding":[{"code":"TREAT","system":"http://terminology.hl7.org/CodeSystem/v3-ActReason"}]}],`+
		`"requestor":true,"role":[{"coding":[{"code":"oncologist","system":"urn:oncofhir:role"}]}],`+
		`"type":{"coding":[{"code":%s,"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType"}]},"who":{"reference":"Practitioner/%s"}},`+
		`{"network":{"address":"10.20.%d.%d","type":"2"},"policy":["urn:ietf:params:oauth:jti:%s"],"requestor":false,`+
		`"type":{"coding":[{"code":"110153","display":"Source Role ID","system":"http://dicom.nema.org/resources/ontology/DCM"}]},`+
		`"who":{"identifier":{"system":"urn:oncofhir:oauth-client","value":"oncology-portal"}}},`+
		`{"network":{"address":"https://fhir.hospital.example/fhir","type":"5"},"requestor":false,`+
		`"type":{"coding":[{"code":"110152","display":"Destination Role ID","system":"http://dicom.nema.org/resources/ontology/DCM"}]},`+
		`"who":{"identifier":{"system":"urn:ietf:rfc:3986","value":"https://fhir.hospital.example/fhir"}}}],`+
		`"entity":[{"role":{"code":"1","display":"Patient","system":"http://terminology.hl7.org/CodeSystem/object-role"},`+
		`"type":{"code":"1","display":"Person","system":"http://terminology.hl7.org/CodeSystem/audit-entity-type"},"what":{"reference":"Patient/%s"}},`+
		`{"role":{"code":"4","display":"Domain Resource","system":"http://terminology.hl7.org/CodeSystem/object-role"},`+
		`"type":{"code":"2","display":"System Object","system":"http://terminology.hl7.org/CodeSystem/audit-entity-type"},"what":{"reference":"Observation/%s/_history/%d"}},`+
		`%s{"type":{"code":"XrequestId","system":"https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"},"what":{"identifier":{"value":%q}}}],`+
		`"extension":[{"extension":[{"url":"chain","valueString":"330841719a64fb45d9c5bed4d9351768"},{"url":"seq","valueInteger":%d},`+
		`{"url":"prev","valueString":%q},{"url":"hash","valueString":%q}],"url":"https://oncofhir.org/fhir/StructureDefinition/audit-chain"}],`+
		`"outcome":"0","recorded":%q,"source":{"observer":{"identifier":{"system":"urn:ietf:rfc:3986","value":"https://fhir.hospital.example/fhir"}},`+
		`"type":[{"code":"4","display":"Application Server","system":"http://terminology.hl7.org/CodeSystem/security-source-type"}]},`+
		`"subtype":[{"code":%q,"display":%q,"system":"http://hl7.org/fhir/restful-interaction"}],`+
		`"type":{"code":"rest","display":"Restful Operation","system":"http://terminology.hl7.org/CodeSystem/audit-event-type"}}`,
		uuid(), at, action, uuid(), role, uuid(), r.IntN(256), r.IntN(256), uuid(), uuid(), uuid(), 1+r.IntN(9),
		query, hexOf(16), seq, prev, hash, at, interaction, interaction)
	return js, hash
}

// auditEvents is a chain of n events.
func auditEvents(n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, n)
	prev := "0000000000000000000000000000000000000000000000000000000000000000"
	for i := range out {
		out[i], prev = auditEventJSON(r, i+1, prev)
	}
	return out
}

// BenchmarkPackLedger is the cost of compressing one AuditEvent, paid on
// the audit trail's writer for every event, and the bytes stored for it.
func BenchmarkPackLedger(b *testing.B) {
	events := auditEvents(64)
	var in, out int
	for _, js := range events {
		packed := packLedger("AuditEvent", js)
		back, err := unpackLedger(packed)
		if err != nil || !bytes.Equal(back, js) {
			b.Fatalf("round trip: %v", err)
		}
		in, out = in+len(js), out+len(packed)
	}
	for i := 0; b.Loop(); i++ {
		packLedger("AuditEvent", events[i%len(events)])
	}
	b.ReportMetric(float64(in)/float64(len(events)), "json-B/event")
	b.ReportMetric(float64(out)/float64(len(events)), "stored-B/event")
}

// BenchmarkUnpackLedger is the cost of reading one back.
func BenchmarkUnpackLedger(b *testing.B) {
	events := auditEvents(64)
	packed := make([][]byte, len(events))
	for i, js := range events {
		packed[i] = packLedger("AuditEvent", js)
	}
	for i := 0; b.Loop(); i++ {
		if _, err := unpackLedger(packed[i%len(packed)]); err != nil {
			b.Fatal(err)
		}
	}
}
