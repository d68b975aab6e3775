package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// webhookAttempts is how often an alert is POSTed before it is given up
// on; the waits between attempts double from AlertConfig's first delay
// (1 s, 2 s, 4 s by default).
const webhookAttempts = 4

// webhookTimeout bounds one attempt whatever the HTTP client allows.
const webhookTimeout = 10 * time.Second

// post delivers al to the webhook: a JSON POST, retried with backoff on
// network errors, 5xx, 408 and 429.
func (a *Alerts) post(ctx context.Context, al Alert) error {
	body, err := json.Marshal(al)
	if err != nil {
		return err
	}
	wait := a.cfg.retry
	for attempt := 1; ; attempt++ {
		err = a.postOnce(ctx, body)
		var se webhookStatus
		if err == nil || attempt == webhookAttempts || (errors.As(err, &se) && !se.retry()) {
			return err
		}
		if err := pause(ctx, wait); err != nil {
			return err
		}
		wait *= 2
	}
}

// pause waits d, or less if ctx ends first (then it returns ctx's error).
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (a *Alerts) postOnce(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, webhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.Webhook, bytes.NewReader(body))
	if err != nil {
		return errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.cfg.HTTPClient.Do(req)
	if err != nil {
		// The URL may carry a secret (many webhook URLs do): keep it out
		// of the error, which is logged.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return webhookStatus(resp.StatusCode)
	}
	return nil
}

type webhookStatus int

func (e webhookStatus) Error() string { return fmt.Sprintf("webhook answered %d", int(e)) }

func (e webhookStatus) retry() bool {
	return e >= 500 || e == http.StatusRequestTimeout || e == http.StatusTooManyRequests
}

// alertSink is a bounded queue of alerts and the goroutine that delivers them,
// one at a time. A full queue drops its oldest alert (and logs that it
// did), so that pushing never waits. A nil sink takes nothing.
type alertSink struct {
	name    string
	a       *Alerts
	deliver func(context.Context, Alert) error

	mu         sync.Mutex
	ring       []Alert
	head, n    int
	delivering bool
	wake       chan struct{}
}

func (a *Alerts) start(ctx context.Context, name string, deliver func(context.Context, Alert) error) *alertSink {
	k := &alertSink{name: name, a: a, deliver: deliver, ring: make([]Alert, a.cfg.queue), wake: make(chan struct{}, 1)}
	a.done.Add(1)
	go k.run(ctx)
	return k
}

func (k *alertSink) push(al Alert) {
	if k == nil {
		return
	}
	select {
	case <-k.a.closing:
		return // nobody would deliver it; the log line has it
	default:
	}
	k.mu.Lock()
	var dropped *Alert
	if k.n == len(k.ring) {
		old := k.ring[k.head]
		dropped = &old
		k.head = (k.head + 1) % len(k.ring)
		k.n--
	}
	k.ring[(k.head+k.n)%len(k.ring)] = al
	k.n++
	k.mu.Unlock()
	if dropped != nil {
		k.a.log.Warn("audit alert dropped: queue full", "sink", k.name, "alert_id", dropped.ID,
			"detector", dropped.Detector, "subject_kind", dropped.SubjectKind, "subject", dropped.Subject)
	}
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// next takes the oldest alert, waiting for one; false once the sink is
// closing and empty, or abandoned.
func (k *alertSink) next(ctx context.Context) (Alert, bool) {
	for {
		k.mu.Lock()
		if ctx.Err() != nil {
			n := k.n
			k.n = 0
			k.mu.Unlock()
			if n > 0 {
				k.a.log.Warn("audit alerts dropped at shutdown", "sink", k.name, "count", n)
			}
			return Alert{}, false
		}
		if k.n > 0 {
			al := k.ring[k.head]
			k.ring[k.head] = Alert{}
			k.head = (k.head + 1) % len(k.ring)
			k.n--
			k.delivering = true
			k.mu.Unlock()
			return al, true
		}
		k.mu.Unlock()
		select {
		case <-k.wake:
		case <-ctx.Done():
		case <-k.a.closing:
			k.mu.Lock()
			empty := k.n == 0
			k.mu.Unlock()
			if empty {
				return Alert{}, false
			}
		}
	}
}

func (k *alertSink) run(ctx context.Context) {
	defer k.a.done.Done()
	for {
		al, ok := k.next(ctx)
		if !ok {
			return
		}
		if err := k.deliver(ctx, al); err != nil {
			k.a.log.Error("audit alert not delivered", "sink", k.name, "alert_id", al.ID, "detector", al.Detector, "error", err.Error())
		}
		k.mu.Lock()
		k.delivering = false
		k.mu.Unlock()
	}
}

// idle reports that nothing is queued or being delivered.
func (k *alertSink) idle() bool {
	if k == nil {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n == 0 && !k.delivering
}
