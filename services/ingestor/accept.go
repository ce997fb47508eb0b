package ingestor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/zenith-hq/zenith/pkg/apikey"
	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/telemetry"
)

// errUnavailable means an event could not be persisted because JetStream
// could not be reached or did not answer in time; the producer should retry
// it later with the same id.
var errUnavailable = errors.New("the event could not be stored; retry later with the same id")

// errStreamFull means JetStream had no room for the event: the pipeline is
// behind and its stream reached its limits. The producer should slow down
// and retry later with the same id.
var errStreamFull = errors.New("the pipeline is full and could not store the event; retry later with the same id")

// How long a producer is asked to wait (Retry-After) before retrying an
// event that was not stored: NATS reconnects within about a second, while a
// full stream needs the consumers to catch up.
const (
	retryAfterUnavailable = time.Second
	retryAfterFull        = 5 * time.Second
)

// notStored wraps the error of a publish in errStreamFull or errUnavailable.
func notStored(err error) error {
	if bus.IsStreamFull(err) {
		return fmt.Errorf("%w: %w", errStreamFull, err)
	}
	return fmt.Errorf("%w: %w", errUnavailable, err)
}

// notStoredWait is how long a producer should wait before retrying an
// event that was not stored because of err.
func notStoredWait(err error) time.Duration {
	if errors.Is(err, errStreamFull) {
		return retryAfterFull
	}
	return retryAfterUnavailable
}

// accepted is the outcome of persisting one event.
type accepted struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
}

// publisher persists events in JetStream.
type publisher struct {
	js      jetstream.JetStream
	timeout time.Duration
	log     *slog.Logger
}

// complete fills in what the producer may leave out and checks the
// event's attributes on behalf of principal: the source comes from the key,
// and a source the producer names must be the key's. The caller has checked
// the data (ParseJSON or fromProto did), so it is not read again.
func complete(e *event.Event, principal apikey.Principal, now time.Time) error {
	if e.Source == "" {
		e.Source = principal.SourceName
	} else if e.Source != principal.SourceName {
		return &event.FieldError{Field: "source", Problem: fmt.Sprintf("must be %q, the source of the API key, or left out", principal.SourceName)}
	}
	if e.ID == "" {
		e.ID = event.NewID()
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	return e.ValidateAttributes()
}

// msgID is the JetStream deduplication id of an event: ids are the
// producer's, so they are unique only within a source.
func msgID(e *event.Event) string {
	return e.Source + ":" + e.ID
}

// message builds the NATS message of e and starts the span of its
// publication, whose trace context the message carries on. The caller ends
// the span.
func message(ctx context.Context, e *event.Event) (*nats.Msg, trace.Span) {
	msg := &nats.Msg{Subject: bus.EventSubject(e.Source, e.Type), Header: e.Header(), Data: e.Data}
	_, span := telemetry.StartSend(ctx, tracer, telemetry.EventsHop, msg, msgID(e))
	return msg, span
}

// publish persists one event and waits for JetStream's acknowledgement.
func (p *publisher) publish(ctx context.Context, e *event.Event) (result accepted, err error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	msg, span := message(ctx, e)
	defer func() { telemetry.EndSpan(span, err) }()

	ack, err := p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID(e)))
	if err != nil {
		return accepted{}, notStored(err)
	}
	return p.stored(ctx, e, ack), nil
}

// stored counts and logs an event JetStream acknowledged, a resent one
// (duplicate) included.
func (p *publisher) stored(ctx context.Context, e *event.Event, ack *jetstream.PubAck) accepted {
	metrics.EventsAccepted.WithLabelValues(e.Source).Inc()
	p.log.DebugContext(ctx, "event accepted", "source", e.Source, "event_id", e.ID, "event_type", e.Type,
		"stream_sequence", ack.Sequence, "duplicate", ack.Duplicate)
	return accepted{ID: e.ID, Duplicate: ack.Duplicate}
}

// publishAll persists events concurrently and returns one outcome or error
// per event, in order.
func (p *publisher) publishAll(ctx context.Context, events []event.Event) ([]accepted, []error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()

	futures := make([]jetstream.PubAckFuture, len(events))
	spans := make([]trace.Span, len(events))
	errs := make([]error, len(events))
	for i := range events {
		e := &events[i]
		var msg *nats.Msg
		msg, spans[i] = message(ctx, e)
		futures[i], errs[i] = p.js.PublishMsgAsync(msg, jetstream.WithMsgID(msgID(e)))
	}

	results := make([]accepted, len(events))
	for i, future := range futures {
		if errs[i] != nil {
			errs[i] = notStored(errs[i])
		} else {
			results[i], errs[i] = p.await(ctx, &events[i], future)
		}
		telemetry.EndSpan(spans[i], errs[i])
	}
	return results, errs
}

func (p *publisher) await(ctx context.Context, e *event.Event, future jetstream.PubAckFuture) (accepted, error) {
	select {
	case ack := <-future.Ok():
		return p.stored(ctx, e, ack), nil
	case err := <-future.Err():
		return accepted{}, notStored(err)
	case <-ctx.Done():
		return accepted{}, fmt.Errorf("%w: %w", errUnavailable, ctx.Err())
	}
}

// logNotStored logs and counts an event JetStream did not store.
func logNotStored(ctx context.Context, log *slog.Logger, e *event.Event, err error) {
	log.WarnContext(ctx, "event not stored", "source", e.Source, "event_id", e.ID, "err", err)
	metrics.EventsRejected.WithLabelValues(e.Source, rejectReason(err)).Inc()
}

// annotate records an event's identity on the request's span.
func annotate(span trace.Span, e *event.Event) {
	span.SetAttributes(
		attribute.String("event_id", e.ID),
		attribute.String("source", e.Source),
		attribute.String("event_type", e.Type),
	)
}

// rejectReason is the metrics label for why an event was refused.
func rejectReason(err error) string {
	if fe, ok := event.AsFieldError(err); ok {
		return fe.Reason()
	}
	if errors.Is(err, errStreamFull) {
		return "stream_full"
	}
	if errors.Is(err, errUnavailable) {
		return "unavailable"
	}
	return "internal"
}
