package telemetry

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// SetupTracing installs the W3C trace-context propagator and a tracer
// provider for service.
//
// When the environment configures an OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and
// OTEL_TRACES_EXPORTER is not "none", spans are exported there, sampled as
// OTEL_TRACES_SAMPLER says (every trace by default).
//
// Otherwise nothing is exported and no span is recorded, but every span
// still gets its ids: log lines carry a trace id, producers get it back,
// and the trace context still travels from tier to tier. A trace the
// producer marked sampled stays marked for the sinks downstream. That costs
// about 0.4µs a span (BenchmarkSpan). OTEL_SDK_DISABLED=true removes even
// that: spans are then the OpenTelemetry API's no-ops, and only a trace
// context the producer sent is carried on.
//
// The returned function flushes and stops the exporter.
func SetupTracing(ctx context.Context, service string) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}))

	if os.Getenv("OTEL_SDK_DISABLED") == "true" {
		return func(context.Context) error { return nil }, nil
	}
	if !exportConfigured() {
		provider := sdktrace.NewTracerProvider(sdktrace.WithSampler(idsOnly))
		otel.SetTracerProvider(provider)
		return provider.Shutdown, nil
	}
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("create OTLP trace exporter: %w", err)
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the defaults.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(service)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("describe the service for tracing: %w", err)
	}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(res),
	)
	otel.SetTracerProvider(provider)
	return provider.Shutdown, nil
}

// idsOnly samples nothing of its own accord: spans get ids but are not
// recorded. It keeps the decision of a parent, so that a producer's sampled
// trace reaches the sinks still marked sampled; those spans are recorded,
// then dropped, as no processor takes them.
var idsOnly = sdktrace.ParentBased(sdktrace.NeverSample())

func exportConfigured() bool {
	if os.Getenv("OTEL_TRACES_EXPORTER") == "none" {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// EndSpan ends span, marking it failed when err is not nil.
func EndSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// HeaderCarrier lets the OpenTelemetry propagator read and write trace
// context in NATS message headers. Keys are written in lower case
// (traceparent, tracestate), as W3C trace context names them, and read
// whatever their case: nats.Header lookups are case-sensitive, and a
// producer publishing straight to NATS may have written Traceparent.
type HeaderCarrier nats.Header

// Get returns the first value of key, matched without regard to case.
func (c HeaderCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	for k, v := range c {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

// Set replaces the values of key, written in lower case.
func (c HeaderCarrier) Set(key, value string) {
	key = strings.ToLower(key)
	for k := range c {
		if k != key && strings.EqualFold(k, key) {
			delete(c, k)
		}
	}
	c[key] = []string{value}
}

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes the trace context of ctx into h.
func Inject(ctx context.Context, h nats.Header) {
	otel.GetTextMapPropagator().Inject(ctx, HeaderCarrier(h))
}

// Extract returns ctx with the trace context carried by h.
func Extract(ctx context.Context, h nats.Header) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, HeaderCarrier(h))
}
