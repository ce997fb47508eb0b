package dispatcher

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
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
		// The trace goes on: the parent is the request's span, or the
		// caller's where spans are not recorded.
		"trace": {traceOf(got.Header.Get("traceparent")), "0af7651916cd43dd8448eb211c80319c"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	want := `{"dispatch_id":"` + a.DispatchID + `","event":{"specversion":"1.0","id":"ev-1","source":"shop",` +
		`"type":"purchase.completed","time":"2026-03-01T12:00:00Z","datacontenttype":"application/json",` +
		`"data":{"amount":742.5,"user":{"segment":"VIP"}}},"rule":{"id":"rule-1","name":"vip-purchase","version":3}}`
	if diff := cmp.Diff(want, string(body)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// traceOf returns the trace id of a traceparent header value.
func traceOf(traceparent string) string {
	parts := strings.Split(traceparent, "-")
	if len(parts) != 4 {
		return ""
	}
	return parts[1]
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

// Signing secrets of a rotation: the new one and the old one.
const (
	newSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	oldSecret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
)

// verifyStandardWebhook checks a request the way a receiver would, from the
// raw bytes it read: the signature over id.timestamp.body with the secret,
// and a timestamp within five minutes.
func verifyStandardWebhook(t *testing.T, secret string, h http.Header, body []byte) bool {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		t.Errorf("webhook-timestamp %q is not a current unix time", h.Get("webhook-timestamp"))
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

func TestWebhookSignatureVerifiesFromRawBytes(t *testing.T) {
	type got struct {
		header http.Header
		body   []byte
	}
	requests := make(chan got, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		requests <- got{r.Header.Clone(), body}
	}))
	defer srv.Close()

	sink := newTestWebhook(t, `{"url":"`+srv.URL+`","secrets":["`+newSecret+`","`+oldSecret+`"]}`)
	a := testAction("rule-1", "sink-1", "ev-1")
	for attempt := 1; attempt <= 2; attempt++ {
		if _, err := sink.Deliver(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		r := <-requests
		if id := r.header.Get("webhook-id"); id != a.DispatchID {
			t.Errorf("attempt %d: webhook-id %q, want the dispatch id %q on every attempt", attempt, id, a.DispatchID)
		}
		if n := len(strings.Fields(r.header.Get("webhook-signature"))); n != 2 {
			t.Errorf("attempt %d: %d signatures, want one per secret", attempt, n)
		}
		for _, secret := range []string{newSecret, oldSecret} {
			if !verifyStandardWebhook(t, secret, r.header, r.body) {
				t.Errorf("attempt %d: signature does not verify with %s…", attempt, secret[:10])
			}
		}
		tampered := append(append([]byte{}, r.body...), ' ')
		if verifyStandardWebhook(t, newSecret, r.header, tampered) {
			t.Errorf("attempt %d: signature verifies a changed body", attempt)
		}
	}
}

func TestWebhookBodyTemplate(t *testing.T) {
	var header http.Header
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header, body = r.Header.Clone(), nil
		body, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()

	sink := newTestWebhook(t, `{"url":"`+srv.URL+`","secrets":["`+newSecret+`"],"content_type":"text/plain; charset=utf-8",
		"body":"{{.Event.Type}}: {{.Data.user.segment}} spent {{.Data.amount}}"}`)
	if _, err := sink.Deliver(context.Background(), testAction("r", "s", "ev-1")); err != nil {
		t.Fatal(err)
	}
	if string(body) != "purchase.completed: VIP spent 742.5" || header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("got %q as %q, want the rendered template as text/plain", body, header.Get("Content-Type"))
	}
	if !verifyStandardWebhook(t, newSecret, header, body) {
		t.Error("signature does not verify over the rendered body")
	}
}

func TestWebhookTemplateErrorIsFinal(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
	defer srv.Close()

	code, err := newTestWebhook(t, `{"url":"`+srv.URL+`","body":"{{num .Data.user.segment}}"}`).Deliver(context.Background(), testAction("r", "s", "e"))
	if code != 0 || err == nil || retryable(err) || !strings.Contains(err.Error(), "render body") {
		t.Errorf("Deliver = %d, %v; want a final render error", code, err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("endpoint got %d requests, want 0", n)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"-3":                            0,
		"120":                           2 * time.Minute,
		"99999999999":                   24 * time.Hour,
		"soon":                          0,
		"Sun, 01 Mar 2026 12:00:30 GMT": 30 * time.Second,
		"Sun, 01 Mar 2026 11:00:00 GMT": 0,
	}
	for value, want := range cases {
		if got := parseRetryAfter(value, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", value, got, want)
		}
	}
}
