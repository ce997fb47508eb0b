package telemetry

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/metrics"
)

// Hop is one JetStream leg of an event's way through Zenith, as the spans
// of OpenTelemetry's messaging conventions name it.
type Hop struct {
	// Template is the subject with its variable parts named. Spans are
	// named after it rather than after the subject itself, which holds
	// source names, event types or sink types.
	Template string
}

// The hops: ingestor to rule-engine, rule-engine to dispatcher, dispatcher
// to the dead-letter stream.
var (
	EventsHop     = Hop{Template: "zenith.events.{source}.{type}"}
	ActionsHop    = Hop{Template: "zenith.actions.{sink_type}"}
	DeadLetterHop = Hop{Template: "zenith.dlq.{sink_type}"}
)

// messagingSystem is the messaging.system of every Zenith hop. NATS is not
// one of the conventions' well-known values; custom values are allowed.
var messagingSystem = semconv.MessagingSystemKey.String("nats")

// StartSend starts the span of publishing msg on hop, a PRODUCER span
// named "send <template>", and writes its trace context into msg's headers:
// that span is the message's creation context, which the consumer's span
// continues. msgID is the message's JetStream id (Nats-Msg-Id). The caller
// ends the span once JetStream has acknowledged or refused the message (see
// EndSpan).
func StartSend(ctx context.Context, tracer trace.Tracer, hop Hop, msg *nats.Msg, msgID string) (context.Context, trace.Span) {
	ctx, span := tracer.Start(ctx, "send "+hop.Template,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			messagingSystem,
			semconv.MessagingOperationName("send"),
			semconv.MessagingOperationTypeSend,
			semconv.MessagingDestinationName(msg.Subject),
			semconv.MessagingDestinationTemplate(hop.Template),
			semconv.MessagingMessageID(msgID),
		))
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	Inject(ctx, msg.Header)
	return ctx, span
}

// StartProcess starts the span of handling msg, delivered on hop to the
// durable consumer, a CONSUMER span named "process <template>". The
// conventions let a consumer that handles one message at a time make the
// message's creation context its parent: Zenith does, so that one trace
// runs from the producer's request to the sink, and it also links to that
// context, as the conventions ask of every process span. A message without
// trace context starts a new trace.
func StartProcess(ctx context.Context, tracer trace.Tracer, hop Hop, consumer string, msg jetstream.Msg) (context.Context, trace.Span) {
	ctx = Extract(ctx, msg.Headers())
	attrs := []attribute.KeyValue{
		messagingSystem,
		semconv.MessagingOperationName("process"),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingDestinationName(msg.Subject()),
		semconv.MessagingDestinationTemplate(hop.Template),
		semconv.MessagingConsumerGroupName(consumer),
	}
	if id := HeaderCarrier(msg.Headers()).Get(jetstream.MsgIDHeader); id != "" {
		attrs = append(attrs, semconv.MessagingMessageID(id))
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...)}
	if created := trace.SpanContextFromContext(ctx); created.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: created}))
	}
	return tracer.Start(ctx, "process "+hop.Template, opts...)
}

// CountRedelivery counts msg in metrics.Redeliveries of tier if JetStream
// delivered it before.
func CountRedelivery(tier string, meta *jetstream.MsgMetadata) {
	if meta != nil && meta.NumDelivered > 1 {
		metrics.Redeliveries.WithLabelValues(tier).Inc()
	}
}

// PollInterval is how often the services read their JetStream gauges:
// often enough for a dashboard, rarely enough to cost the server nothing.
const PollInterval = 5 * time.Second

// WatchConsumer keeps the consumer gauges of tier (lag, messages awaiting
// acknowledgement, messages redelivered) up to date, reading the
// consumer's info at once and then every interval, until ctx ends. A read
// that fails leaves the gauges as they were; the next one corrects them.
func WatchConsumer(ctx context.Context, consumer jetstream.Consumer, tier string, every time.Duration) {
	poll(ctx, every, func(ctx context.Context) {
		info, err := consumer.Info(ctx)
		if err != nil {
			return
		}
		metrics.ConsumerPending.WithLabelValues(tier).Set(float64(info.NumPending))
		metrics.ConsumerAckPending.WithLabelValues(tier).Set(float64(info.NumAckPending))
		metrics.ConsumerRedelivered.WithLabelValues(tier).Set(float64(info.NumRedelivered))
	})
}

// WatchDeadLetters keeps metrics.DeadLetterMessages up to date, reading the
// dead-letter stream's info at once and then every interval, until ctx
// ends.
func WatchDeadLetters(ctx context.Context, js jetstream.JetStream, every time.Duration) {
	poll(ctx, every, func(ctx context.Context) {
		stream, err := js.Stream(ctx, bus.DeadLetterStream)
		if err != nil {
			return
		}
		metrics.DeadLetterMessages.Set(float64(stream.CachedInfo().State.Msgs))
	})
}

// poll calls read at once and then every interval until ctx ends, each
// call bounded by the interval.
func poll(ctx context.Context, every time.Duration, read func(ctx context.Context)) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		readCtx, cancel := context.WithTimeout(ctx, every)
		read(readCtx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
