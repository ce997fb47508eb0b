package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zenith-hq/zenith/pkg/store"
)

// storeSink is a stored sink of sinkType with config.
func storeSink(sinkType, config string) store.Sink {
	return store.Sink{ID: uuid.NewString(), Name: "test-" + sinkType, Type: sinkType, Config: json.RawMessage(config)}
}

// sinkKind describes an HTTP sink kind to the shared suite: how to configure
// it for an endpoint, and how to check a request it made for the VIP
// purchase.
type sinkKind struct {
	sinkType string
	// config returns the settings of a sink posting to url.
	config func(url string) string
	// check checks the request the sink made for the VIP purchase.
	check func(t *testing.T, r *http.Request, body []byte)
	// okBody is what the destination answers on success.
	okBody string
}

// httpSinkKinds are every HTTP sink kind the suite runs against.
var httpSinkKinds = []sinkKind{
	{
		sinkType: "webhook",
		config:   func(url string) string { return `{"url":"` + url + `"}` },
		check: func(t *testing.T, r *http.Request, body []byte) {
			var got webhookBody
			if err := json.Unmarshal(body, &got); err != nil || got.Event.Type != "purchase.completed" {
				t.Errorf("webhook body %s (%v), want the envelope of the purchase", body, err)
			}
		},
	},
	{
		sinkType: "slack",
		config:   func(url string) string { return `{"webhook_url":"` + url + `"}` },
		check:    checkSlackBody,
		okBody:   "ok",
	},
	{
		sinkType: "slack",
		config: func(url string) string {
			return `{"token":"xoxb-test-token","channel":"C42","api_url":"` + url + `"}`
		},
		check: func(t *testing.T, r *http.Request, body []byte) {
			if r.URL.Path != "/hook/chat.postMessage" || r.Header.Get("Authorization") != "Bearer xoxb-test-token" {
				t.Errorf("bot request to %s with %q, want chat.postMessage with the bearer token", r.URL.Path, r.Header.Get("Authorization"))
			}
			checkSlackBody(t, r, body)
		},
		okBody: `{"ok":true}`,
	},
	{
		sinkType: "discord",
		config:   func(url string) string { return `{"webhook_url":"` + url + `"}` },
		check: func(t *testing.T, r *http.Request, body []byte) {
			var got discordPayload
			if err := json.Unmarshal(body, &got); err != nil || len(got.Embeds) != 1 {
				t.Errorf("discord body %s (%v), want one embed", body, err)
			}
		},
	},
}

func checkSlackBody(t *testing.T, _ *http.Request, body []byte) {
	var got slackPayload
	if err := json.Unmarshal(body, &got); err != nil || len(got.Attachments) != 1 || got.Text == "" {
		t.Errorf("slack body %s (%v), want a message with one attachment", body, err)
	}
}

// TestHTTPSinkContract runs the same checks against every HTTP sink kind:
// what every sink must do, whatever it sends.
func TestHTTPSinkContract(t *testing.T) {
	for _, kind := range httpSinkKinds {
		t.Run(kind.sinkType, func(t *testing.T) {
			t.Run("delivers", func(t *testing.T) { testDelivers(t, kind) })
			t.Run("classifies answers", func(t *testing.T) { testClassifies(t, kind) })
			t.Run("hides its url", func(t *testing.T) { testHidesURL(t, kind) })
			t.Run("concurrent use", func(t *testing.T) { testConcurrent(t, kind) })
		})
	}
}

func buildSink(t *testing.T, kind sinkKind, url string) Sink {
	t.Helper()
	registry := NewRegistry(testClient(), 100)
	sink, err := registry.Sinks[kind.sinkType](storeSink(kind.sinkType, kind.config(url)))
	if err != nil {
		t.Fatalf("build %s sink: %v", kind.sinkType, err)
	}
	return sink
}

func testDelivers(t *testing.T, kind sinkKind) {
	var mu sync.Mutex
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		requests++
		mu.Unlock()
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s with %q, want a JSON POST", r.Method, r.URL, r.Header.Get("Content-Type"))
		}
		kind.check(t, r, body)
		_, _ = io.WriteString(w, kind.okBody)
	}))
	defer srv.Close()

	code, err := buildSink(t, kind, srv.URL+"/hook").Deliver(context.Background(), testAction("r", "s", "ev-1"))
	if err != nil || code != http.StatusOK {
		t.Errorf("Deliver = %d, %v; want 200, nil", code, err)
	}
	if requests != 1 {
		t.Errorf("destination got %d requests, want 1", requests)
	}
}

func testClassifies(t *testing.T, kind sinkKind) {
	cases := []struct {
		status     int
		retryAfter string
		retryable  bool
		wait       time.Duration
	}{
		{http.StatusBadRequest, "", false, 0},
		{http.StatusNotFound, "", false, 0},
		{http.StatusFound, "", false, 0},
		{http.StatusServiceUnavailable, "", true, 0},
		{http.StatusInternalServerError, "", true, 0},
		{http.StatusRequestTimeout, "", true, 0},
		{http.StatusTooManyRequests, "7", true, 7 * time.Second},
	}
	for _, c := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if c.retryAfter != "" {
				w.Header().Set("Retry-After", c.retryAfter)
			}
			w.WriteHeader(c.status)
		}))
		code, err := buildSink(t, kind, srv.URL+"/hook").Deliver(context.Background(), testAction("r", "s", "ev-1"))
		srv.Close()
		var de *DeliveryError
		if code != c.status || !errors.As(err, &de) {
			t.Errorf("answer %d: Deliver = %d, %v; want %d and a *DeliveryError", c.status, code, err, c.status)
			continue
		}
		if de.Retryable != c.retryable || de.RetryAfter != c.wait || de.Code != c.status {
			t.Errorf("answer %d: retryable %v, retry after %v, code %d; want %v, %v, %d",
				c.status, de.Retryable, de.RetryAfter, de.Code, c.retryable, c.wait, c.status)
		}
	}
}

func testHidesURL(t *testing.T, kind sinkKind) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	_, err = buildSink(t, kind, "http://"+addr+"/hooks/s3cret-token").Deliver(context.Background(), testAction("r", "s", "ev-1"))
	if err == nil || !retryable(err) {
		t.Fatalf("Deliver to a closed port = %v, want a retryable error", err)
	}
	if strings.Contains(err.Error(), "s3cret-token") {
		t.Errorf("error %q quotes the URL", err)
	}
}

func testConcurrent(t *testing.T, kind sinkKind) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, kind.okBody)
	}))
	defer srv.Close()
	sink := buildSink(t, kind, srv.URL+"/hook")

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			if _, err := sink.Deliver(context.Background(), testAction("r", "s", "ev-"+string(rune('a'+i)))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Deliver: %v", err)
	}
}
