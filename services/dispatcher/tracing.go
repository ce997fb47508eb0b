package dispatcher

import (
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// tracingTransport makes each request to a sink a CLIENT span and sends its
// trace context along (the W3C traceparent and tracestate headers), so
// that the receiver can continue the trace. It wraps every request of the
// sinks' shared client: webhooks, Slack, Discord and S3.
//
// The span records the method, host and port, never the URL: a sink's URL
// may hold a token in its path or query (Slack and Discord webhook URLs
// do), which is also why otelhttp, which records the full URL, is not
// used. The span ends when the answer's headers arrive.
type tracingTransport struct {
	next http.RoundTripper
}

func (t tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := tracer.Start(req.Context(), req.Method,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(req.Method),
			semconv.URLScheme(req.URL.Scheme),
			semconv.ServerAddress(req.URL.Hostname()),
		))
	defer span.End()
	if port, err := strconv.Atoi(req.URL.Port()); err == nil {
		span.SetAttributes(semconv.ServerPort(port))
	}

	// A RoundTripper must not change the request it is given.
	req = req.Clone(ctx)
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		span.SetStatus(codes.Error, "no answer")
		return nil, err
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetStatus(codes.Error, strconv.Itoa(resp.StatusCode))
	}
	return resp, nil
}
