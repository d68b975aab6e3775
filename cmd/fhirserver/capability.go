package main

import (
	"github.com/oncofhir/oncofhir/conformance"
	"github.com/oncofhir/oncofhir/fhir/rest"
)

// capabilityOptions describes what this build serves: every R4 resource
// type with the interactions the REST layer registers.
func capabilityOptions(cfg Config) (conformance.Options, error) {
	reg := conformance.NewRegistry()
	var inter []conformance.Interaction
	for _, code := range rest.TypeInteractions {
		inter = append(inter, conformance.Interaction(code))
	}
	for _, typ := range conformance.ResourceTypes() {
		c := conformance.FullResource(typ)
		c.Interactions = inter
		if err := reg.Register(c); err != nil {
			return conformance.Options{}, err
		}
	}
	var sys []conformance.SystemInteraction
	for _, code := range rest.SystemInteractions {
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
