package ingestor

import (
	"net/http"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/zenith-hq/zenith/pkg/metrics"
)

// TraceIDHeader is the answer header that tells a producer the id of the
// trace its request started or continued: the key to the request's log
// lines in every tier, and to its trace.
const TraceIDHeader = "X-Trace-Id"

// tracer records the ingestor's spans.
var tracer = otel.Tracer("github.com/zenith-hq/zenith/services/ingestor")

// traced serves each request inside the ingestor.gateway.handle span,
// which continues the trace of the producer's traceparent and tracestate
// headers (HTTP, or gRPC metadata), and answers with TraceIDHeader. It also
// times the request and counts it in the ingestor's queue depth.
//
// One middleware serves REST and ConnectRPC alike. otelconnect would add a
// second server span for the RPCs only, and by default starts a new trace
// instead of continuing the producer's.
func traced(next http.Handler) http.Handler {
	inFlight := metrics.WorkerQueueDepth.WithLabelValues(metrics.TierIngestor)
	duration := metrics.ProcessingDuration.WithLabelValues(metrics.TierIngestor)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		inFlight.Inc()
		defer func() {
			inFlight.Dec()
			duration.Observe(time.Since(start).Seconds())
		}()

		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, "ingestor.gateway.handle",
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.URLPath(r.URL.Path)))
		defer span.End()
		if sc := span.SpanContext(); sc.HasTraceID() {
			w.Header().Set(TraceIDHeader, sc.TraceID().String())
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
