package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/oncofhir/oncofhir/audit"
	"github.com/oncofhir/oncofhir/conformance"
	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/mongostore"
	"github.com/oncofhir/oncofhir/fhir/rest"
	"github.com/oncofhir/oncofhir/fhir/search"
	"github.com/oncofhir/oncofhir/fhir/searchparam"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
	"github.com/oncofhir/oncofhir/oauth"
)

// version is the software version reported in the CapabilityStatement.
var version = "0.1.0"

// Main is the running server: the real wiring, so that end-to-end tests run
// exactly what the binary runs (on Addr ":0").
type Main struct {
	Config Config
	Logger *slog.Logger

	Store    fhir.Store
	OAuth    *oauth.Server
	Audit    *audit.Recorder
	Alerts   *audit.Alerts
	Echo     *echo.Echo
	internal *echo.Echo
	// Listener, when set, is used instead of listening on Config.Addr
	// (tests that must know the port before the base URL).
	Listener net.Listener
	// DemoOut receives the demo app and users (stderr when nil).
	DemoOut io.Writer
	ln      net.Listener
	srv     *http.Server
	done    chan error
	// The daily purge of AuditEvents past the retention period.
	stopPurge  context.CancelFunc
	purgeEnded chan struct{}
}

// Open opens the configured store and builds the router without listening.
func (m *Main) Open(ctx context.Context) error {
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	var err error
	if m.Config.MongoURI != "" {
		m.Store, err = mongostore.Open(ctx, m.Config.MongoURI, "")
	} else {
		m.Store, err = sqlitestore.Open(m.Config.DataDir)
	}
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	validator, err := conformance.NewValidator()
	if err != nil {
		return err
	}
	params, err := searchparam.Load()
	if err != nil {
		return err
	}
	params = params.WithBaseURL(m.Config.FHIRBase())
	var unsupported []string
	for _, u := range params.Unsupported() {
		unsupported = append(unsupported, u.Base+"."+u.Code+": "+u.Reason)
	}
	m.Logger.Info("search parameters of R4 not offered", "count", len(unsupported), "parameters", unsupported)
	searchable := params
	if _, ok := m.Store.(interface {
		Count(context.Context, fhir.Query) (int, error)
	}); !ok {
		// This engine cannot run search criteria yet: advertise no search.
		searchable = nil
	}
	rec, ok := m.Store.(fhir.Records)
	if !ok {
		return fmt.Errorf("store %T keeps no records", m.Store)
	}
	auditKey, err := audit.LoadOrCreateKey(m.Config.auditKeyPath())
	if err != nil {
		return fmt.Errorf("audit signing key: %w", err)
	}
	if m.Audit, err = audit.NewRecorder(ctx, audit.Config{Store: m.Store, Records: rec, Key: auditKey, Logger: m.Logger}); err != nil {
		return fmt.Errorf("audit trail: %w", err)
	}
	retention := m.Config.AuditRetention
	if retention == 0 {
		retention = audit.DefaultRetention
	}
	p, err := newPurger(m.Store, rec, auditKey, retention, m.Audit, m.Config.FHIRBase(), m.Logger)
	if err != nil {
		return err
	}
	var purgeCtx context.Context
	purgeCtx, m.stopPurge = context.WithCancel(context.WithoutCancel(ctx))
	m.purgeEnded = make(chan struct{})
	go func() {
		defer close(m.purgeEnded)
		p.loop(purgeCtx)
	}()
	m.Alerts = audit.NewAlerts(audit.AlertConfig{Records: rec, Logger: m.Logger, Webhook: m.Config.AlertWebhook, Location: m.Config.AlertLocation})
	sender, err := m.Config.sender()
	if err != nil {
		return err
	}
	m.OAuth, err = oauth.New(ctx, oauth.Config{
		BaseURL: m.Config.FHIRBase(), Records: rec, Store: m.Store, Logger: m.Logger, Demo: m.Config.Demo,
		Events:              securityEvents{m},
		AccessReports:       accessReports{m},
		AccessTokenLifespan: m.Config.AccessTokenLifetime, OfflineLifespan: m.Config.OfflineLifetime,
		IdleTimeout: m.Config.SessionIdle, AbsoluteTimeout: m.Config.SessionMax,
		StepUpMaxAge: m.Config.StepUpMaxAge, RequireACR: m.Config.RequireACR, TypeACR: m.Config.TypeACR,
		MFADeferrals:      m.Config.MFADeferrals,
		TrustedDeviceLife: time.Duration(m.Config.TrustedDeviceDays) * 24 * time.Hour, Location: m.Config.AlertLocation,
		Sender: sender,
		SearchPatients: func(ctx context.Context, q url.Values) ([]*fhir.Resource, error) {
			p, err := search.Parse("Patient", q, params, search.Options{})
			if err != nil {
				return nil, err
			}
			p.Query.Limit = 20
			return m.Store.Search(ctx, p.Query)
		},
	})
	if err != nil {
		return fmt.Errorf("authorization server: %w", err)
	}
	opts, err := capabilityOptions(m.Config, searchable)
	if err != nil {
		return err
	}
	opts.Security = m.OAuth.CapabilitySecurity()
	capability, err := conformance.CapabilityStatement(opts)
	if err != nil {
		return err
	}
	deps := rest.Deps{
		Store:          m.Store,
		Validator:      validator,
		BaseURL:        m.Config.FHIRBase(),
		IsResourceType: conformance.IsResourceType,
		ResourceTypes:  conformance.ResourceTypes(),
		Capability:     capability,
		MaxBodyBytes:   m.Config.MaxBodyBytes,
		Logger:         m.Logger,
		Params:         params,
		Indexer:        params,
		Compartment:    conformance.PatientCompartment(),
		CursorKey:      []byte(m.Config.CursorKey),
		SummaryFilter:  conformance.SummaryFilter,
	}
	// The internal router serves the import and demo commands in process:
	// the same validation and transactions, without a token, audited.
	m.internal = echo.New()
	m.internal.HTTPErrorHandler = rest.ErrorHandler(m.Logger)
	rest.Register(m.internal.Group("/fhir", m.auditImports), deps)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = ipExtractor(m.Config.TrustedProxies, m.Logger)
	e.HTTPErrorHandler = rest.ErrorHandler(m.Logger)
	e.Use(middleware.RequestID())
	e.Use(middleware.Recover())
	e.Use(requestLog(m.Logger))
	e.Use(securityHeaders)
	e.Use(m.OAuth.CORS)
	g := e.Group("/fhir")
	m.OAuth.Register(e, g)
	g.Use(m.auditRequests) // outside the token check: refusals are recorded too
	g.Use(m.OAuth.Bearer)
	g.Use(m.OAuth.StepUp) // a recent two-factor sign-in for sensitive interactions
	labels, maxAge := m.Config.StepUpLabels, m.Config.StepUpMaxAge
	if labels == nil {
		labels = consent.DefaultStepUpLabels
	}
	if maxAge <= 0 {
		maxAge = oauth.DefaultStepUpMaxAge
	}
	deps.Guard = consent.New(consent.Config{Params: params, Compartment: deps.Compartment, BaseURL: m.Config.FHIRBase(),
		// Labelled resources ask for the same recent two-factor sign-in
		// as the sensitive interactions (oauth.StepUp).
		StepUp: consent.StepUpRule{Labels: labels, Strong: []string{oauth.ACRTwoFactor, oauth.ACRPhishingResistant},
			StrongEnough: oauth.StrongAuthentication, Ask: oauth.ACRTwoFactor, MaxAge: maxAge}})
	rest.Register(g, deps)
	g.GET("/:type/:id/$access-report", m.accessReport) // the patient's access report (report.go)
	m.Echo = e
	return nil
}

// Run opens everything, loads demo data when asked, and starts serving.
func (m *Main) Run(ctx context.Context) error {
	if err := m.Open(ctx); err != nil {
		return err
	}
	if m.Config.Demo {
		if err := m.loadDemo(ctx); err != nil {
			_ = m.Store.Close()
			return fmt.Errorf("demo data: %w", err)
		}
		if err := m.demoAccess(ctx, m.demoOut()); err != nil {
			_ = m.Store.Close()
			return fmt.Errorf("demo access: %w", err)
		}
	}
	if withoutAudit {
		host, _, err := net.SplitHostPort(m.Config.Addr)
		if ip := net.ParseIP(host); m.Listener == nil && (err != nil || ip == nil || !ip.IsLoopback()) {
			_ = m.Store.Close()
			return fmt.Errorf("this build records no AuditEvent (built with the auditoff tag, to measure the audit trail's cost): it serves only on a loopback address")
		}
		m.Logger.Warn("this build records no AuditEvent for requests: it is for measuring the audit trail's cost only")
	}
	ln := m.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", m.Config.Addr); err != nil {
			_ = m.Store.Close()
			return err
		}
	}
	m.ln = ln
	m.srv = &http.Server{
		Handler:           m.Echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	m.done = make(chan error, 1)
	go func() { m.done <- m.srv.Serve(ln) }()
	return nil
}

// Addr is the address the server listens on.
func (m *Main) Addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// Close drains in-flight requests, then closes the store.
func (m *Main) Close() error {
	var errs []error
	if m.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := <-m.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if m.Alerts != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m.Alerts.Close(ctx)
		cancel()
	}
	if m.stopPurge != nil {
		m.stopPurge()
		<-m.purgeEnded
	}
	if m.Audit != nil {
		if err := m.Audit.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if m.Store != nil {
		if err := m.Store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ipExtractor is how the server reads a client's address (the sign-in
// throttling and the audit trail use it): the connection's, unless it
// comes from one of the trusted proxies, whose X-Forwarded-For is then
// read from the right, past the trusted hops. With no trusted proxy no
// header is believed, and the first request that carries one logs a
// warning: behind a proxy every client would share its address.
func ipExtractor(trusted []*net.IPNet, logger *slog.Logger) echo.IPExtractor {
	if len(trusted) == 0 {
		direct := echo.ExtractIPDirect()
		var warn sync.Once
		return func(r *http.Request) string {
			if r.Header.Get(echo.HeaderXForwardedFor) != "" {
				warn.Do(func() {
					logger.Warn("requests carry X-Forwarded-For but no --trusted-proxies is set: the header is ignored, and behind a proxy every client shares its address for the sign-in limits and the audit trail")
				})
			}
			return direct(r)
		}
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// requestLog writes one line per request: method, route pattern (never the
// URL, whose query may hold PHI), status, duration and request id.
func requestLog(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			logger.LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
				slog.String("method", c.Request().Method),
				slog.String("route", c.Path()),
				slog.Int("status", c.Response().Status),
				slog.Duration("duration", time.Since(start)),
				slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)))
			return nil
		}
	}
}

func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		return next(c)
	}
}

func (m *Main) demoOut() io.Writer {
	if m.DemoOut != nil {
		return m.DemoOut
	}
	return os.Stderr
}
