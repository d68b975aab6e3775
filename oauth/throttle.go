package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
)

const kindLoginFail = "login.fail"

// Sign-in throttling, per username (known or not, so that throttling
// tells nothing about which usernames exist), kept in the store so every
// process sees it: after freeAttempts consecutive failures each further
// attempt must wait twice as long as the last, up to maxDelay. That
// bounds guessing to about a hundred attempts a day per account (NIST SP
// 800-63B 5.2.2) without letting anyone lock a patient out for long.
const (
	freeAttempts = 5
	maxDelay     = 15 * time.Minute
	failMemory   = 24 * time.Hour
)

// ErrThrottled answers a sign-in attempted too soon after failures.
var ErrThrottled = errors.New("oauth: too many failed sign-ins; wait and try again")

type failures struct {
	Count int       `json:"count"`
	Last  time.Time `json:"last"`
}

func (f failures) wait() time.Duration {
	if f.Count < freeAttempts {
		return 0
	}
	d := time.Second << min(f.Count-freeAttempts, 20)
	return min(d, maxDelay)
}

func (as Accounts) failuresOf(ctx context.Context, username string) (failures, *fhir.Record, error) {
	key := strings.ToLower(strings.TrimSpace(username))
	if key == "" {
		return failures{}, nil, nil
	}
	r, err := as.Records.GetRecord(ctx, kindLoginFail, key)
	if errors.Is(err, fhir.ErrNotFound) {
		return failures{}, nil, nil
	} else if err != nil {
		return failures{}, nil, err
	}
	var f failures
	if err := json.Unmarshal(r.Data, &f); err != nil {
		return failures{}, nil, err
	}
	return f, r, nil
}

// throttled tells whether a sign-in for username must wait.
func (as Accounts) throttled(ctx context.Context, username string) (bool, error) {
	f, _, err := as.failuresOf(ctx, username)
	if err != nil {
		return false, err
	}
	return as.Now().Sub(f.Last) < f.wait(), nil
}

// failed counts one more failure.
func (as Accounts) failed(ctx context.Context, username string) error {
	key := strings.ToLower(strings.TrimSpace(username))
	if key == "" {
		return nil
	}
	for range 5 {
		f, r, err := as.failuresOf(ctx, username)
		if err != nil {
			return err
		}
		f.Count++
		f.Last = as.Now().UTC()
		data, _ := json.Marshal(f)
		if r == nil {
			r = &fhir.Record{Kind: kindLoginFail, Key: key}
		}
		r.Data, r.Expires = data, f.Last.Add(failMemory)
		err = as.Records.PutRecord(ctx, r)
		if !errors.Is(err, fhir.ErrVersionConflict) {
			return err
		}
	}
	return nil // a racing failure was counted instead
}

// succeeded clears the count.
func (as Accounts) succeeded(ctx context.Context, username string) error {
	key := strings.ToLower(strings.TrimSpace(username))
	if key == "" {
		return nil
	}
	return as.Records.DeleteRecord(ctx, kindLoginFail, key)
}

// hashing bounds concurrent argon2id evaluations (19 MiB each), so a
// burst of sign-ins cannot exhaust memory.
var hashing = make(chan struct{}, 4)

func checkPasswordBounded(ctx context.Context, encoded, pw string) (bool, error) {
	select {
	case hashing <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-hashing }()
	return checkPassword(encoded, pw), nil
}
