package rest

import (
	"errors"
	"net/http"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
)

// doPatch applies a JSON Patch to the current version; the result is
// validated like any other write and must keep its type and id.
func (h *handler) doPatch(tx fhir.Tx, in *interaction) (*outcome, error) {
	cur, err := current(tx, in)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, notFound(in.typ, in.id)
	}
	if cur.Deleted {
		return nil, gone(in.typ, in.id)
	}
	p, err := jsonpatch.DecodePatch(in.body)
	if err != nil {
		return nil, fhir.Errorf(fhir.CodeStructure, "the body is not a JSON Patch document")
	}
	opts := jsonpatch.NewApplyOptions()
	opts.EscapeHTML = false
	// copy operations can double a document each; bound what they may add.
	opts.AccumulatedCopySizeLimit = h.MaxBodyBytes
	patched, err := p.ApplyWithOptions(cur.JSON, opts)
	var tooBig *jsonpatch.AccumulatedCopySizeError
	if errors.As(err, &tooBig) {
		return nil, tooLarge(h.MaxBodyBytes)
	}
	if err != nil {
		return nil, &fhir.Error{Code: fhir.CodeProcessing, Diagnostics: "the patch could not be applied: a path does not exist or a test failed"}
	}
	if int64(len(patched)) > h.MaxBodyBytes {
		return nil, tooLarge(h.MaxBodyBytes)
	}
	o, err := fhir.ParseObject(patched)
	if err != nil {
		return nil, err
	}
	if o.String("resourceType") != in.typ {
		return nil, &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "a patch may not change resourceType", Expression: []string{"resourceType"}}
	}
	if o.String("id") != in.id {
		return nil, &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "a patch may not change the id", Expression: []string{in.typ + ".id"}}
	}
	if h.Validator != nil {
		if err := h.Validator.Validate(in.typ, o.Bytes()); err != nil {
			return nil, err
		}
	}
	out, err := h.store(tx, in, o, in.id, cur.Version+1, http.StatusOK)
	if err != nil {
		return nil, err
	}
	// The result is the stored content as changed, not the client's own:
	// shown only to who may read it, or a patch would read without r.
	ok, err := in.g.admits(consent.Read, out.res, false)
	if err != nil {
		return nil, err
	}
	if !ok {
		out.withheld, out.info = true, "patched; the result is not shown, as the access granted does not include reading it"
	}
	return out, nil
}
