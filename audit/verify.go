package audit

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// ProblemKind says what is wrong with the audit trail.
type ProblemKind string

// The kinds of problem Verify reports.
const (
	// Modified: an event whose content does not match its hash or its
	// chain's signed checkpoint, whose prev does not match its
	// predecessor's hash, that has a version other than 1 (AuditEvents are
	// never updated), or whose chain extension is unreadable.
	Modified ProblemKind = "modified"
	// Missing: a deleted event (a deletion version), a gap in a chain's
	// seqs, or a chain that ends before a seq a signed checkpoint covers.
	Missing ProblemKind = "missing"
	// Inserted: an AuditEvent without the chain extension, one whose chain
	// has no signed checkpoint (no Recorder started it), one after its
	// chain's closing checkpoint, or one that claims the seq of another.
	Inserted ProblemKind = "inserted"
	// BadSignature: a checkpoint whose signature does not verify with the
	// key given, or that cannot be read; it is then not relied on.
	BadSignature ProblemKind = "bad-signature"
)

// Problem is one finding of Verify.
type Problem struct {
	Kind   ProblemKind
	Chain  string // "" when unknown
	Seq    int64  // 0 when unknown; the first of a run of missing seqs
	ID     string // the AuditEvent's id, "" when there is none
	Detail string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(string(p.Kind))
	if p.Chain != "" {
		fmt.Fprintf(&b, " chain %s", p.Chain)
	}
	if p.Seq != 0 {
		fmt.Fprintf(&b, " seq %d", p.Seq)
	}
	if p.ID != "" {
		fmt.Fprintf(&b, " AuditEvent/%s", p.ID)
	}
	return b.String() + ": " + p.Detail
}

// Report is the outcome of Verify: what was checked, and every problem
// found, ordered by chain and seq (so the first of a chain comes first).
type Report struct {
	Chains      int // chains met in events or checkpoints
	Events      int // current AuditEvent versions read
	Checkpoints int // checkpoints whose signature verified
	Problems    []Problem
}

// OK reports whether no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "audit trail: %d chains, %d events, %d checkpoints: ", r.Chains, r.Events, r.Checkpoints)
	if r.OK() {
		b.WriteString("verified")
		return b.String()
	}
	fmt.Fprintf(&b, "%d problems", len(r.Problems))
	for _, p := range r.Problems {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// Verify re-walks every chain of AuditEvents in store and checks it
// against the signed checkpoints: those kept in rec, and those in
// exported (lines written by ExportCheckpoints) when it is not nil. Both
// are used when both are given: an export made earlier still shows what
// was signed if checkpoints were later removed from the store.
//
// It reads the type history of AuditEvent, page by page, newest first:
// every version of every event, deletions included, in one pass. Its
// memory grows with the number of chains and problems (and one bit per
// seq), not with the number of events. A live server may write while it
// runs: checkpoints are read first, so every event they cover is
// already stored when the walk starts.
//
// The error is for a failure to verify (the store cannot be read); what
// is wrong with the trail is in the Report.
func Verify(ctx context.Context, store fhir.Store, rec fhir.Records, pub ed25519.PublicKey, exported io.Reader) (*Report, error) {
	v := &verifier{
		chains:     map[string]*chainCheck{},
		reported:   map[string]bool{},
		superseded: map[string]int{},
		unplaced:   map[string]int{},
	}
	if err := v.loadCheckpoints(ctx, rec, exported, pub); err != nil {
		return nil, err
	}
	if err := walkEvents(ctx, store, v.version); err != nil {
		return nil, err
	}
	if v.hasDuplicates() {
		if err := v.resolveDuplicates(ctx, store); err != nil {
			return nil, err
		}
	}
	return v.finish(), nil
}

// walkEvents calls fn with every version of every AuditEvent.
func walkEvents(ctx context.Context, store fhir.Store, fn func(*fhir.Resource)) error {
	q := fhir.HistoryQuery{Type: "AuditEvent", Count: 1000}
	for {
		page, err := store.History(ctx, q)
		if err != nil {
			return fmt.Errorf("audit: verify: read AuditEvent history: %w", err)
		}
		for _, res := range page.Entries {
			fn(res)
		}
		if page.Next == "" {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("audit: verify: %w", err)
		}
		q.Cursor = page.Next
	}
}

type verifier struct {
	chains   map[string]*chainCheck
	problems []Problem
	reported map[string]bool // problems already recorded (see add)
	// superseded holds the newest version of the events that have more
	// than one: older versions of them are skipped.
	superseded map[string]int
	// unplaced are the problems (index in problems) of events whose
	// newest version does not say where in a chain they were (deleted, or
	// stripped of the extension); an older version will.
	unplaced    map[string]int
	events      int
	checkpoints int
}

func (v *verifier) chain(id string) *chainCheck {
	c, ok := v.chains[id]
	if !ok {
		c = newChainCheck()
		v.chains[id] = c
	}
	return c
}

// add records a problem once: per kind and event, or per kind and seq
// for a problem that names no event.
func (v *verifier) add(p Problem) int {
	key := string(p.Kind) + "|" + p.ID
	if p.ID == "" {
		key = fmt.Sprintf("%s|%s|%d|%s", p.Kind, p.Chain, p.Seq, p.Detail)
	}
	if v.reported[key] {
		return -1
	}
	v.reported[key] = true
	v.problems = append(v.problems, p)
	return len(v.problems) - 1
}

func (v *verifier) loadCheckpoints(ctx context.Context, rec fhir.Records, exported io.Reader, pub ed25519.PublicKey) error {
	good, bad, err := readCheckpoints(ctx, rec, exported)
	if err != nil {
		return err
	}
	for _, where := range bad {
		v.add(Problem{Kind: BadSignature, Detail: where + " is not a readable checkpoint"})
	}
	counted := map[string]bool{}
	var purges []Statement
	for _, cp := range good {
		st := cp.Statement
		if !cp.valid(pub) {
			v.add(Problem{Kind: BadSignature, Chain: st.Chain, Seq: st.Seq,
				Detail: "the checkpoint's signature does not verify with the key given"})
			continue
		}
		c := v.chain(st.Chain)
		if h, ok := c.cps[st.Seq]; ok && h != st.Hash {
			v.add(Problem{Kind: Modified, Chain: st.Chain, Seq: st.Seq, Detail: "two signed checkpoints disagree on this seq's hash"})
		}
		c.cps[st.Seq] = st.Hash
		c.cpMax = max(c.cpMax, st.Seq)
		if st.Closed && (c.closedAt < 0 || st.Seq < c.closedAt) {
			c.closedAt = st.Seq
		}
		if st.Purged != "" {
			purges = append(purges, st)
		}
		if k := string(st.Bytes()); !counted[k] {
			counted[k] = true
			v.checkpoints++
		}
	}
	// A purge statement counts only as far as the chain's last checkpoint
	// signed before its cutoff: the events after that one may have been
	// recorded inside the retention period, and their absence is reported.
	for _, st := range purges {
		cutoff, err := time.Parse(time.RFC3339Nano, st.Purged)
		if err != nil {
			v.add(Problem{Kind: BadSignature, Chain: st.Chain, Seq: st.Seq, Detail: "a purge statement with an unreadable cutoff"})
			continue
		}
		bound, ok := boundsBefore(good, pub, cutoff)[st.Chain]
		if !ok {
			continue
		}
		c := v.chain(st.Chain)
		c.purged = max(c.purged, min(st.Seq, bound))
	}
	return nil
}

// version takes one version of an AuditEvent, newest first.
func (v *verifier) version(res *fhir.Resource) {
	if newest, ok := v.superseded[res.ID]; ok && res.Version < newest {
		if i, ok := v.unplaced[res.ID]; ok && !res.Deleted {
			if _, l, err := canonical(res.JSON); err == nil {
				v.place(i, l)
				delete(v.unplaced, res.ID)
			}
		}
		return
	}
	if res.Version > 1 {
		v.superseded[res.ID] = res.Version
	}
	if res.Deleted {
		v.unplace(Problem{Kind: Missing, ID: res.ID, Detail: fmt.Sprintf("deleted (version %d is a deletion)", res.Version)})
		return
	}
	v.events++
	changed := fmt.Sprintf("changed: it has a version %d, and AuditEvents are never updated", res.Version)
	canon, l, err := canonical(res.JSON)
	switch {
	case err != nil && res.Version > 1:
		v.unplace(Problem{Kind: Modified, ID: res.ID, Detail: changed})
		return
	case errors.Is(err, errNoChain):
		v.add(Problem{Kind: Inserted, ID: res.ID, Detail: "it has no chain extension: no Recorder wrote it"})
		return
	case err != nil:
		v.add(Problem{Kind: Modified, ID: res.ID, Detail: "unreadable: " + err.Error()})
		return
	}
	if res.Version > 1 {
		v.add(Problem{Kind: Modified, Chain: l.Chain, Seq: l.Seq, ID: res.ID, Detail: changed})
	}
	h := hashOf(canon)
	if h != l.Hash {
		v.add(Problem{Kind: Modified, Chain: l.Chain, Seq: l.Seq, ID: res.ID, Detail: "its content does not match its hash"})
	}
	v.chain(l.Chain).add(v, l, h, res.ID)
}

func (v *verifier) unplace(p Problem) {
	if i := v.add(p); i >= 0 {
		v.unplaced[p.ID] = i
	}
}

// place completes an unplaced problem with the chain and seq an older
// version gives. A deleted event's seq is then accounted for: the gap it
// leaves is not reported again.
func (v *verifier) place(i int, l chainLink) {
	v.problems[i].Chain, v.problems[i].Seq = l.Chain, l.Seq
	if v.problems[i].Kind == Missing {
		v.chain(l.Chain).accounted[l.Seq] = true
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// finish reports what can only be told once every event was seen: gaps,
// chains no checkpoint covers, and the link problems that duplicates did
// not explain.
func (v *verifier) finish() *Report {
	uncovered := map[string]bool{}
	for id, c := range v.chains {
		if len(c.cps) == 0 && c.events > 0 {
			uncovered[id] = true
			continue
		}
		for _, t := range c.tentative {
			if !c.dups[t.seqs[0]] && !c.dups[t.seqs[1]] {
				v.add(t.p)
			}
		}
		c.gaps(v, id)
	}
	kept := v.problems[:0]
	for _, p := range v.problems {
		if !uncovered[p.Chain] || p.Kind == BadSignature {
			kept = append(kept, p)
		}
	}
	v.problems = kept
	for id := range uncovered {
		c := v.chains[id]
		v.add(Problem{Kind: Inserted, Chain: id, Seq: c.minSeq, ID: c.minID,
			Detail: fmt.Sprintf("no signed checkpoint covers this chain of %s: no Recorder started it", plural(c.events, "event"))})
	}
	slices.SortStableFunc(v.problems, func(a, b Problem) int {
		return cmp.Or(strings.Compare(a.Chain, b.Chain), cmp.Compare(a.Seq, b.Seq),
			strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.ID, b.ID))
	})
	return &Report{Chains: len(v.chains), Events: v.events, Checkpoints: v.checkpoints, Problems: v.problems}
}
