package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/oncofhir/oncofhir/fhir"
)

// Checking one chain while its events arrive in any order.
//
// The walk meets a chain's events newest first, roughly in descending
// seq, but not exactly (engines order versions written in the same
// millisecond as they like, and an edited event comes where its edit
// falls). So each link is checked when the second of its two events
// arrives: an event waits in open until both its neighbours have been
// seen, which, in near order, keeps open to a few entries per chain. Which
// seqs were seen is one bit each.
//
// A seq seen twice (an event inserted with the seq of another) makes the
// links around it ambiguous: which of the two is the chain's? The link
// problems touching such a seq are held back (tentative) and a second walk
// reads the events at seq-1, seq and seq+1 to decide (resolveDuplicates).

// maxSeqAhead bounds how far beyond a chain's last signed checkpoint an
// event's seq may be (one bit of memory per seq); one further away is
// reported as inserted.
const maxSeqAhead = 1 << 26

type chainCheck struct {
	seen      bitset
	max       int64 // highest seq seen
	minSeq    int64 // lowest seq seen, and its event
	minID     string
	events    int
	open      map[int64]*linkNode
	cps       map[int64]string // signed checkpoints: seq → hash
	cpMax     int64            // highest checkpointed seq, -1 for none
	closedAt  int64            // seq of the closing checkpoint, -1 for none
	purged    int64            // seq through which a signed purge deleted the events, 0 for none
	accounted map[int64]bool   // seqs of deleted events, already reported
	dups      map[int64]bool   // seqs seen more than once
	tentative []tentative
}

type linkNode struct {
	id, prev, hash     string
	needPrev, needNext bool
}

// tentative is a problem that a duplicate at either seq would explain.
type tentative struct {
	p    Problem
	seqs [2]int64
}

func newChainCheck() *chainCheck {
	return &chainCheck{
		open: map[int64]*linkNode{}, cps: map[int64]string{}, cpMax: -1, closedAt: -1,
		accounted: map[int64]bool{}, dups: map[int64]bool{},
	}
}

// add places one event, whose recomputed hash is h, in the chain.
func (c *chainCheck) add(v *verifier, l chainLink, h, id string) {
	s := l.Seq
	switch {
	case s < 1:
		v.add(Problem{Kind: Modified, Chain: l.Chain, Seq: s, ID: id, Detail: "its seq is below 1"})
		return
	case s > max(c.cpMax, 0)+maxSeqAhead:
		v.add(Problem{Kind: Inserted, Chain: l.Chain, Seq: s, ID: id, Detail: "its seq is far beyond the chain's last checkpoint"})
		return
	case c.seen.has(s):
		c.dups[s] = true
		return
	}
	c.seen.set(s)
	c.events++
	c.max = max(c.max, s)
	if c.minSeq == 0 || s < c.minSeq {
		c.minSeq, c.minID = s, id
	}
	if c.closedAt >= 0 && s > c.closedAt {
		v.add(Problem{Kind: Inserted, Chain: l.Chain, Seq: s, ID: id,
			Detail: fmt.Sprintf("it comes after the chain's closing checkpoint at seq %d", c.closedAt)})
	}
	if cp, ok := c.cps[s]; ok && cp != h {
		c.tent(Problem{Kind: Modified, Chain: l.Chain, Seq: s, ID: id, Detail: "it does not match the signed checkpoint at its seq"}, s, s)
	}
	n := &linkNode{id: id, prev: l.Prev, hash: l.Hash}
	if s == 1 {
		if l.Prev != ZeroHash {
			c.tent(Problem{Kind: Modified, Chain: l.Chain, Seq: s, ID: id, Detail: "the first event's prev is not ZeroHash"}, s, s)
		}
	} else if h, ok := c.cps[s-1]; ok && s-1 == c.purged && !c.seen.has(s-1) {
		if l.Prev != h {
			c.tent(Problem{Kind: Modified, Chain: l.Chain, Seq: s, ID: id,
				Detail: fmt.Sprintf("its prev does not match the hash the purge statement signed for seq %d", s-1)}, s, s)
		}
	} else if p, ok := c.open[s-1]; ok {
		if l.Prev != p.hash {
			c.tent(brokenLink(l.Chain, s, id, p.id), s-1, s)
		}
		p.needNext = false
		if !p.needPrev {
			delete(c.open, s-1)
		}
	} else {
		n.needPrev = true
	}
	if q, ok := c.open[s+1]; ok {
		if q.prev != l.Hash {
			c.tent(brokenLink(l.Chain, s+1, q.id, id), s, s+1)
		}
		q.needPrev = false
		if !q.needNext {
			delete(c.open, s+1)
		}
	} else {
		n.needNext = true
	}
	if n.needPrev || n.needNext {
		c.open[s] = n
	}
}

func brokenLink(chain string, seq int64, id, prevID string) Problem {
	return Problem{Kind: Modified, Chain: chain, Seq: seq, ID: id,
		Detail: fmt.Sprintf("its prev does not match the hash of seq %d (AuditEvent/%s): one of the two was changed", seq-1, prevID)}
}

func (c *chainCheck) tent(p Problem, a, b int64) {
	c.tentative = append(c.tentative, tentative{p, [2]int64{a, b}})
}

// gaps reports the seqs neither seen nor accounted for, after those a
// signed purge deleted, up to the last event or the last signed
// checkpoint, whichever is further.
func (c *chainCheck) gaps(v *verifier, chain string) {
	limit := max(c.max, c.cpMax)
	for s := c.purged + 1; s <= limit; s++ {
		if c.seen.has(s) || c.accounted[s] {
			continue
		}
		start := s
		for s < limit && !c.seen.has(s+1) && !c.accounted[s+1] {
			s++
		}
		detail := fmt.Sprintf("seq %d to %d (%s) not found", start, s, plural(int(s-start+1), "event"))
		if s == start {
			detail = fmt.Sprintf("seq %d not found", s)
		}
		if start > c.max {
			detail = fmt.Sprintf("the chain ends at seq %d, but a signed checkpoint covers seq %d: seq %d to %d are gone", c.max, c.cpMax, start, s)
		}
		v.add(Problem{Kind: Missing, Chain: chain, Seq: start, Detail: detail})
	}
}

func (v *verifier) hasDuplicates() bool {
	for _, c := range v.chains {
		if len(c.dups) > 0 {
			return true
		}
	}
	return false
}

// candidate is one event read by the second walk.
type candidate struct {
	id, prev, hash string
	intact         bool // its content matches its hash
}

// resolveDuplicates walks again, reading the events at and around each
// seq seen twice, and reports as inserted those that do not fit the chain:
// the one that is the chain's matches its hash, its predecessor's hash,
// its successor's prev and any checkpoint at its seq. When that does not
// single one out, all are reported.
func (v *verifier) resolveDuplicates(ctx context.Context, store fhir.Store) error {
	cands := map[string]map[int64][]candidate{}
	err := walkEvents(ctx, store, func(res *fhir.Resource) {
		if newest, ok := v.superseded[res.ID]; res.Deleted || ok && res.Version < newest {
			return
		}
		canon, l, err := canonical(res.JSON)
		if err != nil {
			return
		}
		c := v.chains[l.Chain]
		if c == nil || !(c.dups[l.Seq] || c.dups[l.Seq-1] || c.dups[l.Seq+1]) {
			return
		}
		if cands[l.Chain] == nil {
			cands[l.Chain] = map[int64][]candidate{}
		}
		cands[l.Chain][l.Seq] = append(cands[l.Chain][l.Seq], candidate{res.ID, l.Prev, l.Hash, hashOf(canon) == l.Hash})
	})
	if err != nil {
		return err
	}
	for chain, c := range v.chains {
		for s := range c.dups {
			v.resolve(chain, c, s, cands[chain])
		}
	}
	return nil
}

func (v *verifier) resolve(chain string, c *chainCheck, s int64, at map[int64][]candidate) {
	fits := func(x candidate) bool {
		if !x.intact {
			return false
		}
		if h, ok := c.cps[s]; ok && h != x.hash {
			return false
		}
		prevOK := s == 1 && x.prev == ZeroHash
		if s > 1 {
			before := at[s-1]
			prevOK = slices.ContainsFunc(before, func(p candidate) bool { return p.hash == x.prev })
			if len(before) == 0 { // removed: a checkpoint may still tell
				h, ok := c.cps[s-1]
				prevOK = !ok || h == x.prev
			}
		}
		after := at[s+1]
		nextOK := len(after) == 0 || slices.ContainsFunc(after, func(n candidate) bool { return n.prev == x.hash })
		return prevOK && nextOK
	}
	var fit, unfit []candidate
	for _, x := range at[s] {
		if fits(x) {
			fit = append(fit, x)
		} else {
			unfit = append(unfit, x)
		}
	}
	if len(fit) == 1 {
		for _, x := range unfit {
			v.add(Problem{Kind: Inserted, Chain: chain, Seq: s, ID: x.id,
				Detail: fmt.Sprintf("it claims the seq of AuditEvent/%s and does not fit the chain", fit[0].id)})
		}
		return
	}
	ids := make([]string, 0, len(at[s]))
	for _, x := range at[s] {
		ids = append(ids, x.id)
	}
	for _, x := range at[s] {
		v.add(Problem{Kind: Inserted, Chain: chain, Seq: s, ID: x.id,
			Detail: fmt.Sprintf("seq %d is claimed by %d events (%s), and which is the chain's cannot be told", s, len(ids), strings.Join(ids, ", "))})
	}
}

// bitset is a set of small non-negative integers.
type bitset []uint64

func (b *bitset) set(i int64) {
	w := int(i >> 6)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w-len(*b)+1)...)
	}
	(*b)[w] |= 1 << (i & 63)
}

func (b bitset) has(i int64) bool {
	w := int(i >> 6)
	return i >= 0 && w < len(b) && b[w]&(1<<(i&63)) != 0
}
