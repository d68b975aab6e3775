package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"

	"github.com/oncofhir/oncofhir/fhir"
)

// Checkpoints.
//
// A checkpoint is a signed statement that a chain had, at seq, an event
// whose hash was hash. A Recorder writes one when it starts its chain (seq
// 0, hash ZeroHash), then every Config.CheckpointEvery or
// Config.CheckpointEvents, and a closing one (closed true) at Close. They
// are kept through fhir.Records, kind CheckpointKind, key
// "<chain>/<seq as 20 digits>", never expiring, and can be exported as
// JSON lines (ExportCheckpoints) to be kept apart from the data.
//
// What they add to the chain: the chain alone shows an event changed,
// removed or added in its middle, but not its tail cut off, nor a whole
// chain made up by someone who can write to the store. A signed
// checkpoint at seq N shows the chain reached N, with that hash; a chain
// without any signed checkpoint is not one a Recorder started; an event
// after a closing checkpoint was not written by its Recorder. Events after
// the last checkpoint of a chain whose Recorder stopped without closing
// (a crash) are covered by the links only.

// CheckpointKind is the fhir.Records kind of signed checkpoints.
const CheckpointKind = "audit.checkpoint"

// Statement is what a checkpoint signs. The signed bytes are its
// encoding/json encoding, members in this order and no whitespace:
// {"chain":"…","closed":false,"hash":"…","seq":N,"time":"…"}, and
// ,"purged":"…" before the closing brace in a purge statement.
type Statement struct {
	Chain  string `json:"chain"`
	Closed bool   `json:"closed"` // the Recorder closed the chain: no event follows seq
	Hash   string `json:"hash"`   // hash of the event at Seq (ZeroHash at seq 0)
	Seq    int64  `json:"seq"`
	Time   string `json:"time"` // when it was signed, as meta.lastUpdated is written
	// Purged, in a purge statement only (see Purge), is the instant
	// before which the chain's events were recorded that were deleted,
	// through Seq, once the retention period had passed.
	Purged string `json:"purged,omitempty"`
}

// Bytes are the signed bytes of the statement.
func (s Statement) Bytes() []byte {
	b, _ := json.Marshal(s) // a struct of strings, a bool and an integer
	return b
}

// Checkpoint is a signed statement: one record, one line of an export.
type Checkpoint struct {
	Statement Statement `json:"statement"`
	// Signature is the Ed25519 signature of Statement.Bytes(), base64
	// (standard alphabet, padded).
	Signature string `json:"signature"`
}

// signStatement makes the checkpoint of st.
func signStatement(key ed25519.PrivateKey, st Statement) Checkpoint {
	return Checkpoint{Statement: st, Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, st.Bytes()))}
}

// valid reports whether the signature is pub's over the statement.
func (c Checkpoint) valid(pub ed25519.PublicKey) bool {
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	return err == nil && len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, c.Statement.Bytes(), sig)
}

// checkpointKey is the record key of a checkpoint: zero-padded, so that
// key order is seq order within a chain.
func checkpointKey(chain string, seq int64) string {
	return fmt.Sprintf("%s/%020d", chain, seq)
}

// record is the fhir.Records document of a checkpoint.
func (c Checkpoint) record() *fhir.Record {
	data, _ := json.Marshal(c)
	return &fhir.Record{
		Kind:  CheckpointKind,
		Key:   checkpointKey(c.Statement.Chain, c.Statement.Seq),
		Data:  data,
		Attrs: map[string]string{"chain": c.Statement.Chain},
	}
}

// ExportCheckpoints writes every checkpoint kept in rec to w, one JSON
// object (a Checkpoint) a line, in chain and seq order, so that they can
// be kept where whoever can write to the store cannot reach them. Verify
// reads them back.
func ExportCheckpoints(ctx context.Context, rec fhir.Records, w io.Writer) error {
	list, err := rec.FindRecords(ctx, CheckpointKind, "", "")
	if err != nil {
		return fmt.Errorf("audit: export checkpoints: %w", err)
	}
	bw := bufio.NewWriter(w)
	var line bytes.Buffer
	for _, r := range list {
		line.Reset()
		// One line each, whatever the stored bytes: a record that is not
		// JSON is exported as a JSON string, for Verify to report.
		if json.Compact(&line, r.Data) != nil {
			line.Reset()
			b, _ := json.Marshal(string(r.Data))
			line.Write(b)
		}
		line.WriteByte('\n')
		if _, err := bw.Write(line.Bytes()); err != nil {
			return fmt.Errorf("audit: export checkpoints: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("audit: export checkpoints: %w", err)
	}
	return nil
}

// parseCheckpoint reads one record or exported line; ok is false when it
// is not a checkpoint at all.
func parseCheckpoint(b []byte) (Checkpoint, bool) {
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil || c.Statement.Chain == "" || c.Signature == "" {
		return c, false
	}
	return c, true
}

// readCheckpoints reads the checkpoints in rec, and those in exported
// when it is not nil. Unreadable ones come back as bad.
func readCheckpoints(ctx context.Context, rec fhir.Records, exported io.Reader) (good []Checkpoint, bad []string, err error) {
	if rec != nil {
		list, err := rec.FindRecords(ctx, CheckpointKind, "", "")
		if err != nil {
			return nil, nil, fmt.Errorf("audit: read checkpoints: %w", err)
		}
		for _, r := range list {
			if c, ok := parseCheckpoint(r.Data); ok {
				good = append(good, c)
			} else {
				bad = append(bad, "record "+r.Key)
			}
		}
	}
	if exported == nil {
		return good, bad, nil
	}
	sc := bufio.NewScanner(exported)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if c, ok := parseCheckpoint(line); ok {
			good = append(good, c)
		} else {
			bad = append(bad, fmt.Sprintf("exported line %d", n))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("audit: read exported checkpoints: %w", err)
	}
	return good, bad, nil
}
