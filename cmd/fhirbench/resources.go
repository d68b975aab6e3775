package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// The resources the write scenarios send: small, valid R4, and recognisable
// as load-test data (the family name starts "Fhirbench", which no generated
// patient's does, so the name search never finds them by a generated prefix).

type obj = map[string]any

// observation is a haemoglobin result for subject (a reference).
func observation(r *rand.Rand, subject string) obj {
	value := json.Number(strconv.FormatFloat(10+6*r.Float64(), 'f', 1, 64))
	return obj{
		"resourceType": "Observation",
		"status":       "final",
		"category": []obj{{"coding": []obj{{
			"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}}}},
		"code": obj{"coding": []obj{{
			"system": "http://loinc.org", "code": "718-7", "display": "Hemoglobin [Mass/volume] in Blood"}}},
		"subject":           obj{"reference": subject},
		"effectiveDateTime": time.Now().UTC().Format(time.RFC3339),
		"valueQuantity": obj{
			"value": value, "unit": "g/dL", "system": "http://unitsofmeasure.org", "code": "g/dL"},
	}
}

// transaction is a transaction Bundle creating one Patient and one
// Observation whose subject is the Patient's urn:uuid fullUrl.
func transaction(r *rand.Rand) obj {
	patient := "urn:uuid:" + newUUID(r)
	return obj{
		"resourceType": "Bundle",
		"type":         "transaction",
		"entry": []obj{
			{
				"fullUrl": patient,
				"resource": obj{
					"resourceType": "Patient",
					"name":         []obj{{"family": "Fhirbench" + strconv.Itoa(10+r.IntN(990)), "given": []string{"Load"}}},
					"gender":       "unknown",
					"birthDate":    "1970-01-01",
				},
				"request": obj{"method": "POST", "url": "Patient"},
			},
			{
				"fullUrl":  "urn:uuid:" + newUUID(r),
				"resource": observation(r, patient),
				"request":  obj{"method": "POST", "url": "Observation"},
			},
		},
	}
}

// newUUID is a random (version 4) UUID drawn from r.
func newUUID(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
