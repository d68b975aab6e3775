package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// AccessLine is one access to a patient's record, told in the words of
// the patient's access report: who, when, with which app, doing what and
// why. It holds names and fixed texts only, never an identifier (no
// account, client, grant, resource or request id, no network address).
type AccessLine struct {
	Time time.Time
	// Who is the person, from the patient's side: "You", "Dr. Ada
	// Okafor", "Your caregiver Sam Rivera", "A member of staff",
	// "Another patient", "An automated service", "Someone who was not
	// signed in", …
	Who string
	// Role is the person's role in plain words: you, caregiver,
	// oncologist, nurse, front desk, billing, … ("" when there is none).
	Role string
	// App is the registered name of the app used ("" for none: the
	// portal itself, or a request without a token).
	App string
	// What they did: "looked at your test results", "searched your
	// record", "downloaded your whole record", "changed your medicines",
	// "was refused access to your record", …
	What string
	// Why is the purpose of use when one was recorded ("emergency
	// access" for break-glass), else "".
	Why string
	// Emergency marks break-glass access (purpose of use BTG).
	Emergency bool
	// Refused marks an access that was refused or failed: nothing of the
	// record was disclosed.
	Refused bool
}

// Names turns the references an AuditEvent holds into names people read.
// The access report never shows what it cannot name: a name of "" makes
// the line use a generic phrase instead.
type Names interface {
	// PersonName is the display name of the Patient, Practitioner or
	// RelatedPerson that fhirUserRef ("Practitioner/ID") names; "" when it
	// has no name or does not exist. The error is only for failing to
	// read it.
	PersonName(ctx context.Context, fhirUserRef string) (string, error)
	// ClientName is the registered name of an app; "" when it has none or
	// is no longer registered. The error is only for failing to read it.
	ClientName(ctx context.Context, clientID string) (string, error)
	// AccountUser is the fhirUser of an account ("RelatedPerson/ID"), ""
	// when it has none or does not exist: an event names the user by
	// their account when the token carried no fhirUser. The error is only
	// for failing to read it.
	AccountUser(ctx context.Context, accountID string) (string, error)
}

// ReportYears is how far back an access report goes by default: the
// six years HIPAA asks records of disclosures to be kept.
const ReportYears = 6

const (
	// MaxAccessLines bounds a report: it holds the newest lines, at most
	// this many.
	MaxAccessLines = 5000
	// maxReportReads bounds the AuditEvents one report reads (events
	// about other patients, security events and the like are read and
	// left out), reportPage how many it reads at a time.
	maxReportReads = 5 * MaxAccessLines
	reportPage     = 500
)

// AccessReport lists the accesses to one patient's record (patient is the
// Patient id) recorded since since (ReportYears back from now when zero),
// newest first, at most MaxAccessLines of them: every REST event and
// disclosure ($everything, export) whose entities name the patient,
// refused ones too (marked Refused), and every app the patient's record
// was granted to (token-issued). It reads the AuditEvents by their patient
// search parameter, a page at a time.
func AccessReport(ctx context.Context, store fhir.Store, patient string, since time.Time, names Names) ([]AccessLine, error) {
	if !fhir.ValidID(patient) {
		return nil, fmt.Errorf("audit: access report: %q is not a patient id", patient)
	}
	now := time.Now()
	if since.IsZero() {
		since = now.AddDate(-ReportYears, 0, 0)
	}
	ref := "Patient/" + patient
	q := fhir.Query{
		Type: "AuditEvent",
		Clauses: []fhir.Clause{
			{Param: "patient", Type: fhir.TypeReference, Values: []fhir.Value{{System: "Patient", Code: ref}}},
			{Param: "date", Type: fhir.TypeDate, Values: []fhir.Value{instantValue("ge", since)}},
			// Events recorded while the report is read (this read among
			// them) would shift the pages: the report ends where it began.
			// (Events of the report's own millisecond are in: one recorded
			// just before it began may share it.)
			{Param: "date", Type: fhir.TypeDate, Values: []fhir.Value{instantValue("lt", now.Add(time.Millisecond))}},
		},
		Sort:  []fhir.SortKey{{Param: "date", Type: fhir.TypeDate, Desc: true}},
		Limit: reportPage,
	}
	rep := &reporter{patient: patient, ref: ref, store: store, names: names,
		persons: map[string]string{}, clients: map[string]string{}, accounts: map[string]string{}, linked: map[string]bool{}}
	var lines []AccessLine
	for read := 0; read < maxReportReads && len(lines) < MaxAccessLines; {
		q.Offset = read
		page, err := store.Search(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("audit: access report: %w", err)
		}
		for _, res := range page {
			line, ok, err := rep.line(ctx, res.JSON)
			if err != nil {
				return nil, fmt.Errorf("audit: access report: %w", err)
			}
			if ok && len(lines) < MaxAccessLines {
				lines = append(lines, line)
			}
		}
		read += len(page)
		if len(page) < reportPage {
			break
		}
	}
	return lines, nil
}

// instantValue is a date search value of one millisecond.
func instantValue(prefix string, t time.Time) fhir.Value {
	ms := float64(t.UnixMilli())
	return fhir.Value{Prefix: prefix, Low: ms, High: ms + 1}
}

// The parts of a stored AuditEvent the report reads.
type (
	reportEvent struct {
		Subtype        []reportCoding  `json:"subtype"`
		Recorded       string          `json:"recorded"`
		Outcome        string          `json:"outcome"`
		PurposeOfEvent []reportConcept `json:"purposeOfEvent"`
		Agent          []reportAgent   `json:"agent"`
		Entity         []struct {
			What *reportRef    `json:"what"`
			Role *reportCoding `json:"role"`
		} `json:"entity"`
	}
	reportAgent struct {
		Who          *reportRef      `json:"who"`
		Role         []reportConcept `json:"role"`
		PurposeOfUse []reportConcept `json:"purposeOfUse"`
	}
	reportRef struct {
		Reference  string `json:"reference"`
		Identifier *struct {
			System string `json:"system"`
			Value  string `json:"value"`
		} `json:"identifier"`
	}
	reportConcept struct {
		Coding []reportCoding `json:"coding"`
	}
	reportCoding struct {
		System string `json:"system"`
		Code   string `json:"code"`
	}
)

// identifier is the value of a reference's identifier of system, or "".
func (r *reportRef) identifier(system string) string {
	if r == nil || r.Identifier == nil || r.Identifier.System != system {
		return ""
	}
	return r.Identifier.Value
}

// reporter turns the events of one report into lines, remembering the
// names it looked up.
type reporter struct {
	patient, ref string
	store        fhir.Store
	names        Names
	persons      map[string]string
	clients      map[string]string
	accounts     map[string]string // account → fhirUser
	linked       map[string]bool   // RelatedPerson → links to the patient
}

// line is the line of one stored AuditEvent; ok is false for an event the
// report leaves out.
func (r *reporter) line(ctx context.Context, raw []byte) (AccessLine, bool, error) {
	var ev reportEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return AccessLine{}, false, fmt.Errorf("read AuditEvent: %w", err)
	}
	kind := reportKind(ev.Subtype)
	if !r.concernsPatient(&ev) || !reported(kind) {
		return AccessLine{}, false, nil
	}
	refused := ev.Outcome != "" && ev.Outcome != "0"
	if kind.IsSecurity() && refused {
		return AccessLine{}, false, nil // a refused token request disclosed nothing, nor granted anything
	}
	t, err := time.Parse(time.RFC3339Nano, ev.Recorded)
	if err != nil {
		return AccessLine{}, false, fmt.Errorf("AuditEvent recorded %q: %w", ev.Recorded, err)
	}
	l := AccessLine{Time: t, Refused: refused}
	var user, client *reportAgent
	for i := range ev.Agent {
		a := &ev.Agent[i]
		switch {
		case a.Who.identifier(SystemClient) != "":
			client = a
		case user == nil && (personRef(a.Who) != "" || a.Who.identifier(SystemAccount) != ""):
			user = a
		}
	}
	if l.Who, l.Role, err = r.who(ctx, user, client != nil, !refused); err != nil {
		return AccessLine{}, false, err
	}
	if client != nil {
		if l.App, err = r.clientName(ctx, client.Who.identifier(SystemClient)); err != nil {
			return AccessLine{}, false, err
		}
	}
	l.What = what(kind, ev.Outcome, r.parts(&ev))
	purposes := ev.PurposeOfEvent
	if user != nil {
		purposes = append(purposes, user.PurposeOfUse...)
	}
	l.Why, l.Emergency = why(purposes)
	return l, true, nil
}

// concernsPatient tells whether an entity of the event is the patient: the
// patient search parameter also finds the events of a patient acting on
// someone else's record.
func (r *reporter) concernsPatient(ev *reportEvent) bool {
	for _, e := range ev.Entity {
		if e.What != nil && e.What.Reference == r.ref && e.Role != nil && e.Role.Code == "1" && e.Role.System == SystemObjectRole {
			return true
		}
	}
	return false
}

// reportKind reads an event's kind from its subtypes: this server's own
// code when it has one (everything, export, the security kinds), else its
// RESTful interaction.
func reportKind(subtypes []reportCoding) Kind {
	rest := KindNone
	for _, c := range subtypes {
		k, ok := ParseKind(c.Code)
		switch {
		case !ok:
		case c.System == SystemLocal:
			return k
		case c.System == SystemRESTful && k <= KindExport && rest == KindNone:
			rest = k
		}
	}
	return rest
}

// reported tells whether a kind of event is an access the report shows.
func reported(k Kind) bool {
	switch k {
	case KindNone, KindCapabilities, KindTransaction, KindBatch:
		return false
	case KindTokenIssued:
		return true
	}
	return !k.IsSecurity()
}

// personRef is a reference to a person's own resource, or "".
func personRef(r *reportRef) string {
	if r == nil {
		return ""
	}
	typ, id, ok := strings.Cut(r.Reference, "/")
	switch {
	case !ok || !fhir.ValidID(id):
		return ""
	case typ == "Patient", typ == "Practitioner", typ == "RelatedPerson", typ == "PractitionerRole", typ == "Person":
		return r.Reference
	}
	return ""
}

// who names the user, from the patient's side. succeeded is true when
// the access was permitted: a caregiver permitted to act for the patient
// was linked to them then.
func (r *reporter) who(ctx context.Context, user *reportAgent, hasClient, succeeded bool) (who, role string, err error) {
	if user == nil {
		if hasClient {
			return "An automated service", "", nil
		}
		return "Someone who was not signed in", "", nil
	}
	ref := personRef(user.Who)
	if account := user.Who.identifier(SystemAccount); ref == "" && account != "" {
		if ref, err = r.accountUser(ctx, account); err != nil {
			return "", "", err
		}
	}
	var roles []string
	for _, c := range user.Role {
		for _, cd := range c.Coding {
			if cd.System == SystemRole && cd.Code != "" {
				roles = append(roles, cd.Code)
			}
		}
	}
	role = roleWords(roles)
	typ, _, _ := strings.Cut(ref, "/")
	switch {
	case ref == r.ref, ref == "" && succeeded && slices.Contains(roles, "patient"):
		// A patient account reaches only its own record.
		return "You", "you", nil
	case typ == "Patient":
		return "Another patient", "patient", nil
	case ref == "" && slices.Contains(roles, "patient"):
		return "A patient", "patient", nil
	case ref == "" && slices.Contains(roles, "proxy"):
		// Permitted, the caregiver was linked to the patient then.
		if succeeded {
			return "Your caregiver", "caregiver", nil
		}
		return "A caregiver", "caregiver", nil
	case typ == "RelatedPerson":
		linked := succeeded
		if !linked {
			if linked, err = r.linkedCaregiver(ctx, ref); err != nil {
				return "", "", err
			}
		}
		if !linked {
			return "Another patient's caregiver", "caregiver", nil
		}
		name, err := r.personName(ctx, ref)
		if err != nil || name == "" {
			return "Your caregiver", "caregiver", err
		}
		return "Your caregiver " + name, "caregiver", nil
	case ref != "":
		name, err := r.personName(ctx, ref)
		if err != nil {
			return "", "", err
		}
		if name != "" {
			return name, role, nil
		}
	}
	if len(roles) == 0 {
		return "Someone", "", nil
	}
	return "A member of staff", role, nil
}

func (r *reporter) personName(ctx context.Context, ref string) (string, error) {
	if name, ok := r.persons[ref]; ok {
		return name, nil
	}
	name, err := r.names.PersonName(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("name of %s: %w", ref, err)
	}
	r.persons[ref] = name
	return name, nil
}

// accountUser is the fhirUser of an account, when it is a person's
// reference.
func (r *reporter) accountUser(ctx context.Context, account string) (string, error) {
	if ref, ok := r.accounts[account]; ok {
		return ref, nil
	}
	ref, err := r.names.AccountUser(ctx, account)
	if err != nil {
		return "", fmt.Errorf("user of an account: %w", err)
	}
	ref = personRef(&reportRef{Reference: ref})
	r.accounts[account] = ref
	return ref, nil
}

func (r *reporter) clientName(ctx context.Context, id string) (string, error) {
	name, ok := r.clients[id]
	if !ok {
		var err error
		if name, err = r.names.ClientName(ctx, id); err != nil {
			return "", fmt.Errorf("name of an app: %w", err)
		}
		r.clients[id] = name
	}
	if name == "" {
		return "an app whose name is not known", nil
	}
	return name, nil
}

// linkedCaregiver tells whether a RelatedPerson (its current version, or
// the last before its deletion) is the patient's.
func (r *reporter) linkedCaregiver(ctx context.Context, ref string) (bool, error) {
	if v, ok := r.linked[ref]; ok {
		return v, nil
	}
	res, err := readLast(ctx, r.store, ref)
	if err != nil {
		return false, err
	}
	var rp struct {
		Patient struct{ Reference string } `json:"patient"`
	}
	v := res != nil && json.Unmarshal(res.JSON, &rp) == nil && rp.Patient.Reference == r.ref
	r.linked[ref] = v
	return v, nil
}
