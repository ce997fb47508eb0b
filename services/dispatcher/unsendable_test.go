package dispatcher

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/store"
)

// unsendableSink is a sink whose requests carry a header value net/http
// refuses to send, as a webhook saved with one before such values were
// refused would.
type unsendableSink struct {
	target httpTarget
	url    string
}

func (u unsendableSink) Deliver(ctx context.Context, _ action.Action) (int, error) {
	resp, err := u.target.post(ctx, http.MethodPost, u.url, []byte(`{}`), func(h http.Header) {
		h.Set("X-Team", "ops\x7f")
	})
	return resp.code, err
}

// TestUnsendableRequestIsFinal: a request net/http refuses to build is the
// request's fault, the same on every attempt: its error is final, reaches
// no one, and does not count against the circuit breaker, which stays
// closed however often it happens.
func TestUnsendableRequestIsFinal(t *testing.T) {
	var calls atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(server.Close)
	registry := Registry{Sinks: map[string]SinkFactory{"webhook": func(store.Sink) (Sink, error) {
		return unsendableSink{target: httpTarget{client: testClient(), kind: "webhook", timeout: 5 * time.Second}, url: server.URL}, nil
	}}}
	dest := newDestination(registry, store.Sink{ID: "s1", Name: "unsendable", Type: "webhook",
		Config: json.RawMessage(`{"url":"` + server.URL + `","policy":{"breaker_failures":1}}`)})

	for attempt := 1; attempt <= 3; attempt++ {
		_, err := dest.call(context.Background(), action.Action{})
		var de *DeliveryError
		if !errors.As(err, &de) || de.Retryable || err.Error() != "build webhook request: header X-Team holds a control character" {
			t.Fatalf("attempt %d: %v, want a final error naming the header", attempt, err)
		}
	}
	if dest.circuitOpen() {
		t.Error("the breaker opened over a request that could not be built")
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the endpoint got %d requests, want none", n)
	}
}

// TestUnsendableHeaderSavedEarlierDeadLettersAtOnce: a webhook stored with
// a header value net/http refuses (saved before such values were refused)
// is unusable: its action is dead-lettered at once with its audit row, not
// retried.
func TestUnsendableHeaderSavedEarlierDeadLettersAtOnce(t *testing.T) {
	h := start(t, func(c *Config) { c.RetryAttempts = 3 })
	rc := newReceiver(t, answer(http.StatusNoContent))
	a := testAction(h.ruleID, h.addSink("team", `{"url":"`+rc.URL+`","headers":{"X-Team":"ops\u007f"}}`), "ev-1")
	h.publish(a, a.DispatchID)

	rec := h.auditRow(a.DispatchID)
	if rec.Status != store.StatusDeadLettered || rec.Attempts != 0 || !strings.Contains(rec.Error, "headers.X-Team: must not contain control characters") {
		t.Errorf("audit: status %q, attempts %d, error %q; want dead_lettered after no attempt, naming headers.X-Team",
			rec.Status, rec.Attempts, rec.Error)
	}
	h.waitSettled()
	if n := len(rc.requests()); n != 0 {
		t.Errorf("receiver got %d requests, want none", n)
	}
}

// TestRetriesAndDeadLettersAreLogged: each delivery that fails and is put
// back for later logs a warning naming the dispatch, the sink, the calls so
// far and why, never the URL; the dead letter's line counts the calls over
// every delivery, as its audit row does.
func TestRetriesAndDeadLettersAreLogged(t *testing.T) {
	var logs lockedBuffer
	h := startLogging(t, func(c *Config) {
		c.RetryAttempts = 1
		c.MaxDeliver = 3
	}, slog.New(slog.NewJSONHandler(&logs, nil)))
	rc := newReceiver(t, answer(http.StatusServiceUnavailable))
	a := testAction(h.ruleID, h.addSink("vip-alerts", `{"url":"`+rc.URL+`/hook/tok-123"}`), "ev-1")
	h.publish(a, a.DispatchID)

	rec := h.auditRow(a.DispatchID)
	h.waitSettled()
	retried := logs.lines(t, "action failed, will be retried")
	if len(retried) != 2 {
		t.Fatalf("%d retry warnings, want 2 (deliveries 1 and 2 of 3):\n%s", len(retried), logs.String())
	}
	for i, line := range retried {
		if line["level"] != "WARN" || line["dispatch_id"] != a.DispatchID || line["sink"] != "vip-alerts" ||
			line["attempts"] != float64(i+1) || line["err"] != "webhook answered 503" {
			t.Errorf("retry warning %d = %v", i+1, line)
		}
	}
	dead := logs.lines(t, "action dead-lettered")
	if len(dead) != 1 || dead[0]["attempts"] != float64(rec.Attempts) || rec.Attempts != 3 {
		t.Errorf("dead-letter lines %v, audit row attempts %d; want one line with the row's 3 attempts", dead, rec.Attempts)
	}
	if strings.Contains(logs.String(), "tok-123") {
		t.Errorf("the log shows the sink's URL:\n%s", logs.String())
	}
}

// lockedBuffer is a log destination the service writes to from many
// goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the JSON log lines whose message is msg.
func (b *lockedBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var found []map[string]any
	scanner := bufio.NewScanner(strings.NewReader(b.String()))
	for scanner.Scan() {
		var line map[string]any
		if err := json.Unmarshal(scanner.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", scanner.Text(), err)
		}
		if line["msg"] == msg {
			found = append(found, line)
		}
	}
	return found
}
