package audit

import (
	"net"
	"strconv"
	"time"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/search"
)

// Kind is what an AuditEvent records: one of a closed set. The REST kinds
// are built by RESTEvents, the security kinds by SecurityEvent; the
// refusal kinds qualify a REST kind when the request failed. The zero Kind
// is no kind.
//
// The codes each kind is recorded with (DCM is
// http://dicom.nema.org/resources/ontology/DCM; every security kind also
// carries the subtype urn:oncofhir:audit-event#<name>, so that kinds
// sharing a DICOM code stay apart):
//
//	kind                  type                           subtype                                  action
//	read, vread           audit-event-type#rest          restful-interaction#read, #vread         R
//	history-*             audit-event-type#rest          restful-interaction#history + #history-* R
//	search-type, -system  audit-event-type#rest          restful-interaction#search-type, -system E
//	create                audit-event-type#rest          restful-interaction#create               C
//	update, patch         audit-event-type#rest          restful-interaction#update, #patch       U
//	delete                audit-event-type#rest          restful-interaction#delete               D
//	transaction, batch    audit-event-type#rest          restful-interaction#transaction, #batch  E
//	capabilities          audit-event-type#rest          restful-interaction#capabilities         R
//	operation             audit-event-type#rest          restful-interaction#operation            E
//	everything, export    DCM#110106 Export              iso-21089-lifecycle#disclose + #operation R
//	sign-in               DCM#110114 User Authentication DCM#110122 Login                         E
//	sign-out              DCM#110114 User Authentication DCM#110123 Logout                        E
//	factor-used           DCM#110114 User Authentication DCM#110122 Login                         E
//	factor-enrolled       DCM#110113 Security Alert      DCM#110137 User Security Attributes Changed C
//	token-issued          DCM#110114 User Authentication urn:ihe:event-type-code#ITI-71            E
//	token-refreshed       DCM#110114 User Authentication urn:ihe:event-type-code#ITI-71            E
//	token-revoked         DCM#110113 Security Alert      (local only)                             D
//	introspection-failed  DCM#110113 Security Alert      (local only), always outcome 4           E
//	client-registered     DCM#110113 Security Alert      DCM#110129 Security Configuration        C
//	client-removed        DCM#110113 Security Alert      DCM#110129 Security Configuration        D
//	user-disabled         DCM#110113 Security Alert      DCM#110137 User Security Attributes Changed U
//	key-rotated           DCM#110113 Security Alert      DCM#110129 Security Configuration        U
//	key-retired           DCM#110113 Security Alert      DCM#110129 Security Configuration        D
//	launch-created        DCM#110100 Application Activity (local only)                            C
//	audit-purged          DCM#110113 Security Alert      (local only)                             D
//	account-locked        DCM#110113 Security Alert      DCM#110137 User Security Attributes Changed U
//	account-unlocked      DCM#110113 Security Alert      DCM#110137 User Security Attributes Changed U
//	factor-removed        DCM#110113 Security Alert      DCM#110137 User Security Attributes Changed D
//	factor-reset          DCM#110113 Security Alert      DCM#110137 User Security Attributes Changed D
//	contact-changed       DCM#110113 Security Alert      DCM#110137 User Security Attributes Changed U
//	fallback-code-sent    DCM#110114 User Authentication DCM#110122 Login                         E
//	enrollment-link-issued DCM#110113 Security Alert     DCM#110137 User Security Attributes Changed C
//	mfa-deferred          DCM#110114 User Authentication DCM#110122 Login                         E
//	device-trusted        DCM#110113 Security Alert      DCM#110137 User Security Attributes Changed C
//	device-revoked        DCM#110113 Security Alert      DCM#110137 User Security Attributes Changed D
//	risk-assessed         DCM#110114 User Authentication DCM#110122 Login                         E
//
// Refusals keep the interaction's type, subtype and action (as BALP
// records failures) and set the outcome and a fixed outcomeDesc:
//
//	unauthenticated  401        outcome 4 (minor failure)
//	step-up-required 401        outcome 4, when the 401 asks for a stronger sign-in (RFC 9470)
//	forbidden        403        outcome 4
//	not-found        404        outcome 4 (also another patient's data, which answers 404)
//	rejected         other 4xx  outcome 4
//	server-error     5xx        outcome 8 (serious failure)
type Kind uint8

// REST interactions.
const (
	KindNone Kind = iota
	KindRead
	KindVRead
	KindSearchType
	KindSearchSystem
	KindHistoryInstance
	KindHistoryType
	KindHistorySystem
	KindCreate
	KindUpdate
	KindPatch
	KindDelete
	KindTransaction
	KindBatch
	KindCapabilities
	KindOperation
	KindEverything // Patient/$everything: the BALP disclosure shape
	KindExport     // a bulk export: the BALP disclosure shape
)

// Refusals: what a failed REST request records besides its interaction.
const (
	KindUnauthenticated Kind = iota + KindExport + 1
	KindStepUpRequired       // a 401 asking for a recent, stronger sign-in (RFC 9470)
	KindForbidden
	KindNotFound
	KindRejected
	KindServerError
)

// Security events, recorded by explicit calls in oauth. The names are
// those of oauth's security event kinds.
const (
	KindSignIn Kind = iota + KindServerError + 1
	KindSignOut
	KindFactorEnrolled
	KindFactorUsed
	KindTokenIssued
	KindTokenRefreshed
	KindTokenRevoked
	KindIntrospectionFailed
	KindClientRegistered
	KindClientRemoved
	KindUserDisabled
	KindKeyRotated
	KindKeyRetired
	KindLaunchCreated
	KindAccessReportViewed
	KindAuditPurged
	KindAccountLocked
	KindAccountUnlocked
	KindFactorRemoved
	KindEnrollmentLinkIssued
	KindMFADeferred
	KindDeviceTrusted
	KindDeviceRevoked
	KindRiskAssessed
	KindFactorReset
	KindContactChanged
	KindFallbackCodeSent
	kindEnd
)

// Code systems and identifier systems the events use.
const (
	SystemDCM            = "http://dicom.nema.org/resources/ontology/DCM"
	SystemEventType      = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	SystemRESTful        = "http://hl7.org/fhir/restful-interaction"
	SystemLifecycle      = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
	SystemEntityType     = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	SystemObjectRole     = "http://terminology.hl7.org/CodeSystem/object-role"
	SystemParticipation  = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	SystemActReason      = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	SystemBALPEntityType = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
	SystemBALPAgentType  = "https://profiles.ihe.net/ITI/BALP/CodeSystem/UserAgentTypes"
	SystemIHEEventType   = "urn:ihe:event-type-code"
	// SystemLocal holds this server's own event subtypes: the Kind names.
	SystemLocal = "urn:oncofhir:audit-event"
	// SystemRole holds account roles (patient, proxy, oncologist, …).
	SystemRole = "urn:oncofhir:role"
	// SystemAccount and SystemClient identify accounts and OAuth clients;
	// SystemKey signing keys by kid; SystemURI a URL as an identifier.
	SystemAccount = "urn:oncofhir:account"
	SystemClient  = "urn:oncofhir:oauth-client"
	SystemKey     = "urn:oncofhir:key"
	SystemURI     = "urn:ietf:rfc:3986"
	// GrantPrefix prefixes the grant id in agent.policy: BALP's rule for a
	// token identifier (its jti), since the grant is what identifies the
	// token here. The token itself is never recorded.
	GrantPrefix = "urn:ietf:params:oauth:jti:"
)

// kindDef is how a kind is recorded.
type kindDef struct {
	name    string
	typ     models.Coding
	subtype []models.Coding
	action  models.AuditEventAction
	shape   shape
	// refusals: the outcome and the text before " (HTTP nnn)"
	outcome models.AuditEventOutcome
	desc    string
	// security: always a failure; Account and Client are what was acted
	// on, not who acted
	failure                     bool
	accountTarget, clientTarget bool
}

// shape names the BALP agent pattern of a REST kind.
type shape uint8

const (
	shapeRead   shape = iota // client DCM#110152 Destination, server #110153 Source
	shapeQuery               // client #110153 Source, server #110152 Destination (also Create, Update)
	shapeDelete              // client DCM#110150 Application, server provenance custodian
)

var (
	typeREST     = coding(SystemEventType, "rest", "Restful Operation")
	typeExport   = coding(SystemDCM, "110106", "Export")
	typeUserAuth = coding(SystemDCM, "110114", "User Authentication")
	typeAlert    = coding(SystemDCM, "110113", "Security Alert")
	typeAppAct   = coding(SystemDCM, "110100", "Application Activity")
	subLogin     = coding(SystemDCM, "110122", "Login")
	subLogout    = coding(SystemDCM, "110123", "Logout")
	subSecConfig = coding(SystemDCM, "110129", "Security Configuration")
	subUserAttrs = coding(SystemDCM, "110137", "User Security Attributes Changed")
	subITI71     = coding(SystemIHEEventType, "ITI-71", "Get Access Token")
	subDisclose  = coding(SystemLifecycle, "disclose", "Disclose Record Lifecycle Event")
)

func rest(code string) models.Coding { return coding(SystemRESTful, code, code) }

var kinds = [kindEnd]kindDef{
	KindRead:            {name: "read", typ: typeREST, subtype: cs(rest("read")), action: models.AuditEventActionR, shape: shapeRead},
	KindVRead:           {name: "vread", typ: typeREST, subtype: cs(rest("vread")), action: models.AuditEventActionR, shape: shapeRead},
	KindSearchType:      {name: "search-type", typ: typeREST, subtype: cs(rest("search-type")), action: models.AuditEventActionE, shape: shapeQuery},
	KindSearchSystem:    {name: "search-system", typ: typeREST, subtype: cs(rest("search-system")), action: models.AuditEventActionE, shape: shapeQuery},
	KindHistoryInstance: {name: "history-instance", typ: typeREST, subtype: cs(rest("history"), rest("history-instance")), action: models.AuditEventActionR, shape: shapeRead},
	KindHistoryType:     {name: "history-type", typ: typeREST, subtype: cs(rest("history"), rest("history-type")), action: models.AuditEventActionR, shape: shapeRead},
	KindHistorySystem:   {name: "history-system", typ: typeREST, subtype: cs(rest("history"), rest("history-system")), action: models.AuditEventActionR, shape: shapeRead},
	KindCreate:          {name: "create", typ: typeREST, subtype: cs(rest("create")), action: models.AuditEventActionC, shape: shapeQuery},
	KindUpdate:          {name: "update", typ: typeREST, subtype: cs(rest("update")), action: models.AuditEventActionU, shape: shapeQuery},
	KindPatch:           {name: "patch", typ: typeREST, subtype: cs(rest("patch")), action: models.AuditEventActionU, shape: shapeQuery},
	KindDelete:          {name: "delete", typ: typeREST, subtype: cs(rest("delete")), action: models.AuditEventActionD, shape: shapeDelete},
	KindTransaction:     {name: "transaction", typ: typeREST, subtype: cs(rest("transaction")), action: models.AuditEventActionE, shape: shapeQuery},
	KindBatch:           {name: "batch", typ: typeREST, subtype: cs(rest("batch")), action: models.AuditEventActionE, shape: shapeQuery},
	KindCapabilities:    {name: "capabilities", typ: typeREST, subtype: cs(rest("capabilities")), action: models.AuditEventActionR, shape: shapeRead},
	KindOperation:       {name: "operation", typ: typeREST, subtype: cs(rest("operation")), action: models.AuditEventActionE, shape: shapeQuery},
	KindEverything:      {name: "everything", typ: typeExport, subtype: cs(subDisclose, rest("operation"), local("everything")), action: models.AuditEventActionR, shape: shapeRead},
	KindExport:          {name: "export", typ: typeExport, subtype: cs(subDisclose, rest("operation"), local("export")), action: models.AuditEventActionR, shape: shapeRead},

	KindUnauthenticated: {name: "unauthenticated", outcome: models.AuditEventOutcome4, desc: "refused: no valid access token"},
	KindStepUpRequired:  {name: "step-up-required", outcome: models.AuditEventOutcome4, desc: "refused: a recent, stronger sign-in is needed"},
	KindForbidden:       {name: "forbidden", outcome: models.AuditEventOutcome4, desc: "refused: not permitted"},
	KindNotFound:        {name: "not-found", outcome: models.AuditEventOutcome4, desc: "refused: not found, or not the requester's to see"},
	KindRejected:        {name: "rejected", outcome: models.AuditEventOutcome4, desc: "refused: the request was not accepted"},
	KindServerError:     {name: "server-error", outcome: models.AuditEventOutcome8, desc: "failed: server error"},

	KindSignIn:              {name: "sign-in", typ: typeUserAuth, subtype: cs(subLogin), action: models.AuditEventActionE},
	KindSignOut:             {name: "sign-out", typ: typeUserAuth, subtype: cs(subLogout), action: models.AuditEventActionE},
	KindFactorEnrolled:      {name: "factor-enrolled", typ: typeAlert, subtype: cs(subUserAttrs), action: models.AuditEventActionC},
	KindFactorUsed:          {name: "factor-used", typ: typeUserAuth, subtype: cs(subLogin), action: models.AuditEventActionE},
	KindTokenIssued:         {name: "token-issued", typ: typeUserAuth, subtype: cs(subITI71), action: models.AuditEventActionE},
	KindTokenRefreshed:      {name: "token-refreshed", typ: typeUserAuth, subtype: cs(subITI71), action: models.AuditEventActionE},
	KindTokenRevoked:        {name: "token-revoked", typ: typeAlert, action: models.AuditEventActionD},
	KindIntrospectionFailed: {name: "introspection-failed", typ: typeAlert, action: models.AuditEventActionE, failure: true},
	KindClientRegistered:    {name: "client-registered", typ: typeAlert, subtype: cs(subSecConfig), action: models.AuditEventActionC, clientTarget: true},
	KindClientRemoved:       {name: "client-removed", typ: typeAlert, subtype: cs(subSecConfig), action: models.AuditEventActionD, clientTarget: true},
	KindUserDisabled:        {name: "user-disabled", typ: typeAlert, subtype: cs(subUserAttrs), action: models.AuditEventActionU, accountTarget: true},
	KindKeyRotated:          {name: "key-rotated", typ: typeAlert, subtype: cs(subSecConfig), action: models.AuditEventActionU},
	KindKeyRetired:          {name: "key-retired", typ: typeAlert, subtype: cs(subSecConfig), action: models.AuditEventActionD},
	KindLaunchCreated:       {name: "launch-created", typ: typeAppAct, action: models.AuditEventActionC},
	// A patient or caregiver read the record's access report page.
	KindAccessReportViewed: {name: "access-report-viewed", typ: typeREST, subtype: cs(rest("read")), action: models.AuditEventActionR},
	// AuditEvents older than the retention period were deleted.
	KindAuditPurged: {name: "audit-purged", typ: typeAlert, action: models.AuditEventActionD},
	// Sign-in refused after 100 consecutive failures, and that lock ended.
	KindAccountLocked:   {name: "account-locked", typ: typeAlert, subtype: cs(subUserAttrs), action: models.AuditEventActionU},
	KindAccountUnlocked: {name: "account-unlocked", typ: typeAlert, subtype: cs(subUserAttrs), action: models.AuditEventActionU},
	KindFactorRemoved:   {name: "factor-removed", typ: typeAlert, subtype: cs(subUserAttrs), action: models.AuditEventActionD},
	// Staff removed a user's lost factors after checking who they are
	// (the Detail says who checked and how).
	KindFactorReset:    {name: "factor-reset", typ: typeAlert, subtype: cs(subUserAttrs), action: models.AuditEventActionD},
	KindContactChanged: {name: "contact-changed", typ: typeAlert, subtype: cs(subUserAttrs), action: models.AuditEventActionU},
	// A sign-in code sent by text message or email (a fallback factor).
	KindFallbackCodeSent: {name: "fallback-code-sent", typ: typeUserAuth, subtype: cs(subLogin), action: models.AuditEventActionE},
	// Staff issued a one-time link to set up a second factor.
	KindEnrollmentLinkIssued: {name: "enrollment-link-issued", typ: typeAlert, subtype: cs(subUserAttrs), action: models.AuditEventActionC},
	// A user put off setting up a second factor.
	KindMFADeferred: {name: "mfa-deferred", typ: typeUserAuth, subtype: cs(subLogin), action: models.AuditEventActionE},
	// A user trusted a device for routine sign-ins, or a trust ended.
	KindDeviceTrusted: {name: "device-trusted", typ: typeAlert, subtype: cs(subUserAttrs), action: models.AuditEventActionC},
	KindDeviceRevoked: {name: "device-revoked", typ: typeAlert, subtype: cs(subUserAttrs), action: models.AuditEventActionD},
	// The risk signals of a sign-in, and what they decided.
	KindRiskAssessed: {name: "risk-assessed", typ: typeUserAuth, subtype: cs(subLogin), action: models.AuditEventActionE},
}

func init() {
	// Every security kind carries its own name as a subtype.
	for k := KindSignIn; k < kindEnd; k++ {
		kinds[k].subtype = append(kinds[k].subtype, local(kinds[k].name))
	}
	for k := Kind(1); k < kindEnd; k++ {
		byName[kinds[k].name] = k
	}
}

var byName = make(map[string]Kind, kindEnd)

// String is the kind's name ("read", "sign-in", "forbidden"), "" for
// KindNone or a value outside the set.
func (k Kind) String() string {
	if k >= kindEnd {
		return ""
	}
	return kinds[k].name
}

// ParseKind finds a kind by its name.
func ParseKind(name string) (Kind, bool) {
	k, ok := byName[name]
	return k, ok
}

// Kinds lists every kind, in order.
func Kinds() []Kind {
	out := make([]Kind, 0, kindEnd-1)
	for k := Kind(1); k < kindEnd; k++ {
		out = append(out, k)
	}
	return out
}

// IsSecurity reports whether k is a security kind (for SecurityEvent).
func (k Kind) IsSecurity() bool { return k >= KindSignIn && k < kindEnd }

// IsRefusal reports whether k is a refusal kind.
func (k Kind) IsRefusal() bool { return k >= KindUnauthenticated && k <= KindServerError }

// RefusalOf is the refusal kind of an HTTP status, KindNone below 400.
func RefusalOf(status int) Kind {
	switch {
	case status < 400:
		return KindNone
	case status == 401:
		return KindUnauthenticated
	case status == 403:
		return KindForbidden
	case status == 404:
		return KindNotFound
	case status < 500:
		return KindRejected
	}
	return KindServerError
}

// refusalDesc is the outcomeDesc of a refused request: fixed text and the
// status.
func refusalDesc(k Kind, status int) string {
	return kinds[k].desc + " (HTTP " + strconv.Itoa(status) + ")"
}

// The parts every event is made of.

// stamp sets the id, the recorded time, meta (an AuditEvent has one
// version) and the index entries a store keeps.
func stamp(ev *Event, recorded time.Time) {
	r := &ev.Resource
	r.Id = ptr(newID())
	r.Recorded = recorded.Format(fhir.InstantFormat)
	r.Meta = &models.Meta{VersionId: ptr("1"), LastUpdated: ptr(r.Recorded)}
	ev.Index = storedIndexOf(r)
}

func patientEntity(id string) models.AuditEventEntity {
	return models.AuditEventEntity{
		What: &models.Reference{Reference: ptr("Patient/" + id)},
		Type: ptr(entityTypePerson), Role: ptr(rolePatient),
	}
}

func requestEntity(id string) models.AuditEventEntity {
	return models.AuditEventEntity{
		What: &models.Reference{Identifier: &models.Identifier{Value: ptr(id)}},
		Type: ptr(entityTypeRequest),
	}
}

func serverAgent(typ models.Coding, base string) models.AuditEventAgent {
	a := models.AuditEventAgent{Type: concept(typ), Who: serverRef(base)}
	if base != "" {
		a.Network = &models.AuditEventAgentNetwork{Address: ptr(base), Type: ptr(models.AuditEventAgentNetworkType5)}
	}
	return a
}

func serverRef(base string) *models.Reference {
	if base == "" {
		return &models.Reference{Display: ptr("FHIR server")}
	}
	return &models.Reference{Identifier: &models.Identifier{System: ptr(SystemURI), Value: ptr(base)}}
}

func source(base string) models.AuditEventSource {
	return models.AuditEventSource{Observer: *serverRef(base), Type: []models.Coding{sourceAppServer}}
}

// network is the client's address: an IP address (type 2), else a
// machine name (type 1); a port is dropped.
func network(addr string) *models.AuditEventAgentNetwork {
	if addr == "" {
		return nil
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	typ := models.AuditEventAgentNetworkType1
	if net.ParseIP(addr) != nil {
		typ = models.AuditEventAgentNetworkType2
	}
	return &models.AuditEventAgentNetwork{Address: ptr(addr), Type: ptr(typ)}
}

func concept(c models.Coding) *models.CodeableConcept {
	return &models.CodeableConcept{Coding: []models.Coding{c}}
}

// folds holds the folded display of every constant coding, so that
// building an event's index folds nothing it need not (see foldDisplay).
var folds = map[string]string{}

// coding is a constant Coding; its display is folded once, here.
func coding(system, code, display string) models.Coding {
	c := models.Coding{System: &system, Code: &code}
	if display != "" {
		folds[display] = search.Fold(display)
		c.Display = &display
	}
	return c
}

func local(name string) models.Coding { return coding(SystemLocal, name, "") }

func cs(c ...models.Coding) []models.Coding { return c }

// plainCoding is a Coding without display (roles, purposes of use).
func plainCoding(system, code string) models.Coding {
	c := models.Coding{Code: &code}
	if system != "" {
		c.System = &system
	}
	return c
}

// foldDisplay is search.Fold of a display, looked up for the constant
// ones.
func foldDisplay(s string) string {
	if f, ok := folds[s]; ok {
		return f
	}
	return search.Fold(s)
}

// newID is an AuditEvent id: 128 random bits in hex.
// newID is a time-ordered id (UUIDv7), as the server gives resources:
// AuditEvents arrive in time order, so their keys append to the store's
// indexes instead of landing at random places in ever larger trees.
func newID() string { return eventID() }

func ptr[T any](v T) *T { return &v }

// newEvent starts an event of kind k: its type, subtypes, action and a
// successful outcome, as the kind's table row says.
func newEvent(k Kind) *Event {
	d := &kinds[k]
	ev := &Event{}
	r := &ev.Resource
	r.Type = d.typ
	r.Subtype = append([]models.Coding(nil), d.subtype...)
	r.Action = ptr(d.action)
	r.Outcome = ptr(models.AuditEventOutcome0)
	return ev
}
