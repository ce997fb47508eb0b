package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/store"
)

func testAction(ruleID, sinkID, eventID string) action.Action {
	ev := event.Event{
		ID:     eventID,
		Source: "shop",
		Type:   "purchase.completed",
		Time:   time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Data:   []byte(`{"amount":742.5,"user":{"segment":"VIP"}}`),
	}
	return action.Action{
		DispatchID: action.DispatchID(ev.Source, ev.ID, ruleID, sinkID),
		Event:      ev,
		Rule:       action.RuleRef{ID: ruleID, Name: "vip-purchase", Version: 3},
		Sink:       action.SinkRef{ID: sinkID, Name: "vip-alerts", Type: "webhook"},
		AcceptedAt: time.Now(),
		MatchedAt:  time.Now(),
	}
}

// loopback is the allow-list of tests: their receivers listen on loopback.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// testClient is the sink client of tests, allowed to reach loopback.
func testClient() *http.Client {
	return NewSinkClient(ClientOptions{IdlePerHost: 2, Allow: loopback})
}

func newTestWebhook(t *testing.T, config string) Sink {
	t.Helper()
	sink, err := NewWebhookFactory(testClient())(store.Sink{ID: "s1", Type: "webhook", Config: json.RawMessage(config)})
	if err != nil {
		t.Fatalf("build webhook: %v", err)
	}
	return sink
}

func TestWebhookRequest(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		body, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	defer otel.SetTextMapPropagator(otel.GetTextMapPropagator())
	otel.SetTextMapPropagator(propagation.TraceContext{})
	traceID, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	spanID, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled,
	}))

	sink := newTestWebhook(t, `{"url":"`+srv.URL+`/hook?token=s3cret","method":"PUT","headers":{"X-Team":"ops"}}`)
	a := testAction("rule-1", "sink-1", "ev-1")
	code, err := sink.Deliver(ctx, a)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("Deliver = %d, %v; want 202, nil", code, err)
	}

	checks := map[string][2]string{
		"method":       {got.Method, http.MethodPut},
		"path":         {got.URL.Path, "/hook"},
		"content-type": {got.Header.Get("Content-Type"), "application/json"},
		"webhook-id":   {got.Header.Get("webhook-id"), a.DispatchID},
		"custom":       {got.Header.Get("X-Team"), "ops"},
		"traceparent":  {got.Header.Get("traceparent"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	want := `{"dispatch_id":"` + a.DispatchID + `","event":{"specversion":"1.0","id":"ev-1","source":"shop",` +
		`"type":"purchase.completed","time":"2026-03-01T12:00:00Z","subject":"","datacontenttype":"application/json",` +
		`"data":{"amount":742.5,"user":{"segment":"VIP"}}},"rule":{"id":"rule-1","name":"vip-purchase","version":3}}`
	if diff := cmp.Diff(want, string(body)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

func TestWebhookClassifiesAnswers(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		wantErr   bool
		retryable bool
	}{
		{"ok", http.StatusOK, false, false},
		{"no content", http.StatusNoContent, false, false},
		{"bad request", http.StatusBadRequest, true, false},
		{"not found", http.StatusNotFound, true, false},
		{"gone", http.StatusGone, true, false},
		{"request timeout", http.StatusRequestTimeout, true, true},
		{"too many requests", http.StatusTooManyRequests, true, true},
		{"internal error", http.StatusInternalServerError, true, true},
		{"unavailable", http.StatusServiceUnavailable, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()

			code, err := newTestWebhook(t, `{"url":"`+srv.URL+`"}`).Deliver(context.Background(), testAction("r", "s", "e"))
			if code != tt.status {
				t.Errorf("code = %d, want %d", code, tt.status)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if err != nil && retryable(err) != tt.retryable {
				t.Errorf("retryable = %v, want %v", retryable(err), tt.retryable)
			}
		})
	}
}

func TestWebhookDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		followed.Add(1)
	}))
	defer target.Close()
	srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	defer srv.Close()

	code, err := newTestWebhook(t, `{"url":"`+srv.URL+`"}`).Deliver(context.Background(), testAction("r", "s", "e"))
	if code != http.StatusTemporaryRedirect || err == nil || retryable(err) {
		t.Errorf("Deliver = %d, %v; want 307 and a final error", code, err)
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("redirect target got %d requests, want 0", n)
	}
}

func TestWebhookErrorsHideURL(t *testing.T) {
	// A port nothing listens on: take one, then free it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	_, err = newTestWebhook(t, `{"url":"http://`+addr+`/hooks/s3cret-token"}`).Deliver(context.Background(), testAction("r", "s", "e"))
	var de *DeliveryError
	if !errors.As(err, &de) || !de.Retryable {
		t.Fatalf("err = %v, want a retryable *DeliveryError", err)
	}
	if strings.Contains(err.Error(), "s3cret-token") {
		t.Errorf("error %q quotes the URL", err)
	}
}

func TestWebhookAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	start := time.Now()
	_, err := newTestWebhook(t, `{"url":"`+srv.URL+`","timeout":"100ms"}`).Deliver(context.Background(), testAction("r", "s", "e"))
	if err == nil || !retryable(err) {
		t.Fatalf("err = %v, want a retryable timeout", err)
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("attempt took %v, want about 100ms", elapsed)
	}
}
