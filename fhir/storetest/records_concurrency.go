package storetest

import (
	"errors"
	"strconv"
	"sync"

	"github.com/oncofhir/oncofhir/fhir"
)

const (
	recordWriters    = 8
	incrementsEach   = 10
	maxRecordRetries = 2000 // a store that never lets a writer through fails instead of hanging
)

// racingIncrements has writers increment one counter record by
// read-modify-write, retrying on conflict: the count must come out exact
// and every revision must have gone to exactly one writer.
func racingIncrements(e *recEnv) {
	e.put(rec("counter", "c", "0", live()))
	var wg sync.WaitGroup
	var mu sync.Mutex
	wonRev := map[int64]int{}
	for w := range recordWriters {
		wg.Go(func() {
			for done, attempts := 0, 0; done < incrementsEach; attempts++ {
				if attempts == maxRecordRetries {
					e.t.Errorf("writer %d: %d attempts for %d increments", w, attempts, done)
					return
				}
				cur, err := e.r.GetRecord(e.ctx, "counter", "c")
				if err != nil {
					e.t.Errorf("writer %d: GetRecord: %v", w, err)
					return
				}
				n, err := strconv.Atoi(string(cur.Data))
				if err != nil {
					e.t.Errorf("writer %d: counter %q: %v", w, cur.Data, err)
					return
				}
				prev := cur.Rev
				cur.Data = []byte(strconv.Itoa(n + 1))
				err = e.r.PutRecord(e.ctx, cur)
				switch {
				case errors.Is(err, fhir.ErrVersionConflict):
					continue
				case err != nil:
					e.t.Errorf("writer %d: PutRecord: %v", w, err)
					return
				}
				if cur.Rev <= prev {
					e.t.Errorf("writer %d: Rev went from %d to %d", w, prev, cur.Rev)
				}
				mu.Lock()
				wonRev[cur.Rev]++
				mu.Unlock()
				done++
			}
		})
	}
	wg.Wait()
	if e.t.Failed() {
		return
	}
	const total = recordWriters * incrementsEach
	got := e.get("counter", "c")
	if string(got.Data) != strconv.Itoa(total) {
		e.t.Errorf("counter = %s, want %d", got.Data, total)
	}
	if got.Rev != total+1 {
		e.t.Errorf("Rev = %d, want %d", got.Rev, total+1)
	}
	for rev := int64(2); rev <= total+1; rev++ {
		if wonRev[rev] != 1 {
			e.t.Errorf("revision %d was won by %d writers, want 1", rev, wonRev[rev])
		}
	}
}

// racingCreates has writers create one record at once, over an expired
// one if overExpired: one of them wins, and its record is the one stored.
func racingCreates(overExpired bool) func(e *recEnv) {
	return func(e *recEnv) {
		if overExpired {
			e.put(rec("oauth.code", "c1", `{"old":true}`, expired()))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []*fhir.Record
		lost := 0
		for w := range recordWriters {
			wg.Go(func() {
				r := rec("oauth.code", "c1", `{"w":`+strconv.Itoa(w)+`}`, live())
				err := e.r.PutRecord(e.ctx, r)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, r)
				case errors.Is(err, fhir.ErrVersionConflict):
					lost++
				default:
					e.t.Errorf("writer %d: %v", w, err)
				}
			})
		}
		wg.Wait()
		if len(winners) != 1 || lost != recordWriters-1 {
			e.t.Fatalf("%d creates won and %d lost, want 1 and %d", len(winners), lost, recordWriters-1)
		}
		sameRecord(e.t, e.get("oauth.code", "c1"), winners[0])
		if !overExpired && winners[0].Rev != 1 {
			e.t.Errorf("Rev = %d, want 1", winners[0].Rev)
		}
	}
}
