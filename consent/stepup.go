package consent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// SystemConfidentiality is the code system of the confidentiality labels
// (DS4P): U, L, M, N, R (restricted), V (very restricted).
const SystemConfidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"

// Label is a security label, as meta.security carries it.
type Label struct{ System, Code string }

func (l Label) String() string { return l.System + "|" + l.Code }

// DefaultStepUpLabels are the labels whose resources need a recent strong
// sign-in unless configured otherwise: restricted and very restricted.
var DefaultStepUpLabels = []Label{{SystemConfidentiality, "R"}, {SystemConfidentiality, "V"}}

// ParseLabels reads a comma-separated list of labels: system|code, or a
// bare code of the confidentiality system (R, V). "none" is none.
func ParseLabels(s string) ([]Label, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "none") {
		return []Label{}, nil
	}
	var out []Label
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		l := Label{System: SystemConfidentiality, Code: part}
		if sys, code, ok := strings.Cut(part, "|"); ok {
			l = Label{System: sys, Code: code}
		}
		if l.System == "" || l.Code == "" || strings.ContainsAny(l.Code, " |") {
			return nil, fmt.Errorf("label %q: write system|code, or a confidentiality code such as R", part)
		}
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out, nil
}

// StepUpRule is when a labelled resource needs a recent strong sign-in
// (RFC 9470). It concerns users only: a backend service (its own
// client, no user) is never asked.
type StepUpRule struct {
	// Labels are the labels that need it; none turns the rule off.
	Labels []Label
	// Strong are the acr values that count as strong (two factors,
	// phishing-resistant); Ask is the one to ask for. StrongEnough, when
	// set, judges instead from acr and amr (a sign-in whose amr shows a
	// trusted device standing in for the second factor is not strong).
	Strong       []string
	StrongEnough func(acr string, amr []string) bool
	Ask          string
	// MaxAge is how recent the strong sign-in must be.
	MaxAge time.Duration
	Now    func() time.Time
}

// StepUp is a decision's obligation: a resource carrying one of Labels
// may be shown to this principal only after a sign-in at ACR no older
// than MaxAge, which its token does not show.
type StepUp struct {
	Labels []Label
	ACR    string
	MaxAge time.Duration
	// Reason, in plain words, says what is missing: two factors, or a
	// more recent sign-in.
	Reason string
}

// stepUp is what the rule asks of who: nil when nothing (the rule is
// off, who is a backend service, or its sign-in is strong and recent).
func (r StepUpRule) stepUp(who *fhir.Principal) *StepUp {
	if len(r.Labels) == 0 || who == nil || who.Subject == "" || who.Subject == who.Client {
		return nil
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	strong := slices.Contains(r.Strong, who.ACR)
	if r.StrongEnough != nil {
		strong = r.StrongEnough(who.ACR, who.AMR)
	}
	if strong && !who.AuthTime.IsZero() && now().Sub(who.AuthTime) <= r.MaxAge {
		return nil
	}
	reason := "A sign-in with two factors is required"
	if strong {
		reason = "A more recent sign-in is required"
	}
	return &StepUp{Labels: r.Labels, ACR: r.Ask, MaxAge: r.MaxAge, Reason: reason}
}

// Needs reports whether res carries one of the labels in meta.security.
// It runs for every resource shown to a user whose sign-in is not recent,
// so it reads only what it must: stored JSON is what the client sent, and
// a document holds a "security" key only if those bytes, or a \u escape,
// are in it; when one may, the document is walked without being decoded
// (see members), and only meta.security's codings are. Keys are matched
// as FHIR JSON and the index extractor read them, case and all; what
// cannot be read is taken as labelled.
func (s *StepUp) Needs(res *fhir.Resource) bool {
	if s == nil || res == nil || len(res.JSON) == 0 {
		return false
	}
	if !bytes.Contains(res.JSON, []byte("security")) && !bytes.Contains(res.JSON, []byte(`\u`)) {
		return false
	}
	labelled := false
	security := func(key, value []byte) bool {
		if !keyIs(key, "security") {
			return true
		}
		var codings []struct {
			System string `json:"system"`
			Code   string `json:"code"`
		}
		if json.Unmarshal(value, &codings) != nil {
			labelled = true
		}
		for _, c := range codings {
			labelled = labelled || slices.Contains(s.Labels, Label{c.System, c.Code})
		}
		return !labelled
	}
	ok := members(res.JSON, func(key, value []byte) bool {
		if keyIs(key, "meta") && !members(value, security) {
			labelled = true
		}
		return !labelled
	})
	return labelled || !ok
}
