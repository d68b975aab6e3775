package audit

import (
	"strings"
	"time"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/oncofhir/oncofhir/fhir"
)

// SecurityInfo describes a security event. It holds identifiers and fixed
// texts only: no username (a failed sign-in's username may be a mistyped
// password, and a username may be an e-mail address), no name, no PHI, no
// password, token, code or secret.
type SecurityInfo struct {
	// Account is the account id of the user who acted, or, for
	// user-disabled, of the account disabled. Role is its role.
	Account, Role string
	// Client is the OAuth client id that acted, or, for client-registered
	// and client-removed, the client registered or removed.
	Client string
	// Grant identifies the grant (fhir.Principal.Grant), never a token.
	Grant string
	// Patient is the patient in context (a launch, a token's patient).
	Patient string
	// Scopes are the scopes granted or registered.
	Scopes []string
	// Key is the id (kid) of the key rotated or retired.
	Key string
	// Success is false for a failure (a refused sign-in, a wrong second
	// factor): the zero value records a failure, never a success by
	// omission. introspection-failed is always a failure.
	Success bool
	// Detail is a fixed text saying what happened ("password", "totp",
	// "refused: invalid_grant"), recorded as outcomeDesc.
	Detail string
	// RemoteAddr and RequestID are the HTTP request's, empty from the
	// command line.
	RemoteAddr, RequestID string
	Time                  time.Time
	Server                string // the FHIR base URL: the server agent and the source
}

var (
	agentHuman      = coding("http://terminology.hl7.org/CodeSystem/extra-security-role-type", "humanuser", "human user")
	agentAuthServer = coding("http://terminology.hl7.org/CodeSystem/extra-security-role-type", "authserver", "authorization server")
)

// SecurityEvent builds the AuditEvent of a security event (see Kind for
// the codes). Agents: the user who acted (the account, with its role),
// the client app (with the grant as policy), the network address on the
// one that asked, and the server. Entities: the patient in context, what
// was acted on (the disabled account, the registered or removed client,
// the key), the scopes, and the request. It returns nil for a kind that
// is not a security kind: REST interactions are built by RESTEvents.
func SecurityEvent(kind Kind, s SecurityInfo) *Event {
	if !kind.IsSecurity() {
		return nil
	}
	d := &kinds[kind]
	ev := newEvent(kind)
	r := &ev.Resource
	if !s.Success || d.failure {
		r.Outcome = ptr(models.AuditEventOutcome4)
	}
	if s.Detail != "" {
		r.OutcomeDesc = ptr(s.Detail)
	}
	r.Source = source(s.Server)

	var user, client *models.AuditEventAgent
	if s.Account != "" && !d.accountTarget {
		var roles []string
		if s.Role != "" {
			roles = []string{s.Role}
		}
		u := userAgent(agentHuman, s.Account, "", roles)
		user = &u
	}
	if s.Client != "" && !d.clientTarget {
		client = &models.AuditEventAgent{Type: concept(agentApplication), Who: clientRef(s.Client), Requestor: user == nil}
		if s.Grant != "" {
			client.Policy = []string{GrantPrefix + s.Grant}
		}
	}
	// The address is the asker's: the app's when there is one, else the
	// user's browser, else an agent known by its address alone.
	switch addr := network(s.RemoteAddr); {
	case addr == nil:
	case client != nil:
		client.Network = addr
	case user != nil:
		user.Network = addr
	default:
		r.Agent = append(r.Agent, models.AuditEventAgent{Type: concept(agentSource), Requestor: true, Network: addr})
	}
	if user != nil {
		r.Agent = append(r.Agent, *user)
	}
	if client != nil {
		r.Agent = append(r.Agent, *client)
	}
	r.Agent = append(r.Agent, serverAgent(agentAuthServer, s.Server))

	if s.Patient != "" {
		r.Entity = append(r.Entity, patientEntity(s.Patient))
		ev.Patients = []string{s.Patient}
	}
	if d.accountTarget && s.Account != "" {
		r.Entity = append(r.Entity, targetEntity(entityTypePerson, roleSecurityUser, SystemAccount, s.Account))
	}
	if d.clientTarget && s.Client != "" {
		r.Entity = append(r.Entity, targetEntity(entityTypeSystemObject, roleSecurityUser, SystemClient, s.Client))
	}
	if s.Key != "" {
		r.Entity = append(r.Entity, targetEntity(entityTypeSystemObject, roleSecurityResource, SystemKey, s.Key))
	}
	if len(s.Scopes) > 0 {
		r.Entity = append(r.Entity, models.AuditEventEntity{
			Type: ptr(entityTypeSystemObject), Role: ptr(roleSecurityResource),
			Description: ptr("scopes: " + strings.Join(s.Scopes, " ")),
		})
	}
	if s.RequestID != "" {
		r.Entity = append(r.Entity, requestEntity(s.RequestID))
	}
	stamp(ev, fhir.TruncateTime(s.Time))
	return ev
}

// targetEntity is what a security event acted on, by identifier.
func targetEntity(typ, role models.Coding, system, value string) models.AuditEventEntity {
	return models.AuditEventEntity{
		What: &models.Reference{Identifier: &models.Identifier{System: ptr(system), Value: ptr(value)}},
		Type: ptr(typ), Role: ptr(role),
	}
}
