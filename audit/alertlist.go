package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

// AlertKind is the Records kind of the alert list. Its keys sort by time;
// its records never expire.
const AlertKind = "audit.alert"

// alertKeyTime is the time part of an alert's key: UTC, fixed width, so
// that keys sort as times do.
const alertKeyTime = "20060102T150405.000000000Z"

// alertKey is a new alert's id and list key: its time and a random
// suffix, unique across processes sharing the store.
func alertKey(t time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format(alertKeyTime) + "-" + hex.EncodeToString(b[:])
}

// store keeps al in the list, retrying a failing store a few times.
func (a *Alerts) store(ctx context.Context, al Alert) error {
	data, err := json.Marshal(al)
	if err != nil {
		return err
	}
	wait := a.cfg.retry
	for attempt := 1; ; attempt++ {
		err = a.cfg.Records.PutRecord(ctx, &fhir.Record{Kind: AlertKind, Key: al.ID, Data: data,
			Attrs: map[string]string{"detector": al.Detector, "subject": al.Subject}})
		if err == nil || errors.Is(err, fhir.ErrVersionConflict) { // conflict: an earlier attempt got through
			return nil
		}
		if attempt == 3 {
			return fmt.Errorf("audit: store alert: %w", err)
		}
		if err := pause(ctx, wait); err != nil {
			return err
		}
		wait *= 2
	}
}

// ListAlerts returns the alerts raised at or after since (zero: all),
// oldest first: the list the auditor reviews. Alerts are few (each
// detector fires at most once per subject and window), so it reads the
// whole list and skips to since.
func ListAlerts(ctx context.Context, rec fhir.Records, since time.Time) ([]Alert, error) {
	rs, err := rec.FindRecords(ctx, AlertKind, "", "")
	if err != nil {
		return nil, fmt.Errorf("audit: list alerts: %w", err)
	}
	i := 0
	if !since.IsZero() {
		from := since.UTC().Format(alertKeyTime)
		i = sort.Search(len(rs), func(i int) bool { return rs[i].Key >= from })
	}
	out := make([]Alert, 0, len(rs)-i)
	for _, r := range rs[i:] {
		var al Alert
		if err := json.Unmarshal(r.Data, &al); err != nil {
			return nil, fmt.Errorf("audit: list alerts: %s: %w", r.Key, err)
		}
		out = append(out, al)
	}
	return out, nil
}
