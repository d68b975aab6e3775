package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Defaults of Options.
var (
	DefaultFormats      = []string{"json", "application/fhir+json"}
	DefaultPatchFormats = []string{"application/json-patch+json"}
)

// Options describe the server for its CapabilityStatement.
type Options struct {
	BaseURL         string // the FHIR base URL (implementation.url), absolute http(s)
	SoftwareName    string // required
	SoftwareVersion string
	// Description is implementation.description; "" gives a default.
	Description string
	// Date is when the statement was published (the server's start, or
	// its release); the zero value means now.
	Date     time.Time
	Registry *Registry // the resource types served, required
	System   []SystemInteraction
	// SystemSearchParams are search parameters of whole-system search.
	SystemSearchParams []SearchParam
	Formats            []string // nil means DefaultFormats
	PatchFormats       []string // nil means DefaultPatchFormats
	// Security is rest.security as it is (SMART on FHIR service and its
	// endpoints), built by whoever owns authorization; nil omits it.
	Security *models.CapabilityStatementRestSecurity
}

// CapabilityStatement builds the server's CapabilityStatement (kind
// instance, FHIR 4.0.1, status active) from the options: one rest entry in
// server mode listing the registered resource types. Build it once and
// keep the bytes: the registry does not change while the server runs.
func CapabilityStatement(opts Options) ([]byte, error) {
	if opts.Registry == nil {
		return nil, errors.New("conformance: capability statement: no registry")
	}
	if opts.SoftwareName == "" {
		return nil, errors.New("conformance: capability statement: no software name")
	}
	base, err := url.Parse(opts.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("conformance: capability statement: base URL %q is not an absolute http(s) URL", opts.BaseURL)
	}
	date := opts.Date
	if date.IsZero() {
		date = time.Now()
	}
	description := opts.Description
	if description == "" {
		description = opts.SoftwareName + " FHIR R4 server"
	}
	formats, patchFormats := opts.Formats, opts.PatchFormats
	if formats == nil {
		formats = DefaultFormats
	}
	if patchFormats == nil {
		patchFormats = DefaultPatchFormats
	}

	rest := models.CapabilityStatementRest{
		Mode:     models.RestfulCapabilityModeServer,
		Security: opts.Security,
	}
	for _, t := range opts.Registry.Types() {
		c, _ := opts.Registry.Lookup(t)
		res, err := restResource(c)
		if err != nil {
			return nil, err
		}
		rest.Resource = append(rest.Resource, res)
	}
	for _, si := range opts.System {
		code, err := codeOf[models.SystemRestfulInteraction](string(si))
		if err != nil {
			return nil, fmt.Errorf("conformance: system interaction %q: %w", si, err)
		}
		rest.Interaction = append(rest.Interaction, models.CapabilityStatementRestInteraction{Code: code})
	}
	if rest.SearchParam, err = searchParams(opts.SystemSearchParams); err != nil {
		return nil, err
	}

	implURL := base.String()
	cs := models.CapabilityStatement{
		Status:   models.PublicationStatusActive,
		Date:     date.UTC().Format(time.RFC3339),
		Kind:     models.CapabilityStatementKindInstance,
		Software: &models.CapabilityStatementSoftware{Name: opts.SoftwareName, Version: optional(opts.SoftwareVersion)},
		Implementation: &models.CapabilityStatementImplementation{
			Description: description,
			Url:         &implURL,
		},
		FhirVersion: models.FHIRVersion4_0_1,
		Format:      formats,
		PatchFormat: patchFormats,
		Rest:        []models.CapabilityStatementRest{rest},
	}
	b, err := json.Marshal(cs)
	if err != nil {
		return nil, fmt.Errorf("conformance: capability statement: %w", err)
	}
	return b, nil
}

// restResource renders one registered type; it is also how Register
// checks the codes a capability uses.
func restResource(c ResourceCapability) (models.CapabilityStatementRestResource, error) {
	fail := func(what string, v any, err error) (models.CapabilityStatementRestResource, error) {
		return models.CapabilityStatementRestResource{}, fmt.Errorf("conformance: %s: %s %q: %w", c.Type, what, v, err)
	}
	typ, err := codeOf[models.ResourceType](c.Type)
	if err != nil {
		return fail("resource type", c.Type, err)
	}
	profile := "http://hl7.org/fhir/StructureDefinition/" + c.Type
	res := models.CapabilityStatementRestResource{
		Type:              typ,
		Profile:           &profile,
		ReadHistory:       stated(c.ReadHistory),
		UpdateCreate:      stated(c.UpdateCreate),
		ConditionalCreate: stated(c.ConditionalCreate),
		ConditionalUpdate: stated(c.ConditionalUpdate),
		SearchInclude:     c.SearchInclude,
		SearchRevInclude:  c.SearchRevInclude,
	}
	for _, i := range c.Interactions {
		code, err := codeOf[models.TypeRestfulInteraction](string(i))
		if err != nil || !slices.Contains(AllInteractions, i) {
			return fail("interaction", i, errors.New("not a type or instance interaction"))
		}
		res.Interaction = append(res.Interaction, models.CapabilityStatementRestResourceInteraction{Code: code})
	}
	if c.Versioning != "" {
		v, err := codeOf[models.ResourceVersionPolicy](c.Versioning)
		if err != nil {
			return fail("versioning", c.Versioning, err)
		}
		res.Versioning = &v
	}
	if c.ConditionalDelete != "" {
		d, err := codeOf[models.ConditionalDeleteStatus](c.ConditionalDelete)
		if err != nil {
			return fail("conditional delete", c.ConditionalDelete, err)
		}
		res.ConditionalDelete = &d
	}
	if res.SearchParam, err = searchParams(c.SearchParams); err != nil {
		return models.CapabilityStatementRestResource{}, fmt.Errorf("conformance: %s: %w", c.Type, err)
	}
	return res, nil
}

func searchParams(params []SearchParam) ([]models.CapabilityStatementRestResourceSearchParam, error) {
	var out []models.CapabilityStatementRestResourceSearchParam
	for _, p := range params {
		if p.Name == "" {
			return nil, errors.New("search parameter without a name")
		}
		t, err := codeOf[models.SearchParamType](p.Type)
		if err != nil {
			return nil, fmt.Errorf("search parameter %s: type %q: %w", p.Name, p.Type, err)
		}
		out = append(out, models.CapabilityStatementRestResourceSearchParam{
			Name:          p.Name,
			Definition:    optional(p.Definition),
			Type:          t,
			Documentation: optional(p.Documentation),
		})
	}
	return out, nil
}

// codeOf parses a FHIR code into the models' enumeration type T, which
// refuses codes outside its value set.
func codeOf[T any, PT interface {
	*T
	json.Unmarshaler
}](code string) (T, error) {
	var v T
	q, _ := json.Marshal(code)
	err := PT(&v).UnmarshalJSON(q)
	return v, err
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// stated states a capability flag, false included: R4 gives these elements
// no default, so leaving one out would say nothing.
func stated(b bool) *bool { return &b }
