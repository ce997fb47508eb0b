package ruleengine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/rules"
	"github.com/zenith-hq/zenith/pkg/store"
)

// errEvaluationPanicked means evaluating an event panicked. The worker
// survives it; the event is retried like one whose actions were not stored,
// and dead-lettered if it keeps failing.
var errEvaluationPanicked = errors.New("evaluation panicked")

// errNotSettled is the reason given for an event delivered more often than
// MaxDeliver: none of its deliveries ended with an answer, so the
// rule-engines holding it crashed, were killed or stalled, and the event is
// the likely cause.
func errNotSettled(deliveries uint64) error {
	return fmt.Errorf("delivered %d times without being settled: the rule-engines holding it crashed or stalled", deliveries)
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
// dead-letter stream with the reason, records it in event_dead_letters and
// acknowledges it, so that it stops taking deliveries from the others. When
// the copy cannot be stored, the event is returned to come back later, and
// its next delivery tries again.
func (s *Service) deadLetter(ctx context.Context, msg jetstream.Msg, ev event.Event, meta *jetstream.MsgMetadata, cause error) {
	// Restart the ack wait: giving up takes a publish and a database write.
	_ = msg.InProgress()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()

	reason := bus.HeaderSafe(cause.Error())
	stored, err := s.js.PublishMsg(ctx, deadLetterMsg(msg, ev.Source, reason, meta.NumDelivered),
		jetstream.WithMsgID(ev.Source+":"+ev.ID),
		jetstream.WithExpectStream(bus.DeadLetterStream))
	if err != nil {
		s.log.WarnContext(ctx, "dead letter not stored, event returned", "source", ev.Source, "event_id", ev.ID, "err", err)
		if err := msg.NakWithDelay(s.retryDelay(meta.NumDelivered)); err != nil {
			s.log.WarnContext(ctx, "return event", "source", ev.Source, "event_id", ev.ID, "err", err)
		}
		return
	}

	metrics.EventsDeadLettered.WithLabelValues(ev.Source).Inc()
	s.log.ErrorContext(ctx, "event dead-lettered", "source", ev.Source, "event_id", ev.ID,
		"deliveries", meta.NumDelivered, "dlq_sequence", stored.Sequence, "reason", reason)
	s.recordDeadLetter(ctx, store.EventDeadLetter{
		Source:      ev.Source,
		EventID:     ev.ID,
		EventType:   ev.Type,
		Reason:      reason,
		Deliveries:  int(meta.NumDelivered),
		DLQSequence: stored.Sequence,
	})
	s.ack(ctx, msg, ev, 0)
}

// recordDeadLetter writes the row of a dead-lettered event. The event is
// safe in the dead-letter stream already, so a database that does not
// answer costs only the row, which is said loudly.
func (s *Service) recordDeadLetter(ctx context.Context, d store.EventDeadLetter) {
	if err := s.store.RecordEventDeadLetter(ctx, d); err != nil {
		s.log.ErrorContext(ctx, "dead-lettered event not recorded in the database; it is in the dead-letter stream",
			"source", d.Source, "event_id", d.EventID, "dlq_sequence", d.DLQSequence, "err", err)
	}
}

// deadLetterMsg is the dead-letter copy of an event message: its payload and
// CloudEvents headers unchanged, with the reason and the number of
// deliveries added. JetStream's own headers are left out, since an
// expectation the producer set would refuse the copy.
func deadLetterMsg(msg jetstream.Msg, source, reason string, deliveries uint64) *nats.Msg {
	header := nats.Header{}
	for name, values := range msg.Headers() {
		if !strings.HasPrefix(strings.ToLower(name), "nats-") {
			header[name] = values
		}
	}
	header.Set(action.DeadLetterReasonHeader, reason)
	header.Set(action.DeadLetterAttemptsHeader, strconv.FormatUint(deliveries, 10))
	return &nats.Msg{Subject: bus.EventDeadLetterSubject(source), Header: header, Data: msg.Data()}
}
