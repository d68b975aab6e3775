package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/oncofhir/oncofhir/conformance"
	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/mongostore"
	"github.com/oncofhir/oncofhir/fhir/rest"
	"github.com/oncofhir/oncofhir/fhir/searchparam"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
)

// version is the software version reported in the CapabilityStatement.
var version = "0.1.0"

// Main is the running server: the real wiring, so that end-to-end tests run
// exactly what the binary runs (on Addr ":0").
type Main struct {
	Config Config
	Logger *slog.Logger

	Store fhir.Store
	Echo  *echo.Echo
	ln    net.Listener
	srv   *http.Server
	done  chan error
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
	opts, err := capabilityOptions(m.Config, searchable)
	if err != nil {
		return err
	}
	capability, err := conformance.CapabilityStatement(opts)
	if err != nil {
		return err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = rest.ErrorHandler(m.Logger)
	e.Use(middleware.RequestID())
	e.Use(middleware.Recover())
	e.Use(requestLog(m.Logger))
	e.Use(securityHeaders)
	rest.Register(e.Group("/fhir"), rest.Deps{
		Store:          m.Store,
		Validator:      validator,
		BaseURL:        m.Config.FHIRBase(),
		IsResourceType: conformance.IsResourceType,
		Capability:     capability,
		MaxBodyBytes:   m.Config.MaxBodyBytes,
		Logger:         m.Logger,
		Params:         params,
		Indexer:        params,
		Compartment:    conformance.PatientCompartment(),
		CursorKey:      []byte(m.Config.CursorKey),
		SummaryFilter:  conformance.SummaryFilter,
	})
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
	}
	ln, err := net.Listen("tcp", m.Config.Addr)
	if err != nil {
		_ = m.Store.Close()
		return err
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
	if m.Store != nil {
		if err := m.Store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
