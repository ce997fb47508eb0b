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
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/sinkconf"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/telemetry"
)

// Span outcomes, beyond the audit statuses. A redelivered action whose
// outcome was already recorded is a duplicate; one that goes back to
// JetStream for a later delivery is retried after a failed call, deferred
// when no call was made (circuit open, rate limited, lane full), or handed
// back when this dispatcher could not finish it (shutdown, database or NATS
// down); one in a batch not yet written is batched.
const (
	statusDuplicate  = "duplicate"
	statusRetried    = "retried"
	statusDeferred   = "deferred"
	statusHandedBack = "handed_back"
	statusBatched    = "batched"
)

// unsupportedTypeLabel is the sink_type metric label of an action naming a
// type no factory handles, so that a bad action cannot grow the label set.
const unsupportedTypeLabel = "unsupported"

// unknownSinkLabel is the sink metric label of an action naming a sink
// that does not exist.
const unknownSinkLabel = "unknown"

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
	// prior is how many times the sink was called in earlier deliveries.
	prior int
	// attempts is how many times this delivery called the sink.
	attempts int
	// code is the sink's last answer, 0 when it gave none.
	code    int
	latency time.Duration
	err     error
	// deferred is why the delivery made no call (circuit_open,
	// rate_limited, bulkhead_full, bulkhead_stalled), empty when it made
	// one.
	deferred string
	// wait is how long the sink asked to be left alone (Retry-After), or
	// the wait a deferral asks for; 0 when none.
	wait time.Duration
}

// total is how many times the sink was called for the dispatch.
func (o outcome) total() int {
	return o.prior + o.attempts
}

// handle dispatches one action.
func (s *Service) handle(ctx context.Context, j job) {
	s.traced(ctx, j, s.dispatch)
}

// traced runs step, which takes j to an outcome and returns its status,
// inside a process span continuing the trace the action carries and a
// dispatcher.dispatch span saying what became of it, and times it.
func (s *Service) traced(ctx context.Context, j job, step func(context.Context, job) string) {
	start := time.Now()
	ctx, process := telemetry.StartProcess(ctx, tracer, telemetry.ActionsHop, ConsumerName, j.msg)
	defer process.End()
	ctx, span := tracer.Start(ctx, "dispatcher.dispatch", trace.WithAttributes(
		attribute.String("rule_id", j.action.Rule.ID),
		attribute.String("sink_type", s.typeLabel(j.action.Sink.Type)),
	))
	defer span.End()

	status := step(ctx, j)
	span.SetAttributes(attribute.String("status", status))
	if status == store.StatusDeadLettered {
		span.SetStatus(codes.Error, "dead-lettered")
	}
	metrics.ProcessingDuration.WithLabelValues(metrics.TierDispatcher).Observe(time.Since(start).Seconds())
}

// dispatch takes one action to its outcome, or to a batch that will
// settle it, and returns the status. An action whose outcome is already
// recorded is acknowledged without a second delivery.
func (s *Service) dispatch(ctx context.Context, j job) string {
	recorded, err := s.alreadyRecorded(ctx, j)
	if err != nil {
		return s.handBack(ctx, j, err)
	}
	if recorded {
		return s.ackDuplicate(ctx, j)
	}

	dest, err := s.sinkFor(ctx, j.action.Sink.ID)
	if errors.Is(err, errSinkUnusable) {
		return s.deadLetter(ctx, j, outcome{prior: s.priorAttempts(j), err: err})
	}
	if err != nil {
		return s.handBack(ctx, j, err)
	}
	if dest.batcher != nil {
		return s.batch(ctx, j, dest)
	}
	return s.settle(ctx, j, dest.policy, s.deliver(ctx, dest, j))
}

// settle acts on a delivery's outcome: records a success; hands the action
// back for later while the policy allows; dead-letters it otherwise.
func (s *Service) settle(ctx context.Context, j job, policy sinkconf.Policy, out outcome) string {
	if out.err == nil {
		return s.delivered(ctx, j, out)
	}
	if ctx.Err() != nil {
		return s.handBack(ctx, j, out.err)
	}
	if out.deferred == "" && !retryable(out.err) {
		return s.deadLetter(ctx, j, out)
	}
	if exhausted := s.exhausted(j, policy, out); exhausted != "" {
		out.err = fmt.Errorf("%w; %s", out.err, exhausted)
		if last := s.attempts.lastError(j.action.DispatchID); out.deferred != "" && last != "" {
			out.err = fmt.Errorf("%w; last sink error: %s", out.err, last)
		}
		return s.deadLetter(ctx, j, out)
	}
	return s.later(ctx, j, out)
}

// exhausted says why the policy allows no further delivery of the action,
// or returns "".
func (s *Service) exhausted(j job, policy sinkconf.Policy, out outcome) string {
	switch total := out.total(); {
	case policy.MaxAttempts > 0 && total >= policy.MaxAttempts:
		return fmt.Sprintf("gave up after %d attempts (max_attempts %d)", total, policy.MaxAttempts)
	case !j.action.MatchedAt.IsZero() && time.Since(j.action.MatchedAt) >= policy.Age():
		return fmt.Sprintf("gave up after %d attempts: older than max_age %s", total, policy.Age())
	case j.delivery >= s.cfg.MaxDeliver || total >= s.maxAttempts(policy):
		return fmt.Sprintf("gave up after %d attempts in %d deliveries (DISPATCHER_MAX_DELIVER)", total, j.delivery)
	}
	return ""
}

// maxAttempts is the policy's bound on calls for one action, by default
// every attempt of every delivery.
func (s *Service) maxAttempts(policy sinkconf.Policy) int {
	if policy.MaxAttempts > 0 {
		return policy.MaxAttempts
	}
	return s.cfg.MaxDeliver * s.cfg.RetryAttempts
}

// priorAttempts is how many times the sink was called for the action in
// earlier deliveries: as remembered by this process, or else estimated from
// the delivery number, each earlier delivery having used all its attempts.
//
// TODO: keep the count where another process can read it. The estimate
// after a restart also counts deliveries that made no call (deferred while
// the sink's breaker was open), so the action may be dead-lettered sooner
// than max_attempts calls, with an attempt count above the calls made.
func (s *Service) priorAttempts(j job) int {
	if n, ok := s.attempts.get(j.action.DispatchID); ok {
		return n
	}
	return (j.delivery - 1) * s.cfg.RetryAttempts
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

// sinkFor returns the destination of sink id, waiting out a database
// outage. An error wrapping errSinkUnusable is final.
func (s *Service) sinkFor(ctx context.Context, id string) (*destination, error) {
	var dest *destination
	var unusable error
	err := s.persist(ctx, "load sinks", func(ctx context.Context) error {
		var err error
		dest, err = s.sinks.get(ctx, id)
		if errors.Is(err, errSinkUnusable) {
			unusable = err
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return dest, unusable
}

// deliver calls the sink, through its rate limit and circuit breaker, up to
// RetryAttempts times (fewer if the policy's max_attempts is near), with
// exponential backoff and jitter between attempts while its errors are
// retryable. A Retry-After longer than the backoff is waited instead; one
// longer than RetryCap ends the delivery, to be waited out in JetStream.
func (s *Service) deliver(ctx context.Context, dest *destination, j job) outcome {
	out := outcome{prior: s.priorAttempts(j)}
	budget := max(1, min(s.cfg.RetryAttempts, s.maxAttempts(dest.policy)-out.prior))
	var asked time.Duration // Retry-After of the last answer
	start := time.Now()
	err := retry.Do(ctx, s.retryBackoff(budget, &asked), func(ctx context.Context) error {
		if reason, ok := s.admit(ctx, dest, &out); !ok {
			out.deferred = reason
			return errDeferred
		}
		code, err := dest.call(ctx, j.action)
		if errors.Is(err, errCircuitOpen) {
			out.deferred = "circuit_open"
			return errDeferred
		}
		out.attempts++
		out.code = code
		out.err = err
		if err == nil || !retryable(err) {
			return err
		}
		if asked = retryAfter(err); asked > s.cfg.RetryCap {
			out.wait = asked
			return errDeferred
		}
		return retry.RetryableError(err)
	})
	out.latency = time.Since(start)
	out = settleDeferral(out, err)
	return out
}

// errDeferred ends a delivery's attempts early, without an error of its own.
var errDeferred = errors.New("deferred")

// settleDeferral fixes the outcome of a delivery whose attempts ended
// early: if it made a call, the last call's error stands and the delivery
// was not deferred; otherwise the deferral is the error.
func settleDeferral(out outcome, err error) outcome {
	switch {
	case !errors.Is(err, errDeferred):
		out.err = err
		out.deferred = ""
	case out.attempts > 0:
		out.deferred = ""
	default:
		out.err = errSinkNotCalled(out.deferred)
	}
	return out
}

// errSinkNotCalled is the error of a delivery deferred for reason.
func errSinkNotCalled(reason string) error {
	return &DeliveryError{Retryable: true, Err: fmt.Errorf("sink not called: %s", strings.ReplaceAll(reason, "_", " "))}
}

// admit waits for the sink's rate limit to allow a call, if that takes at
// most RetryCap. Otherwise it returns false with the reason, and the wait in
// out.
func (s *Service) admit(ctx context.Context, dest *destination, out *outcome) (string, bool) {
	wait, ok := dest.reserve(s.cfg.RetryCap)
	if !ok {
		out.wait = wait
		return "rate_limited", false
	}
	if wait > 0 {
		s.pause(ctx, wait)
	}
	return "", ctx.Err() == nil
}

// retryBackoff returns a fresh backoff for one delivery of at most attempts
// calls: go-retry backoffs count attempts, so they are never shared. A wait
// the sink asked for (*asked, read once) replaces a shorter backoff.
func (s *Service) retryBackoff(attempts int, asked *time.Duration) retry.Backoff {
	b := retry.NewExponential(s.cfg.RetryBase)
	b = retry.WithCappedDuration(s.cfg.RetryCap, b)
	b = retry.WithJitterPercent(20, b)
	b = retry.WithMaxRetries(uint64(attempts-1), b)
	return retry.BackoffFunc(func() (time.Duration, bool) {
		next, stop := b.Next()
		next = max(next, *asked)
		*asked = 0
		return next, stop
	})
}

// batch hands the action to its sink's batcher; the batcher settles it once
// the batch holding it is written.
func (s *Service) batch(ctx context.Context, j job, dest *destination) string {
	prior := s.priorAttempts(j)
	start := time.Now()
	err := dest.batcher.Add(ctx, j.action, func(r Result) {
		out := outcome{prior: prior, attempts: 1, code: r.Code, err: r.Err, latency: time.Since(start)}
		s.settle(ctx, j, dest.policy, out)
	})
	switch {
	case err == nil:
		return statusBatched
	case retryable(err):
		return s.handBack(ctx, j, err)
	default:
		return s.deadLetter(ctx, j, outcome{prior: prior, err: err})
	}
}

// delivered records a delivery; the writer acknowledges the action.
func (s *Service) delivered(ctx context.Context, j job, out outcome) string {
	s.observe(j.action, store.StatusDelivered, out)
	s.log.DebugContext(ctx, "action delivered", s.logAttrs(j, out)...)
	return s.record(ctx, j, store.StatusDelivered, out)
}

// later hands the action back to JetStream for a later delivery, so that a
// down endpoint waits in the stream rather than in a worker.
//
// TODO: move long waits off the consumer, into a retry stream per sink with
// a consumer of its own. An action waiting out NakWithDelay still counts
// against MaxAckPending, so a dead sink whose backlog nears it starves every
// other sink of new actions until the waits end. JetStream's message
// scheduling cannot hold the waits in ZENITH_ACTIONS: nats-server 2.15
// refuses schedules on a stream that discards new messages when full, and
// schedules only to subjects of their own stream.
func (s *Service) later(ctx context.Context, j job, out outcome) string {
	status, delay := statusRetried, s.laterDelay(j.delivery, out)
	if out.deferred != "" {
		status = statusDeferred
		metrics.DispatchDeferred.WithLabelValues(s.typeLabel(j.action.Sink.Type), out.deferred).Inc()
	}
	s.observe(j.action, status, out)
	s.logLater(ctx, j, out, delay)
	s.attempts.set(j.action.DispatchID, out.total(), callError(out))
	if err := j.msg.NakWithDelay(delay); err != nil {
		s.log.WarnContext(ctx, "nak failed", "dispatch_id", j.action.DispatchID, "err", err)
	}
	s.held.done(j.action.DispatchID)
	return status
}

// callError is the error of a delivery that called the sink, or "" for
// one deferred without a call.
func callError(out outcome) string {
	if out.attempts == 0 || out.err == nil {
		return ""
	}
	return out.err.Error()
}

// logLater logs an action put back for later: a warning after failed
// calls, so that a sink failing over and over shows in the log before its
// actions are dead-lettered; debug detail for a deferral, which made no
// call and is counted in zenith_dispatch_deferred_total.
func (s *Service) logLater(ctx context.Context, j job, out outcome, delay time.Duration) {
	attrs := append(s.logAttrs(j, out), "delay", delay, "err", out.err)
	if out.deferred != "" {
		s.log.DebugContext(ctx, "action deferred", append(attrs, "deferred", out.deferred)...)
		return
	}
	s.log.WarnContext(ctx, "action failed, will be retried", attrs...)
}

// laterDelay is how long an action waits in JetStream after its
// delivery-th delivery: the rate limit's wait for a deferral that has one;
// otherwise the redelivery delay, or what the sink asked for (Retry-After)
// when longer, up to RetryAfterCap.
func (s *Service) laterDelay(delivery int, out outcome) time.Duration {
	if out.deferred != "" && out.wait > 0 {
		return out.wait
	}
	return max(s.redeliveryDelay(delivery), min(out.wait, s.cfg.RetryAfterCap))
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
	reason := bus.HeaderText(out.err.Error())
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
	msg.Header.Set(action.DeadLetterReasonHeader, reason)
	msg.Header.Set(action.DeadLetterAttemptsHeader, strconv.Itoa(out.total()))
	if out.code != 0 {
		msg.Header.Set(action.DeadLetterStatusHeader, strconv.Itoa(out.code))
	}
	ctx, span := telemetry.StartSend(ctx, tracer, telemetry.DeadLetterHop, msg, j.action.DispatchID)
	_, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(j.action.DispatchID))
	telemetry.EndSpan(span, err)
	return err
}

// record hands the outcome to the audit writer, which acknowledges the
// action once the row is committed, and returns status. The row carries the
// trace id of ctx's span, which continues the event's trace. If ctx ends while
// the writer is backed up, the action is handed back instead: delivered
// again later, it is at worst a duplicate carrying the same webhook-id.
func (s *Service) record(ctx context.Context, j job, status string, out outcome) string {
	s.attempts.forget(j.action.DispatchID)
	span := trace.SpanContextFromContext(ctx)
	rec := auditRecord(j.action, status, out)
	if span.HasTraceID() {
		rec.TraceID = span.TraceID().String()
	}
	job := auditJob{record: rec, msg: j.msg, trace: span}
	if !s.audit.submit(ctx, job) {
		return s.handBack(ctx, j, fmt.Errorf("audit writer backed up: %w", ctx.Err()))
	}
	return status
}

// auditRecord is the audit row of an action's outcome.
func auditRecord(a action.Action, status string, out outcome) store.AuditRecord {
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
		Attempts:    out.total(),
		HTTPStatus:  out.code,
		Latency:     out.latency,
		EventTime:   a.Event.Time,
		MatchedAt:   a.MatchedAt,
	}
	if out.err != nil {
		rec.Error = out.err.Error()
	}
	return rec
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
	metrics.Dispatches.WithLabelValues(label, s.sinkLabel(a.Sink.ID), status).Inc()
	if out.attempts > 0 {
		metrics.DispatchDuration.WithLabelValues(label).Observe(out.latency.Seconds())
	}
	if status != statusRetried && status != statusDeferred && !a.AcceptedAt.IsZero() {
		metrics.EndToEndLatency.WithLabelValues(label).Observe(time.Since(a.AcceptedAt).Seconds())
	}
}

// typeLabel is the sink_type label of an action's sink type.
func (s *Service) typeLabel(sinkType string) string {
	if s.registry.has(sinkType) {
		return sinkType
	}
	return unsupportedTypeLabel
}

// sinkLabel is the sink label of sink id: its name, or unknownSinkLabel
// for a sink the dispatcher does not hold, so that a bad action cannot
// grow the label set.
func (s *Service) sinkLabel(id string) string {
	if dest, ok := s.sinks.lookup(id); ok {
		return dest.name
	}
	return unknownSinkLabel
}

// logAttrs are the attributes every outcome's log line carries: attempts
// counts the calls over every delivery, as the audit row does. The sink is
// named by id and name only: its settings may hold secrets.
func (s *Service) logAttrs(j job, out outcome) []any {
	return []any{
		"dispatch_id", j.action.DispatchID,
		"rule_id", j.action.Rule.ID,
		"sink_id", j.action.Sink.ID,
		"sink", j.action.Sink.Name,
		"delivery", j.delivery,
		"attempts", out.total(),
		"status_code", out.code,
	}
}
