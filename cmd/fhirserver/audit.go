package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/audit"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/oauth"
)

// auditRequests records the AuditEvents of every FHIR request before its
// response leaves: the handler writes into a buffer; the request's Trail
// (what it returned or wrote) becomes events; only once they are stored
// does the buffer go out. If they cannot be stored the client gets 503
// and nothing else. It sits outside the token check, so refusals (401,
// 403, 404) are recorded too.
func (m *Main) auditRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return m.audited(next, true)
}

// auditImports audits the internal router (import, demo loading): the
// same records, with no principal (the command line's own act); the
// alert detectors, made for people and apps, do not see them.
func (m *Main) auditImports(next echo.HandlerFunc) echo.HandlerFunc {
	return m.audited(next, false)
}

func (m *Main) audited(next echo.HandlerFunc, observe bool) echo.HandlerFunc {
	if withoutAudit {
		return next
	}
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method == http.MethodOptions || strings.HasSuffix(r.URL.Path, "/metadata") || strings.Contains(r.URL.Path, "/.well-known/") {
			return next(c)
		}
		trail := &fhir.Trail{}
		c.SetRequest(r.WithContext(fhir.WithTrail(r.Context(), trail)))
		res := c.Response()
		before := res.Header().Clone() // what the outer middleware set
		buf := bufferPool.Get().(*bufferedWriter)
		buf.reset(res.Writer)
		res.Writer = buf
		defer func() {
			res.Writer = buf.real
			bufferPool.Put(buf)
		}()
		if err := next(c); err != nil {
			c.Error(err)
		}
		status := res.Status
		req := c.Request() // carries the principal the token check found
		p := fhir.PrincipalFrom(req.Context())
		entries := trail.Entries()
		interaction := audit.InteractionOf(req.Method, c.Path())
		events := audit.RESTEvents(audit.RESTAccess{
			Principal: p,
			Method:    req.Method, Route: c.Path(), Path: req.URL.Path, RawQuery: req.URL.RawQuery,
			Interaction: interaction,
			Type:        c.Param("type"), ID: c.Param("id"),
			Status:     status,
			StepUp:     status == http.StatusUnauthorized && strings.Contains(res.Header().Get(echo.HeaderWWWAuthenticate), "insufficient_user_authentication"),
			RequestID:  res.Header().Get(echo.HeaderXRequestID),
			RemoteAddr: c.RealIP(),
			Trail:      entries,
			Time:       time.Now(),
			Server:     m.Config.FHIRBase(),
		})
		if err := m.Audit.Record(req.Context(), events...); err != nil {
			m.Logger.Error("audit record failed; response withheld", "error", err, "request_id", res.Header().Get(echo.HeaderXRequestID))
			buf.discard(res.Header(), before)
			res.Writer = buf.real
			res.Committed = false
			return c.JSONBlob(http.StatusServiceUnavailable, unavailableOutcome)
		}
		if observe {
			m.Alerts.Observe(accessOf(p, c, interaction, status, entries, events))
		}
		return buf.flush()
	}
}

// accessOf is what the alert detectors see of one audited request.
func accessOf(p *fhir.Principal, c echo.Context, interaction string, status int, entries []fhir.TrailEntry, events []*audit.Event) audit.Access {
	a := audit.Access{Status: status, RemoteAddr: c.RealIP(), Interaction: interaction, Resources: len(entries)}
	if p != nil {
		a.User, a.Client = p.Subject, p.Client
		if len(p.Roles) > 0 {
			a.Role = p.Roles[0]
		}
		if a.User == a.Client {
			a.User = "" // a backend service: the client is the actor
		}
		a.PatientCriteria = p.Patient != ""
	}
	route := c.Path()
	if strings.HasPrefix(route, "/fhir/:type/:id/") && c.Param("type") == "Patient" {
		a.PatientCriteria = true // compartment search, $everything
	}
	q := c.Request().URL.Query()
	for _, name := range []string{"patient", "subject", "_id"} {
		if q.Has(name) || q.Has(name+":Patient") {
			a.PatientCriteria = true
		}
	}
	seen := map[string]bool{}
	for _, e := range events {
		for _, pid := range e.Patients {
			if pid != "" && !seen[pid] {
				seen[pid] = true
				a.Patients = append(a.Patients, pid)
			}
		}
	}
	return a
}

var unavailableOutcome = fhir.OperationOutcome(&fhir.Error{Code: fhir.CodeTransient, Status: http.StatusServiceUnavailable,
	Diagnostics: "the access could not be recorded; nothing was returned; try again"})

// bufferedWriter holds a response until its audit record is stored.
type bufferedWriter struct {
	real   http.ResponseWriter
	status int
	body   bytes.Buffer
}

var bufferPool = sync.Pool{New: func() any { return &bufferedWriter{} }}

func (b *bufferedWriter) reset(real http.ResponseWriter) {
	b.real, b.status = real, 0
	b.body.Reset()
}

func (b *bufferedWriter) Header() http.Header { return b.real.Header() }

func (b *bufferedWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedWriter) flush() error {
	if b.status == 0 {
		return nil
	}
	b.real.WriteHeader(b.status)
	_, err := b.real.Write(b.body.Bytes())
	return err
}

// discard drops the held response and the headers the handler set,
// keeping those set before it (request id, security headers, CORS).
func (b *bufferedWriter) discard(h, before http.Header) {
	for k := range h {
		if _, keep := before[k]; !keep {
			delete(h, k)
		}
	}
	for k, v := range before {
		h[k] = v
	}
	b.status = 0
	b.body.Reset()
}

// securityEvents passes the authorization server's security events to
// the audit trail.
type securityEvents struct{ m *Main }

func (s securityEvents) Security(ctx context.Context, e oauth.SecurityEvent) error {
	return recordSecurity(ctx, s.m.Audit, s.m.Config.FHIRBase(), e)
}

// recordSecurity turns one of the authorization server's security events
// into its AuditEvent and stores it.
func recordSecurity(ctx context.Context, rec *audit.Recorder, server string, e oauth.SecurityEvent) error {
	kind, ok := audit.ParseKind(e.Kind)
	if !ok || !kind.IsSecurity() {
		return fmt.Errorf("audit: no security event kind %q", e.Kind)
	}
	return rec.Record(ctx, audit.SecurityEvent(kind, audit.SecurityInfo{
		Account: e.Account, Role: e.Role, Client: e.Client, Grant: e.Grant, Patient: e.Patient, Scopes: e.Scopes, Key: e.Key,
		Success: e.Success, Detail: e.Detail, RemoteAddr: e.RemoteAddr, RequestID: e.RequestID, Time: e.Time, Server: server,
	}))
}

// recorderEvents reports the command line's security events (client,
// account and key changes) through its own Recorder.
type recorderEvents struct {
	rec    *audit.Recorder
	server string
}

func (r recorderEvents) Security(ctx context.Context, e oauth.SecurityEvent) error {
	return recordSecurity(ctx, r.rec, r.server, e)
}
