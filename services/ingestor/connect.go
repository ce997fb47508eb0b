package ingestor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/zenith-hq/zenith/pkg/apikey"
	"github.com/zenith-hq/zenith/pkg/event"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/metrics"
)

// MaxBatch is the most events one IngestBatch call may carry.
const MaxBatch = 500

// rpcHandler implements the ConnectRPC IngestorService.
type rpcHandler struct {
	keys     *apikey.Verifier
	limiter  *keyLimiter
	pub      *publisher
	log      *slog.Logger
	nowClock func() time.Time
}

// Ingest accepts one event.
func (h *rpcHandler) Ingest(ctx context.Context, req *connect.Request[zenithv1.IngestRequest]) (*connect.Response[zenithv1.IngestResponse], error) {
	span := trace.SpanFromContext(ctx)
	metrics.EventsReceived.WithLabelValues("rpc").Inc()

	principal, err := h.authenticate(ctx, req, 1)
	if err != nil {
		return nil, err
	}
	if err := h.limit(principal, 1); err != nil {
		return nil, err
	}
	e, err := h.toEvent(req.Msg.GetEvent(), principal)
	if err != nil {
		return nil, h.refuse(principal, 1, "event", err)
	}
	annotate(span, &e)

	result, err := h.pub.publish(ctx, &e)
	if err != nil {
		logNotStored(ctx, h.log, &e, err)
		return nil, notStoredError(err)
	}
	return connect.NewResponse(&zenithv1.IngestResponse{Id: result.ID, Duplicate: result.Duplicate}), nil
}

// IngestBatch validates every event of the batch, then persists each. A
// refused batch counts every event it holds as rejected, so that received
// events are always accepted or rejected ones; an empty batch counts as one.
func (h *rpcHandler) IngestBatch(ctx context.Context, req *connect.Request[zenithv1.IngestBatchRequest]) (*connect.Response[zenithv1.IngestBatchResponse], error) {
	list := req.Msg.GetEvents()
	count := max(len(list), 1)
	metrics.EventsReceived.WithLabelValues("rpc").Add(float64(count))

	principal, err := h.authenticate(ctx, req, count)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 || len(list) > MaxBatch {
		metrics.EventsRejected.WithLabelValues(principal.SourceName, reasonInvalidBatch).Add(float64(count))
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("events: must hold 1 to %d events, not %d", MaxBatch, len(list)))
	}
	if err := h.limit(principal, len(list)); err != nil {
		return nil, err
	}
	events, err := h.toEvents(list, principal)
	if err != nil {
		return nil, err
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("source", principal.SourceName), attribute.Int("event_count", len(events)))

	results, errs := h.pub.publishAll(ctx, events)
	resp := &zenithv1.IngestBatchResponse{Results: make([]*zenithv1.IngestResult, len(events))}
	for i := range events {
		resp.Results[i] = &zenithv1.IngestResult{Id: events[i].ID, Duplicate: results[i].Duplicate}
		if errs[i] != nil {
			logNotStored(ctx, h.log, &events[i], errs[i])
			resp.Results[i].Error = notStoredError(errs[i]).Message()
		}
	}
	return connect.NewResponse(resp), nil
}

// notStoredError is the answer to an event JetStream did not store:
// ResourceExhausted when the stream is full, Unavailable when JetStream
// could not be reached, both with a Retry-After.
func notStoredError(err error) *connect.Error {
	code, public := connect.CodeUnavailable, errUnavailable
	if errors.Is(err, errStreamFull) {
		code, public = connect.CodeResourceExhausted, errStreamFull
	}
	cerr := connect.NewError(code, public)
	cerr.Meta().Set("Retry-After", retryAfter(notStoredWait(err)))
	return cerr
}

// authenticate checks the request's API key; a refusal counts count events
// rejected.
func (h *rpcHandler) authenticate(ctx context.Context, req connect.AnyRequest, count int) (apikey.Principal, error) {
	principal, err := h.keys.Verify(ctx, req.Header().Get(APIKeyHeader))
	if err == nil {
		return principal, nil
	}
	if errors.Is(err, apikey.ErrUnauthenticated) {
		metrics.EventsRejected.WithLabelValues("", "unauthenticated").Add(float64(count))
		return apikey.Principal{}, connect.NewError(connect.CodeUnauthenticated, errors.New(unauthenticatedMessage))
	}
	h.log.ErrorContext(ctx, "verify API key", "err", err)
	metrics.EventsRejected.WithLabelValues("", "unavailable").Add(float64(count))
	return apikey.Principal{}, connect.NewError(connect.CodeUnavailable, errors.New("the API key could not be checked; retry later"))
}

// limit takes n events from the key's rate limit, or refuses the call with
// ResourceExhausted and a Retry-After header.
func (h *rpcHandler) limit(principal apikey.Principal, n int) error {
	wait, ok := h.limiter.take(principal.KeyID, n, h.nowClock())
	if ok {
		return nil
	}
	metrics.EventsRejected.WithLabelValues(principal.SourceName, reasonRateLimited).Add(float64(n))
	err := connect.NewError(connect.CodeResourceExhausted, errors.New(rateLimitedMessage(wait)))
	err.Meta().Set("Retry-After", retryAfter(wait))
	return err
}

// toEvents converts and checks a batch; the first invalid event refuses it.
func (h *rpcHandler) toEvents(list []*zenithv1.Event, principal apikey.Principal) ([]event.Event, error) {
	events := make([]event.Event, len(list))
	for i, pe := range list {
		e, err := h.toEvent(pe, principal)
		if err != nil {
			return nil, h.refuse(principal, len(list), fmt.Sprintf("events[%d]", i), err)
		}
		events[i] = e
	}
	return events, nil
}

// toEvent converts and checks one event.
func (h *rpcHandler) toEvent(pe *zenithv1.Event, principal apikey.Principal) (event.Event, error) {
	e, err := fromProto(pe)
	if err == nil {
		err = complete(&e, principal, h.nowClock())
	}
	return e, err
}

// refuse counts count events rejected for err, the problem of the event at
// path, and returns the answer: InvalidArgument naming path and field, or
// ResourceExhausted for an event too large.
func (h *rpcHandler) refuse(principal apikey.Principal, count int, path string, err error) error {
	reason := rejectReason(err)
	metrics.EventsRejected.WithLabelValues(principal.SourceName, reason).Add(float64(count))
	code := connect.CodeInvalidArgument
	if reason == event.ReasonTooLarge {
		code = connect.CodeResourceExhausted
	}
	return connect.NewError(code, within(path, err))
}

// within names err, a problem of the event at path, by its place in the
// request: event.type or events[2].data.a for a field, path alone for the
// event itself.
func within(path string, err error) error {
	if fe, ok := event.AsFieldError(err); ok && fe.Field == "" {
		return fmt.Errorf("%s: %s", path, fe.Problem)
	}
	return fmt.Errorf("%s.%w", path, err)
}

// fromProto converts a protobuf event and checks its data: data_json as
// sent, a Struct once written as JSON, after structData's check. Errors are
// *event.FieldError values naming a field of the event, or none when the
// event itself is missing.
func fromProto(pe *zenithv1.Event) (event.Event, error) {
	if pe == nil {
		return event.Event{}, &event.FieldError{Problem: "is required", Code: reasonInvalidBody}
	}
	e := event.Event{ID: pe.GetId(), Source: pe.GetSource(), Type: pe.GetType(), Subject: pe.GetSubject()}
	if pe.GetTime() != nil {
		e.Time = pe.GetTime().AsTime()
	}
	switch payload := pe.GetPayload().(type) {
	case *zenithv1.Event_DataJson:
		e.Data = payload.DataJson
	case *zenithv1.Event_Data:
		if err := structData.Check(payload.Data); err != nil {
			return event.Event{}, err
		}
		data, err := protojson.Marshal(payload.Data)
		if err != nil {
			return event.Event{}, &event.FieldError{Field: "data", Problem: "cannot be written as JSON"}
		}
		e.Data = data
	default:
		return event.Event{}, &event.FieldError{Field: "data", Problem: "is required"}
	}
	return e, event.ValidateData(e.Data)
}
