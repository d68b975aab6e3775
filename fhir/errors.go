package fhir

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Issue codes used by the server (the OperationOutcome issue-type value set).
const (
	CodeInvalid         = models.IssueTypeInvalid
	CodeStructure       = models.IssueTypeStructure
	CodeRequired        = models.IssueTypeRequired
	CodeValue           = models.IssueTypeValue
	CodeInvariant       = models.IssueTypeInvariant
	CodeSecurity        = models.IssueTypeSecurity
	CodeLogin           = models.IssueTypeLogin
	CodeForbidden       = models.IssueTypeForbidden
	CodeNotSupported    = models.IssueTypeNotSupported
	CodeDuplicate       = models.IssueTypeDuplicate
	CodeMultipleMatches = models.IssueTypeMultipleMatches
	CodeNotFound        = models.IssueTypeNotFound
	CodeDeleted         = models.IssueTypeDeleted
	CodeTooLong         = models.IssueTypeTooLong
	CodeConflict        = models.IssueTypeConflict
	CodeProcessing      = models.IssueTypeProcessing
	CodeBusinessRule    = models.IssueTypeBusinessRule
	CodeTransient       = models.IssueTypeTransient
	CodeException       = models.IssueTypeException
	CodeTooCostly       = models.IssueTypeTooCostly
	CodeInformational   = models.IssueTypeInformational
)

// statusByCode is the one table from issue code to HTTP status. An Error may
// name another status explicitly where the same code serves several
// (not-supported is 405, 406 or 415 depending on what is not supported).
var statusByCode = map[models.IssueType]int{
	CodeInvalid:         http.StatusBadRequest,
	CodeStructure:       http.StatusBadRequest,
	CodeRequired:        http.StatusUnprocessableEntity,
	CodeValue:           http.StatusUnprocessableEntity,
	CodeInvariant:       http.StatusUnprocessableEntity,
	CodeProcessing:      http.StatusUnprocessableEntity,
	CodeBusinessRule:    http.StatusUnprocessableEntity,
	CodeSecurity:        http.StatusForbidden,
	CodeForbidden:       http.StatusForbidden,
	CodeLogin:           http.StatusUnauthorized,
	CodeNotSupported:    http.StatusMethodNotAllowed,
	CodeDuplicate:       http.StatusConflict,
	CodeConflict:        http.StatusConflict,
	CodeMultipleMatches: http.StatusPreconditionFailed,
	CodeNotFound:        http.StatusNotFound,
	CodeDeleted:         http.StatusGone,
	CodeTooLong:         http.StatusRequestEntityTooLarge,
	CodeTooCostly:       http.StatusForbidden,
	CodeTransient:       http.StatusServiceUnavailable,
	CodeException:       http.StatusInternalServerError,
}

// Error is the one error type that reaches a client. Diagnostics must hold
// no PHI, token or secret: it is sent as written.
type Error struct {
	Code        models.IssueType
	Status      int // optional: overrides the status the code maps to
	Diagnostics string
	Expression  []string
	Err         error // the cause, logged, never sent
	// Challenge, on a 401, is the WWW-Authenticate header sent with it
	// (see InsufficientAuthentication).
	Challenge string
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code.Code(), e.Diagnostics, e.Err)
	}
	return e.Code.Code() + ": " + e.Diagnostics
}

func (e *Error) Unwrap() error { return e.Err }

// HTTPStatus is the status the error is answered with.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	if s, ok := statusByCode[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Errorf builds an Error with a code and a formatted diagnostic.
func Errorf(code models.IssueType, format string, args ...any) *Error {
	return &Error{Code: code, Diagnostics: fmt.Sprintf(format, args...)}
}

// Sentinel errors returned by Store implementations.
var (
	// ErrNotFound: no resource (or version) with that type and id.
	ErrNotFound = &Error{Code: CodeNotFound, Diagnostics: "resource not found"}
	// ErrVersionConflict: the version being written is not the next one;
	// another write got there first.
	ErrVersionConflict = &Error{Code: CodeConflict, Status: http.StatusConflict, Diagnostics: "version conflict: the resource was changed by another request"}
	// ErrUnavailable: the store could not be reached or could not commit.
	ErrUnavailable = &Error{Code: CodeTransient, Diagnostics: "storage unavailable"}
)

// AsError turns any error into an *Error. Unknown errors become a 500
// "internal error" whose cause is kept for the log only.
func AsError(err error) *Error {
	var fe *Error
	if errors.As(err, &fe) {
		return fe
	}
	return &Error{Code: CodeException, Diagnostics: "internal error", Err: err}
}

// OperationOutcome renders issues as an OperationOutcome resource.
func OperationOutcome(errs ...*Error) []byte {
	oo := models.OperationOutcome{Issue: make([]models.OperationOutcomeIssue, 0, len(errs))}
	for _, e := range errs {
		sev := models.IssueSeverityError
		if e.Code == CodeInformational {
			sev = models.IssueSeverityInformation
		}
		issue := models.OperationOutcomeIssue{Severity: sev, Code: e.Code, Expression: e.Expression}
		if e.Diagnostics != "" {
			d := e.Diagnostics
			issue.Diagnostics = &d
		}
		oo.Issue = append(oo.Issue, issue)
	}
	b, err := json.Marshal(oo)
	if err != nil { // cannot happen with these fields
		return []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception"}]}`)
	}
	return b
}

// Information builds an informational OperationOutcome (for
// Prefer: return=OperationOutcome on success).
func Information(msg string) []byte {
	return OperationOutcome(&Error{Code: CodeInformational, Diagnostics: msg})
}
