package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookServer is a webhook receiver whose answers the test scripts.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	attempts int
	received []Alert
	types    []string
}

// newHookServer answers each POST with answer(attempt), which may block
// on the request's context.
func newHookServer(t *testing.T, answer func(r *http.Request, attempt int) int) *hookServer {
	t.Helper()
	h := &hookServer{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.attempts++
		n := h.attempts
		h.types = append(h.types, r.Method+" "+r.Header.Get("Content-Type"))
		h.mu.Unlock()
		code := answer(r, n)
		if code == http.StatusOK {
			var al Alert
			if err := json.Unmarshal(body, &al); err != nil {
				t.Errorf("webhook body %s: %v", body, err)
			}
			h.mu.Lock()
			h.received = append(h.received, al)
			h.mu.Unlock()
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) got() (attempts int, received []Alert) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.attempts, append([]Alert(nil), h.received...)
}

func breakGlass(user string) Access {
	x := readAccess(user, "oncologist", 1, "p1")
	x.BreakGlass = true
	return x
}

func flush(t *testing.T, a *Alerts) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := a.Flush(ctx); err != nil {
		t.Fatal("flush:", err)
	}
}

func TestWebhookRetriesUntilDelivered(t *testing.T) {
	srv := newHookServer(t, func(_ *http.Request, attempt int) int {
		if attempt <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	h := newHarness(t, AlertConfig{Webhook: srv.URL + "/alerts", retry: time.Millisecond})
	h.observe(breakGlass("u1"))
	flush(t, h.a)
	attempts, received := srv.got()
	if attempts != 3 || len(received) != 1 {
		t.Fatalf("attempts %d, received %v; want 3 attempts and the alert", attempts, received)
	}
	al := received[0]
	if al.Detector != DetectBreakGlass || al.Subject != "u1" || al.SubjectKind != SubjectUser || al.ID == "" || al.Window != 10*time.Minute || !al.Time.Equal(alertTuesday10) {
		t.Fatalf("delivered %+v", al)
	}
	if srv.types[0] != "POST application/json" {
		t.Fatalf("request: %s", srv.types[0])
	}
	if strings.Contains(h.log.String(), "not delivered") {
		t.Fatalf("a delivered alert was logged as lost:\n%s", h.log)
	}
}

func TestWebhookGivesUp(t *testing.T) {
	for _, c := range []struct {
		name     string
		code     int
		attempts int
	}{
		{"a server that keeps failing is tried four times", http.StatusBadGateway, 4},
		{"429 is retried", http.StatusTooManyRequests, 4},
		{"a refusal (400) is not retried", http.StatusBadRequest, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := newHookServer(t, func(*http.Request, int) int { return c.code })
			h := newHarness(t, AlertConfig{Webhook: srv.URL, retry: time.Millisecond})
			h.observe(breakGlass("u1"))
			flush(t, h.a)
			if attempts, _ := srv.got(); attempts != c.attempts {
				t.Fatalf("attempts %d, want %d", attempts, c.attempts)
			}
			if !strings.Contains(h.log.String(), "audit alert not delivered") {
				t.Fatalf("the lost alert is not logged:\n%s", h.log)
			}
		})
	}
}

func TestWebhookURLStaysOutOfTheLog(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	h := newHarness(t, AlertConfig{Webhook: url + "/hook?token=s3cret-token", retry: time.Millisecond})
	h.observe(breakGlass("u1"))
	flush(t, h.a)
	out := h.log.String()
	if !strings.Contains(out, "audit alert not delivered") || strings.Contains(out, "s3cret") {
		t.Fatalf("log:\n%s", out)
	}
}

// hangingServer holds every request until the test ends or the client
// gives up.
func hangingServer(t *testing.T) (srv *hookServer, release func()) {
	released := make(chan struct{})
	srv = newHookServer(t, func(r *http.Request, _ int) int {
		select {
		case <-released:
			return http.StatusOK
		case <-r.Context().Done():
			return http.StatusServiceUnavailable
		}
	})
	var once sync.Once
	release = func() { once.Do(func() { close(released) }) }
	t.Cleanup(release) // before the server closes
	return srv, release
}

func TestWebhookThatHangsDoesNotBlockObserve(t *testing.T) {
	srv, _ := hangingServer(t)
	h := newHarness(t, AlertConfig{Webhook: srv.URL, queue: 4})
	// The webhook holds the first delivery until the test ends, or for
	// the webhookTimeout an attempt may take: until then the queue has
	// no room. An Observe that waited for the delivery, or for room in
	// the queue, would still be waiting at half that time, however busy
	// the machine, and no attempt would have been answered yet.
	observed := make(chan struct{})
	go func() {
		defer close(observed)
		for i := range 200 {
			h.observe(breakGlass(fmt.Sprint("u", i)))
		}
	}()
	select {
	case <-observed:
	case <-time.After(webhookTimeout / 2):
		t.Fatalf("200 alerting requests not observed after %v with the webhook hanging", webhookTimeout/2)
	}
	if attempts, received := srv.got(); attempts > 1 || len(received) != 0 {
		t.Fatalf("%d attempts, %d delivered while the webhook hung: the observing did not run while it held the first", attempts, len(received))
	}
	if got := h.fired(DetectBreakGlass); got != 200 {
		t.Fatalf("logged %d alerts, want 200", got)
	}
	if !strings.Contains(h.log.String(), `"msg":"audit alert dropped: queue full","sink":"webhook"`) {
		t.Fatalf("the full queue's drops are not logged:\n%s", h.log)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if err := h.a.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want the deadline", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("Close took %v past its deadline", d)
	}
	if !strings.Contains(h.log.String(), "audit alerts dropped at shutdown") {
		t.Fatalf("what Close abandoned is not logged:\n%s", h.log)
	}
	drops := strings.Count(h.log.String(), "dropped")
	h.observe(breakGlass("after-close")) // still usable; still logs; queues nothing
	if h.fired(DetectBreakGlass) != 201 || strings.Count(h.log.String(), "dropped") != drops {
		t.Fatalf("Observe after Close:\n%s", h.log)
	}
	var none *Alerts
	none.Observe(breakGlass("u1")) // alerts off
	if none.Flush(t.Context()) != nil || none.Close(t.Context()) != nil {
		t.Fatal("a nil *Alerts is not inert")
	}
}

func TestWebhookQueueDropsTheOldest(t *testing.T) {
	srv, release := hangingServer(t)
	h := newHarness(t, AlertConfig{Webhook: srv.URL, queue: 3})
	h.observe(breakGlass("first")) // taken at once, then held by the server
	for {                          // wait until it is in flight
		if attempts, _ := srv.got(); attempts == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5"} {
		h.observe(breakGlass(u))
	}
	release()
	flush(t, h.a)
	_, received := srv.got()
	var subjects []string
	for _, al := range received {
		subjects = append(subjects, al.Subject)
	}
	if got := strings.Join(subjects, " "); got != "first u3 u4 u5" {
		t.Fatalf("delivered %s, want first u3 u4 u5", got)
	}
	if n := strings.Count(h.log.String(), "audit alert dropped: queue full"); n != 2 {
		t.Fatalf("%d drops logged, want 2:\n%s", n, h.log)
	}
}
