package audit

import (
	"container/list"
	"context"
	"encoding/json"
	"hash/maphash"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// Access is one audited request, as the detectors see it: who, when,
// what kind of access, how much and whose data. No PHI beyond patient ids.
type Access struct {
	Time        time.Time // when the request came; zero: AlertConfig.Now()
	User        string    // account id or "" (backend services: Client only)
	Role        string    // patient, proxy, oncologist, ..., auditor, admin; "" for backend
	Client      string
	RemoteAddr  string // the caller's address: the subject of refusals without a valid token
	Interaction string // read, vread, search-type, search-system, history-*, everything, create, update, patch, delete, ...
	Status      int
	Resources   int      // resources returned
	Patients    []string // distinct patients whose data was returned or written
	// PatientCriteria: the search named a patient (patient/subject
	// parameter, compartment search, patient context).
	PatientCriteria bool
	BreakGlass      bool // emergency access
}

// Subject kinds: whom an alert is about.
const (
	SubjectUser    = "user"    // an account id
	SubjectClient  = "client"  // a backend service's client id
	SubjectAddress = "address" // the remote address of a request without a valid token
)

// Alert is one detector firing. It names its subject by account id,
// client id or remote address and counts patients; it never holds a
// patient id, a name or a resource id.
type Alert struct {
	ID          string    `json:"id"` // time-ordered, unique
	Time        time.Time `json:"time"`
	Detector    string    `json:"detector"` // one of the Detect constants
	SubjectKind string    `json:"subjectKind"`
	Subject     string    `json:"subject"`
	Role        string    `json:"role,omitempty"`
	Client      string    `json:"client,omitempty"`
	Interaction string    `json:"interaction,omitempty"`
	Resources   int       `json:"resources,omitempty"` // resources within the window
	Patients    int       `json:"patients,omitempty"`  // distinct patients within the window (a count)
	Refusals    int       `json:"refusals,omitempty"`
	Threshold   int       `json:"threshold,omitempty"`
	// Window is the detector's window: the span the counts cover (for
	// broad-search they are the one request's) and within which it does
	// not fire again for this subject; zero for after-hours, which fires
	// once per night.
	Window time.Duration `json:"-"`
	Text   string        `json:"text"`
}

type alertJSON Alert

// MarshalJSON writes Window as a Go duration ("10m0s").
func (al Alert) MarshalJSON() ([]byte, error) {
	w := ""
	if al.Window != 0 {
		w = al.Window.String()
	}
	return json.Marshal(struct {
		alertJSON
		Window string `json:"window,omitempty"`
	}{alertJSON(al), w})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (al *Alert) UnmarshalJSON(b []byte) error {
	var v struct {
		alertJSON
		Window string `json:"window"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*al = Alert(v.alertJSON)
	if v.Window != "" {
		d, err := time.ParseDuration(v.Window)
		if err != nil {
			return err
		}
		al.Window = d
	}
	return nil
}

// AlertConfig are the detectors' thresholds and the alerts' sinks. A zero
// threshold or window takes its default; a negative threshold turns the
// check off.
type AlertConfig struct {
	MassResources int           // default 1,000 resources
	MassPatients  int           // default 50 distinct patients
	MassWindow    time.Duration // default 10 minutes; also the window of broad access and break-glass
	// AfterHoursStart and AfterHoursEnd are wall-clock offsets from local
	// midnight in Location: 20h and 7h make 20:00–07:00, the default when
	// both are zero. Equal non-zero values turn the detector off.
	AfterHoursStart, AfterHoursEnd time.Duration
	Location                       *time.Location // default time.Local
	BroadPatients                  int            // default 20 distinct patients within MassWindow
	RefusalCount                   int            // default 10 refusals
	RefusalWindow                  time.Duration  // default 5 minutes

	Logger     *slog.Logger     // default slog.Default()
	Webhook    string           // URL alerts are POSTed to as JSON; "" none
	Records    fhir.Records     // where the alert list is kept; nil none
	Now        func() time.Time // default time.Now; the time of an Access without one
	HTTPClient *http.Client     // default: a client with a 10 s timeout

	queue int           // webhook and list queue length; tests shorten it
	retry time.Duration // first webhook retry delay, doubling; default 1 s
}

// alertMaxSubjects bounds the subjects remembered at once (users, backend
// clients, addresses); past it the least recently seen is forgotten (and
// may be alerted on again within a window).
const (
	alertMaxSubjects = 1 << 16
	alertShards      = 16
)

// thresholdOff is a threshold no count exceeds.
const thresholdOff = math.MaxInt

// Alerts runs the detectors over every audited request and sends what
// they find to the log, the webhook and the alert list.
//
// Its state is per process: with several server processes each sees its
// own share of the traffic, and the thresholds apply per process.
type Alerts struct {
	cfg                     AlertConfig
	hours                   afterHoursSpan
	massWidth, refusalWidth time.Duration
	idle                    time.Duration // a subject unseen this long is forgotten
	distinctLimit           int           // distinct patients counted per subject
	seed                    maphash.Seed
	shards                  [alertShards]alertShard
	log                     *slog.Logger

	list, hook *alertSink
	stop       context.CancelFunc // aborts deliveries in flight
	closing    chan struct{}
	closeOnce  sync.Once
	done       sync.WaitGroup
}

// subjectKey names a subject: its kind and id.
type subjectKey struct{ kind, id string }

// alertShard holds the subjects whose key hashes to it, most recently seen
// first, so that concurrent requests of different subjects rarely wait
// on one another and idle subjects are dropped from the back in O(1).
type alertShard struct {
	mu         sync.Mutex
	byKey      map[subjectKey]*list.Element
	lru        list.List // of *alertSubject, most recent first
	night      time.Time // the after-hours period nightFired is about
	nightFired map[string]struct{}
}

// NewAlerts returns the detectors with cfg's thresholds, and starts the
// goroutines that deliver to the webhook and the list; Close stops them.
func NewAlerts(cfg AlertConfig) *Alerts {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		} else if *v < 0 {
			*v = thresholdOff
		}
	}
	def(&cfg.MassResources, 1000)
	def(&cfg.MassPatients, 50)
	def(&cfg.BroadPatients, 20)
	def(&cfg.RefusalCount, 10)
	if cfg.MassWindow <= 0 {
		cfg.MassWindow = 10 * time.Minute
	}
	if cfg.RefusalWindow <= 0 {
		cfg.RefusalWindow = 5 * time.Minute
	}
	if cfg.AfterHoursStart == 0 && cfg.AfterHoursEnd == 0 {
		cfg.AfterHoursStart, cfg.AfterHoursEnd = 20*time.Hour, 7*time.Hour
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.queue <= 0 {
		cfg.queue = 256
	}
	if cfg.retry <= 0 {
		cfg.retry = time.Second
	}
	day := 24 * time.Hour
	a := &Alerts{
		cfg:          cfg,
		hours:        afterHoursSpan{start: (cfg.AfterHoursStart%day + day) % day, end: (cfg.AfterHoursEnd%day + day) % day, loc: cfg.Location},
		massWidth:    bucketWidth(cfg.MassWindow),
		refusalWidth: bucketWidth(cfg.RefusalWindow),
		idle:         max(cfg.MassWindow, cfg.RefusalWindow),
		seed:         maphash.MakeSeed(),
		log:          cfg.Logger,
		closing:      make(chan struct{}),
	}
	for _, v := range []int{cfg.MassPatients, cfg.BroadPatients} {
		if v != thresholdOff {
			a.distinctLimit = max(a.distinctLimit, v)
		}
	}
	a.distinctLimit++ // one past the highest threshold is enough to cross it
	for i := range a.shards {
		a.shards[i].byKey = make(map[subjectKey]*list.Element)
		a.shards[i].nightFired = make(map[string]struct{})
	}
	ctx, stop := context.WithCancel(context.Background())
	a.stop = stop
	if cfg.Records != nil {
		a.list = a.start(ctx, "list", a.store)
	}
	if cfg.Webhook != "" {
		a.hook = a.start(ctx, "webhook", a.post)
	}
	return a
}

// Observe runs the detectors over one audited request. It is cheap
// (amortised constant time, no I/O but a log line per alert), safe for
// concurrent use, and never waits for the webhook or the list. A nil
// *Alerts observes nothing.
func (a *Alerts) Observe(x Access) {
	if a == nil {
		return
	}
	kind, id := SubjectUser, x.User
	switch {
	case x.User != "":
	case x.Client != "":
		kind, id = SubjectClient, x.Client
	case x.RemoteAddr != "":
		kind, id = SubjectAddress, x.RemoteAddr
	default:
		return
	}
	t := x.Time
	if t.IsZero() {
		t = a.cfg.Now()
	}
	key := subjectKey{kind, id}
	sh := &a.shards[maphash.Comparable(a.seed, key)%alertShards]
	sh.mu.Lock()
	s := a.touch(sh, key, t)
	fired := a.detect(s, &x, t, nil)
	fired = a.afterHours(sh, s, &x, t, fired)
	sh.mu.Unlock()
	for _, al := range fired {
		a.raise(al)
	}
}

// touch returns the subject for key, created if need be and moved to the
// front, and forgets subjects idle for longer than every window (their
// counts are empty and their once-per-window marks have run out) or past
// the bound.
func (a *Alerts) touch(sh *alertShard, key subjectKey, t time.Time) *alertSubject {
	var s *alertSubject
	if e, ok := sh.byKey[key]; ok {
		sh.lru.MoveToFront(e)
		s = e.Value.(*alertSubject)
	} else {
		s = &alertSubject{kind: key.kind, id: key.id}
		sh.byKey[key] = sh.lru.PushFront(s)
	}
	if t.After(s.seen) {
		s.seen = t
	}
	for {
		e := sh.lru.Back()
		old := e.Value.(*alertSubject)
		if old == s || (sh.lru.Len() <= alertMaxSubjects/alertShards && t.Sub(old.seen) <= a.idle) {
			break
		}
		sh.lru.Remove(e)
		delete(sh.byKey, subjectKey{old.kind, old.id})
	}
	return s
}

// alert starts an Alert about s.
func (a *Alerts) alert(detector string, s *alertSubject, x *Access, t time.Time, window time.Duration) Alert {
	al := Alert{Time: t, Detector: detector, SubjectKind: s.kind, Subject: s.id, Role: x.Role, Interaction: x.Interaction, Window: window}
	if s.kind != SubjectClient {
		al.Client = x.Client
	}
	return al
}

// raise logs al and hands it to the list and the webhook.
func (a *Alerts) raise(al Alert) {
	al.ID = alertKey(al.Time)
	attrs := []any{"detector", al.Detector, "subject_kind", al.SubjectKind, "subject", al.Subject}
	if al.Role != "" {
		attrs = append(attrs, "role", al.Role)
	}
	if al.Client != "" {
		attrs = append(attrs, "client", al.Client)
	}
	if al.Interaction != "" {
		attrs = append(attrs, "interaction", al.Interaction)
	}
	for _, f := range []struct {
		k string
		v int
	}{{"resources", al.Resources}, {"patients", al.Patients}, {"refusals", al.Refusals}, {"threshold", al.Threshold}} {
		if f.v != 0 {
			attrs = append(attrs, f.k, f.v)
		}
	}
	if al.Window != 0 {
		attrs = append(attrs, "window", al.Window.String())
	}
	attrs = append(attrs, "alert_id", al.ID, "text", al.Text)
	a.log.Warn("audit alert", attrs...)
	a.list.push(al)
	a.hook.push(al)
}

// Flush waits until every alert raised so far has been stored in the
// list and delivered to (or given up on by) the webhook, or ctx ends.
func (a *Alerts) Flush(ctx context.Context) error {
	if a == nil {
		return nil
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !a.list.idle() || !a.hook.idle() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Close stops the deliveries: what is queued is still delivered until ctx
// ends; then deliveries in flight are abandoned and what remains is
// dropped (and logged). Observe stays usable and still logs, but queues
// nothing more.
func (a *Alerts) Close(ctx context.Context) error {
	if a == nil {
		return nil
	}
	a.closeOnce.Do(func() { close(a.closing) })
	finished := make(chan struct{})
	go func() { a.done.Wait(); close(finished) }()
	select {
	case <-finished:
		a.stop()
		return nil
	case <-ctx.Done():
		a.stop()
		<-finished
		return ctx.Err()
	}
}
