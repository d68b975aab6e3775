package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

const kindPasskeyRate = "passkey.rate"

// Passkey ceremonies are rate-limited per network address (an IPv6
// address's /64), in the store so that every process counts together:
// each ceremony allows one answer (its session is used up by the
// first), and an address may start at most passkeyCeremonies of them in
// passkeyWindow. A person signing in needs one or two; a script
// guessing needs thousands.
const (
	passkeyCeremonies = 30
	passkeyWindow     = 10 * time.Minute
)

type window struct {
	Start time.Time `json:"start"`
	Count int       `json:"count"`
}

// allowCeremony counts one ceremony for addr (an IPv6 address's /64 as
// one, limitedNetwork) and tells whether it may go ahead.
func (s *Server) allowCeremony(ctx context.Context, addr string) (bool, error) {
	key := "addr|" + limitedNetwork(addr)
	for range 5 {
		now := s.now().UTC()
		var w window
		r, err := s.cfg.Records.GetRecord(ctx, kindPasskeyRate, key)
		switch {
		case errors.Is(err, fhir.ErrNotFound):
			r = &fhir.Record{Kind: kindPasskeyRate, Key: key}
		case err != nil:
			return false, err
		default:
			if err := json.Unmarshal(r.Data, &w); err != nil {
				return false, err
			}
		}
		if now.Sub(w.Start) >= passkeyWindow {
			w = window{Start: now}
		}
		if w.Count >= passkeyCeremonies {
			return false, nil
		}
		w.Count++
		r.Data, _ = json.Marshal(w)
		r.Expires = w.Start.Add(passkeyWindow)
		err = s.cfg.Records.PutRecord(ctx, r)
		if errors.Is(err, fhir.ErrVersionConflict) {
			continue // a racing ceremony: count again
		}
		return err == nil, err
	}
	return false, nil
}
