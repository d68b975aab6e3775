package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// alertLogBuffer is a log destination safe for the delivery goroutines.
type alertLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *alertLogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *alertLogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// alertHarness runs the detectors on an injected clock and reads the alerts
// back from the log, one JSON line each.
type alertHarness struct {
	t   *testing.T
	a   *Alerts
	now time.Time
	log *alertLogBuffer
}

// alertTuesday10 is a Tuesday morning, inside working hours everywhere tested.
var alertTuesday10 = time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, cfg AlertConfig) *alertHarness {
	t.Helper()
	h := &alertHarness{t: t, now: alertTuesday10, log: &alertLogBuffer{}}
	cfg.Logger = slog.New(slog.NewJSONHandler(h.log, nil))
	cfg.Now = func() time.Time { return h.now }
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	h.a = NewAlerts(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.a.Close(ctx)
	})
	return h
}

func (h *alertHarness) observe(x Access) { h.a.Observe(x) }

func (h *alertHarness) advance(d time.Duration) { h.now = h.now.Add(d) }

// alerts are the alert log lines so far.
func (h *alertHarness) alerts() []map[string]any {
	h.t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewBufferString(h.log.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			h.t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if m["msg"] == "audit alert" {
			out = append(out, m)
		}
	}
	return out
}

// fired counts the alerts of detector.
func (h *alertHarness) fired(detector string) int {
	n := 0
	for _, m := range h.alerts() {
		if m["detector"] == detector {
			n++
		}
	}
	return n
}

func (h *alertHarness) expect(detector string, n int) {
	h.t.Helper()
	if got := h.fired(detector); got != n {
		h.t.Fatalf("%s alerts: got %d, want %d; log:\n%s", detector, got, n, h.log.String())
	}
}

func patientIDs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func readAccess(user, role string, resources int, pats ...string) Access {
	return Access{User: user, Role: role, Client: "portal", Interaction: "read", Status: 200, Resources: resources, Patients: pats}
}

func TestDetectMassDownload(t *testing.T) {
	t.Run("1,000 resources in the window → quiet; one more → alert", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		for range 10 {
			h.observe(readAccess("u1", "oncologist", 100, "p1"))
			h.advance(time.Second)
		}
		h.expect(DetectMassDownload, 0)
		h.observe(readAccess("u1", "oncologist", 1, "p1"))
		h.expect(DetectMassDownload, 1)
		m := h.alerts()[0]
		if m["subject"] != "u1" || m["subject_kind"] != "user" || m["resources"] != 1001.0 || m["patients"] != 1.0 || m["window"] != "10m0s" || m["level"] != "WARN" {
			t.Fatalf("alert line: %v", m)
		}
	})
	t.Run("50 distinct patients → quiet; 51 → alert", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		for _, p := range patientIDs("p", 50) {
			h.observe(readAccess("admin1", "admin", 1, p))
		}
		h.observe(readAccess("admin1", "admin", 1, "p-0", "p-1")) // seen already
		h.expect(DetectMassDownload, 0)
		h.observe(readAccess("admin1", "admin", 1, "p-50"))
		h.expect(DetectMassDownload, 1)
	})
	t.Run("the window slides: what is older than 10 minutes no longer counts", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		h.observe(readAccess("u1", "oncologist", 600, "p1"))
		h.advance(10*time.Minute + time.Second)
		h.observe(readAccess("u1", "oncologist", 600, "p1"))
		h.expect(DetectMassDownload, 0)
		h.advance(8 * time.Minute) // the second 600 are still inside
		h.observe(readAccess("u1", "oncologist", 401, "p1"))
		h.expect(DetectMassDownload, 1)
	})
	t.Run("once per window, again in the next one", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		h.observe(readAccess("u1", "oncologist", 1001, "p1"))
		for range 20 {
			h.advance(20 * time.Second)
			h.observe(readAccess("u1", "oncologist", 1001, "p1"))
		}
		h.expect(DetectMassDownload, 1) // 6m40s later: still the same window
		h.advance(4 * time.Minute)
		h.observe(readAccess("u1", "oncologist", 1001, "p1"))
		h.expect(DetectMassDownload, 2)
	})
	t.Run("counted per user: people sharing one app are not one actor", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		h.observe(readAccess("u1", "patient", 600, "p1"))
		h.observe(readAccess("u2", "patient", 600, "p2"))
		h.expect(DetectMassDownload, 0)
	})
	t.Run("a backend service is counted by client id", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		h.observe(Access{Client: "registry-sync", Interaction: "search-system", Status: 200, Resources: 900, Patients: []string{"p1"}})
		h.observe(Access{Client: "registry-sync", Interaction: "search-system", Status: 200, Resources: 200, Patients: []string{"p2"}})
		h.expect(DetectMassDownload, 1)
		if m := h.alerts()[0]; m["subject_kind"] != "client" || m["subject"] != "registry-sync" {
			t.Fatalf("alert line: %v", m)
		}
	})
	t.Run("configured thresholds; a negative one is off", func(t *testing.T) {
		h := newHarness(t, AlertConfig{MassResources: 10, MassPatients: -1, MassWindow: time.Minute})
		h.observe(readAccess("u1", "admin", 5, patientIDs("p", 60)...))
		h.expect(DetectMassDownload, 0)
		h.observe(readAccess("u1", "admin", 6, "p1"))
		h.expect(DetectMassDownload, 1)
	})
	t.Run("refused requests return nothing and count nothing", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		x := readAccess("u1", "oncologist", 2000, "p1")
		x.Status = 403
		h.observe(x)
		h.expect(DetectMassDownload, 0)
	})
}

func TestDetectAfterHours(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	at := func(day, hour, min int) time.Time { return time.Date(2026, 3, day, hour, min, 0, 0, berlin) }
	for _, c := range []struct {
		name string
		x    Access
		when time.Time
		want int
	}{
		{"an oncologist at 21:30 Berlin time → alert", readAccess("u1", "oncologist", 1, "p1"), at(10, 21, 30), 1},
		{"an oncologist at 06:59 → alert", readAccess("u1", "oncologist", 1, "p1"), at(10, 6, 59), 1},
		{"an oncologist at 20:00 → alert", readAccess("u1", "oncologist", 1, "p1"), at(10, 20, 0), 1},
		{"an oncologist at 07:00 → quiet", readAccess("u1", "oncologist", 1, "p1"), at(10, 7, 0), 0},
		{"an oncologist at noon → quiet", readAccess("u1", "oncologist", 1, "p1"), at(10, 12, 0), 0},
		{"20:30 UTC is 21:30 in Berlin → alert", readAccess("u1", "oncologist", 1, "p1"), time.Date(2026, 3, 10, 20, 30, 0, 0, time.UTC), 1},
		{"an admin at night → alert", readAccess("u1", "admin", 1, "p1"), at(10, 23, 0), 1},
		{"a patient reading their own record at night → quiet", readAccess("u1", "patient", 1, "p1"), at(10, 23, 0), 0},
		{"a caregiver at night → quiet", readAccess("u1", "proxy", 1, "p1"), at(10, 23, 0), 0},
		{"a backend service at night → quiet", Access{Client: "sync", Status: 200, Resources: 1, Patients: []string{"p1"}}, at(10, 23, 0), 0},
		{"staff reading no patient's data at night → quiet", readAccess("u1", "oncologist", 3), at(10, 23, 0), 0},
		{"a refused request at night → quiet", Access{User: "u1", Role: "oncologist", Status: 403}, at(10, 23, 0), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, AlertConfig{Location: berlin})
			c.x.Time = c.when
			h.observe(c.x)
			h.expect(DetectAfterHours, c.want)
		})
	}
	t.Run("once per user and night, even after idling longer than the windows", func(t *testing.T) {
		h := newHarness(t, AlertConfig{Location: berlin})
		for _, when := range []time.Time{at(10, 21, 0), at(10, 23, 30), at(11, 2, 0), at(11, 6, 45)} {
			x := readAccess("u1", "nurse", 1, "p1")
			x.Time = when
			h.observe(x)
			x.User = "u2"
			h.observe(x)
		}
		h.expect(DetectAfterHours, 2)
		x := readAccess("u1", "nurse", 1, "p1")
		x.Time = at(11, 20, 5) // the next night
		h.observe(x)
		h.expect(DetectAfterHours, 3)
	})
	t.Run("a night across the change to summer time is one night", func(t *testing.T) {
		h := newHarness(t, AlertConfig{Location: berlin})
		for _, when := range []time.Time{at(28, 22, 0), at(29, 3, 30), at(29, 6, 30)} {
			x := readAccess("u1", "nurse", 1, "p1")
			x.Time = when
			h.observe(x)
		}
		h.expect(DetectAfterHours, 1)
	})
	t.Run("configured hours within one day", func(t *testing.T) {
		h := newHarness(t, AlertConfig{Location: time.UTC, AfterHoursStart: 1 * time.Hour, AfterHoursEnd: 5 * time.Hour})
		for _, c := range []struct {
			hour int
			want int
		}{{0, 0}, {23, 0}, {1, 1}, {4, 1}, {5, 1}} {
			x := readAccess("u1", "nurse", 1, "p1")
			x.Time = time.Date(2026, 3, 10, c.hour, 0, 0, 0, time.UTC)
			h.observe(x)
			h.expect(DetectAfterHours, c.want)
		}
	})
}

func searchAccess(user, role string, criteria bool, pats ...string) Access {
	return Access{User: user, Role: role, Client: "portal", Interaction: "search-type", Status: 200,
		Resources: len(pats), Patients: pats, PatientCriteria: criteria}
}

func TestDetectBroadSearch(t *testing.T) {
	for _, c := range []struct {
		name string
		x    Access
		want int
	}{
		{"a search naming no patient that returns two patients' data → alert", searchAccess("u1", "oncologist", false, "p1", "p2"), 1},
		{"a type history naming no patient → alert", func() Access {
			x := searchAccess("u1", "nurse", false, "p1", "p2")
			x.Interaction = "history-type"
			return x
		}(), 1},
		{"a search that finds one patient (a lookup) → quiet", searchAccess("u1", "oncologist", false, "p1"), 0},
		{"a search naming a patient → quiet", searchAccess("u1", "oncologist", true, "p1", "p2"), 0},
		{"an admin's search → quiet", searchAccess("u1", "admin", false, "p1", "p2"), 0},
		{"an auditor's search → quiet", searchAccess("u1", "auditor", false, "p1", "p2"), 0},
		{"a backend service's search → quiet", Access{Client: "sync", Interaction: "search-system", Status: 200, Resources: 2, Patients: []string{"p1", "p2"}}, 0},
		{"a search returning no patient's data → quiet", searchAccess("u1", "oncologist", false), 0},
		{"$everything is about one patient → quiet", func() Access {
			x := searchAccess("u1", "oncologist", false, "p1", "p2")
			x.Interaction = "everything"
			return x
		}(), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, AlertConfig{})
			h.observe(c.x)
			h.expect(DetectBroadSearch, c.want)
		})
	}
	t.Run("once per window", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		h.observe(searchAccess("u1", "oncologist", false, "p1", "p2"))
		h.advance(9 * time.Minute)
		h.observe(searchAccess("u1", "oncologist", false, "p1", "p2"))
		h.expect(DetectBroadSearch, 1)
		h.advance(2 * time.Minute)
		h.observe(searchAccess("u1", "oncologist", false, "p1", "p2"))
		h.expect(DetectBroadSearch, 2)
	})
}

func TestDetectManyPatients(t *testing.T) {
	t.Run("20 distinct patients → quiet; 21 → alert", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		for _, p := range patientIDs("p", 20) {
			h.observe(readAccess("u1", "nurse", 1, p))
			h.observe(readAccess("u1", "nurse", 1, p)) // again: still one
			h.advance(10 * time.Second)
		}
		h.expect(DetectManyPatients, 0)
		h.observe(readAccess("u1", "nurse", 1, "p-20"))
		h.expect(DetectManyPatients, 1)
		if m := h.alerts()[0]; m["patients"] != 21.0 || m["threshold"] != 20.0 {
			t.Fatalf("alert line: %v", m)
		}
	})
	t.Run("patients seen only before the window no longer count", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		h.observe(readAccess("u1", "nurse", 15, patientIDs("old", 15)...))
		h.advance(5 * time.Minute)
		h.observe(readAccess("u1", "nurse", 1, "old-0")) // seen again: stays inside
		h.advance(5*time.Minute + time.Second)
		h.observe(readAccess("u1", "nurse", 20, patientIDs("new", 20)...))
		h.expect(DetectManyPatients, 1) // 20 new + old-0
		h2 := newHarness(t, AlertConfig{})
		h2.observe(readAccess("u1", "nurse", 15, patientIDs("old", 15)...))
		h2.advance(10*time.Minute + time.Second)
		h2.observe(readAccess("u1", "nurse", 20, patientIDs("new", 20)...))
		h2.expect(DetectManyPatients, 0)
	})
	t.Run("admins and auditors are not confined", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		h.observe(readAccess("a1", "admin", 30, patientIDs("p", 30)...))
		h.observe(readAccess("a2", "auditor", 30, patientIDs("p", 30)...))
		h.expect(DetectManyPatients, 0)
	})
	t.Run("once per window", func(t *testing.T) {
		h := newHarness(t, AlertConfig{BroadPatients: 2})
		for i := range 30 {
			h.observe(readAccess("u1", "nurse", 1, fmt.Sprint("p", i)))
			h.advance(time.Second)
		}
		h.expect(DetectManyPatients, 1)
	})
}

func refusalAccess(user, client, addr string, status int) Access {
	return Access{User: user, Client: client, RemoteAddr: addr, Interaction: "read", Status: status}
}

func TestDetectRefusals(t *testing.T) {
	t.Run("10 refusals → quiet; the 11th → alert; 401, 403 and 404 count, 400 does not", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		for i := range 10 {
			h.observe(refusalAccess("u1", "portal", "10.0.0.1", []int{401, 403, 404}[i%3]))
			h.observe(refusalAccess("u1", "portal", "10.0.0.1", 400))
			h.observe(refusalAccess("u1", "portal", "10.0.0.1", 200))
		}
		h.expect(DetectRefusals, 0)
		h.observe(refusalAccess("u1", "portal", "10.0.0.1", 404))
		h.expect(DetectRefusals, 1)
		if m := h.alerts()[0]; m["subject"] != "u1" || m["refusals"] != 11.0 || m["window"] != "5m0s" {
			t.Fatalf("alert line: %v", m)
		}
	})
	t.Run("without a token, counted by remote address", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		for range 11 {
			h.observe(refusalAccess("", "", "203.0.113.9", 401))
			h.observe(refusalAccess("", "", "203.0.113.10", 401))
		}
		h.expect(DetectRefusals, 2)
		if m := h.alerts()[0]; m["subject_kind"] != "address" || m["subject"] != "203.0.113.9" {
			t.Fatalf("alert line: %v", m)
		}
	})
	t.Run("the window slides", func(t *testing.T) {
		h := newHarness(t, AlertConfig{})
		for range 6 {
			h.observe(refusalAccess("u1", "portal", "", 403))
		}
		h.advance(5*time.Minute + time.Second)
		for range 6 {
			h.observe(refusalAccess("u1", "portal", "", 403))
		}
		h.expect(DetectRefusals, 0)
	})
	t.Run("once per window, again in the next one", func(t *testing.T) {
		h := newHarness(t, AlertConfig{RefusalCount: 2, RefusalWindow: time.Minute})
		for range 30 {
			h.observe(refusalAccess("", "sync", "", 403))
			h.advance(time.Second)
		}
		h.expect(DetectRefusals, 1)
		h.advance(time.Minute)
		for range 3 {
			h.observe(refusalAccess("", "sync", "", 403))
		}
		h.expect(DetectRefusals, 2)
	})
}

func TestDetectBreakGlass(t *testing.T) {
	h := newHarness(t, AlertConfig{})
	x := readAccess("u1", "oncologist", 1, "p1")
	h.observe(x)
	h.expect(DetectBreakGlass, 0)
	x.BreakGlass = true
	h.observe(x)
	h.expect(DetectBreakGlass, 1)
	h.advance(time.Minute)
	h.observe(x)
	h.expect(DetectBreakGlass, 1)
	h.advance(10 * time.Minute)
	h.observe(x)
	h.expect(DetectBreakGlass, 2)
	x.User = "u2"
	h.observe(x)
	h.expect(DetectBreakGlass, 3)
}
