package audit

import (
	"fmt"
	"time"
)

// The detectors. Each alerts at most once per subject and window: once it
// has fired for a subject, further requests within the window that fired
// it stay quiet (the after-hours detector: within the same night).
const (
	// DetectMassDownload: one subject received more than MassResources
	// resources, or data of more than MassPatients distinct patients,
	// within MassWindow. It watches every subject; for requests made by a
	// user the subject is the user, so an app many people use (the portal)
	// is not one actor; backend services are watched by client id.
	DetectMassDownload = "mass-download"
	// DetectAfterHours: a staff user read or wrote patient data outside
	// working hours. Staff means any role but patient and proxy (so
	// clinicians, auditors and admins): patients and caregivers reading
	// their own records at night is normal, and backend services run at
	// night by design (mass download watches their volume).
	DetectAfterHours = "after-hours"
	// DetectBroadSearch: a user whose role is neither admin nor auditor
	// ran a search or a type- or system-level history that named no
	// patient and returned data of two or more patients. A search that
	// finds one patient (by identifier, say) is how clinicians look a
	// patient up; patients and caregivers always search within their own
	// context. Backend services are exempt: system-level queries are what
	// they are registered for.
	DetectBroadSearch = "broad-search"
	// DetectManyPatients: a user whose role is neither admin nor auditor
	// touched data of more than BroadPatients distinct patients within
	// MassWindow, whatever the queries looked like.
	DetectManyPatients = "many-patients"
	// DetectRefusals: more than RefusalCount requests refused (401, 403,
	// 404) within RefusalWindow, counted by user, by client for backend
	// services, and by remote address for requests without a valid token.
	DetectRefusals = "repeated-refusals"
	// DetectBreakGlass: any emergency access; once per user and MassWindow.
	DetectBreakGlass = "break-glass"
)

// Detector indexes, for the per-subject "last fired" times.
const (
	dMass = iota
	dBroadSearch
	dManyPatients
	dRefusals
	dBreakGlass
	nDetectors
)

// windowBuckets is how many slices a sliding window is kept in: counts
// cover the last window to within a tenth of it (an event older than the
// window never counts; one younger than nine tenths of it always does).
const windowBuckets = 10

func windowBucket(t time.Time, width time.Duration) int64 {
	n := t.UnixNano()
	b := n / int64(width)
	if n < 0 && n%int64(width) != 0 {
		b--
	}
	return b
}

func windowSlot(b int64) int { return int((b%windowBuckets + windowBuckets) % windowBuckets) }

func bucketWidth(window time.Duration) time.Duration {
	return max(window/windowBuckets, 1)
}

// alertCounter sums events over a sliding window, in constant memory.
type alertCounter struct {
	head   int64 // bucket of the latest event
	counts [windowBuckets]int
	sum    int
}

// add counts n at bucket b (a late event counts in the latest bucket) and
// returns the sum over the window.
func (c *alertCounter) add(b int64, n int) int {
	c.advance(b)
	c.counts[windowSlot(c.head)] += n
	c.sum += n
	return c.sum
}

func (c *alertCounter) advance(b int64) {
	if b <= c.head {
		return
	}
	if b-c.head >= windowBuckets {
		c.counts, c.sum = [windowBuckets]int{}, 0
	} else {
		for i := c.head + 1; i <= b; i++ {
			c.sum -= c.counts[windowSlot(i)]
			c.counts[windowSlot(i)] = 0
		}
	}
	c.head = b
}

// alertDistinct counts distinct values (patient ids) over a sliding
// window. A value is listed once per bucket it is seen in, so memory grows
// with distinct values, not with requests; past limit values it stops
// adding (the count saturates at limit, above every threshold it serves).
type alertDistinct struct {
	head  int64
	last  map[string]int64 // value → latest bucket seen
	in    [windowBuckets][]string
	limit int
}

func newAlertDistinct(limit int) *alertDistinct {
	return &alertDistinct{last: make(map[string]int64), limit: limit}
}

func (d *alertDistinct) advance(b int64) {
	if b <= d.head {
		return
	}
	if b-d.head >= windowBuckets {
		clear(d.last)
		for i := range d.in {
			clear(d.in[i])
			d.in[i] = d.in[i][:0]
		}
	} else {
		for i := d.head + 1; i <= b; i++ {
			s := windowSlot(i)
			for _, v := range d.in[s] {
				if d.last[v] == i-windowBuckets {
					delete(d.last, v)
				}
			}
			clear(d.in[s])
			d.in[s] = d.in[s][:0]
		}
	}
	d.head = b
}

// add records the values at bucket b and returns the distinct count.
func (d *alertDistinct) add(b int64, values []string) int {
	d.advance(b)
	for _, v := range values {
		seen, ok := d.last[v]
		if ok && seen == d.head {
			continue
		}
		if !ok && len(d.last) >= d.limit {
			continue
		}
		d.last[v] = d.head
		d.in[windowSlot(d.head)] = append(d.in[windowSlot(d.head)], v)
	}
	return len(d.last)
}

// alertSubject is what the detectors remember about one user, backend client
// or remote address.
type alertSubject struct {
	kind, id  string
	seen      time.Time
	resources alertCounter   // over MassWindow
	refusals  alertCounter   // over RefusalWindow
	patients  *alertDistinct // over MassWindow; nil until it sees a patient
	fired     [nDetectors]time.Time
}

// once reports whether detector d may fire for s at t, and if so notes
// that it did: at most once per window.
func (s *alertSubject) once(d int, t time.Time, window time.Duration) bool {
	if last := s.fired[d]; !last.IsZero() && t.Before(last.Add(window)) {
		return false
	}
	s.fired[d] = t
	return true
}

// detect runs every detector but after-hours on one access by s and
// appends the alerts that fire. The caller holds the shard's lock.
func (a *Alerts) detect(s *alertSubject, x *Access, t time.Time, out []Alert) []Alert {
	c := &a.cfg
	if x.BreakGlass && s.once(dBreakGlass, t, c.MassWindow) {
		al := a.alert(DetectBreakGlass, s, x, t, c.MassWindow)
		al.Patients = len(x.Patients)
		al.Text = fmt.Sprintf("%s used emergency access (break-glass) to data of %d patient(s)", alertWho(s, x), al.Patients)
		out = append(out, al)
	}
	if refusedStatus(x.Status) {
		if n := s.refusals.add(windowBucket(t, a.refusalWidth), 1); n > c.RefusalCount && s.once(dRefusals, t, c.RefusalWindow) {
			al := a.alert(DetectRefusals, s, x, t, c.RefusalWindow)
			al.Refusals, al.Threshold = n, c.RefusalCount
			al.Text = fmt.Sprintf("%s was refused %d times within %s (threshold %d)", alertWho(s, x), n, c.RefusalWindow, c.RefusalCount)
			out = append(out, al)
		}
		return out
	}
	if x.Status >= 400 || (x.Resources == 0 && len(x.Patients) == 0) {
		return out
	}
	b := windowBucket(t, a.massWidth)
	res := s.resources.add(b, x.Resources)
	pats := 0
	if len(x.Patients) > 0 || s.patients != nil {
		if s.patients == nil {
			s.patients = newAlertDistinct(a.distinctLimit)
		}
		pats = s.patients.add(b, x.Patients)
	}
	if (res > c.MassResources || pats > c.MassPatients) && s.once(dMass, t, c.MassWindow) {
		al := a.alert(DetectMassDownload, s, x, t, c.MassWindow)
		al.Resources, al.Patients = res, pats
		al.Text = fmt.Sprintf("%s received %d resources with data of %d patients within %s (thresholds %s resources, %s patients)",
			alertWho(s, x), res, pats, c.MassWindow, thresholdText(c.MassResources), thresholdText(c.MassPatients))
		out = append(out, al)
	}
	if !confinedUser(x) {
		return out
	}
	if broadInteraction(x.Interaction) && !x.PatientCriteria && len(x.Patients) >= 2 && s.once(dBroadSearch, t, c.MassWindow) {
		al := a.alert(DetectBroadSearch, s, x, t, c.MassWindow)
		al.Resources, al.Patients = x.Resources, len(x.Patients)
		al.Text = fmt.Sprintf("%s ran a %s naming no patient that returned data of %d patients", alertWho(s, x), x.Interaction, al.Patients)
		out = append(out, al)
	}
	if pats > c.BroadPatients && s.once(dManyPatients, t, c.MassWindow) {
		al := a.alert(DetectManyPatients, s, x, t, c.MassWindow)
		al.Patients, al.Threshold = pats, c.BroadPatients
		al.Text = fmt.Sprintf("%s touched data of %d distinct patients within %s (threshold %d)", alertWho(s, x), pats, c.MassWindow, c.BroadPatients)
		out = append(out, al)
	}
	return out
}

// refusedStatus is a refusal status: unauthenticated, forbidden, or not found
// (which is also how another patient's data is refused).
func refusedStatus(status int) bool { return status == 401 || status == 403 || status == 404 }

// confinedUser is a user whose role is expected to stay with few patients:
// anyone but admins, auditors and backend services.
func confinedUser(x *Access) bool {
	return x.User != "" && x.Role != "admin" && x.Role != "auditor"
}

// staffUser is a user to whom working hours apply.
func staffUser(x *Access) bool {
	return x.User != "" && x.Role != "patient" && x.Role != "proxy"
}

func broadInteraction(i string) bool {
	switch i {
	case "search-type", "search-system", "history-type", "history-system":
		return true
	}
	return false
}

// alertWho names the subject in an alert's text: an account id with its role,
// a client id or a remote address, never a person's name.
func alertWho(s *alertSubject, x *Access) string {
	switch {
	case s.kind == SubjectUser && x.Role != "":
		return fmt.Sprintf("user %s (%s)", s.id, x.Role)
	case s.kind == SubjectUser:
		return "user " + s.id
	case s.kind == SubjectClient:
		return "client " + s.id
	}
	return "address " + s.id
}

// afterHoursSpan is the after-hours, as wall-clock offsets from local midnight.
type afterHoursSpan struct {
	start, end time.Duration
	loc        *time.Location
}

// period returns the start of the after-hours period t falls in, and
// whether it falls in one at all.
func (h afterHoursSpan) period(t time.Time) (time.Time, bool) {
	if h.start == h.end {
		return time.Time{}, false
	}
	lt := t.In(h.loc)
	y, m, d := lt.Date()
	tod := time.Duration(lt.Hour())*time.Hour + time.Duration(lt.Minute())*time.Minute +
		time.Duration(lt.Second())*time.Second + time.Duration(lt.Nanosecond())
	at := func(day int) time.Time { // wall clock, so right on DST days too
		return time.Date(y, m, day, 0, 0, 0, int(h.start), h.loc)
	}
	if h.start > h.end { // across midnight: 20:00–07:00
		switch {
		case tod >= h.start:
			return at(d), true
		case tod < h.end:
			return at(d - 1), true
		}
		return time.Time{}, false
	}
	if tod >= h.start && tod < h.end {
		return at(d), true
	}
	return time.Time{}, false
}

// afterHours runs the after-hours detector; the caller holds sh's lock.
// Its once-per-night memory lives in the shard, not in the subject, so
// that a user idle for longer than the windows is not alerted twice in
// one night.
func (a *Alerts) afterHours(sh *alertShard, s *alertSubject, x *Access, t time.Time, out []Alert) []Alert {
	if !staffUser(x) || len(x.Patients) == 0 || x.Status >= 400 {
		return out
	}
	night, ok := a.hours.period(t)
	if !ok || night.Before(sh.night) {
		return out
	}
	if night.After(sh.night) || len(sh.nightFired) >= alertMaxSubjects/alertShards {
		sh.night = night
		clear(sh.nightFired)
	}
	if _, done := sh.nightFired[s.id]; done {
		return out
	}
	sh.nightFired[s.id] = struct{}{}
	al := a.alert(DetectAfterHours, s, x, t, 0)
	al.Patients = len(x.Patients)
	lt := t.In(a.hours.loc)
	al.Text = fmt.Sprintf("%s accessed data of %d patient(s) at %s %s, outside working hours (%s–%s)",
		alertWho(s, x), al.Patients, lt.Format("15:04"), a.hours.loc, hhmm(a.hours.end), hhmm(a.hours.start))
	return append(out, al)
}

// thresholdText writes a threshold, "none" for one turned off.
func thresholdText(n int) string {
	if n == thresholdOff {
		return "none"
	}
	return fmt.Sprint(n)
}

func hhmm(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}
