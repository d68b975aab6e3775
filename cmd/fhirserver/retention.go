package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/oncofhir/oncofhir/audit"
	"github.com/oncofhir/oncofhir/fhir"
)

// purgeEvery is how often a server purges AuditEvents past the retention
// period (and once at start).
const purgeEvery = 24 * time.Hour

// parseRetention reads a retention period: "6y" (years of 365.25 days),
// "2200d", or a Go duration; at least audit.MinRetention.
func parseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	var err error
	switch {
	case strings.HasSuffix(s, "y"), strings.HasSuffix(s, "d"):
		unit := audit.Year
		if strings.HasSuffix(s, "d") {
			unit = 24 * time.Hour
		}
		var n float64
		n, err = strconv.ParseFloat(s[:len(s)-1], 64)
		if err == nil && (n <= 0 || n > 1000*float64(audit.Year/unit)) {
			err = fmt.Errorf("out of range")
		}
		d = time.Duration(n * float64(unit))
	default:
		d, err = time.ParseDuration(s)
	}
	if err != nil {
		return 0, fmt.Errorf("--audit-retention %q: give years (6y), days (2200d) or a duration", s)
	}
	if d < audit.MinRetention {
		return 0, fmt.Errorf("--audit-retention %q: audit events are kept at least 6 years", s)
	}
	return d, nil
}

// purger deletes AuditEvents past the retention period and records that
// it did.
type purger struct {
	cfg      audit.PurgeConfig
	recorder *audit.Recorder
	server   string
	logger   *slog.Logger
}

func newPurger(st fhir.Store, rec fhir.Records, key ed25519.PrivateKey, retention time.Duration, r *audit.Recorder, server string, logger *slog.Logger) (*purger, error) {
	p, ok := st.(fhir.LedgerPurger)
	if !ok {
		return nil, fmt.Errorf("store %T cannot purge AuditEvents", st)
	}
	return &purger{cfg: audit.PurgeConfig{Store: st, Purger: p, Records: rec, Key: key, Retention: retention},
		recorder: r, server: server, logger: logger}, nil
}

// run purges once. What it deleted is recorded as an audit-purged event,
// even when it failed part way.
func (p *purger) run(ctx context.Context) (audit.PurgeResult, error) {
	res, err := audit.Purge(ctx, p.cfg)
	if res.Deleted > 0 {
		ev := audit.SecurityEvent(audit.KindAuditPurged, audit.SecurityInfo{
			Success: true, Server: p.server, Time: time.Now(),
			Detail: fmt.Sprintf("%d audit events recorded before %s deleted: past the retention period",
				res.Deleted, res.Before.Format(time.RFC3339)),
		})
		if rerr := p.recorder.Record(context.WithoutCancel(ctx), ev); rerr != nil && err == nil {
			err = rerr
		}
	}
	return res, err
}

// loop purges at once and then every purgeEvery until ctx ends.
func (p *purger) loop(ctx context.Context) {
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		res, err := p.run(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			p.logger.Error("audit retention: purge failed", "deleted", res.Deleted, "error", err)
		case res.Deleted > 0:
			p.logger.Info("audit retention: purged", "deleted", res.Deleted, "before", res.Before)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
