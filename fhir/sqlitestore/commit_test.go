package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
	"github.com/oncofhir/oncofhir/fhir/storetest"
)

var errUnit = errors.New("the unit gives up")

func created(id string) *fhir.Resource {
	return &fhir.Resource{Type: "Patient", ID: id, Version: 1, Method: "POST", LastUpdated: storetest.Epoch,
		JSON: fmt.Appendf(nil, `{"resourceType":"Patient","id":%q}`, id)}
}

// holdWriter starts a unit that creates Patient/id and holds the writer
// connection until release is closed; it returns once the unit runs.
func holdWriter(t *testing.T, s *sqlitestore.Store, id string, release <-chan struct{}) <-chan error {
	t.Helper()
	running, result := make(chan struct{}), make(chan error, 1)
	go func() {
		var once sync.Once
		result <- s.Write(context.Background(), func(tx fhir.Tx) error {
			once.Do(func() { close(running) })
			<-release
			return tx.Put(created(id))
		})
	}()
	<-running
	return result
}

// waitForWaiting waits until n writers are in line for the connection.
func waitForWaiting(t *testing.T, s *sqlitestore.Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); sqlitestore.Waiting(s) != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d writers waiting, want %d", sqlitestore.Waiting(s), n)
		}
	}
}

func TestQueuedUnitsShareOneCommit(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	release := make(chan struct{})
	first := holdWriter(t, s, "first", release)
	const queued = 5
	results := make(chan error, queued)
	for i := range queued {
		go func() { results <- put(context.Background(), s, created(fmt.Sprintf("q%d", i))) }()
	}
	waitForWaiting(t, s, queued)
	before := sqlitestore.Commits(s)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range queued {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if n := sqlitestore.Commits(s) - before; n != 1 {
		t.Errorf("%d units committed in %d transactions, want 1", queued+1, n)
	}
	for _, id := range []string{"first", "q0", "q4"} {
		if _, err := s.Read(context.Background(), "Patient", id); err != nil {
			t.Errorf("Read %s: %v", id, err)
		}
	}
}

func TestAFailedUnitIsUndoneAloneInASharedCommit(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	release := make(chan struct{})
	first := holdWriter(t, s, "first", release)
	units := map[string]func(tx fhir.Tx) error{
		"kept1": func(tx fhir.Tx) error { return tx.Put(created("kept1")) },
		"kept2": func(tx fhir.Tx) error { return tx.Put(created("kept2")) },
		"failed": func(tx fhir.Tx) error {
			if err := tx.Put(created("failed")); err != nil {
				return err
			}
			return errUnit
		},
		"panicked": func(tx fhir.Tx) error {
			if err := tx.Put(created("panicked")); err != nil {
				return err
			}
			panic(errUnit)
		},
		"conflict": func(tx fhir.Tx) error {
			if err := tx.Put(created("conflict")); err != nil {
				return err
			}
			return tx.Put(created("first")) // exists once the first unit has run
		},
	}
	var mu sync.Mutex
	got := map[string]any{}
	var wg sync.WaitGroup
	for name, fn := range units {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					mu.Lock()
					got[name] = p
					mu.Unlock()
				}
			}()
			err := s.Write(context.Background(), fn)
			mu.Lock()
			got[name] = err
			mu.Unlock()
		}()
	}
	waitForWaiting(t, s, len(units))
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if got["kept1"] != nil || got["kept2"] != nil {
		t.Errorf("kept units: %v, %v", got["kept1"], got["kept2"])
	}
	if err, _ := got["failed"].(error); !errors.Is(err, errUnit) {
		t.Errorf("failed unit: %v", got["failed"])
	}
	if got["panicked"] != errUnit {
		t.Errorf("panicking unit: %v, want its panic", got["panicked"])
	}
	if err, _ := got["conflict"].(error); !errors.Is(err, fhir.ErrVersionConflict) {
		t.Errorf("conflicting unit: %v", got["conflict"])
	}
	for id, want := range map[string]bool{"first": true, "kept1": true, "kept2": true, "failed": false, "panicked": false, "conflict": false} {
		_, err := s.Read(context.Background(), "Patient", id)
		if want && err != nil {
			t.Errorf("Read %s: %v", id, err)
		}
		if !want && !errors.Is(err, fhir.ErrNotFound) {
			t.Errorf("Read %s: %v, want ErrNotFound", id, err)
		}
	}
}

// A unit leaves its batch open for the writer in line, which then gives
// up: the batch is committed all the same.
func TestABatchLeftForAWriterThatGivesUpIsCommitted(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	handedOff := false
	sqlitestore.SetHandOffHook(func() {
		handedOff = true
		cancel() // the writer in line gives up while the batch is open
		for deadline := time.Now().Add(5 * time.Second); sqlitestore.Waiting(s) != 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	})
	defer sqlitestore.SetHandOffHook(nil)

	release := make(chan struct{})
	first := holdWriter(t, s, "first", release)
	late := make(chan error, 1)
	go func() { late <- put(ctx, s, created("late")) }()
	waitForWaiting(t, s, 1)
	close(release)
	select {
	case err := <-first:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the batch left open was never committed")
	}
	if !handedOff {
		t.Fatal("the first unit did not leave its batch open")
	}
	if err := <-late; !errors.Is(err, context.Canceled) {
		t.Errorf("the writer that gave up: %v", err)
	}
	if _, err := s.Read(context.Background(), "Patient", "first"); err != nil {
		t.Error(err)
	}
	if _, err := s.Read(context.Background(), "Patient", "late"); !errors.Is(err, fhir.ErrNotFound) {
		t.Errorf("Read late: %v, want ErrNotFound", err)
	}
}
