package rest

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/oncofhir/oncofhir/consent"
	"github.com/oncofhir/oncofhir/fhir"
)

func (h *handler) metadata(c echo.Context) error {
	if err := negotiate(c.Request()); err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, h.Capability)
	return nil
}

// target reads and checks the type and id of the URL.
func (h *handler) target(c echo.Context, withID bool) (*interaction, error) {
	if err := negotiate(c.Request()); err != nil {
		return nil, err
	}
	in := &interaction{method: c.Request().Method, typ: c.Param("type"), g: h.gate(c)}
	if err := h.checkType(in.typ); err != nil {
		return nil, err
	}
	if in.method != http.MethodGet && in.method != http.MethodHead {
		if err := writable(in.typ); err != nil {
			allow := "GET"
			if withID {
				allow = "GET, HEAD"
			}
			c.Response().Header().Set("Allow", allow)
			return nil, err
		}
	}
	if withID {
		in.id = c.Param("id")
		if err := checkID(in.id); err != nil {
			return nil, err
		}
	}
	in.ifMatch = c.Request().Header.Get("If-Match")
	return in, nil
}

func (h *handler) read(c echo.Context) error {
	in, err := h.target(c, true)
	if err != nil {
		return err
	}
	if _, err := in.g.allow(consent.Read, in.typ); err != nil {
		return err
	}
	res, err := h.Store.Read(c.Request().Context(), in.typ, in.id)
	return h.respondRead(c, in, res, err)
}

func (h *handler) vread(c echo.Context) error {
	in, err := h.target(c, true)
	if err != nil {
		return err
	}
	in.vid = c.Param("vid")
	if _, err := in.g.allow(consent.VRead, in.typ); err != nil {
		return err
	}
	v, err := strconv.Atoi(in.vid)
	if err != nil || v < 1 {
		return &fhir.Error{Code: fhir.CodeNotFound, Diagnostics: "version ids are positive integers"}
	}
	res, err := h.Store.VRead(c.Request().Context(), in.typ, in.id, v)
	return h.respondRead(c, in, res, err)
}

func (h *handler) respondRead(c echo.Context, in *interaction, res *fhir.Resource, err error) error {
	if errors.Is(err, fhir.ErrNotFound) {
		return notFound(in.typ, in.id)
	}
	if err != nil {
		return err
	}
	// Another patient's resource answers as a missing one would, deleted
	// or not.
	admit := in.g.admit
	if in.vid == "" {
		admit = in.g.admitStored
	}
	if err := admit(interactionOf(in), res); err != nil {
		return err
	}
	if res.Deleted {
		return gone(in.typ, in.id)
	}
	// HEAD and 304 show no body, but tell that this version exists.
	record(fhir.TrailFrom(c.Request().Context()), in, &outcome{res: res})
	hdr := c.Response().Header()
	hdr.Set("ETag", res.ETag())
	hdr.Set("Last-Modified", res.LastUpdated.UTC().Format(http.TimeFormat))
	if inm := c.Request().Header.Get("If-None-Match"); inm != "" {
		if v, ok := parseETag(inm); ok && v == res.Version {
			return c.NoContent(http.StatusNotModified)
		}
	}
	writeJSON(c, http.StatusOK, res.JSON)
	return nil
}

// body reads a JSON body of a write.
func (h *handler) body(c echo.Context, in *interaction, types ...string) error {
	if err := checkContentType(c.Request(), types...); err != nil {
		return err
	}
	b, err := readBody(c.Request(), h.MaxBodyBytes)
	if err != nil {
		return err
	}
	in.body = b
	return nil
}

func (h *handler) create(c echo.Context) error {
	in, err := h.target(c, false)
	if err != nil {
		return err
	}
	if err := h.body(c, in); err != nil {
		return err
	}
	in.ifNoneExist = c.Request().Header.Get("If-None-Exist")
	return h.runWrite(c, in)
}

func (h *handler) update(c echo.Context) error {
	in, err := h.target(c, true)
	if err != nil {
		return err
	}
	if err := h.body(c, in); err != nil {
		return err
	}
	return h.runWrite(c, in)
}

func (h *handler) conditionalUpdate(c echo.Context) error {
	in, err := h.target(c, false)
	if err != nil {
		return err
	}
	if err := h.body(c, in); err != nil {
		return err
	}
	in.criteria = c.Request().URL.RawQuery
	return h.runWrite(c, in)
}

func (h *handler) patch(c echo.Context) error {
	in, err := h.target(c, c.Param("id") != "")
	if err != nil {
		return err
	}
	if err := h.body(c, in, contentTypeJSONPatch); err != nil {
		return err
	}
	if c.Request().Header.Get(echo.HeaderContentType) == "" {
		return unsupportedMedia("a patch must be sent as " + contentTypeJSONPatch)
	}
	in.criteria = c.Request().URL.RawQuery
	return h.runWrite(c, in)
}

func (h *handler) delete(c echo.Context) error {
	in, err := h.target(c, true)
	if err != nil {
		return err
	}
	return h.runWrite(c, in)
}

func (h *handler) conditionalDelete(c echo.Context) error {
	in, err := h.target(c, false)
	if err != nil {
		return err
	}
	in.criteria = c.Request().URL.RawQuery
	return h.runWrite(c, in)
}

// runWrite prepares, stores and answers one write interaction.
func (h *handler) runWrite(c echo.Context, in *interaction) error {
	if _, err := in.g.allow(interactionOf(in), in.typ); err != nil {
		return err
	}
	if in.method == http.MethodPost || in.method == http.MethodPut {
		if err := h.prepare(in); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	out, err := h.write(ctx, in.ifMatch != "", func(tx fhir.Tx) (*outcome, error) { return h.apply(tx, in) })
	if err != nil {
		return err
	}
	record(fhir.TrailFrom(ctx), in, out)
	return h.respondWrite(c, out)
}

func (h *handler) respondWrite(c echo.Context, out *outcome) error {
	hdr := c.Response().Header()
	if out.res != nil && !out.res.Deleted {
		hdr.Set("ETag", out.res.ETag())
		hdr.Set("Last-Modified", out.res.LastUpdated.UTC().Format(http.TimeFormat))
		hdr.Set("Location", h.versionURL(out.res))
	}
	prefer := preferReturn(c.Request())
	switch {
	case prefer == "OperationOutcome":
		status := out.status
		if status == http.StatusNoContent {
			status = http.StatusOK
		}
		writeJSON(c, status, fhir.Information(out.infoText()))
		return nil
	case out.withheld && prefer != "minimal":
		writeJSON(c, out.status, fhir.Information(out.infoText()))
		return nil
	case out.status == http.StatusNoContent || prefer == "minimal" || out.res == nil || out.res.Deleted:
		return c.NoContent(out.status)
	}
	writeJSON(c, out.status, out.res.JSON)
	return nil
}

func (o *outcome) infoText() string {
	if o.info != "" {
		return o.info
	}
	switch o.status {
	case http.StatusCreated:
		return "created"
	case http.StatusOK:
		return "updated"
	}
	return http.StatusText(o.status)
}

// versionURL is the absolute URL of one version.
func (h *handler) versionURL(r *fhir.Resource) string {
	return h.BaseURL + "/" + r.Type + "/" + r.ID + "/_history/" + strconv.Itoa(r.Version)
}
