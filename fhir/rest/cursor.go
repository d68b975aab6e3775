package rest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// cursor is the position in a result set carried by paging links: the
// canonical query it belongs to and how far into it the page starts. It is
// signed, so editing it (to reach another query's results, or another
// patient's) is refused, and bound to the principal it was issued to.
type cursor struct {
	Path   string `json:"p"` // the endpoint it was issued for
	Query  string `json:"q"`
	Offset int    `json:"o"`
	Who    string `json:"w,omitempty"` // gate.tag of the principal
	// Store is a storage engine's own cursor (history), carried signed.
	Store string `json:"s,omitempty"`
}

// signer signs and checks cursors with the server's key.
type signer struct{ key []byte }

func (s signer) encode(c cursor) string {
	b, _ := json.Marshal(c)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + s.mac(payload)
}

func (s signer) mac(payload string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s signer) decode(tok string) (cursor, error) {
	var c cursor
	bad := &fhir.Error{Code: fhir.CodeInvalid, Diagnostics: "the paging cursor is not valid for this server", Expression: []string{"_cursor"}}
	payload, sig, ok := strings.Cut(tok, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(s.mac(payload))) {
		return c, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Offset < 0 {
		return c, bad
	}
	return c, nil
}
