package mongostore

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/oncofhir/oncofhir/fhir"
)

// storedIndex reads the index entries kept on the current document of
// Patient/id.
func storedIndex(t *testing.T, s *Store, id string) []fhir.IndexEntry {
	t.Helper()
	var c current
	if err := s.resources.FindOne(context.Background(), bson.D{{Key: "_id", Value: "Patient/" + id}}).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return decodeIndex(c.Index)
}

var sampleIndex = []fhir.IndexEntry{
	{Param: "name", Kind: fhir.TypeString, Text: "smith", Code: "Smith"},
	{Param: "identifier", Kind: fhir.TypeToken, Code: "1"}, // no system
	{Param: "general-practitioner", Kind: fhir.TypeReference, System: "Practitioner", Code: "Practitioner/7"},
	{Param: "period", Kind: fhir.TypeDate, Low: 0, High: math.Inf(1)}, // from the epoch, open
	{Param: "period", Kind: fhir.TypeDate, Low: math.Inf(-1), High: -5},
	{Param: "n", Kind: fhir.TypeNumber, Low: -0.5, High: 0.5},
	{Param: "cv", Kind: fhir.TypeComposite, Parts: []fhir.IndexEntry{
		{Kind: fhir.TypeToken, System: "http://loinc.org", Code: "8480-6"},
		{Kind: fhir.TypeQuantity, Low: 119.5, High: math.Inf(1), System: "http://unitsofmeasure.org", Code: "mm[Hg]"},
	}},
}

func TestIndexIsKeptOnTheCurrentDocument(t *testing.T) {
	s, _ := openTest(t, Options{})
	r := patient("a", 1)
	r.Index = sampleIndex
	put(t, s, r)
	if got := storedIndex(t, s, "a"); !reflect.DeepEqual(got, sampleIndex) {
		t.Fatalf("stored\n%+v\nwant\n%+v", got, sampleIndex)
	}
	r2 := patient("a", 2)
	r2.Index = sampleIndex[:1]
	put(t, s, r2)
	if got := storedIndex(t, s, "a"); !reflect.DeepEqual(got, sampleIndex[:1]) {
		t.Fatalf("after update: %+v", got)
	}
	put(t, s, &fhir.Resource{Type: "Patient", ID: "a", Version: 3, LastUpdated: t0, Deleted: true, Method: "DELETE",
		Index: sampleIndex})
	if got := storedIndex(t, s, "a"); got != nil {
		t.Fatalf("a deletion keeps entries %+v", got)
	}
}

func TestIndexEncoding(t *testing.T) {
	for _, markInf := range []bool{false, true} {
		enc := encodeIndex(sampleIndex, markInf)
		if got := decodeIndex(enc); !reflect.DeepEqual(got, sampleIndex) {
			t.Errorf("markInf %v: decoded\n%+v\nwant\n%+v", markInf, got, sampleIndex)
		}
		raw, err := bson.Marshal(bson.D{{Key: "idx", Value: enc}})
		if err != nil {
			t.Fatal(err)
		}
		var back struct {
			Idx []entry `bson:"idx"`
		}
		if err := bson.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if got := decodeIndex(back.Idx); !reflect.DeepEqual(got, sampleIndex) {
			t.Errorf("markInf %v: through BSON\n%+v", markInf, got)
		}
		if hasInf := strings.Contains(bson.Raw(raw).String(), "Infinity"); hasInf == markInf {
			t.Errorf("markInf %v: %s", markInf, bson.Raw(raw))
		}
	}
	e := encodeEntry(sampleIndex[2], false)
	if e.I == nil || *e.I != "7" {
		t.Errorf("reference id %v, want 7", e.I)
	}
	if e := encodeEntry(sampleIndex[0], false); e.I != nil || e.Lo != nil || e.Hi != nil {
		t.Errorf("string entry %+v", e)
	}
	if e := encodeEntry(sampleIndex[3], false); e.Lo == nil || *e.Lo != 0 {
		t.Errorf("a range entry keeps a zero bound: %+v", e)
	}
}

func TestIndexEntriesRefusedAsOnSQLite(t *testing.T) {
	s, _ := openTest(t, Options{})
	for name, ix := range map[string][]fhir.IndexEntry{
		"no param":               {{Kind: fhir.TypeToken, Code: "x"}},
		"unknown kind":           {{Param: "x", Kind: "colour"}},
		"NaN bound":              {{Param: "d", Kind: fhir.TypeDate, Low: math.NaN(), High: 1}},
		"composite in composite": {{Param: "c", Kind: fhir.TypeComposite, Parts: []fhir.IndexEntry{{Kind: fhir.TypeComposite}}}},
	} {
		t.Run(name, func(t *testing.T) {
			r := patient("a", 1)
			r.Index = ix
			err := s.Write(context.Background(), func(tx fhir.Tx) error { return tx.Put(r) })
			if err == nil {
				t.Fatal("Put accepted it")
			}
		})
	}
	if _, err := s.Read(context.Background(), "Patient", "a"); err == nil {
		t.Fatal("a refused unit was stored")
	}
}

func TestRolledBackUnitRestoresTheEntries(t *testing.T) {
	s, _ := journalled(t)
	a := patient("a", 1)
	a.Index = sampleIndex
	put(t, s, a, patient("c", 1))
	failAt(s, stepCurrent, "Patient/c", errors.New("connection lost"))
	a2 := patient("a", 2)
	a2.Index = sampleIndex[:1]
	if err := putAll(s, a2, patient("c", 2)); err == nil {
		t.Fatal("Write succeeded")
	}
	s.hook = nil
	if got := storedIndex(t, s, "a"); !reflect.DeepEqual(got, sampleIndex) {
		t.Fatalf("after rollback: %+v", got)
	}
}
