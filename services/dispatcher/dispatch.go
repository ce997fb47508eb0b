package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sethvargo/go-retry"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/telemetry"
)

// Headers of a dead-lettered action, beside the trace context.
const (
	// DeadLetterReasonHeader says why the action was dead-lettered.
	DeadLetterReasonHeader = "Zenith-Dead-Letter-Reason"
	// DeadLetterAttemptsHeader is how many times the sink was tried.
	DeadLetterAttemptsHeader = "Zenith-Attempts"
	// DeadLetterStatusHeader is the sink's last answer, when it gave one.
	DeadLetterStatusHeader = "Zenith-Status-Code"
)

// Span outcomes, beyond the audit statuses. A redelivered action whose
// outcome was already recorded is a duplicate; one that goes back to
// JetStream for a later delivery is retried, or handed back when this
// dispatcher could not finish it (shutdown, database or NATS down).
const (
	statusDuplicate  = "duplicate"
	statusRetried    = "retried"
	statusHandedBack = "handed_back"
)

// unsupportedTypeLabel is the sink_type metric label of an action naming a
// type no factory handles, so that a bad action cannot grow the label set.
const unsupportedTypeLabel = "unsupported"

// persistCap bounds the wait between two tries of a step that waits out a
// database or NATS outage.
const persistCap = 5 * time.Second

var tracer = otel.Tracer("github.com/zenith-hq/zenith/services/dispatcher")

// job is an action fetched and waiting for a worker.
type job struct {
	msg    jetstream.Msg
	action action.Action
	// delivery counts this delivery of the message, from 1.
	delivery int
}

// outcome is what one delivery's attempts came to.
type outcome struct {
	attempts int
	// code is the sink's last answer, 0 when it gave none.
	code    int
	latency time.Duration
	err     error
}

// work handles jobs until queue is closed and empty.
func (s *Service) work(ctx context.Context, queue <-chan job) {
	for j := range queue {
		metrics.WorkerQueueDepth.WithLabelValues(metrics.TierDispatcher).Set(float64(len(queue)))
		s.handle(ctx, j)
	}
}

// handle dispatches one action inside a span that continues the trace the
// action carries.
func (s *Service) handle(ctx context.Context, j job) {
	ctx = telemetry.Extract(ctx, j.msg.Headers())
	ctx, span := tracer.Start(ctx, "dispatcher.dispatch",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("rule_id", j.action.Rule.ID),
			attribute.String("sink_type", s.typeLabel(j.action.Sink.Type)),
		))
	defer span.End()

	status := s.dispatch(ctx, j)
	span.SetAttributes(attribute.String("status", status))
}

// dispatch takes one action to its outcome and returns it. An action whose
// outcome is already recorded is acknowledged without a second delivery.
func (s *Service) dispatch(ctx context.Context, j job) string {
	recorded, err := s.alreadyRecorded(ctx, j)
	if err != nil {
		return s.handBack(ctx, j, err)
	}
	if recorded {
		return s.ackDuplicate(ctx, j)
	}

	sink, err := s.sinkFor(ctx, j.action.Sink.ID)
	if errors.Is(err, errSinkUnusable) {
		return s.deadLetter(ctx, j, outcome{err: err})
	}
	if err != nil {
		return s.handBack(ctx, j, err)
	}

	out := s.deliver(ctx, sink, j.action)
	switch {
	case out.err == nil:
		return s.delivered(ctx, j, out)
	case ctx.Err() != nil:
		return s.handBack(ctx, j, out.err)
	case retryable(out.err) && j.delivery < s.cfg.MaxDeliver:
		return s.retryLater(ctx, j, out)
	default:
		return s.deadLetter(ctx, j, out)
	}
}

// alreadyRecorded reports whether the job's dispatch has an audit row,
// waiting out a database outage: without the answer, delivering could
// repeat a delivery. A dead letter replayed through the admin API is the
// exception: its dead_lettered row does not count, so that it is delivered
// again and its row takes the new outcome (see store.InsertAudit).
func (s *Service) alreadyRecorded(ctx context.Context, j job) (bool, error) {
	replayed := j.msg.Headers().Get(action.ReplayHeader) != ""
	var found bool
	err := s.persist(ctx, "look up audit row", func(ctx context.Context) error {
		row, err := s.st.AuditByDispatch(ctx, j.action.DispatchID)
		if errors.Is(err, store.ErrNotFound) {
			found = false
			return nil
		}
		found = err == nil && !(replayed && row.Status == store.StatusDeadLettered)
		return err
	})
	return found, err
}

// sinkFor returns the sink of id, waiting out a database outage. An error
// wrapping errSinkUnusable is final.
func (s *Service) sinkFor(ctx context.Context, id string) (Sink, error) {
	var sink Sink
	var unusable error
	err := s.persist(ctx, "load sinks", func(ctx context.Context) error {
		var err error
		sink, err = s.sinks.get(ctx, id)
		if errors.Is(err, errSinkUnusable) {
			unusable = err
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return sink, unusable
}

// deliver calls the sink up to RetryAttempts times, with exponential backoff
// and jitter between attempts, while its errors are retryable.
func (s *Service) deliver(ctx context.Context, sink Sink, a action.Action) outcome {
	var out outcome
	start := time.Now()
	out.err = retry.Do(ctx, s.retryBackoff(), func(ctx context.Context) error {
		out.attempts++
		code, err := sink.Deliver(ctx, a)
		out.code = code
		if err != nil && retryable(err) {
			return retry.RetryableError(err)
		}
		return err
	})
	out.latency = time.Since(start)
	return out
}

// retryBackoff returns a fresh backoff for one delivery: go-retry backoffs
// count attempts, so they are never shared.
func (s *Service) retryBackoff() retry.Backoff {
	b := retry.NewExponential(s.cfg.RetryBase)
	b = retry.WithCappedDuration(s.cfg.RetryCap, b)
	b = retry.WithJitterPercent(20, b)
	return retry.WithMaxRetries(uint64(s.cfg.RetryAttempts-1), b)
}

// delivered records a delivery; the writer acknowledges the action.
func (s *Service) delivered(ctx context.Context, j job, out outcome) string {
	s.observe(j.action, store.StatusDelivered, out)
	s.log.DebugContext(ctx, "action delivered", s.logAttrs(j, out)...)
	return s.record(ctx, j, store.StatusDelivered, out)
}

// retryLater hands the action back to JetStream for a later delivery, so
// that a down endpoint waits in the stream rather than in a worker.
func (s *Service) retryLater(ctx context.Context, j job, out outcome) string {
	delay := s.redeliveryDelay(j.delivery)
	s.observe(j.action, statusRetried, out)
	s.log.DebugContext(ctx, "delivery failed, retrying later",
		append(s.logAttrs(j, out), "delay", delay, "err", out.err)...)
	if err := j.msg.NakWithDelay(delay); err != nil {
		s.log.WarnContext(ctx, "nak failed", "dispatch_id", j.action.DispatchID, "err", err)
	}
	s.held.done(j.action.DispatchID)
	return statusRetried
}

// redeliveryDelay is how long JetStream keeps an action back after its
// delivery-th delivery failed: RedeliveryBase doubling per delivery, capped
// at RedeliveryCap, with ±20% jitter so that the actions of one outage do not
// all come back at once.
func (s *Service) redeliveryDelay(delivery int) time.Duration {
	d := s.cfg.RedeliveryCap
	if shift := delivery - 1; shift < 32 && s.cfg.RedeliveryBase<<shift < d {
		d = s.cfg.RedeliveryBase << shift
	}
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// deadLetter copies the action to the dead-letter stream with the reason,
// then records it; the writer acknowledges the action.
func (s *Service) deadLetter(ctx context.Context, j job, out outcome) string {
	reason := headerSafe(out.err.Error())
	err := s.persist(ctx, "publish dead letter", func(ctx context.Context) error {
		return s.publishDeadLetter(ctx, j, out, reason)
	})
	if err != nil {
		return s.handBack(ctx, j, err)
	}

	metrics.DeadLettered.WithLabelValues(s.typeLabel(j.action.Sink.Type)).Inc()
	s.observe(j.action, store.StatusDeadLettered, out)
	s.log.WarnContext(ctx, "action dead-lettered", append(s.logAttrs(j, out), "reason", reason)...)
	return s.record(ctx, j, store.StatusDeadLettered, out)
}

// publishDeadLetter publishes the action, unchanged, on the dead-letter
// subject of the sink type it was published for. Its message id is the
// dispatch id, so publishing it again after a crash adds no second copy.
func (s *Service) publishDeadLetter(ctx context.Context, j job, out outcome, reason string) error {
	sinkType, _ := strings.CutPrefix(j.msg.Subject(), bus.ActionSubject(""))
	msg := &nats.Msg{
		Subject: bus.DeadLetterSubject(sinkType),
		Data:    j.msg.Data(),
		Header:  nats.Header{},
	}
	msg.Header.Set(DeadLetterReasonHeader, reason)
	msg.Header.Set(DeadLetterAttemptsHeader, strconv.Itoa(s.totalAttempts(j, out)))
	if out.code != 0 {
		msg.Header.Set(DeadLetterStatusHeader, strconv.Itoa(out.code))
	}
	telemetry.Inject(ctx, msg.Header)
	_, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(j.action.DispatchID))
	return err
}

// record hands the outcome to the audit writer, which acknowledges the
// action once the row is committed, and returns status. If ctx ends while
// the writer is backed up, the action is handed back instead: delivered
// again later, it is at worst a duplicate carrying the same webhook-id.
func (s *Service) record(ctx context.Context, j job, status string, out outcome) string {
	a := j.action
	rec := store.AuditRecord{
		DispatchID:  a.DispatchID,
		EventID:     a.Event.ID,
		Source:      a.Event.Source,
		EventType:   a.Event.Type,
		RuleID:      a.Rule.ID,
		RuleName:    a.Rule.Name,
		RuleVersion: a.Rule.Version,
		SinkID:      a.Sink.ID,
		SinkName:    a.Sink.Name,
		SinkType:    a.Sink.Type,
		Status:      status,
		Attempts:    s.totalAttempts(j, out),
		HTTPStatus:  out.code,
		Latency:     out.latency,
		EventTime:   a.Event.Time,
		MatchedAt:   a.MatchedAt,
	}
	if out.err != nil {
		rec.Error = out.err.Error()
	}
	if !s.audit.submit(ctx, auditJob{record: rec, msg: j.msg}) {
		return s.handBack(ctx, j, fmt.Errorf("audit writer backed up: %w", ctx.Err()))
	}
	return status
}

// totalAttempts estimates how many times the sink was called for this
// dispatch. An earlier delivery is handed back for a retry only after using
// all its attempts, so the estimate is exact unless an earlier delivery was
// cut short by a crash or a shutdown.
func (s *Service) totalAttempts(j job, out outcome) int {
	return (j.delivery-1)*s.cfg.RetryAttempts + out.attempts
}

// ackDuplicate acknowledges an action whose outcome is already recorded: a
// redelivery after its ack was lost, or a second copy published.
func (s *Service) ackDuplicate(ctx context.Context, j job) string {
	s.log.DebugContext(ctx, "action already recorded, not delivered again",
		"dispatch_id", j.action.DispatchID, "delivery", j.delivery)
	if err := j.msg.Ack(); err != nil {
		s.log.WarnContext(ctx, "ack failed", "dispatch_id", j.action.DispatchID, "err", err)
	}
	s.held.done(j.action.DispatchID)
	return statusDuplicate
}

// handBack returns an action this dispatcher could not finish to JetStream,
// for another delivery now.
func (s *Service) handBack(ctx context.Context, j job, cause error) string {
	s.log.WarnContext(ctx, "action handed back", "dispatch_id", j.action.DispatchID, "err", cause)
	if err := j.msg.Nak(); err != nil {
		s.log.WarnContext(ctx, "nak failed", "dispatch_id", j.action.DispatchID, "err", err)
	}
	s.held.done(j.action.DispatchID)
	return statusHandedBack
}

// persist runs fn until it succeeds or ctx ends, waiting a growing time
// between tries. It is for steps that fail only while a dependency is down;
// the action meanwhile stays held, its progress reported to JetStream.
func (s *Service) persist(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	b := retry.WithCappedDuration(persistCap, retry.NewExponential(100*time.Millisecond))
	return retry.Do(ctx, b, func(ctx context.Context) error {
		if err := fn(ctx); err != nil {
			s.log.WarnContext(ctx, what+" failed, retrying", "err", err)
			return retry.RetryableError(err)
		}
		return nil
	})
}

// observe updates the dispatch metrics with one delivery's outcome.
func (s *Service) observe(a action.Action, status string, out outcome) {
	label := s.typeLabel(a.Sink.Type)
	metrics.Dispatches.WithLabelValues(label, status).Inc()
	if out.attempts > 0 {
		metrics.DispatchDuration.WithLabelValues(label).Observe(out.latency.Seconds())
	}
	if status != statusRetried && !a.AcceptedAt.IsZero() {
		metrics.EndToEndLatency.WithLabelValues(label).Observe(time.Since(a.AcceptedAt).Seconds())
	}
}

// typeLabel is the sink_type label of an action's sink type.
func (s *Service) typeLabel(sinkType string) string {
	if _, ok := s.registry[sinkType]; ok {
		return sinkType
	}
	return unsupportedTypeLabel
}

// logAttrs are the attributes every outcome's log line carries. The sink is
// named by id only: its settings may hold secrets.
func (s *Service) logAttrs(j job, out outcome) []any {
	return []any{
		"dispatch_id", j.action.DispatchID,
		"rule_id", j.action.Rule.ID,
		"sink_id", j.action.Sink.ID,
		"delivery", j.delivery,
		"attempts", out.attempts,
		"status_code", out.code,
	}
}

// headerSafe replaces the control characters of s, which cannot travel in a
// NATS header.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
