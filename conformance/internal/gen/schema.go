package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// compactSchema removes the "description" keywords from the JSON schema
// (about three quarters of its size, and never used to validate) and returns
// it gzipped. Every other keyword is kept as published.
func compactSchema(schema any) ([]byte, error) {
	root, ok := schema.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("fhir.schema.json: not an object")
	}
	if root["id"] != "http://hl7.org/fhir/json-schema/4.0" {
		return nil, fmt.Errorf("fhir.schema.json: unexpected id %v", root["id"])
	}
	stripDescriptions(root)

	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	w, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	// A fixed header (no name, no time) keeps the output reproducible.
	if _, err := w.Write(js.Bytes()); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return gz.Bytes(), nil
}

// stripDescriptions walks a schema object, following only the keywords that
// hold subschemas, so that an element named "description" (a key under
// "properties") is kept.
func stripDescriptions(v any) {
	sch, ok := v.(map[string]any)
	if !ok {
		return
	}
	delete(sch, "description")
	for k, child := range sch {
		switch k {
		case "properties", "definitions":
			if m, ok := child.(map[string]any); ok {
				for _, s := range m {
					stripDescriptions(s)
				}
			}
		case "items", "oneOf", "anyOf", "allOf":
			if list, ok := child.([]any); ok {
				for _, s := range list {
					stripDescriptions(s)
				}
			} else {
				stripDescriptions(child)
			}
		case "additionalProperties", "not":
			stripDescriptions(child)
		}
	}
}

// resourceTypes returns the resource types named by the schema's
// discriminator, after checking that each has its definition and a concrete
// resource StructureDefinition.
func resourceTypes(schema any, sds map[string]*structureDefinition) ([]string, error) {
	root := schema.(map[string]any)
	disc, _ := root["discriminator"].(map[string]any)
	mapping, _ := disc["mapping"].(map[string]any)
	defs, _ := root["definitions"].(map[string]any)
	if len(mapping) == 0 || len(defs) == 0 {
		return nil, fmt.Errorf("fhir.schema.json: no discriminator mapping or definitions")
	}
	var names []string
	for name, ref := range mapping {
		if ref != "#/definitions/"+name {
			return nil, fmt.Errorf("fhir.schema.json: discriminator maps %s to %v", name, ref)
		}
		if _, ok := defs[name]; !ok {
			return nil, fmt.Errorf("fhir.schema.json: no definition for %s", name)
		}
		sd, ok := sds[name]
		if !ok || sd.Kind != "resource" || sd.Abstract {
			return nil, fmt.Errorf("no concrete resource StructureDefinition for %s", name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

func resourceTypesSource(names []string) []byte {
	var b strings.Builder
	b.WriteString(header("fhir.schema.json (discriminator mapping) from " + schemaInput +
		", checked against profiles-resources.json from " + definitionsInput + "; " + fhirVersion))
	b.WriteString("// resourceTypes are the R4 resource type names, sorted.\n")
	b.WriteString("var resourceTypes = [...]string{\n")
	for _, n := range names {
		fmt.Fprintf(&b, "\t%q,\n", n)
	}
	b.WriteString("}\n")
	return []byte(b.String())
}
