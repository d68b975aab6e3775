package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

// issues flattens an error into the issues of one OperationOutcome. An
// error joining several (a validator reporting every problem it found)
// gives one issue for each.
func issues(err error) []*fhir.Error {
	// Only a list of issues (errors.Join of *fhir.Error, the validator's
	// issues) is split. Anything else, such as a cause wrapped with two %w,
	// is one failure and stays one issue.
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var list []*fhir.Error
		for _, e := range joined.Unwrap() {
			var fe *fhir.Error
			if !errors.As(e, &fe) {
				list = nil
				break
			}
			list = append(list, issues(e)...)
		}
		if len(list) > 0 {
			return list
		}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return []*fhir.Error{fromEcho(he)}
	}
	return []*fhir.Error{fhir.AsError(err)}
}

// fromEcho maps the errors echo raises itself (no route, wrong method, body
// too large) to issues.
func fromEcho(he *echo.HTTPError) *fhir.Error {
	switch he.Code {
	case http.StatusNotFound:
		return &fhir.Error{Code: fhir.CodeNotFound, Diagnostics: "no such endpoint"}
	case http.StatusMethodNotAllowed:
		return &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusMethodNotAllowed, Diagnostics: "method not allowed on this endpoint"}
	case http.StatusRequestEntityTooLarge:
		return &fhir.Error{Code: fhir.CodeTooLong, Diagnostics: "request body too large"}
	case http.StatusUnsupportedMediaType:
		return &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusUnsupportedMediaType, Diagnostics: "unsupported media type"}
	}
	if he.Code >= 400 && he.Code < 500 {
		return &fhir.Error{Code: fhir.CodeInvalid, Status: he.Code, Diagnostics: http.StatusText(he.Code)}
	}
	return &fhir.Error{Code: fhir.CodeException, Diagnostics: "internal error", Err: he}
}

// ErrorHandler is echo's HTTPErrorHandler for the whole server: every error
// becomes an OperationOutcome with the status its first issue maps to.
// Internal errors are logged with their cause and answered "internal error".
func ErrorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	if logger == nil {
		logger = slog.Default()
	}
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		list := issues(err)
		status := list[0].HTTPStatus()
		if status >= 500 {
			logger.Error("request failed", "method", c.Request().Method, "route", c.Path(),
				"status", status, "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err)
		}
		if ch := list[0].Challenge; ch != "" && status == http.StatusUnauthorized {
			c.Response().Header().Set("WWW-Authenticate", ch)
		}
		if status == http.StatusServiceUnavailable {
			c.Response().Header().Set("Retry-After", "1")
		}
		writeJSON(c, status, fhir.OperationOutcome(list...))
	}
}

// writeJSON sends a FHIR JSON body.
func writeJSON(c echo.Context, status int, body []byte) {
	if c.Request().Method == http.MethodHead {
		c.Response().Header().Set(echo.HeaderContentType, contentTypeFHIR)
		c.Response().WriteHeader(status)
		return
	}
	_ = c.Blob(status, contentTypeFHIR, body)
}

// marshal writes a server-built resource without HTML escaping, so URLs in
// links keep their '&'.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
