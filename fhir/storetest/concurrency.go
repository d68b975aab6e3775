package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

const (
	writers         = 8
	putsPerWriter   = 25
	maxAttemptsEach = 5000 // a store that never lets a writer through fails instead of hanging
)

var concurrencyBehaviours = []behaviour{
	{name: "concurrent read-modify-write loses no update", run: func(e *env) {
		e.create("Basic", "counter")
		var wg sync.WaitGroup
		var conflicts atomic.Int64
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i, attempts := 0, 0; i < putsPerWriter; attempts++ {
					if attempts == maxAttemptsEach {
						e.t.Errorf("writer %d: %d attempts for %d Puts", w, attempts, i)
						return
					}
					cur, err := e.s.Read(e.ctx, "Basic", "counter")
					if err != nil {
						e.t.Errorf("writer %d: Read: %v", w, err)
						return
					}
					at := e.clock.Next()
					next := &fhir.Resource{Type: "Basic", ID: "counter", Version: cur.Version + 1, LastUpdated: at,
						Method: "PUT", JSON: resourceJSON("Basic", "counter", cur.Version+1, at, fmt.Sprintf("w%d-%d", w, i))}
					err = e.s.Write(e.ctx, func(tx fhir.Tx) error { return tx.Put(next) })
					switch {
					case errors.Is(err, fhir.ErrVersionConflict):
						conflicts.Add(1)
					case err != nil:
						e.t.Errorf("writer %d: Write: %v", w, err)
						return
					default:
						i++
					}
				}
			}()
		}
		wg.Wait()
		if e.t.Failed() {
			return
		}
		e.t.Logf("%d conflicts retried", conflicts.Load())

		const total = 1 + writers*putsPerWriter
		if cur := e.read("Basic", "counter"); cur.Version != total {
			e.t.Errorf("current version = %d, want %d (one per successful Put)", cur.Version, total)
		}
		hist := e.walk(fhir.HistoryQuery{Type: "Basic", ID: "counter"}, 50)
		if len(hist) != total {
			e.t.Fatalf("history holds %d versions, want %d", len(hist), total)
		}
		seen := map[string]int{}
		for i, r := range hist {
			if want := total - i; r.Version != want {
				e.t.Errorf("history entry %d is version %d, want %d", i, r.Version, want)
			}
			var body struct{ Marker string }
			if err := json.Unmarshal(r.JSON, &body); err != nil {
				e.t.Fatalf("version %d: %v", r.Version, err)
			}
			seen[body.Marker]++
		}
		for w := range writers {
			for i := range putsPerWriter {
				if m := fmt.Sprintf("w%d-%d", w, i); seen[m] != 1 {
					e.t.Errorf("marker %s is in %d versions, want exactly 1", m, seen[m])
				}
			}
		}
	}},

	{name: "concurrent creates of one resource: exactly one wins", run: func(e *env) {
		var wg sync.WaitGroup
		var won, lost atomic.Int64
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				at := e.clock.Next()
				r := &fhir.Resource{Type: "Patient", ID: "same", Version: 1, LastUpdated: at, Method: "PUT",
					JSON: resourceJSON("Patient", "same", 1, at, fmt.Sprintf("w%d", w))}
				err := e.s.Write(e.ctx, func(tx fhir.Tx) error { return tx.Put(r) })
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, fhir.ErrVersionConflict):
					lost.Add(1)
				default:
					e.t.Errorf("writer %d: %v", w, err)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 || lost.Load() != writers-1 {
			e.t.Errorf("%d creates won and %d lost, want 1 and %d", won.Load(), lost.Load(), writers-1)
		}
		if got := e.walk(fhir.HistoryQuery{Type: "Patient", ID: "same"}, 0); len(got) != 1 {
			e.t.Errorf("history = %v, want one version", versionKeys(got))
		}
	}},

	{name: "Close succeeds", ownsStore: true, run: func(e *env) {
		e.s = e.newStore(e.t)
		e.create("Patient", "a")
		if err := e.s.Close(); err != nil {
			e.t.Fatalf("Close: %v", err)
		}
	}},

	{name: "Close waits for the write in progress", ownsStore: true, run: func(e *env) {
		e.s = e.newStore(e.t)
		r := e.first("Patient", "a")
		started, release := make(chan struct{}), make(chan struct{})
		var once sync.Once // fn may run more than once
		written := make(chan error, 1)
		go func() {
			written <- e.s.Write(e.ctx, func(tx fhir.Tx) error {
				err := tx.Put(r)
				once.Do(func() { close(started) })
				if err != nil {
					return err
				}
				<-release
				return nil
			})
		}()
		<-started
		closed := make(chan error, 1)
		go func() { closed <- e.s.Close() }()
		select {
		case err := <-closed:
			close(release)
			e.t.Fatalf("Close returned (%v) while a write was in progress", err)
		case <-time.After(100 * time.Millisecond):
		}
		close(release)
		if err := <-written; err != nil {
			e.t.Errorf("the write in progress: %v", err)
		}
		if err := <-closed; err != nil {
			e.t.Errorf("Close: %v", err)
		}
	}},
}
