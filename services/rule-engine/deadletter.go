package ruleengine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/rules"
	"github.com/zenith-hq/zenith/pkg/store"
)

// Reasons a poison event is dead-lettered for: its dead-letter subject's
// last token and its metric label.
const (
	reasonActionsNotStored   = "actions_not_stored"
	reasonEvaluationPanicked = "evaluation_panicked"
	reasonNotSettled         = "not_settled"
)

// errEvaluationPanicked means evaluating an event panicked. The worker
// survives it; the event is retried like one whose actions were not stored,
// and dead-lettered if it keeps failing.
var errEvaluationPanicked = errors.New("evaluation panicked")

// errNotSettled is the cause given for an event delivered more often than
// MaxDeliver: none of its deliveries ended with an answer, so the
// rule-engines holding it crashed, were killed or stalled, and the event is
// the likely cause.
var errNotSettled = errors.New("never settled: the rule-engines holding it crashed or stalled")

// poisonReason is the reason label of a poison event that failed with cause.
func poisonReason(cause error) string {
	switch {
	case errors.Is(cause, errNotSettled):
		return reasonNotSettled
	case errors.Is(cause, errEvaluationPanicked):
		return reasonEvaluationPanicked
	}
	return reasonActionsNotStored
}

// evaluateGuarded is evaluate, turning a panic into errEvaluationPanicked so
// that one event cannot crash the service, and with it every event its
// workers hold.
func (s *Service) evaluateGuarded(ctx context.Context, ev event.Event) (matched []*rules.Rule, total int, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.ErrorContext(ctx, "evaluation panicked", "source", ev.Source, "event_id", ev.ID,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			matched, total, err = nil, 0, fmt.Errorf("%w: %v", errEvaluationPanicked, p)
		}
	}()
	return s.evaluate(ev)
}

// deadLetter gives up on a poison event: it copies the event to the
// dead-letter stream (zenith.dlq.events.<reason>), records it in
// event_dead_letters and acknowledges it, so that it stops taking
// deliveries from the others. When the copy cannot be stored, the event is
// returned to come back later, and its next delivery tries again.
func (s *Service) deadLetter(ctx context.Context, msg jetstream.Msg, ev event.Event, meta *jetstream.MsgMetadata, cause error) {
	// Restart the ack wait: giving up takes a publish and a database write.
	_ = msg.InProgress()
	reason := poisonReason(cause)
	stored, err := s.deadLetterEvent(ctx, msg, bus.EventDeadLetterSubject(reason), cause)
	if err != nil {
		s.log.WarnContext(ctx, "dead letter not stored, event returned", "source", ev.Source, "event_id", ev.ID, "err", err)
		if err := msg.NakWithDelay(s.retryDelay(meta.NumDelivered)); err != nil {
			s.log.WarnContext(ctx, "return event", "source", ev.Source, "event_id", ev.ID, "err", err)
		}
		return
	}

	metrics.EventsDeadLettered.WithLabelValues(reason).Inc()
	s.log.ErrorContext(ctx, "event dead-lettered", "source", ev.Source, "event_id", ev.ID, "reason", reason,
		"deliveries", meta.NumDelivered, "dlq_sequence", stored.Sequence, "err", cause)
	s.recordDeadLetter(ctx, store.EventDeadLetter{
		Source:      ev.Source,
		EventID:     ev.ID,
		EventType:   ev.Type,
		Reason:      bus.HeaderText(cause.Error()),
		Deliveries:  int(meta.NumDelivered),
		DLQSequence: stored.Sequence,
	})
	s.ack(ctx, msg, ev, 0)
}

// recordDeadLetter writes the row of a dead-lettered event. The event is
// safe in the dead-letter stream already, so a database that does not
// answer costs only the row, which is said loudly.
func (s *Service) recordDeadLetter(ctx context.Context, d store.EventDeadLetter) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	if err := s.store.RecordEventDeadLetter(ctx, d); err != nil {
		s.log.ErrorContext(ctx, "dead-lettered event not recorded in the database; it is in the dead-letter stream",
			"source", d.Source, "event_id", d.EventID, "dlq_sequence", d.DLQSequence, "err", err)
	}
}
