package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// Config is what a Recorder needs.
type Config struct {
	Store   fhir.Store   // where the AuditEvents go
	Records fhir.Records // where the checkpoints go
	// Key signs the checkpoints. It is kept apart from the data (see
	// LoadOrCreateKey): whoever can write to the store cannot sign.
	Key    ed25519.PrivateKey
	Now    func() time.Time // time.Now when nil
	Logger *slog.Logger     // slog.Default() when nil
	// A checkpoint is written once the chain has advanced and
	// CheckpointEvery has passed since the last one
	// (DefaultCheckpointEvery when zero), or CheckpointEvents events were
	// stored since it (DefaultCheckpointEvents when zero).
	CheckpointEvery  time.Duration
	CheckpointEvents int
}

// Defaults of Config.
const (
	DefaultCheckpointEvery  = time.Minute
	DefaultCheckpointEvents = 10000
)

const (
	// maxBatchEvents bounds the events of one unit of work: a unit takes
	// whole requests, and no more once it holds this many.
	maxBatchEvents = 512
	// storeTimeout bounds one unit of work, or one checkpoint write.
	storeTimeout = 30 * time.Second
)

// ErrClosed is returned by Record once Close has been called.
var ErrClosed = errors.New("audit: recorder closed")

// Recorder chains and stores AuditEvents. It is safe for concurrent use.
//
// Group commit: one goroutine, the appender, owns the chain. It takes
// every request waiting when it is free (up to maxBatchEvents events),
// gives their events the next seqs, stores them all in one Store.Write,
// and then answers each caller. A unit that fails is answered with its
// error to every caller in it and does not advance the chain; as a failed
// write may still have committed (a lost acknowledgement), the appender
// then leaves the chain and starts a new one rather than reuse the seqs.
type Recorder struct {
	cfg   Config
	marks markers
	reqs  chan *recordRequest
	quit  chan struct{}
	done  chan struct{}

	closeOnce sync.Once
	closeErr  error

	// Owned by the appender.
	chain    *chainHead
	unsealed []*chainHead // earlier chains whose last events no checkpoint covers
	canon    []byte       // reused buffer for canonical forms
}

// chainHead is the state of one chain.
type chainHead struct {
	id     string
	quoted []byte // id as a JSON string
	seq    int64  // last stored event, 0 before the first
	hash   string // its hash, ZeroHash before the first
	cp     *fhir.Record
	cpSeq  int64 // seq of the last checkpoint written, -1 before the first
}

// recordRequest is one call of Record handed to the appender.
type recordRequest struct {
	ctx    context.Context
	events []*prepared
	done   chan error // buffered: the appender never waits for the caller
}

// NewRecorder starts a Recorder with a new chain, whose first checkpoint
// (seq 0) it writes before returning.
func NewRecorder(ctx context.Context, cfg Config) (*Recorder, error) {
	if cfg.Store == nil || cfg.Records == nil {
		return nil, errors.New("audit: a recorder needs a store and records")
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("audit: a recorder needs an Ed25519 private key")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = DefaultCheckpointEvery
	}
	if cfg.CheckpointEvents <= 0 {
		cfg.CheckpointEvents = DefaultCheckpointEvents
	}
	marks, err := newMarkers()
	if err != nil {
		return nil, err
	}
	r := &Recorder{
		cfg: cfg, marks: marks,
		reqs: make(chan *recordRequest), quit: make(chan struct{}), done: make(chan struct{}),
	}
	if r.chain, err = newChain(); err != nil {
		return nil, err
	}
	if err := r.checkpoint(ctx, r.chain, false); err != nil {
		return nil, fmt.Errorf("audit: start chain: %w", err)
	}
	go r.run()
	return r, nil
}

func newChain() (*chainHead, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("audit: new chain id: %w", err)
	}
	id := hex.EncodeToString(b[:])
	return &chainHead{id: id, quoted: []byte(`"` + id + `"`), hash: ZeroHash, cpSeq: -1}, nil
}

// Record stores the events, chained, and returns nil once they are
// durably stored: the caller may then send the response they record. An
// error means they may not be stored, and the response must not be sent.
// (They may be stored all the same: when ctx ends after they were handed
// over, Record returns at once and their unit of work goes on; a store
// may fail a write that it committed.) The events are not changed; one
// without an id is stored with a new one.
func (r *Recorder) Record(ctx context.Context, events ...*Event) error {
	if len(events) == 0 {
		return nil
	}
	req := &recordRequest{ctx: ctx, events: make([]*prepared, len(events)), done: make(chan error, 1)}
	for i, ev := range events {
		if ev == nil {
			return errors.New("audit: record: a nil event")
		}
		p, err := r.marks.prepare(ev)
		if err != nil {
			return err
		}
		req.events[i] = p
	}
	select {
	case <-r.quit:
		return ErrClosed
	default:
	}
	select {
	case r.reqs <- req:
	case <-r.quit:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("audit: record: %w", ctx.Err())
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("audit: record: %w (the events may still be stored)", ctx.Err())
	}
}

// Close stores the events already handed over, writes the chain's closing
// checkpoint and stops the Recorder. Record then answers ErrClosed.
func (r *Recorder) Close() error {
	r.closeOnce.Do(func() { close(r.quit) })
	<-r.done
	return r.closeErr
}

// run is the appender.
func (r *Recorder) run() {
	defer close(r.done)
	tick := time.NewTicker(r.cfg.CheckpointEvery)
	defer tick.Stop()
	for {
		select {
		case req := <-r.reqs:
			r.unit(r.gather(req))
		case <-tick.C:
			r.periodic()
		case <-r.quit:
			r.drain()
			r.closeErr = r.closeChains()
			return
		}
	}
}

// drain stores the requests handed over before Close.
func (r *Recorder) drain() {
	for {
		select {
		case req := <-r.reqs:
			r.unit(r.gather(req))
		default:
			return
		}
	}
}

// gather takes the requests waiting behind first, up to the bound.
func (r *Recorder) gather(first *recordRequest) []*recordRequest {
	batch, n := []*recordRequest{first}, len(first.events)
	for n < maxBatchEvents {
		select {
		case req := <-r.reqs:
			batch = append(batch, req)
			n += len(req.events)
		default:
			return batch
		}
	}
	return batch
}

// unit stores the events of batch as one unit of work and answers each
// caller.
func (r *Recorder) unit(batch []*recordRequest) {
	// Once the unit is over, the events' templates serve others.
	defer func() {
		for _, q := range batch {
			for _, p := range q.events {
				p.release()
			}
		}
	}()
	live := make([]*recordRequest, 0, len(batch))
	for _, q := range batch {
		if err := q.ctx.Err(); err != nil {
			q.done <- fmt.Errorf("audit: record: %w", err) // left before its events were taken
			continue
		}
		live = append(live, q)
	}
	if len(live) == 0 {
		return
	}
	answer := func(err error) {
		for _, q := range live {
			q.done <- err
		}
	}
	c := r.chain
	if c.cp == nil { // a chain begun after a failure: its first checkpoint comes first
		if err := r.checkpoint(context.Background(), c, false); err != nil {
			answer(fmt.Errorf("audit: start chain: %w", err))
			return
		}
	}

	var vals [numSlots][]byte
	vals[slotChain] = c.quoted
	now := fhir.TruncateTime(r.cfg.Now())
	vals[slotTime] = strconv.AppendQuote(nil, now.Format(fhir.InstantFormat))
	seq, prev := c.seq, c.hash
	var resources []*fhir.Resource
	for _, q := range live {
		for _, p := range q.events {
			seq++
			vals[slotSeq] = strconv.AppendInt(vals[slotSeq][:0], seq, 10)
			vals[slotPrev] = strconv.AppendQuote(vals[slotPrev][:0], prev)
			vals[slotHash] = append(vals[slotHash][:0], `""`...)
			r.canon = p.canon.fill(r.canon[:0], &vals)
			h := hashOf(r.canon)
			vals[slotHash] = strconv.AppendQuote(vals[slotHash][:0], h)
			resources = append(resources, &fhir.Resource{
				Type: "AuditEvent", ID: p.id, Version: 1, LastUpdated: now, Method: "POST",
				JSON: p.stored.fill(make([]byte, 0, p.stored.size(&vals)), &vals), Index: p.index,
			})
			prev = h
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	err := r.cfg.Store.Write(ctx, func(tx fhir.Tx) error {
		for _, res := range resources {
			if err := tx.Put(res); err != nil {
				return err
			}
		}
		return nil
	})
	cancel()
	if err != nil {
		answer(fmt.Errorf("audit: store %d events: %w", len(resources), err))
		r.cfg.Logger.Error("audit: events not stored; the next ones start a new chain",
			"events", len(resources), "chain", c.id, "error", err)
		r.abandon()
		return
	}
	c.seq, c.hash = seq, prev
	// A checkpoint due by count is written before the callers are
	// answered, so that it bears the time of the events it covers (once
	// in CheckpointEvents events; its failure is logged, not theirs).
	if c.seq-c.cpSeq >= int64(r.cfg.CheckpointEvents) {
		r.checkpointLogged(c, false)
	}
	answer(nil)
}

// abandon leaves the chain after a failed unit of work: its head is
// checkpointed later (the store has just failed), and the next events go
// to a new chain.
func (r *Recorder) abandon() {
	old := r.chain
	if old.seq > old.cpSeq {
		r.unsealed = append(r.unsealed, old)
	}
	c, err := newChain()
	if err != nil { // no randomness: keep the chain rather than stop auditing
		r.cfg.Logger.Error("audit: cannot start a new chain", "error", err)
		return
	}
	r.chain = c
}

// periodic writes the checkpoints that are due on the clock.
func (r *Recorder) periodic() {
	if c := r.chain; c.seq > c.cpSeq || c.cp == nil {
		r.checkpointLogged(c, false)
	}
	r.seal()
}

// seal checkpoints the heads of abandoned chains.
func (r *Recorder) seal() error {
	var errs []error
	kept := r.unsealed[:0]
	for _, u := range r.unsealed {
		if err := r.checkpoint(context.Background(), u, false); err != nil {
			errs = append(errs, err)
			kept = append(kept, u)
		}
	}
	r.unsealed = kept
	return errors.Join(errs...)
}

// closeChains writes the closing checkpoint of the chain, and the last
// ones of abandoned chains (not closing: a unit that failed may yet have
// stored events after their head).
func (r *Recorder) closeChains() error {
	errs := []error{r.seal()}
	if c := r.chain; c.cp != nil {
		errs = append(errs, r.checkpoint(context.Background(), c, true))
	}
	return errors.Join(errs...)
}

func (r *Recorder) checkpointLogged(c *chainHead, closed bool) {
	if err := r.checkpoint(context.Background(), c, closed); err != nil {
		r.cfg.Logger.Error("audit: checkpoint not written", "chain", c.id, "seq", c.seq, "error", err)
	}
}

// checkpoint signs and stores the statement of the chain's head.
func (r *Recorder) checkpoint(ctx context.Context, c *chainHead, closed bool) error {
	st := Statement{
		Chain: c.id, Closed: closed, Hash: c.hash, Seq: c.seq,
		Time: fhir.TruncateTime(r.cfg.Now()).Format(fhir.InstantFormat),
	}
	rec := signStatement(r.cfg.Key, st).record()
	if c.cp != nil && c.cpSeq == c.seq {
		rec.Rev = c.cp.Rev // a closing checkpoint where the last one was
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	err := r.cfg.Records.PutRecord(ctx, rec)
	if errors.Is(err, fhir.ErrVersionConflict) {
		// An earlier attempt that reported failure was stored after all.
		var cur *fhir.Record
		if cur, err = r.cfg.Records.GetRecord(ctx, rec.Kind, rec.Key); err == nil {
			rec.Rev = cur.Rev
			err = r.cfg.Records.PutRecord(ctx, rec)
		}
	}
	if err != nil {
		return fmt.Errorf("audit: checkpoint chain %s seq %d: %w", c.id, c.seq, err)
	}
	c.cp, c.cpSeq = rec, c.seq
	return nil
}
