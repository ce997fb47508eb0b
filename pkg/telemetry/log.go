// Package telemetry sets up what every Zenith service reports about itself:
// structured JSON logs carrying the trace id, OpenTelemetry tracing exported
// over OTLP when the standard OTEL_* variables ask for it, trace context
// carried in NATS headers, and the admin HTTP server with /metrics, /healthz
// and /readyz.
package telemetry

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// NewLogger returns a JSON logger for service that adds trace_id and span_id
// to every line logged with a context holding a span.
func NewLogger(w io.Writer, service string, level slog.Level) *slog.Logger {
	json := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: readableDuration})
	return slog.New(traceHandler{json}).With("service", service)
}

// readableDuration writes a duration as people and the settings write it
// ("30s", "1.5ms") rather than as a count of nanoseconds.
func readableDuration(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// traceHandler adds the span of a record's context to the record.
type traceHandler struct {
	slog.Handler
}

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(
			slog.String("trace_id", sc.TraceID().String()),
			slog.String("span_id", sc.SpanID().String()),
		)
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
