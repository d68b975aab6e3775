package synth

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Options say what to generate.
type Options struct {
	// Seed selects the data: the same seed gives the same patients.
	Seed int64
	// Patients is how many patient Bundles to make.
	Patients int
	// Start is "now" for the generated histories: everything clinical
	// happens before it, appointments after it. Times are written in its
	// location. The zero value means DefaultStart, never the wall clock.
	Start time.Time
}

// DefaultStart is the reference time used when Options.Start is zero.
var DefaultStart = time.Date(2025, time.January, 6, 9, 0, 0, 0, time.UTC)

// Generate returns one transaction Bundle (JSON) per patient. For large
// counts use Each, which holds one Bundle at a time.
func Generate(opts Options) [][]byte {
	out := make([][]byte, 0, max(opts.Patients, 0))
	err := Each(opts, func(b []byte) error {
		out = append(out, b)
		return nil
	})
	if err != nil {
		// Each fails only through the callback or an unencodable value,
		// which the fixed structs here cannot hold.
		panic(err)
	}
	return out
}

// Each generates the patients in order and calls fn with each Bundle. The
// slice is fn's to keep. It stops at fn's first error and returns it.
func Each(opts Options, fn func(bundle []byte) error) error {
	if opts.Patients < 0 {
		return errors.New("synth: negative patient count")
	}
	now := opts.Start
	if now.IsZero() {
		now = DefaultStart
	}
	now = now.Truncate(time.Second)
	tag := seedTag(opts.Seed)
	for i := range opts.Patients {
		b, err := json.Marshal(patientBundle(opts.Seed, tag, i, now))
		if err != nil {
			return fmt.Errorf("synth: patient %d: %w", i, err)
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// gen builds one patient's Bundle.
type gen struct {
	r       *rand.Rand
	now     time.Time
	entries []entry

	kind       *cancer
	gender     string
	patient    string // urn of the Patient
	fullName   string
	condition  string // urn of the Condition
	oncologist string // display names of the care team
	nurse      string
	visits     []visit
	height     float64 // cm
	weight     float64 // kg at diagnosis
}

// visit is one encounter and what was measured at it.
type visit struct {
	urn        string
	start, end time.Time
	first      bool // the diagnostic visit
	surgery    bool
	onTherapy  bool
	labs       []string // urns of the lab Observations
	weight     string
	heartRate  string
	bp         string
	hemoglobin string
	leukocytes string
	marker     string
}

// add appends a resource POSTed to its type and returns its fullUrl.
func (g *gen) add(typ string, res any) string {
	urn := newURN(g.r)
	g.entries = append(g.entries, entry{FullURL: urn, Resource: res, Request: request{Method: "POST", URL: typ}})
	return urn
}

func patientBundle(seed int64, tag string, i int, now time.Time) *bundle {
	g := &gen{r: patientRand(seed, i), now: now, entries: make([]entry, 0, 96)}
	g.kind = &cancers[g.r.IntN(len(cancers))]
	g.oncologist = clinician(g.r)
	g.nurse = clinician(g.r)[len("Dr. "):]

	// The diagnostic visit falls between two months and four years ago.
	onset := clinicTime(g.r, now.AddDate(0, 0, -(60+g.r.IntN(1400))))
	g.addPatient(fmt.Sprintf("MRN-%s-%06d", tag, i+1), onset)
	g.planVisits(onset)
	g.condition = newURN(g.r) // referred to by encounters before it is added
	for j := range g.visits {
		g.addEncounter(&g.visits[j])
	}
	g.addCondition(onset)
	for j := range g.visits {
		g.addObservations(&g.visits[j])
	}
	g.addProcedures()
	g.addPathology()
	g.addMedications()
	team := g.addCareTeam(onset)
	g.addCarePlan(onset, team)
	g.addAppointments()
	g.addCommunications()
	g.addNotes()
	return &bundle{ResourceType: "Bundle", Type: "transaction", Entry: g.entries}
}

// planVisits lays out three to six encounters from the diagnosis to a day
// before now: diagnosis and biopsy, surgery, then treatment visits.
func (g *gen) planVisits(onset time.Time) {
	n := 3 + g.r.IntN(4)
	span := int(g.now.Sub(onset).Hours()/24) - 1
	gap := span / n
	g.visits = make([]visit, n)
	for j := range g.visits {
		v := &g.visits[j]
		v.first = j == 0
		v.surgery = j == 1
		v.onTherapy = j >= 2
		if v.first {
			v.start = onset
		} else {
			day := j*gap + g.r.IntN(max(1, gap/3))
			v.start = clinicTime(g.r, onset.AddDate(0, 0, day))
		}
		switch {
		case v.surgery:
			v.end = v.start.Add(minutes(150 + g.r.IntN(150)))
		case v.first:
			v.end = v.start.Add(minutes(60 + g.r.IntN(60)))
		default:
			v.end = v.start.Add(minutes(30 + g.r.IntN(60)))
		}
	}
}
