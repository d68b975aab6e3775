package main

import (
	"strings"

	"github.com/oncofhir/oncofhir/conformance"
	"github.com/oncofhir/oncofhir/fhir/rest"
	"github.com/oncofhir/oncofhir/fhir/searchparam"
)

// capabilityOptions describes what this build serves: every R4 resource
// type with the interactions the REST layer registers, and, when the
// engine can search, the search parameters that work.
func capabilityOptions(cfg Config, params *searchparam.Registry) (conformance.Options, error) {
	reg := conformance.NewRegistry()
	for _, typ := range conformance.ResourceTypes() {
		var inter []conformance.Interaction
		for _, code := range rest.TypeInteractionsOf(typ) {
			if params == nil && code == "search-type" {
				continue
			}
			inter = append(inter, conformance.Interaction(code))
		}
		c := conformance.FullResource(typ)
		c.Interactions = inter
		if params != nil {
			for _, d := range params.Params(typ) {
				c.SearchParams = append(c.SearchParams, conformance.SearchParam{
					Name: d.Code, Definition: d.Definition, Type: string(d.Type), Documentation: d.Documentation})
			}
		}
		if err := reg.Register(c); err != nil {
			return conformance.Options{}, err
		}
	}
	var sys []conformance.SystemInteraction
	for _, code := range rest.SystemInteractions {
		if params == nil && strings.HasPrefix(code, "search") {
			continue
		}
		sys = append(sys, conformance.SystemInteraction(code))
	}
	return conformance.Options{
		BaseURL:         cfg.FHIRBase(),
		SoftwareName:    "oncofhir",
		SoftwareVersion: version,
		Description:     "FHIR R4 server for cancer patient portals",
		Registry:        reg,
		System:          sys,
	}, nil
}
