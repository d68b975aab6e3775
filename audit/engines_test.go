package audit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/oncofhir/oncofhir/audit"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/mongostore"
	"github.com/oncofhir/oncofhir/fhir/mongostore/ferrettest"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
)

// backend is one engine holding both the resources and the records.
type backend interface {
	fhir.Store
	fhir.Records
}

// engine opens a fresh store and can change AuditEvents behind its back,
// as someone with access to the database (not the API) could: erase
// removes them, modify replaces their JSON.
type engine struct {
	name   string
	open   func(t testing.TB) backend
	erase  func(t testing.TB, ids ...string)
	modify func(t testing.TB, id string, js []byte)
	// exec runs one SQL statement that changes one row (the embedded
	// engine only).
	exec func(t testing.TB, query string, args ...any)
}

// engines returns the embedded engine and MongoDB (FerretDB in process).
// Each engine's erase and modify work on the store its open made last.
func engines() []*engine {
	sqlite := &engine{name: "sqlite"}
	var sqliteDir string
	sqlite.open = func(t testing.TB) backend {
		sqliteDir = t.TempDir()
		s, err := sqlitestore.Open(sqliteDir)
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	sqliteExec := func(t testing.TB, query string, args ...any) {
		db, err := sql.Open("sqlite", filepath.Join(sqliteDir, sqlitestore.FileName)+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatalf("open database: %v", err)
		}
		defer db.Close()
		if r, err := db.Exec(query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		} else if n, _ := r.RowsAffected(); n != 1 {
			t.Fatalf("%s %v: %d rows changed", query, args, n)
		}
	}
	sqlite.exec = sqliteExec
	sqlite.erase = func(t testing.TB, ids ...string) {
		for _, id := range ids {
			sqliteExec(t, `DELETE FROM ledger WHERE type = 'AuditEvent' AND id = ?`, id)
		}
	}
	sqlite.modify = func(t testing.TB, id string, js []byte) {
		sqliteExec(t, `UPDATE ledger SET json = ? WHERE type = 'AuditEvent' AND id = ?`, js, id)
	}

	mg := &engine{name: "mongo"}
	var mongoURI string
	mg.open = func(t testing.TB) backend {
		mongoURI = ferrettest.Start(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := mongostore.Open(ctx, mongoURI, "")
		if err != nil {
			t.Fatalf("open mongo: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	mg.erase = func(t testing.TB, ids ...string) {
		withLedger(t, mongoURI, func(ctx context.Context, c *mongo.Collection) {
			filter := bson.D{{Key: "type", Value: "AuditEvent"}, {Key: "id", Value: bson.D{{Key: "$in", Value: ids}}}}
			if r, err := c.DeleteMany(ctx, filter); err != nil || r.DeletedCount != int64(len(ids)) {
				t.Fatalf("erase %v: %v (%+v)", ids, err, r)
			}
		})
	}
	mg.modify = func(t testing.TB, id string, js []byte) {
		withLedger(t, mongoURI, func(ctx context.Context, c *mongo.Collection) {
			filter := bson.D{{Key: "type", Value: "AuditEvent"}, {Key: "id", Value: id}}
			r, err := c.UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: bson.D{{Key: "json", Value: js}}}})
			if err != nil || r.MatchedCount != 1 {
				t.Fatalf("modify %s: %v (%+v)", id, err, r)
			}
		})
	}
	return []*engine{sqlite, mg}
}

// withLedger calls fn with the ledger collection of the database at uri.
func withLedger(t testing.TB, uri string, fn func(context.Context, *mongo.Collection)) {
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatalf("parse %s: %v", uri, err)
	}
	ctx := context.Background()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer c.Disconnect(ctx)
	fn(ctx, c.Database(strings.TrimPrefix(u.Path, "/")).Collection("ledger"))
}

// eachEngine runs f as a subtest on every engine.
func eachEngine(t *testing.T, f func(t *testing.T, e *engine)) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) { f(t, e) })
	}
}

func newKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newRecorder(t testing.TB, s backend, key ed25519.PrivateKey, cfg audit.Config) *audit.Recorder {
	t.Helper()
	cfg.Store, cfg.Records, cfg.Key = s, s, key
	r, err := audit.NewRecorder(context.Background(), cfg)
	if err != nil {
		t.Fatalf("new recorder: %v", err)
	}
	return r
}

// testEvent is a BALP-like read event; n makes it distinct.
func testEvent(n int) *audit.Event {
	str := func(s string) *string { return &s }
	action := models.AuditEventActionR
	outcome := models.AuditEventOutcome0
	patient := fmt.Sprintf("Patient/p%d", n%7)
	weight := json.Number("1.50") // numbers keep their literal text
	return &audit.Event{
		Resource: models.AuditEvent{
			Extension: []models.Extension{{Url: "https://example.org/weight", ValueDecimal: &weight}},
			Type:      models.Coding{System: str("http://terminology.hl7.org/CodeSystem/audit-event-type"), Code: str("rest")},
			Subtype:   []models.Coding{{System: str("http://hl7.org/fhir/restful-interaction"), Code: str("read")}},
			Action:    &action,
			Outcome:   &outcome,
			Recorded:  time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(n) * time.Second).Format(time.RFC3339),
			Agent: []models.AuditEventAgent{{
				Who:       &models.Reference{Reference: str("Practitioner/dr-1")},
				Name:      str("Dr <One> & \"Two\""), // characters JSON encoders like to escape
				Requestor: true,
			}},
			Source: models.AuditEventSource{Observer: models.Reference{Display: str("oncofhir")}},
			Entity: []models.AuditEventEntity{{What: &models.Reference{Reference: str(patient)}, Description: str(fmt.Sprintf("event %d", n))}},
		},
		Patients: []string{patient},
	}
}

// auditEvents returns the current AuditEvents, by id.
func auditEvents(t testing.TB, s fhir.Store) map[string]*fhir.Resource {
	t.Helper()
	list, err := s.Search(context.Background(), fhir.Query{Type: "AuditEvent"})
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	m := map[string]*fhir.Resource{}
	for _, r := range list {
		m[r.ID] = r
	}
	return m
}

// chainOf reads the chain extension of a stored AuditEvent.
func chainOf(t testing.TB, js []byte) (chain string, seq int64, prev, hash string) {
	t.Helper()
	var doc struct {
		Extension []struct {
			URL       string `json:"url"`
			Extension []struct {
				URL          string `json:"url"`
				ValueString  string `json:"valueString"`
				ValueInteger int64  `json:"valueInteger"`
			} `json:"extension"`
		} `json:"extension"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	for _, e := range doc.Extension {
		if e.URL != audit.ChainURL {
			continue
		}
		for _, s := range e.Extension {
			switch s.URL {
			case "chain":
				chain = s.ValueString
			case "seq":
				seq = s.ValueInteger
			case "prev":
				prev = s.ValueString
			case "hash":
				hash = s.ValueString
			}
		}
		return
	}
	t.Fatalf("no chain extension in %s", js)
	return
}
