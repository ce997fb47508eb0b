package ingestor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/zenith-hq/zenith/pkg/apikey"
	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/metrics"
)

// APIKeyHeader carries a producer's API key.
const APIKeyHeader = "X-Api-Key"

// errorBody is the JSON body of every REST error answer.
type errorBody struct {
	// Error is a stable code: invalid_argument, unauthenticated,
	// too_large, unsupported_encoding, unsupported_media_type,
	// rate_limited, resource_exhausted, unavailable, method_not_allowed.
	Error string `json:"error"`
	// Field names the bad field of an invalid_argument answer.
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	// retryAfter, when set, is sent as the Retry-After header: how long
	// the producer should wait before trying again.
	retryAfter time.Duration
}

// unauthenticatedMessage is the one answer to every key that does not
// verify, whatever the reason, so the answer tells an attacker nothing.
const unauthenticatedMessage = "a valid API key is required in the X-Api-Key header"

// restHandler serves POST /v1/events.
type restHandler struct {
	keys    *apikey.Verifier
	limiter *keyLimiter
	pub     *publisher
	// maxBody bounds the body as sent, maxDecompressed once decompressed.
	maxBody, maxDecompressed int64
	log                      *slog.Logger
	nowClock                 func() time.Time
}

func (h *restHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	span := trace.SpanFromContext(ctx)
	metrics.EventsReceived.WithLabelValues("http").Inc()

	status, body := h.handle(ctx, span, w, r)
	if eb, ok := body.(errorBody); ok {
		if status >= 500 {
			span.SetStatus(codes.Error, eb.Message)
		}
		if eb.retryAfter > 0 {
			w.Header().Set("Retry-After", retryAfter(eb.retryAfter))
		}
	}
	writeJSON(w, status, body)
}

// handle authenticates, validates and persists the request's event, and
// returns the answer's status and body.
func (h *restHandler) handle(ctx context.Context, span trace.Span, w http.ResponseWriter, r *http.Request) (int, any) {
	principal, err := h.keys.Verify(ctx, r.Header.Get(APIKeyHeader))
	if err != nil {
		return h.authFailure(ctx, err)
	}

	now := h.nowClock()
	if wait, ok := h.limiter.take(principal.KeyID, 1, now); !ok {
		metrics.EventsRejected.WithLabelValues(principal.SourceName, reasonRateLimited).Inc()
		w.Header().Set("Retry-After", retryAfter(wait))
		return http.StatusTooManyRequests, errorBody{Error: reasonRateLimited, Message: rateLimitedMessage(wait)}
	}

	e, err := h.readEvent(w, r)
	if err == nil {
		err = complete(&e, principal, now)
	}
	if err != nil {
		return h.refuse(principal.SourceName, err)
	}
	annotate(span, &e)

	result, err := h.pub.publish(ctx, &e)
	if err != nil {
		return h.notStored(ctx, &e, err)
	}
	return http.StatusAccepted, result
}

// notStored answers a request whose event JetStream did not store: 429 when
// the stream is full, 503 when JetStream could not be reached; both ask the
// producer to retry later.
func (h *restHandler) notStored(ctx context.Context, e *event.Event, err error) (int, any) {
	logNotStored(ctx, h.log, e, err)
	if errors.Is(err, errStreamFull) {
		return http.StatusTooManyRequests, errorBody{Error: "resource_exhausted", Message: errStreamFull.Error(), retryAfter: retryAfterFull}
	}
	return http.StatusServiceUnavailable, errorBody{Error: "unavailable", Message: errUnavailable.Error(), retryAfter: retryAfterUnavailable}
}

func (h *restHandler) authFailure(ctx context.Context, err error) (int, any) {
	if errors.Is(err, apikey.ErrUnauthenticated) {
		metrics.EventsRejected.WithLabelValues("", "unauthenticated").Inc()
		return http.StatusUnauthorized, errorBody{Error: "unauthenticated", Message: unauthenticatedMessage}
	}
	h.log.ErrorContext(ctx, "verify API key", "err", err)
	metrics.EventsRejected.WithLabelValues("", "unavailable").Inc()
	return http.StatusServiceUnavailable, errorBody{Error: "unavailable", Message: "the API key could not be checked; retry later", retryAfter: retryAfterUnavailable}
}

// refuse answers a request whose event is invalid or too large. The body
// names the field and the problem; the metric counts the reason.
func (h *restHandler) refuse(source string, err error) (int, any) {
	fe, ok := event.AsFieldError(err)
	if !ok {
		fe = &event.FieldError{Field: "body", Problem: err.Error()}
	}
	reason := fe.Reason()
	metrics.EventsRejected.WithLabelValues(source, reason).Inc()
	switch reason {
	case event.ReasonTooLarge:
		return http.StatusRequestEntityTooLarge, errorBody{Error: "too_large", Field: fe.Field, Message: fe.Error()}
	case reasonUnsupportedEncoding, reasonUnsupportedMedia:
		return http.StatusUnsupportedMediaType, errorBody{Error: reason, Field: fe.Field, Message: fe.Error()}
	}
	return http.StatusBadRequest, errorBody{Error: "invalid_argument", Field: fe.Field, Message: fe.Error()}
}

// readEvent reads the request body as one event in the CloudEvents JSON
// format, in one pass over the body.
func (h *restHandler) readEvent(w http.ResponseWriter, r *http.Request) (event.Event, error) {
	if err := checkMediaType(r); err != nil {
		return event.Event{}, err
	}
	body, err := readBody(w, r, h.maxBody, h.maxDecompressed)
	if err != nil {
		return event.Event{}, err
	}
	return event.ParseJSON(body)
}

// methodNotAllowed answers a request to /v1/events with another method
// than POST, in the JSON of every other REST error. It counts nothing: no
// event was sent.
func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method_not_allowed",
		Message: fmt.Sprintf("method %s is not allowed: send events with POST", r.Method)})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
