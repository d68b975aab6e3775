package rest

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/fhir"
)

const (
	contentTypeFHIR      = "application/fhir+json; charset=utf-8"
	contentTypeJSONPatch = "application/json-patch+json"
)

// negotiate checks Accept and _format: JSON is served, anything that asks
// for XML (or only for a type we do not produce) answers 406.
func negotiate(r *http.Request) error {
	if f := r.URL.Query().Get("_format"); f != "" {
		// An unencoded '+' in a query string arrives as a space.
		f = strings.ReplaceAll(f, " ", "+")
		switch strings.ToLower(strings.TrimSpace(strings.SplitN(f, ";", 2)[0])) {
		case "json", "application/json", "application/fhir+json", "application/json+fhir":
			return nil
		default:
			return notAcceptable("_format " + sanitize(f) + " is not supported: this server speaks JSON only")
		}
	}
	accept := r.Header.Get(echo.HeaderAccept)
	if accept == "" {
		return nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch mt {
		case "*/*", "application/*", "application/json", "application/fhir+json", "application/json+fhir", "text/*", "text/plain", "text/html":
			// Browsers ask for text/html with */* too; JSON answers them.
			return nil
		}
	}
	return notAcceptable("none of the accepted media types is served: this server speaks JSON (application/fhir+json) only")
}

func notAcceptable(msg string) error {
	return &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusNotAcceptable, Diagnostics: msg}
}

// sanitize keeps a client-supplied token short and printable before it is
// echoed in a diagnostic.
func sanitize(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// checkContentType accepts FHIR JSON, plain JSON, or no type at all (read as
// JSON); anything else answers 415.
func checkContentType(r *http.Request, allowed ...string) error {
	ct := r.Header.Get(echo.HeaderContentType)
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return unsupportedMedia("unreadable Content-Type")
	}
	if len(allowed) == 0 {
		allowed = []string{"application/fhir+json", "application/json", "application/json+fhir"}
	}
	for _, a := range allowed {
		if mt == a {
			return nil
		}
	}
	return unsupportedMedia("Content-Type " + sanitize(mt) + " is not supported: send " + allowed[0])
}

func unsupportedMedia(msg string) error {
	return &fhir.Error{Code: fhir.CodeNotSupported, Status: http.StatusUnsupportedMediaType, Diagnostics: msg}
}

// readBody reads at most limit bytes; a larger body answers 413 and nothing
// of it is used.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		return nil, fhir.Errorf(fhir.CodeStructure, "the request body could not be read")
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(limit)
	}
	if len(b) == 0 {
		return nil, fhir.Errorf(fhir.CodeStructure, "the request body is empty")
	}
	return b, nil
}

func tooLarge(limit int64) error {
	return fhir.Errorf(fhir.CodeTooLong, "request body larger than the limit of %d bytes", limit)
}

// preference reads one preference of the Prefer header ("return",
// "handling"), without quotes; "" when absent.
func preference(r *http.Request, name string) string {
	for _, v := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), name) {
				return strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
	}
	return ""
}

// preferReturn reads Prefer: return=...; representation is the default.
func preferReturn(r *http.Request) string {
	switch v := preference(r, "return"); v {
	case "minimal", "OperationOutcome":
		return v
	}
	return "representation"
}

// preferStrict reads Prefer: handling=strict.
func preferStrict(r *http.Request) bool {
	return strings.EqualFold(preference(r, "handling"), "strict")
}
