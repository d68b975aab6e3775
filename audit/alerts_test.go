package audit

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAlertsCarryNoPHI(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, fmt.Sprint(r.URL, r.Header, string(body)))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	rec := alertRecords(t)
	night := time.Date(2026, 3, 10, 23, 0, 0, 0, time.UTC)
	h := newHarness(t, AlertConfig{Webhook: srv.URL, Records: rec, queue: 2})
	h.now = night

	pid := func(i int) string { return fmt.Sprintf("pat-7c1e%04d", i) }
	var ids []string
	for i := range 60 {
		ids = append(ids, pid(i))
	}
	bg := readAccess("onc-1", "oncologist", 1, pid(0))
	bg.BreakGlass = true
	h.observe(bg)                                                     // break-glass, after-hours
	h.observe(searchAccess("onc-1", "oncologist", false, ids[:3]...)) // broad search
	h.observe(readAccess("onc-1", "oncologist", 1200, ids...))        // mass download, many patients
	for range 11 {
		h.observe(Access{User: "onc-1", Role: "oncologist", Interaction: "read", Status: 404, Patients: ids[:1]})
		h.observe(Access{RemoteAddr: "192.0.2.1", Interaction: "read", Status: 401, Patients: ids[:1]})
	}
	for _, d := range []string{DetectBreakGlass, DetectAfterHours, DetectBroadSearch, DetectMassDownload, DetectManyPatients, DetectRefusals} {
		if h.fired(d) == 0 {
			t.Fatalf("%s did not fire; the test would prove nothing:\n%s", d, h.log)
		}
	}
	flush(t, h.a)

	list, err := ListAlerts(t.Context(), rec, time.Time{})
	if err != nil || len(list) == 0 {
		t.Fatalf("list: %v, %v", list, err)
	}
	var stored strings.Builder
	all, _ := rec.FindRecords(t.Context(), AlertKind, "", "")
	for _, r := range all {
		fmt.Fprint(&stored, r.Key, r.Attrs, string(r.Data))
	}
	mu.Lock()
	hook := strings.Join(bodies, "\n")
	mu.Unlock()
	if hook == "" {
		t.Fatal("the webhook received nothing")
	}
	for name, out := range map[string]string{"log": h.log.String(), "webhook": hook, "list": stored.String()} {
		if !strings.Contains(out, "onc-1") {
			t.Fatalf("%s does not name the user; is it the output?\n%s", name, out)
		}
		for _, id := range ids {
			if strings.Contains(out, id) {
				t.Fatalf("%s carries patient id %s:\n%s", name, id, out)
			}
		}
		if strings.Contains(out, "pat-7c1e") {
			t.Fatalf("%s carries part of a patient id:\n%s", name, out)
		}
	}
}

func (a *Alerts) subjects() int {
	n := 0
	for i := range a.shards {
		sh := &a.shards[i]
		sh.mu.Lock()
		n += sh.lru.Len()
		if len(sh.byKey) != sh.lru.Len() {
			panic("shard index and list disagree")
		}
		sh.mu.Unlock()
	}
	return n
}

func TestAlertsMemoryIsBounded(t *testing.T) {
	t.Run("idle subjects are forgotten", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		for i := range 1000 {
			h.observe(refusalAccess("", "", fmt.Sprint("10.1.", i/256, ".", i%256), 401))
		}
		if n := h.a.subjects(); n != 1000 {
			t.Fatalf("%d subjects, want 1000", n)
		}
		h.advance(10*time.Minute + time.Second)
		for i := range 300 {
			h.observe(readAccess(fmt.Sprint("u", i), "nurse", 1, "p1"))
		}
		if n := h.a.subjects(); n != 300 {
			t.Fatalf("%d subjects after the others idled, want 300", n)
		}
	})
	t.Run("past the bound the least recently seen go", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		for i := range alertMaxSubjects + 5000 {
			h.observe(refusalAccess("", "", fmt.Sprint("addr-", i), 401))
		}
		if n := h.a.subjects(); n > alertMaxSubjects {
			t.Fatalf("%d subjects, bound %d", n, alertMaxSubjects)
		}
	})
	t.Run("distinct patients per subject stop at one past the highest threshold", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		for i := range 100 {
			h.observe(Access{Client: "bulk", Status: 200, Resources: 1000, Patients: patientIDs(fmt.Sprint("b", i), 100)})
		}
		sh := &h.a.shards[0]
		for i := range h.a.shards {
			if h.a.shards[i].lru.Len() > 0 {
				sh = &h.a.shards[i]
			}
		}
		s := sh.lru.Front().Value.(*alertSubject)
		kept := 0
		for _, in := range s.patients.in {
			kept += len(in)
		}
		if len(s.patients.last) != 51 || kept != 51 {
			t.Fatalf("kept %d patients, %d entries; want 51", len(s.patients.last), kept)
		}
	})
}

func TestAlertsConcurrentObserve(t *testing.T) {
	h := newHarness(t, AlertConfig{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				h.a.Observe(readAccess(fmt.Sprint("u", i%4), "admin", 10, fmt.Sprint("p", g)))
			}
		})
	}
	wg.Wait()
	if n := h.fired(DetectMassDownload); n != 4 {
		t.Fatalf("%d mass-download alerts for 4 users, want 4", n)
	}
}

func BenchmarkAlertsObserve(b *testing.B) {
	a := NewAlerts(AlertConfig{})
	defer a.Close(b.Context())
	users := patientIDs("u", 256)
	pats := []string{"p1"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			a.Observe(Access{User: users[i%len(users)], Role: "patient", Interaction: "read", Status: 200, Resources: 1, Patients: pats})
		}
	})
}
