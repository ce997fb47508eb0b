package ruleengine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/rules"
	"github.com/zenith-hq/zenith/pkg/telemetry"
)

// reasonWrongSubject is the reason of an event published on another
// subject than its source's and type's.
const reasonWrongSubject = "wrong_subject"

// tracer records the rule-engine's spans.
var tracer = otel.Tracer("github.com/zenith-hq/zenith/services/rule-engine")

// handle evaluates one event message: it terminates a malformed one,
// publishes an action for each sink of each matched rule, and acknowledges
// the event only once JetStream stored all of them. When it could not, it
// asks for the event again later, and dead-letters it once MaxDeliver
// deliveries failed. It does so inside a process span continuing the trace
// the message carries.
func (s *Service) handle(ctx context.Context, msg jetstream.Msg) {
	defer observeSince(time.Now())
	ctx, span := telemetry.StartProcess(ctx, tracer, telemetry.EventsHop, ConsumerName, msg)
	defer span.End()

	ev, meta, err := decode(msg)
	if err != nil {
		span.SetStatus(codes.Error, "malformed event")
		s.terminate(ctx, msg, err)
		return
	}
	telemetry.CountRedelivery(metrics.TierRuleEngine, meta)
	if meta.NumDelivered > uint64(s.cfg.MaxDeliver) {
		span.SetStatus(codes.Error, "event never settled")
		s.deadLetter(ctx, msg, ev, meta, fmt.Errorf("%w: delivered %d times", errNotSettled, meta.NumDelivered))
		return
	}

	_, evaluation := tracer.Start(ctx, "engine.evaluate_rules",
		trace.WithAttributes(attribute.String("source", ev.Source)))
	matched, total, err := s.evaluateGuarded(ctx, ev)
	evaluation.SetAttributes(attribute.Int("total_rules", total), attribute.Int("matched_count", len(matched)))
	telemetry.EndSpan(evaluation, err)
	if errors.Is(err, errEvaluationPanicked) {
		span.SetStatus(codes.Error, "evaluation panicked")
		s.retry(ctx, msg, ev, meta, err)
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, "event not evaluable")
		s.terminate(ctx, msg, err)
		return
	}

	actions := actionsFor(ev, matched, meta.Timestamp, time.Now())
	if err := s.publish(ctx, actions); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "actions not stored")
		s.retry(ctx, msg, ev, meta, err)
		return
	}
	s.ack(ctx, msg, ev, len(actions))
}

// decode reads the event in msg and checks that it arrived on the subject of
// its own source and type. Problems with the event are *event.FieldError.
func decode(msg jetstream.Msg) (event.Event, *jetstream.MsgMetadata, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return event.Event{}, nil, fmt.Errorf("read message metadata: %w", err)
	}
	ev, err := event.FromNATS(msg.Headers(), msg.Data())
	if err != nil {
		return event.Event{}, nil, err
	}
	source, eventType, ok := bus.SourceFromEventSubject(msg.Subject())
	if !ok || source != ev.Source || eventType != ev.Type {
		return event.Event{}, nil, &event.FieldError{Field: "NATS subject", Code: reasonWrongSubject,
			Problem: fmt.Sprintf("%s is not the subject of source %s and type %s", msg.Subject(), ev.Source, ev.Type)}
	}
	return ev, meta, nil
}

// evaluate matches ev against its source's rules. It returns the matched
// rules and the number of rules the source has.
func (s *Service) evaluate(ev event.Event) ([]*rules.Rule, int, error) {
	set := s.rules.forSource(ev.Source)
	if set == nil {
		metrics.RulesEvaluated.WithLabelValues(sourceWithoutRules).Inc()
		return nil, 0, nil
	}
	metrics.RulesEvaluated.WithLabelValues(ev.Source).Inc()

	start := time.Now()
	matched, err := set.Match(ev.Type, ev.Data, nil)
	metrics.RuleEvaluationDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		// FromNATS already checked that data is a JSON object.
		return nil, set.Len(), &event.FieldError{Field: "data", Problem: err.Error()}
	}
	metrics.RulesMatched.WithLabelValues(ev.Source).Add(float64(len(matched)))
	return matched, set.Len(), nil
}

// sourceWithoutRules is the source label of an event whose source has no
// rules loaded, which may be one a client with access to NATS made up, so
// that the label's values stay the sources rules were written for.
const sourceWithoutRules = "no_rules"

// actionsFor returns one action for each sink of each matched rule, in the
// rules' priority order.
func actionsFor(ev event.Event, matched []*rules.Rule, acceptedAt, matchedAt time.Time) []action.Action {
	var list []action.Action
	for _, r := range matched {
		for _, sink := range r.Sinks {
			list = append(list, action.Action{
				DispatchID: action.DispatchID(ev.Source, ev.ID, r.ID, sink.ID),
				Event:      ev,
				Rule:       action.RuleRef{ID: r.ID, Name: r.Name, Version: r.Version},
				Sink:       sink,
				AcceptedAt: acceptedAt,
				MatchedAt:  matchedAt,
			})
		}
	}
	return list
}

// publish sends every action at once and waits until JetStream stored each
// of them, or PublishTimeout passed. An action JetStream already holds under
// the same dispatch id counts as stored.
func (s *Service) publish(ctx context.Context, actions []action.Action) (err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()

	futures := make([]jetstream.PubAckFuture, len(actions))
	sends := make([]trace.Span, 0, len(actions))
	defer func() {
		for _, send := range sends {
			telemetry.EndSpan(send, err)
		}
	}()
	for i, a := range actions {
		msg, encodeErr := actionMsg(a)
		if encodeErr != nil {
			return encodeErr
		}
		_, send := telemetry.StartSend(ctx, tracer, telemetry.ActionsHop, msg, a.DispatchID)
		sends = append(sends, send)
		futures[i], err = s.js.PublishMsgAsync(msg,
			jetstream.WithMsgID(a.DispatchID),
			jetstream.WithExpectStream(bus.ActionsStream))
		if err != nil {
			return fmt.Errorf("publish action %s: %w", a.DispatchID, err)
		}
	}

	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("store action %s: %w", actions[i].DispatchID, err)
		case <-ctx.Done():
			return fmt.Errorf("store action %s: %w", actions[i].DispatchID, ctx.Err())
		}
	}
	return nil
}

// actionMsg encodes a as the message published for it.
func actionMsg(a action.Action) (*nats.Msg, error) {
	data, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode action %s: %w", a.DispatchID, err)
	}
	h := nats.Header{"Content-Type": {"application/json"}}
	return &nats.Msg{Subject: bus.ActionSubject(a.Sink.Type), Header: h, Data: data}, nil
}

// observeSince records the processing time of an event handled from start.
func observeSince(start time.Time) {
	metrics.ProcessingDuration.WithLabelValues(metrics.TierRuleEngine).Observe(time.Since(start).Seconds())
}

// terminate refuses a malformed message for good: evaluating it again would
// fail the same way. It first copies the message, as it arrived, to the
// dead-letter stream under the reason, so that nothing accepted vanishes;
// if that copy cannot be stored, the message is handed back to try again,
// until its last delivery.
func (s *Service) terminate(ctx context.Context, msg jetstream.Msg, cause error) {
	reason := "invalid_message"
	if fe, ok := event.AsFieldError(cause); ok {
		reason = fe.Reason()
	}
	dlq := bus.EventDeadLetterSubject(reason)
	if _, err := s.deadLetterEvent(ctx, msg, dlq, cause); err != nil {
		meta, metaErr := msg.Metadata()
		if metaErr == nil && meta.NumDelivered < uint64(s.cfg.MaxDeliver) {
			s.log.WarnContext(ctx, "malformed event not dead-lettered, will be retried",
				"subject", msg.Subject(), "reason", reason, "err", err)
			if err := msg.NakWithDelay(s.cfg.RetryDelay); err != nil {
				s.log.WarnContext(ctx, "return event for retry", "subject", msg.Subject(), "err", err)
			}
			return
		}
		s.log.ErrorContext(ctx, "malformed event dropped: its dead letter could not be stored",
			"subject", msg.Subject(), "reason", reason, "cause", cause.Error(), "err", err)
		dlq = ""
	}

	metrics.EventsTerminated.WithLabelValues(reason).Inc()
	s.log.WarnContext(ctx, "event refused as malformed",
		"subject", msg.Subject(), "reason", reason, "dead_letter_subject", dlq, "err", cause)
	if err := msg.TermWithReason(reason); err != nil {
		s.log.WarnContext(ctx, "terminate event", "subject", msg.Subject(), "err", err)
	}
}

// deadLetterEvent copies msg to subject in the dead-letter stream (see
// bus.CopyToDeadLetters), waiting at most PublishTimeout.
func (s *Service) deadLetterEvent(ctx context.Context, msg jetstream.Msg, subject string, cause error) (*jetstream.PubAck, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	return bus.CopyToDeadLetters(ctx, s.js, msg, subject, "event-dlq", cause)
}

// retry asks JetStream to deliver the event again later, because not all of
// its actions were stored or its evaluation failed. On the MaxDeliver-th
// delivery it gives up and dead-letters the event instead. A failure caused
// by the drain's deadline is not the event's: it is handed back at once.
func (s *Service) retry(ctx context.Context, msg jetstream.Msg, ev event.Event, meta *jetstream.MsgMetadata, cause error) {
	if ctx.Err() != nil {
		s.handBack(ctx, msg, cause)
		return
	}
	if meta.NumDelivered >= uint64(s.cfg.MaxDeliver) {
		s.deadLetter(ctx, msg, ev, meta, cause)
		return
	}
	delay := s.retryDelay(meta.NumDelivered)
	if bus.IsStreamFull(cause) {
		// The dispatchers are far behind: waiting long spends the event's
		// deliveries slowly, so that a backlog is waited out for
		// MaxDeliver × AckWait before the event is dead-lettered.
		delay = s.cfg.AckWait
	}
	if err := msg.NakWithDelay(delay); err != nil {
		s.log.WarnContext(ctx, "return event for retry", "source", ev.Source, "event_id", ev.ID, "err", err)
	}
	s.log.WarnContext(ctx, "event not evaluated, it will be retried",
		"source", ev.Source, "event_id", ev.ID, "deliveries", meta.NumDelivered, "delay", delay, "err", cause)
}

// retryDelay is how long an event waits after its delivery-th delivery
// failed: RetryDelay, doubling with each delivery, at most AckWait.
func (s *Service) retryDelay(delivery uint64) time.Duration {
	d := s.cfg.AckWait
	if shift := delivery - 1; shift < 32 && s.cfg.RetryDelay<<shift < d {
		d = s.cfg.RetryDelay << shift
	}
	return d
}

// handBack returns an event this rule-engine could not finish to JetStream,
// for another delivery at once.
func (s *Service) handBack(ctx context.Context, msg jetstream.Msg, cause error) {
	s.log.InfoContext(ctx, "event handed back", "subject", msg.Subject(), "err", cause)
	if err := msg.Nak(); err != nil {
		s.log.WarnContext(ctx, "hand back event", "subject", msg.Subject(), "err", err)
	}
}

// ack acknowledges an event whose actions are all stored and waits for the
// server to confirm, so that a drain ends with nothing left unacknowledged.
// The drain's deadline does not cut it short: the work is done.
func (s *Service) ack(ctx context.Context, msg jetstream.Msg, ev event.Event, actions int) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.PublishTimeout)
	defer cancel()
	if err := msg.DoubleAck(ctx); err != nil {
		// The event comes back after AckWait; its actions are then dropped
		// as duplicates.
		s.log.WarnContext(ctx, "acknowledge event", "source", ev.Source, "event_id", ev.ID, "err", err)
		return
	}
	s.log.DebugContext(ctx, "event evaluated", "source", ev.Source, "event_id", ev.ID, "actions", actions)
}
