package dispatcher

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/store"
)

// TestRetriesUntilDelivered: an endpoint answering 503 a few times, then
// 200, gets the action delivered once, with one row counting every attempt:
// within one delivery (2 failures), or over two (3 failures use the first
// delivery's 3 attempts).
func TestRetriesUntilDelivered(t *testing.T) {
	for _, failures := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d failures", failures), func(t *testing.T) {
			h := start(t, func(c *Config) { c.RetryAttempts = 3 })
			rc := newReceiver(t, func(n int, _ *http.Request) int {
				if n <= failures {
					return http.StatusServiceUnavailable
				}
				return http.StatusOK
			})
			a := testAction(h.ruleID, h.addSink("flaky", `{"url":"`+rc.URL+`"}`), "ev-1")
			h.publish(a, a.DispatchID)

			rec := h.auditRow(a.DispatchID)
			want := failures + 1
			if rec.Status != store.StatusDelivered || rec.Attempts != want || rec.HTTPStatus != http.StatusOK || rec.Error != "" {
				t.Errorf("audit: status %q, attempts %d, http %d, error %q; want delivered, %d, 200, none",
					rec.Status, rec.Attempts, rec.HTTPStatus, rec.Error, want)
			}
			h.waitSettled()
			got := rc.requests()
			if len(got) != want {
				t.Errorf("receiver got %d requests, want %d refused and 1 delivered", len(got), failures)
			}
			for i, req := range got {
				if req.webhookID != a.DispatchID {
					t.Errorf("request %d: webhook-id %q, want %q on every attempt", i+1, req.webhookID, a.DispatchID)
				}
			}
			if n := h.countAudit(store.StatusDelivered); n != 1 {
				t.Errorf("%d delivered rows, want 1", n)
			}
		})
	}
}

func TestDeadLettersWhenPolicyGivesUp(t *testing.T) {
	cases := []struct {
		name, policy, reason string
		attempts             int
	}{
		{"max attempts", `{"max_attempts":3}`, "webhook answered 503; gave up after 3 attempts (max_attempts 3)", 3},
		{"max age", `{"max_age":"1ms"}`, "webhook answered 503; gave up after 2 attempts: older than max_age 1ms", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := start(t, func(c *Config) { c.RetryAttempts = 2 })
			rc := newReceiver(t, answer(http.StatusServiceUnavailable))
			a := testAction(h.ruleID, h.addSink("down", `{"url":"`+rc.URL+`","policy":`+c.policy+`}`), "ev-1")
			h.publish(a, a.DispatchID)

			rec := h.auditRow(a.DispatchID)
			if rec.Status != store.StatusDeadLettered || rec.Attempts != c.attempts || rec.HTTPStatus != 503 || rec.Error != c.reason {
				t.Errorf("audit: status %q, attempts %d, http %d, error %q; want dead_lettered, %d, 503, %q",
					rec.Status, rec.Attempts, rec.HTTPStatus, rec.Error, c.attempts, c.reason)
			}
			h.waitSettled()
			if got := h.deadLetter().Header.Get(action.DeadLetterReasonHeader); got != c.reason {
				t.Errorf("dead letter reason %q, want %q", got, c.reason)
			}
			if n := len(rc.requests()); n != c.attempts {
				t.Errorf("receiver got %d requests, want %d", n, c.attempts)
			}
		})
	}
}

func TestCircuitBreakerStopsCallingADownSink(t *testing.T) {
	h := start(t, func(c *Config) {
		c.RetryAttempts = 1
		c.MaxDeliver = 4
	})
	rc := newReceiver(t, answer(http.StatusBadGateway))
	sinkID := h.addSink("breaker", `{"url":"`+rc.URL+`","policy":{"breaker_failures":2,"breaker_cooldown":"1h"}}`)
	a := testAction(h.ruleID, sinkID, "ev-1")
	h.publish(a, a.DispatchID)

	rec := h.auditRow(a.DispatchID)
	// The reason says what the sink last answered, not only that the
	// breaker stopped the last deliveries.
	reason := "sink not called: circuit open; gave up after 2 attempts in 4 deliveries (DISPATCHER_MAX_DELIVER); last sink error: webhook answered 502"
	if rec.Status != store.StatusDeadLettered || rec.Attempts != 2 || rec.Error != reason {
		t.Errorf("audit: status %q, attempts %d, error %q; want dead_lettered, 2, %q", rec.Status, rec.Attempts, rec.Error, reason)
	}
	if n := len(rc.requests()); n != 2 {
		t.Errorf("receiver got %d requests, want 2: the breaker opens after 2 failures", n)
	}
	if state := testutil.ToFloat64(metrics.SinkCircuitState.WithLabelValues("breaker")); state != 2 {
		t.Errorf("zenith_sink_circuit_state{sink=breaker} = %v, want 2 (open)", state)
	}
}

func TestRateLimitDefersWithoutSpendingAttempts(t *testing.T) {
	h := start(t, nil)
	rc := newReceiver(t, answer(http.StatusOK))
	sinkID := h.addSink("limited", `{"url":"`+rc.URL+`","policy":{"rate_limit":2,"burst":1}}`)
	deferred := metrics.DispatchDeferred.WithLabelValues("webhook", "rate_limited")
	before := testutil.ToFloat64(deferred)

	var ids []string
	for _, eventID := range []string{"ev-1", "ev-2", "ev-3"} {
		a := testAction(h.ruleID, sinkID, eventID)
		ids = append(ids, a.DispatchID)
		h.publish(a, a.DispatchID)
	}
	for _, id := range ids {
		if rec := h.auditRow(id); rec.Status != store.StatusDelivered || rec.Attempts != 1 {
			t.Errorf("audit %s: status %q, attempts %d; want delivered, 1 (a deferral is no attempt)", id, rec.Status, rec.Attempts)
		}
	}
	if got := testutil.ToFloat64(deferred) - before; got < 2 {
		t.Errorf("%v actions deferred by the rate limit, want at least 2 of 3 sent at once at 2/s", got)
	}
	if n := len(rc.requests()); n != 3 {
		t.Errorf("receiver got %d requests, want 3", n)
	}
}

func TestDeadEndpointDoesNotHoldHealthyOne(t *testing.T) {
	// No dead action reaches its last delivery, which would run beside the
	// full lane.
	h := start(t, func(c *Config) {
		c.WorkerCount = 2
		c.MaxDeliver = 1000
	})
	release := make(chan struct{})
	var hanging atomic.Int32
	dead := newReceiver(t, func(_ int, r *http.Request) int {
		hanging.Add(1)
		defer hanging.Add(-1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	t.Cleanup(func() { close(release) }) // before the service stops
	healthy := newReceiver(t, answer(http.StatusOK))
	deadID := h.addSink("dead", `{"url":"`+dead.URL+`","timeout":"1m"}`)
	healthyID := h.addSink("healthy", `{"url":"`+healthy.URL+`"}`)

	for i := range 12 {
		a := testAction(h.ruleID, deadID, "dead-"+string(rune('a'+i)))
		h.publish(a, a.DispatchID)
	}
	var ids []string
	for i := range 20 {
		a := testAction(h.ruleID, healthyID, "ok-"+string(rune('a'+i)))
		ids = append(ids, a.DispatchID)
		h.publish(a, a.DispatchID)
	}

	// Every healthy action is delivered while the dead endpoint holds its
	// lane's two deliveries: none waited for a slot behind them.
	h.waitFor("the dead endpoint to hold its lane", func() bool { return hanging.Load() == 2 })
	for _, id := range ids {
		if rec := h.auditRow(id); rec.Status != store.StatusDelivered {
			t.Errorf("healthy %s: status %q, want delivered", id, rec.Status)
		}
	}
	if n := hanging.Load(); n != 2 {
		t.Errorf("the dead endpoint holds %d requests, want its lane's 2", n)
	}
	if n := h.countAudit(store.StatusDelivered); n != 20 {
		t.Errorf("%d delivered rows, want the 20 healthy ones only", n)
	}
}

func TestTemplateErrorIsAuditedNotACrash(t *testing.T) {
	h := start(t, nil)
	rc := newReceiver(t, answer(http.StatusOK))
	sinkID := h.addSinkOfType("bad-template", "slack", `{"webhook_url":"`+rc.URL+`","text":"{{.Data.amount.cents}}"}`)
	a := slackAction(testAction(h.ruleID, sinkID, "ev-1"))
	h.publish(a, a.DispatchID)

	rec := h.auditRow(a.DispatchID)
	if rec.Status != store.StatusDeadLettered || rec.Attempts != 1 || !strings.Contains(rec.Error, "render text") {
		t.Errorf("audit: status %q, attempts %d, error %q; want dead_lettered after 1 attempt with the render error", rec.Status, rec.Attempts, rec.Error)
	}
	h.waitSettled()
	if n := len(rc.requests()); n != 0 {
		t.Errorf("receiver got %d requests, want 0", n)
	}
}

func slackAction(a action.Action) action.Action {
	a.Sink.Type = "slack"
	return a
}

func TestChatSinksThroughTheDispatcher(t *testing.T) {
	h := start(t, nil)
	slackRC := newChatReceiver(t, http.StatusOK, "ok", nil)
	discordRC := newChatReceiver(t, http.StatusNoContent, "", nil)
	slackA := slackAction(testAction(h.ruleID, h.addSinkOfType("vip-slack", "slack", `{"webhook_url":"`+slackRC.URL+`",`+vipTemplates+`}`), "ev-1"))
	discordA := testAction(h.ruleID, h.addSinkOfType("vip-discord", "discord", `{"webhook_url":"`+discordRC.URL+`",`+vipTemplates+`}`), "ev-1")
	discordA.Sink.Type = "discord"
	h.publish(slackA, slackA.DispatchID)
	h.publish(discordA, discordA.DispatchID)

	for a, code := range map[string]int{slackA.DispatchID: 200, discordA.DispatchID: 204} {
		if rec := h.auditRow(a); rec.Status != store.StatusDelivered || rec.HTTPStatus != code {
			t.Errorf("audit %s: status %q, http %d; want delivered, %d", a, rec.Status, rec.HTTPStatus, code)
		}
	}
	if !strings.Contains(string(<-slackRC.bodies), "VIP purchase: 742.5") || !strings.Contains(string(<-discordRC.bodies), "VIP purchase: 742.5") {
		t.Error("chat messages do not hold the rendered title")
	}
}

func TestArchiveAcknowledgesOnlyStoredActions(t *testing.T) {
	h := start(t, nil)
	s3srv := newFakeS3(t)
	sinkID := h.addSinkOfType("archive", "s3", s3srv.config(`"max_events":3,"flush_after":"1h",`))
	archiveAction := func(eventID string) action.Action {
		a := testAction(h.ruleID, sinkID, eventID)
		a.Sink.Type = "s3"
		h.publish(a, a.DispatchID)
		return a
	}
	first, second := archiveAction("ev-1"), archiveAction("ev-2")

	h.waitFor("two actions held in a batch", func() bool { return h.archived(sinkID) == 2 })
	for _, a := range []action.Action{first, second} {
		if _, err := h.st.AuditByDispatch(context.Background(), a.DispatchID); err == nil {
			t.Errorf("audit row for %s before its object is written", a.Event.ID)
		}
	}
	if n := h.actionsLeft(); n != 2 {
		t.Errorf("%d actions in the stream, want 2: batched actions are not acknowledged", n)
	}

	third := archiveAction("ev-3")
	for _, a := range []action.Action{first, second, third} {
		if rec := h.auditRow(a.DispatchID); rec.Status != store.StatusDelivered || rec.HTTPStatus != 200 || rec.Attempts != 1 {
			t.Errorf("audit %s: status %q, http %d, attempts %d; want delivered, 200, 1", a.Event.ID, rec.Status, rec.HTTPStatus, rec.Attempts)
		}
	}
	h.waitSettled()

	// A batch still open at shutdown is written before the service stops.
	last := archiveAction("ev-4")
	h.waitFor("one action held in a batch", func() bool { return h.archived(sinkID) == 1 })
	h.cancel()
	if err := h.waitRun(); err != nil {
		t.Fatal(err)
	}
	if rec, err := h.st.AuditByDispatch(context.Background(), last.DispatchID); err != nil || rec.Status != store.StatusDelivered {
		t.Errorf("audit of the action batched at shutdown: %+v, %v; want delivered", rec, err)
	}
	lines := 0
	for _, obj := range s3srv.objects(t) {
		lines += len(obj)
	}
	if objects := len(s3srv.objects(t)); objects != 2 || lines != 4 {
		t.Errorf("%d events in %d objects, want 4 in 2", lines, objects)
	}
}

// archived returns how many actions the batcher of sinkID holds unwritten.
func (h *harness) archived(sinkID string) int {
	d, ok := h.svc.sinks.lookup(sinkID)
	if !ok || d.batcher == nil {
		return 0
	}
	a := d.batcher.(*archive)
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, b := range a.open {
		n += len(b.done)
	}
	return n
}

func TestLaterDelay(t *testing.T) {
	s := &Service{cfg: Config{RedeliveryBase: time.Second, RedeliveryCap: time.Minute, RetryAfterCap: 5 * time.Minute}}
	cases := []struct {
		name     string
		delivery int
		out      outcome
		min, max time.Duration
	}{
		{"backoff", 1, outcome{}, 800 * time.Millisecond, 1200 * time.Millisecond},
		{"backoff grows", 3, outcome{}, 3200 * time.Millisecond, 4800 * time.Millisecond},
		{"retry-after longer", 1, outcome{wait: 90 * time.Second}, 90 * time.Second, 90 * time.Second},
		{"retry-after capped", 1, outcome{wait: time.Hour}, 5 * time.Minute, 5 * time.Minute},
		{"retry-after shorter", 3, outcome{wait: time.Second}, 3200 * time.Millisecond, 4800 * time.Millisecond},
		{"rate limited", 5, outcome{deferred: "rate_limited", wait: 300 * time.Millisecond}, 300 * time.Millisecond, 300 * time.Millisecond},
		{"circuit open", 1, outcome{deferred: "circuit_open"}, 800 * time.Millisecond, 1200 * time.Millisecond},
	}
	for _, c := range cases {
		if got := s.laterDelay(c.delivery, c.out); got < c.min || got > c.max {
			t.Errorf("%s: laterDelay = %v, want between %v and %v", c.name, got, c.min, c.max)
		}
	}
}
