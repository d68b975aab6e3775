package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// Retention.
//
// AuditEvents are kept for a retention period (DefaultRetention, never
// less than MinRetention) and none is deleted inside it. Past it, Purge
// deletes those recorded before the period began. The chains stay
// verifiable: before deleting a chain's events through some seq, Purge
// signs a purge statement, a checkpoint with Purged set at that seq and
// the hash of the event there, kept beside the checkpoints (and exported
// with them). Verify then expects that chain's events through the seq to
// be gone, and the next one to link to the signed hash; a purge whose
// statement is missing or does not verify shows as missing events, as any
// other deletion.

// MinRetention is the shortest retention period: the six years HIPAA
// asks records of disclosures and security documentation to be kept,
// which the access report covers. DefaultRetention is the default.
// A year counts 365.25 days, so that six of them always span six
// calendar years.
const (
	Year             = 8766 * time.Hour
	MinRetention     = 6 * Year
	DefaultRetention = MinRetention
)

// purgePage is how many events Purge reads, signs for and deletes at a
// time.
const purgePage = 1000

// PurgeConfig is what Purge needs.
type PurgeConfig struct {
	Store   fhir.Store
	Purger  fhir.LedgerPurger
	Records fhir.Records // where the purge statements go
	Key     ed25519.PrivateKey
	// Retention is how long events are kept: at least MinRetention.
	Retention time.Duration
	Now       func() time.Time // time.Now when nil
}

// PurgeResult says what a Purge did.
type PurgeResult struct {
	Before  time.Time // events recorded before this were purged
	Deleted int
	Chains  int // chains a purge statement was signed for
}

// Purge deletes the AuditEvents recorded before now minus the retention
// period, oldest first, a page at a time: for each page it first signs
// and stores, per chain, a purge statement through the highest seq the
// page deletes, then deletes the page. Several processes may purge at
// once: each statement only ever moves forward.
//
// It deletes an event only when the event proves itself old: its content
// matches its hash, its own recorded time (not the store's date index,
// which whoever can write to the database could change) is before the
// cutoff, and a checkpoint signed before the cutoff already covers its
// seq. So a chain is purged through its last checkpoint older than the
// cutoff, and Verify holds each statement to that bound: a purge cannot
// be made to reach events still inside the period. Events it leaves
// (changed ones, or those after that checkpoint) stay for Verify to
// judge, or for a later purge.
func Purge(ctx context.Context, cfg PurgeConfig) (PurgeResult, error) {
	if cfg.Retention < MinRetention {
		return PurgeResult{}, fmt.Errorf("audit: purge: a retention period of %s is shorter than the %d years required",
			cfg.Retention, int(MinRetention/Year))
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return PurgeResult{}, errors.New("audit: purge: an Ed25519 private key is needed to sign purge statements")
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	res := PurgeResult{Before: now().Add(-cfg.Retention).UTC().Truncate(time.Millisecond)}
	bounds, err := checkpointBounds(ctx, cfg.Records, cfg.Key.Public().(ed25519.PublicKey), res.Before)
	if err != nil {
		return res, err
	}
	ms := float64(res.Before.UnixMilli())
	q := fhir.Query{Type: "AuditEvent", Limit: purgePage, Clauses: []fhir.Clause{{Param: "date", Type: fhir.TypeDate,
		Values: []fhir.Value{{Prefix: "lt", Low: ms, High: ms + 1}}}}}
	signed := map[string]bool{}
	for {
		page, err := cfg.Store.Search(ctx, q)
		if err != nil {
			return res, fmt.Errorf("audit: purge: %w", err)
		}
		if len(page) == 0 {
			res.Chains = len(signed)
			return res, nil
		}
		through := map[string]chainLink{}
		var ids []string
		for _, r := range page {
			l, ok := provenOld(r.JSON, res.Before, bounds)
			if !ok {
				q.Offset++ // kept: the next page starts after it
				continue
			}
			ids = append(ids, r.ID)
			if cur, ok := through[l.Chain]; !ok || l.Seq > cur.Seq {
				through[l.Chain] = l
			}
		}
		if len(ids) == 0 {
			continue
		}
		for _, l := range through {
			if err := storePurge(ctx, cfg.Records, cfg.Key, l, res.Before, now()); err != nil {
				return res, err
			}
			signed[l.Chain] = true
		}
		n, err := cfg.Purger.PurgeLedger(ctx, "AuditEvent", ids)
		res.Deleted += n
		if err != nil {
			return res, fmt.Errorf("audit: purge: %w", err)
		}
		if n == 0 { // another process deleted them; its statements stand
			res.Chains = len(signed)
			return res, nil
		}
	}
}

// provenOld reads a stored event's link when the event may be purged
// (see Purge): intact, recorded before the cutoff, and at or before its
// chain's bound.
func provenOld(stored []byte, before time.Time, bounds map[string]int64) (chainLink, bool) {
	canon, l, err := canonical(stored)
	if err != nil || hashOf(canon) != l.Hash {
		return l, false
	}
	var ev struct {
		Recorded string `json:"recorded"`
	}
	if json.Unmarshal(stored, &ev) != nil {
		return l, false
	}
	at, err := time.Parse(time.RFC3339Nano, ev.Recorded)
	if err != nil || !at.Before(before) {
		return l, false
	}
	bound, ok := bounds[l.Chain]
	return l, ok && l.Seq <= bound
}

// checkpointBounds maps each chain to the seq of its last checkpoint
// signed before cutoff (see boundsBefore).
func checkpointBounds(ctx context.Context, rec fhir.Records, pub ed25519.PublicKey, cutoff time.Time) (map[string]int64, error) {
	good, _, err := readCheckpoints(ctx, rec, nil)
	if err != nil {
		return nil, fmt.Errorf("audit: purge: %w", err)
	}
	return boundsBefore(good, pub, cutoff), nil
}

// boundsBefore maps each chain to the highest seq of its checkpoints
// that pub signed, that are not purge statements, and that were signed
// before cutoff: every event through that seq was recorded before the
// checkpoint was.
func boundsBefore(cps []Checkpoint, pub ed25519.PublicKey, cutoff time.Time) map[string]int64 {
	out := map[string]int64{}
	for _, cp := range cps {
		st := cp.Statement
		if st.Purged != "" || !cp.valid(pub) {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, st.Time)
		if err != nil || !at.Before(cutoff) {
			continue
		}
		if cur, ok := out[st.Chain]; !ok || st.Seq > cur {
			out[st.Chain] = st.Seq
		}
	}
	return out
}

// purgeKey is the record key of a chain's purge statement: one per chain,
// moved forward by each purge.
func purgeKey(chain string) string { return chain + "/purged" }

// storePurge signs that l's chain was purged through l.Seq, unless a
// statement already says so or more.
func storePurge(ctx context.Context, rec fhir.Records, key ed25519.PrivateKey, l chainLink, before, now time.Time) error {
	st := Statement{Chain: l.Chain, Hash: l.Hash, Seq: l.Seq, Purged: before.Format(fhir.InstantFormat),
		Time: fhir.TruncateTime(now).Format(fhir.InstantFormat)}
	for range 10 {
		r := signStatement(key, st).record()
		r.Key = purgeKey(l.Chain)
		cur, err := rec.GetRecord(ctx, CheckpointKind, r.Key)
		switch {
		case errors.Is(err, fhir.ErrNotFound):
		case err != nil:
			return fmt.Errorf("audit: purge: %w", err)
		default:
			var old Checkpoint
			if json.Unmarshal(cur.Data, &old) == nil && old.Statement.Seq >= st.Seq {
				return nil
			}
			r.Rev = cur.Rev
		}
		err = rec.PutRecord(ctx, r)
		if !errors.Is(err, fhir.ErrVersionConflict) {
			if err != nil {
				return fmt.Errorf("audit: purge: store the statement of chain %s: %w", l.Chain, err)
			}
			return nil
		}
	}
	return fmt.Errorf("audit: purge: the statement of chain %s keeps changing", l.Chain)
}
