package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

const (
	traceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentID    = "00f067aa0ba902b7"
	traceparent = "00-" + traceID + "-" + parentID + "-01"
)

func TestHeaderCarrierWritesLowerCaseAndReadsAnyCase(t *testing.T) {
	h := nats.Header{}
	propagation.TraceContext{}.Inject(remoteContext(t), HeaderCarrier(h))
	if got := h["traceparent"]; len(got) != 1 || got[0] != traceparent {
		t.Errorf("header traceparent = %q, want [%q] under the lower-case key", got, traceparent)
	}

	written := nats.Header{"Traceparent": {traceparent}}
	ctx := propagation.TraceContext{}.Extract(context.Background(), HeaderCarrier(written))
	if got := trace.SpanContextFromContext(ctx).TraceID().String(); got != traceID {
		t.Errorf("trace read from Traceparent = %s, want %s", got, traceID)
	}

	HeaderCarrier(written).Set("TraceParent", "replaced")
	if len(written) != 1 || written.Get("traceparent") != "replaced" {
		t.Errorf("after Set, header = %v, want only traceparent: replaced", written)
	}
}

func TestLoggerAddsTraceAndSpanIDs(t *testing.T) {
	var out bytes.Buffer
	log := NewLogger(&out, "test", slog.LevelInfo)
	log.InfoContext(remoteContext(t), "handled", "event_id", "e1")
	log.Info("no trace")

	dec := json.NewDecoder(&out)
	var traced, untraced map[string]any
	if err := dec.Decode(&traced); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&untraced); err != nil {
		t.Fatal(err)
	}
	if traced["trace_id"] != traceID || traced["span_id"] != parentID || traced["service"] != "test" {
		t.Errorf("line with a span = %v, want trace_id %s, span_id %s, service test", traced, traceID, parentID)
	}
	if _, ok := untraced["trace_id"]; ok {
		t.Errorf("line without a span has a trace_id: %v", untraced)
	}
}

func TestLoggerWritesReadableDurations(t *testing.T) {
	var out bytes.Buffer
	log := NewLogger(&out, "test", slog.LevelInfo)
	log.Info("settings", "ack_wait", 30*time.Second, slog.Group("retry", "delay", 1500*time.Microsecond))

	var line struct {
		AckWait string `json:"ack_wait"`
		Retry   struct {
			Delay string `json:"delay"`
		} `json:"retry"`
	}
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	if line.AckWait != "30s" || line.Retry.Delay != "1.5ms" {
		t.Errorf("durations logged as %q and %q, want 30s and 1.5ms: %s", line.AckWait, line.Retry.Delay, out.String())
	}
}

// TestTracingWithoutExporterGivesIDs checks SetupTracing without OTLP
// configured: spans have ids, a new trace is not sampled, and a sampled
// remote parent's decision is kept.
func TestTracingWithoutExporterGivesIDs(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	shutdown, err := SetupTracing(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	tracer := otel.Tracer("test")

	_, root := tracer.Start(context.Background(), "root")
	if !root.SpanContext().IsValid() || root.SpanContext().IsSampled() || root.IsRecording() {
		t.Errorf("new trace: span context %v, recording %v; want valid ids, not sampled, not recording",
			root.SpanContext(), root.IsRecording())
	}
	_, child := tracer.Start(remoteContext(t), "child")
	if got := child.SpanContext(); got.TraceID().String() != traceID || !got.IsSampled() {
		t.Errorf("child of a sampled remote parent: %v, want trace %s, sampled", got, traceID)
	}
}

func TestAdminServer(t *testing.T) {
	var mu sync.Mutex
	var notReady error
	admin, err := ListenAdmin("127.0.0.1:0", func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		return notReady
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		admin.Serve(ctx, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	checks := []struct {
		path     string
		notReady error
		status   int
	}{
		{"/healthz", nil, http.StatusOK},
		{"/readyz", nil, http.StatusOK},
		{"/readyz", errors.New("not connected to NATS"), http.StatusServiceUnavailable},
		{"/healthz", errors.New("not connected to NATS"), http.StatusOK},
		{"/metrics", nil, http.StatusOK},
	}
	for _, c := range checks {
		mu.Lock()
		notReady = c.notReady
		mu.Unlock()
		resp, err := http.Get("http://" + admin.Addr() + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("GET %s with readiness %v: status %d (%s), want %d", c.path, c.notReady, resp.StatusCode, body, c.status)
		}
	}
}

// BenchmarkSpan compares starting and ending a span with the tracer
// provider SetupTracing installs when nothing is exported against the
// OpenTelemetry default, which does nothing at all; report the ratio.
func BenchmarkSpan(b *testing.B) {
	providers := map[string]trace.TracerProvider{
		"noop":     noop.NewTracerProvider(),
		"ids-only": sdktrace.NewTracerProvider(sdktrace.WithSampler(idsOnly)),
	}
	for name, provider := range providers {
		tracer := provider.Tracer("bench")
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				_, span := tracer.Start(ctx, "span")
				span.End()
			}
		})
	}
}

// remoteContext holds the sampled remote span of traceparent.
func remoteContext(t testing.TB) context.Context {
	t.Helper()
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	if !trace.SpanContextFromContext(ctx).IsValid() {
		t.Fatal("traceparent does not parse")
	}
	return ctx
}
