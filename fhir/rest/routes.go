package rest

import (
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/search"
)

// Validator checks a resource before it is stored; it returns nil or the
// issues found (a *fhir.Error, or an error carrying several).
type Validator interface {
	Validate(resourceType string, body []byte) error
}

// Deps is what the handlers need. BaseURL is the FHIR base (for example
// http://localhost:8080/fhir), used for Location headers and Bundle links.
type Deps struct {
	Store          fhir.Store
	Validator      Validator
	BaseURL        string
	IsResourceType func(string) bool
	// ResourceTypes lists every type served (what a bare _revinclude=*
	// looks through).
	ResourceTypes []string
	Capability    []byte // the CapabilityStatement, built once
	Now           func() time.Time
	NewID         func() string
	MaxBodyBytes  int64 // request body limit; 0 means DefaultMaxBodyBytes
	Logger        *slog.Logger
	// Search: the parameters, the extractor run on every write, the
	// Patient compartment (type → parameters) and the key that signs
	// paging cursors (random when empty: set it when several processes
	// serve one store).
	Params      search.Params
	Indexer     Indexer
	Compartment map[string][]string
	CursorKey   []byte
	// SummaryFilter tells which top-level elements _summary=true keeps.
	SummaryFilter func(resourceType string) (keep func(jsonKey string) bool, ok bool)
	// SearchTimeout bounds every search, $everything and compartment read;
	// 0 means DefaultSearchTimeout.
	SearchTimeout time.Duration
	// Guard decides what the principal in the request context may do (see
	// guard.go). nil enforces nothing: every request is served, with or
	// without a principal.
	Guard Guard
}

// DefaultSearchTimeout is the deadline of a search when Deps sets none.
const DefaultSearchTimeout = 10 * time.Second

// DefaultMaxBodyBytes is the request body limit when Deps sets none.
const DefaultMaxBodyBytes = 16 << 20

// TypeInteractions and SystemInteractions name, by their CapabilityStatement
// codes, the interactions Register serves; the CapabilityStatement is built
// from them.
var (
	TypeInteractions   = []string{"read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type"}
	SystemInteractions = []string{"transaction", "batch", "history-system", "search-system"}
)

// TypeInteractionsOf lists the TypeInteractions served for typ: those of a
// read-only type (AuditEvent) leave out create, update, patch and delete,
// which answer 405.
func TypeInteractionsOf(typ string) []string {
	if !readOnly[typ] {
		return slices.Clone(TypeInteractions)
	}
	var out []string
	for _, code := range TypeInteractions {
		switch code {
		case "create", "update", "patch", "delete":
		default:
			out = append(out, code)
		}
	}
	return out
}

// Register lists every FHIR route under g (mounted at /fhir).
func Register(g *echo.Group, d Deps) {
	h := newHandler(d)
	// Every route but the CapabilityStatement needs a principal once a
	// Guard is set.
	var auth []echo.MiddlewareFunc
	if d.Guard != nil {
		auth = append(auth, h.authenticate)
	}
	g.GET("/metadata", h.metadata)
	g.HEAD("/metadata", h.metadata)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		g.Add(m, "/metadata", methodNotAllowed)
	}

	g.POST("", h.bundle, auth...)
	g.GET("", h.searchSystem, auth...)
	g.GET("/_history", h.history, auth...)

	g.GET("/:type", h.searchType, auth...)
	g.POST("/:type/_search", h.searchType, auth...)
	g.POST("/:type", h.create, auth...)
	g.PUT("/:type", h.conditionalUpdate, auth...)
	g.PATCH("/:type", h.patch, auth...)
	g.DELETE("/:type", h.conditionalDelete, auth...)
	g.GET("/:type/_history", h.history, auth...)

	g.GET("/:type/:id", h.read, auth...)
	g.HEAD("/:type/:id", h.read, auth...)
	g.PUT("/:type/:id", h.update, auth...)
	g.PATCH("/:type/:id", h.patch, auth...)
	g.DELETE("/:type/:id", h.delete, auth...)
	g.GET("/:type/:id/_history", h.history, auth...)
	g.GET("/:type/:id/$everything", h.everything, auth...)
	g.GET("/:type/:id/:comp", h.compartmentSearch, auth...)
	g.GET("/:type/:id/_history/:vid", h.vread, auth...)
	g.HEAD("/:type/:id/_history/:vid", h.vread, auth...)
}

func methodNotAllowed(echo.Context) error {
	return &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusMethodNotAllowed, Diagnostics: "method not allowed on this endpoint"}
}
