package mongostore_test

import (
	"testing"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/mongostore"
	"github.com/oncofhir/oncofhir/fhir/storetest"
)

func openRecords(o mongostore.Options) func(t *testing.T) fhir.Records {
	return func(t *testing.T) fhir.Records {
		s := open(t, o)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
}

// TestRecordsContract runs the Records contract as the server allows:
// revisions claimed on FerretDB, plain conditional replaces on a replica
// set.
func TestRecordsContract(t *testing.T) {
	storetest.RunRecords(t, openRecords(mongostore.Options{}))
}

// TestRecordsContractClaimed runs it with revisions claimed, which matters
// when MONGO_TEST_URI names a replica set; on FerretDB it is what
// TestRecordsContract already ran.
func TestRecordsContractClaimed(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s := open(t, mongostore.Options{})
	defer s.Close()
	if !s.Transactions() {
		t.Skip("the server has no transactions: TestRecordsContract claimed revisions")
	}
	storetest.RunRecords(t, openRecords(mongostore.Options{Units: mongostore.UnitsJournal}))
}
