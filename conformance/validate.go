package conformance

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// MaxIssues bounds the issues one refusal reports; a client fixing a
// resource needs the first few, not thousands.
const MaxIssues = 10

// Validator checks a resource against the R4 JSON schema and the minimum
// cardinalities of the R4 StructureDefinitions. The schema of a resource
// type is compiled on first use (the first type takes most of a second, as
// it compiles the data types every resource shares; later types take
// milliseconds) and kept. A Validator is safe for concurrent use.
type Validator struct {
	mu       sync.Mutex // serialises compilation: jsonschema.Compiler is not safe for concurrent use
	compiler *jsonschema.Compiler
	schemas  sync.Map // resource type → *jsonschema.Schema
}

// NewValidator loads the embedded schema. It compiles nothing yet: see
// Prepare.
func NewValidator() (*Validator, error) {
	doc, err := schemaDocument()
	if err != nil {
		return nil, err
	}
	v := &Validator{compiler: jsonschema.NewCompiler()}
	v.compiler.DefaultDraft(jsonschema.Draft6)
	v.compiler.RegisterVocabulary(&jsonschema.Vocabulary{
		URL:     "urn:oncofhir:conformance:nested-resource",
		Compile: v.compileResourceKeyword,
	})
	if err := v.compiler.AddResource(schemaID, doc); err != nil {
		return nil, fmt.Errorf("conformance: add schema: %w", err)
	}
	return v, nil
}

// Prepare compiles the schemas of the given resource types now rather than
// on their first write, so that a server can pay the cost at start-up.
func (v *Validator) Prepare(resourceTypes ...string) error {
	for _, rt := range resourceTypes {
		if !IsResourceType(rt) {
			return fmt.Errorf("conformance: prepare: %q is not an R4 resource type", rt)
		}
		if _, err := v.schema(rt); err != nil {
			return err
		}
	}
	return nil
}

// schema returns the compiled schema of a resource type, compiling it on
// first use.
func (v *Validator) schema(resourceType string) (*jsonschema.Schema, error) {
	if s, ok := v.schemas.Load(resourceType); ok {
		return s.(*jsonschema.Schema), nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.schemas.Load(resourceType); ok {
		return s.(*jsonschema.Schema), nil
	}
	s, err := v.compiler.Compile(schemaID + "#/definitions/" + resourceType)
	if err != nil {
		return nil, fmt.Errorf("conformance: compile schema of %s: %w", resourceType, err)
	}
	v.schemas.Store(resourceType, s)
	return s, nil
}

// Validate checks body, a resource of the given type, and returns nil or
// an Issues error listing the first MaxIssues problems, ordered by element
// path. fhir.AsError(err) yields the first issue; errors.As(err, &issues)
// all of them. The caller is expected to have parsed body as JSON and to check
// that its resourceType matches the type it is written as.
func (v *Validator) Validate(resourceType string, body []byte) error {
	if errs := v.ValidateAll(resourceType, body); len(errs) > 0 {
		return Issues(errs)
	}
	return nil
}

// ValidateAll is Validate returning the issues as a slice (empty when the
// resource is valid), for rendering with fhir.OperationOutcome(errs...).
//
// The codes are: CodeRequired for a missing required element; CodeValue
// for any other content the R4 definitions refuse; CodeStructure (400) for
// a body that is not a JSON object; CodeNotSupported with status 404 for a
// type that is not an R4 resource type; CodeException if the schema of the
// type cannot be compiled (a defect).
func (v *Validator) ValidateAll(resourceType string, body []byte) []*fhir.Error {
	if !IsResourceType(resourceType) {
		return []*fhir.Error{{Code: fhir.CodeNotSupported, Status: http.StatusNotFound,
			Diagnostics: "not an R4 resource type"}}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return []*fhir.Error{{Code: fhir.CodeStructure, Diagnostics: "malformed JSON", Err: err}}
	}
	if _, ok := inst.(map[string]any); !ok {
		return []*fhir.Error{{Code: fhir.CodeStructure, Diagnostics: "the body must be a JSON object"}}
	}
	sch, err := v.schema(resourceType)
	if err != nil {
		return []*fhir.Error{{Code: fhir.CodeException, Diagnostics: "internal error", Err: err}}
	}
	var found issues
	if err := sch.Validate(inst); err != nil {
		found.fromSchema(err, inst, resourceType)
	}
	checkCardinality(&found, inst, resourceType)
	return found.sorted(MaxIssues)
}

// Issues is the error Validate returns: the issues found, at most
// MaxIssues, each a *fhir.Error.
type Issues []*fhir.Error

func (is Issues) Error() string {
	var b strings.Builder
	for i, e := range is {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap exposes the issues to errors.Is and errors.As.
func (is Issues) Unwrap() []error {
	errs := make([]error, len(is))
	for i, e := range is {
		errs[i] = e
	}
	return errs
}
