package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/sinkconf"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/telemetry"
)

// ConsumerName is the durable JetStream consumer every dispatcher replica
// shares on the actions stream.
const ConsumerName = "dispatcher"

// spareDeliveries is how many deliveries the consumer allows beyond
// MaxDeliver. The dispatcher dead-letters an action on its MaxDeliver-th
// delivery; the spares make sure an action whose last delivery was cut short
// by a crash or a shutdown comes back to be dead-lettered, instead of staying
// in the stream undelivered.
const spareDeliveries = 2

// Other lifecycle bounds. fetchWait is how long one pull request waits for
// actions; a drain waits for the request in progress, so it bounds that too.
const (
	fetchWait         = time.Second
	sinkResync        = time.Minute
	auditFlushTimeout = 10 * time.Second
	natsFlushTimeout  = 5 * time.Second
	readyTimeout      = 2 * time.Second
	deadLetterTimeout = 5 * time.Second
)

// Service consumes actions and delivers them to their sinks. Build it with
// New and run it once with Run, which releases everything New opened.
type Service struct {
	cfg      Config
	log      *slog.Logger
	registry Registry

	nc       *nats.Conn
	js       jetstream.JetStream
	consumer jetstream.Consumer
	st       *store.Store
	admin    *telemetry.AdminServer

	sinks    *sinkCache
	held     *inflight
	attempts *attemptLog
	lanes    *lanes
	audit    *auditWriter
	draining atomic.Bool
}

// New connects to NATS and the database, makes sure the streams and the
// consumer exist, loads the sinks and opens the admin port. It fails early
// when any of them is unavailable, releasing what it opened.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:      cfg,
		log:      log.With("component", "dispatcher"),
		held:     newInflight(),
		attempts: newAttemptLog(),
	}
	allow, _ := parseAllow(cfg.EgressAllow)
	s.registry = NewRegistry(NewSinkClient(ClientOptions{IdlePerHost: cfg.WorkerCount, Allow: allow}), cfg.MaxAckPending/2)
	if err := s.open(ctx); err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

func (s *Service) open(ctx context.Context) error {
	if err := s.connectNATS(ctx); err != nil {
		return err
	}
	st, err := store.Open(ctx, s.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	s.st = st
	if err := st.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if err := st.WaitForSchema(ctx, func(have, want uint) {
		s.log.InfoContext(ctx, "waiting for the database migrations", "schema_version", have, "needed", want)
	}); err != nil {
		return err
	}
	s.sinks = newSinkCache(st, s.registry)
	if err := s.sinks.reload(ctx); err != nil {
		return err
	}
	s.audit = newAuditWriter(st, s.log, s.cfg, s.held.done)
	s.admin, err = telemetry.ListenAdmin(s.cfg.AdminAddr, s.ready)
	if err != nil {
		return fmt.Errorf("%w (DISPATCHER_ADMIN_ADDR moves it)", err)
	}
	return nil
}

// NewRegistry returns the factories of every sink type Zenith delivers to.
// The HTTP sinks and S3 share client; an archive batch holds at most
// maxBatch actions.
func NewRegistry(client *http.Client, maxBatch int) Registry {
	return Registry{
		Sinks: map[string]SinkFactory{
			sinkconf.TypeWebhook: NewWebhookFactory(client),
			sinkconf.TypeSlack:   NewSlackFactory(client),
			sinkconf.TypeDiscord: NewDiscordFactory(client),
		},
		Batchers: map[string]BatcherFactory{
			sinkconf.TypeS3: NewArchiveFactory(client, maxBatch),
		},
	}
}

// connectNATS connects, ensures the streams and creates or updates the
// consumer.
func (s *Service) connectNATS(ctx context.Context) error {
	nc, err := nats.Connect(s.cfg.NATSURL, bus.ConnectOptions("zenith-dispatcher", s.log)...)
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	s.nc = nc
	s.js, err = jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("open JetStream: %w", err)
	}
	if err := bus.EnsureStreams(ctx, s.js, s.cfg.Streams); err != nil {
		return err
	}
	s.consumer, err = s.js.CreateOrUpdateConsumer(ctx, bus.ActionsStream, s.consumerConfig())
	if err != nil {
		return fmt.Errorf("create consumer %s: %w", ConsumerName, err)
	}
	return nil
}

func (s *Service) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "dispatcher: delivers actions to their sinks",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    s.cfg.MaxDeliver + spareDeliveries,
		MaxAckPending: s.cfg.MaxAckPending,
	}
}

// release closes what New opened, in reverse order; fields still nil are
// skipped. The NATS connection is flushed before it closes, so that the
// acknowledgements sent reach the server: a lost one would cause a
// redelivery.
func (s *Service) release() {
	if s.st != nil {
		s.st.Close()
	}
	if s.nc != nil {
		if err := bus.Close(s.nc, natsFlushTimeout); err != nil {
			s.log.Warn("close NATS connection", "err", err)
		}
	}
}

// AdminAddr is the address the admin server listens on.
func (s *Service) AdminAddr() string {
	return s.admin.Addr()
}

// ready is the readiness check: connected to NATS, the database answering,
// and not draining.
func (s *Service) ready(ctx context.Context) error {
	if s.draining.Load() {
		return errors.New("draining")
	}
	if !s.nc.IsConnected() {
		return errors.New("not connected to NATS")
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := s.st.Ping(ctx); err != nil {
		return errors.New("database unreachable")
	}
	return nil
}

// Run delivers actions until ctx ends, then drains: it stops fetching once
// the pull request in progress ends, finishes the deliveries it holds
// (cutting them short after DrainTimeout and handing those back), commits
// their audit rows, acknowledges them and flushes the acknowledgements. It
// returns nil after a clean stop, and an error when consuming failed on its
// own. Run must be called once.
func (s *Service) Run(ctx context.Context) error {
	defer s.release()
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	defer background.Wait()
	defer stopAdmin()
	background.Go(func() { s.admin.Serve(adminCtx, s.log) })

	if err := s.watchChanges(adminCtx, &background); err != nil {
		return err
	}
	background.Go(func() { s.held.keepAlive(adminCtx, s.cfg.AckWait/3) })
	background.Go(func() {
		telemetry.WatchConsumer(adminCtx, s.consumer, metrics.TierDispatcher, telemetry.PollInterval)
	})
	background.Go(func() { telemetry.WatchDeadLetters(adminCtx, s.js, telemetry.PollInterval) })

	s.log.InfoContext(ctx, "dispatcher started", "config", s.cfg, "admin_addr", s.AdminAddr())

	fetchErr := s.consume(ctx)
	s.log.Info("dispatcher stopped")
	return fetchErr
}

// consume runs the fetch loop, the sinks' lanes and the audit writer until
// ctx ends or consuming fails, and returns once every held action is
// settled: delivered actions recorded, batches written, the rest handed
// back.
func (s *Service) consume(ctx context.Context) error {
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	writerCtx, cancelWriter := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWriter()

	workDone := make(chan struct{})
	drainClockDone := make(chan struct{})
	go func() {
		defer close(drainClockDone)
		s.cutShortOnDrain(ctx, workDone, cancelWork)
	}()

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.audit.run(writerCtx)
	}()

	s.lanes = newLanes(func(j job) { s.handle(workCtx, j) })
	fetchErr := s.fetch(ctx)

	s.lanes.close()
	s.sinks.closeBatchers(workCtx)
	close(workDone)
	<-drainClockDone
	s.audit.close()
	flushClock := time.AfterFunc(auditFlushTimeout, cancelWriter)
	defer flushClock.Stop()
	<-writerDone
	return fetchErr
}

// cutShortOnDrain marks the service draining when ctx ends, and cancels the
// deliveries' and batches' context (cancelWork) if they are not done
// DrainTimeout later.
func (s *Service) cutShortOnDrain(ctx context.Context, workDone <-chan struct{}, cancelWork func()) {
	select {
	case <-workDone:
		return
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("draining", "timeout", s.cfg.DrainTimeout)
	clock := time.NewTimer(s.cfg.DrainTimeout)
	defer clock.Stop()
	select {
	case <-workDone:
	case <-clock.C:
		s.log.Warn("drain timeout, cutting deliveries short")
		cancelWork()
	}
}

// fetch sends one pull request after another and routes the actions to
// their sinks' lanes, until ctx ends. It returns an error when the consumer
// is gone.
//
// It uses single requests rather than a continuous pull iterator because a
// request ends cleanly: the server says when it has sent everything for it.
// An iterator stopped mid-stream can leave actions the server already sent
// unread, and those wait out AckWait before anyone else gets them.
func (s *Service) fetch(ctx context.Context) error {
	for ctx.Err() == nil {
		err := s.fetchBatch(ctx)
		switch {
		case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound):
			return fmt.Errorf("consume %s: %w", bus.ActionsStream, err)
		case err != nil:
			s.log.Warn("fetch actions", "err", err)
			s.pause(ctx, fetchWait)
		}
	}
	return nil
}

// fetchBatch makes one pull request for up to WorkerCount actions, waiting
// at most fetchWait for them, and routes what it gets.
//
// TODO: read the request's replies on a subscription kept open across
// requests, as the rule-engine's fetch needs too: an action sent at the
// last moment to a starved process waits out AckWait.
func (s *Service) fetchBatch(ctx context.Context) error {
	batch, err := s.consumer.Fetch(s.cfg.WorkerCount, jetstream.FetchMaxWait(fetchWait))
	if err != nil {
		return err
	}
	for msg := range batch.Messages() {
		if j, ok := s.accept(ctx, msg); ok {
			s.route(ctx, j)
		}
	}
	return batch.Error()
}

// route queues a job in its sink's lane. When the lane is full and stalled
// (a sink that hangs or crawls), the action is put back for later rather
// than held: it must not wait in this process while its sink cannot take
// it, nor make the actions of other sinks wait.
//
// An action whose sink's circuit breaker is open is put back at once, with
// no lookup: shedding the actions of a dead sink must cost next to nothing.
// Only a last delivery goes on, to be dead-lettered.
func (s *Service) route(ctx context.Context, j job) {
	limit := s.cfg.WorkerCount
	mayDefer := j.delivery < s.cfg.MaxDeliver
	if dest, ok := s.sinks.lookup(j.action.Sink.ID); ok {
		limit = dest.concurrency(limit)
		if mayDefer && dest.circuitOpen() {
			s.traced(ctx, j, s.deferTo("circuit_open"))
			return
		}
	}
	switch s.lanes.submit(j, limit, mayDefer) {
	case laneBusy:
		s.traced(ctx, j, s.deferFor(laneBusy, laneBusyRetry))
	case laneStalled:
		s.traced(ctx, j, s.deferTo(laneStalled))
	}
}

// laneBusyRetry is how long an action waits in JetStream when its sink's
// lane was full but moving: its sink is healthy and busy, so it comes back
// soon rather than after a failed delivery's wait.
const laneBusyRetry = time.Second

// deferTo returns the step that puts a job back for later without calling
// its sink, for reason, to wait as long as after a failed delivery.
func (s *Service) deferTo(reason string) func(context.Context, job) string {
	return s.deferFor(reason, 0)
}

// deferFor is deferTo with the wait given; 0 means a failed delivery's.
func (s *Service) deferFor(reason string, wait time.Duration) func(context.Context, job) string {
	return func(ctx context.Context, j job) string {
		return s.later(ctx, j, outcome{prior: s.priorAttempts(j), deferred: reason, wait: wait, err: errSinkNotCalled(reason)})
	}
}

// pause waits d, or less if ctx ends.
func (s *Service) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// accept decodes a fetched message into a job and starts tracking it. A
// malformed action is refused for good; a second copy of a dispatch this
// dispatcher already holds is handed back, to be looked at again once the
// first is recorded.
//
// Its log lines carry the trace context of the message.
func (s *Service) accept(ctx context.Context, msg jetstream.Msg) (job, bool) {
	a, err := decodeAction(msg.Data())
	if err != nil {
		s.refuseMalformed(telemetry.Extract(ctx, msg.Headers()), msg, err)
		return job{}, false
	}
	if !s.held.add(a.DispatchID, msg) {
		if err := msg.NakWithDelay(s.cfg.RetryCap); err != nil {
			s.log.WarnContext(telemetry.Extract(ctx, msg.Headers()), "nak failed", "dispatch_id", a.DispatchID, "err", err)
		}
		return job{}, false
	}
	delivery := 1
	if meta, err := msg.Metadata(); err == nil {
		delivery = int(meta.NumDelivered)
		telemetry.CountRedelivery(metrics.TierDispatcher, meta)
	}
	return job{msg: msg, action: a, delivery: delivery}, true
}

// decodeAction reads an action and checks what its audit row needs: the rule
// and sink ids are UUIDs in the database, and a row that cannot be written
// must not be delivered.
// refuseMalformed refuses for good a message that is not an action the
// dispatcher can read, after copying it to bus.MalformedActionSubject so
// that it can be looked at. When the copy cannot be stored the message is
// handed back to try again, until its last delivery.
func (s *Service) refuseMalformed(ctx context.Context, msg jetstream.Msg, cause error) {
	copyCtx, cancel := context.WithTimeout(ctx, deadLetterTimeout)
	defer cancel()
	dlq := bus.MalformedActionSubject
	if _, err := bus.CopyToDeadLetters(copyCtx, s.js, msg, dlq, "action-dlq", cause); err != nil {
		meta, metaErr := msg.Metadata()
		if metaErr == nil && meta.NumDelivered < uint64(s.cfg.MaxDeliver) {
			s.log.WarnContext(ctx, "malformed action not dead-lettered, will be retried", "subject", msg.Subject(), "err", err)
			if err := msg.NakWithDelay(s.cfg.RetryCap); err != nil {
				s.log.WarnContext(ctx, "return malformed action", "subject", msg.Subject(), "err", err)
			}
			return
		}
		s.log.ErrorContext(ctx, "malformed action dropped: its dead letter could not be stored",
			"subject", msg.Subject(), "cause", cause.Error(), "err", err)
		dlq = ""
	}

	metrics.ActionsTerminated.WithLabelValues(reasonMalformedAction).Inc()
	s.log.WarnContext(ctx, "action refused as malformed", "subject", msg.Subject(), "dead_letter_subject", dlq, "err", cause)
	if err := msg.TermWithReason(reasonMalformedAction); err != nil {
		s.log.WarnContext(ctx, "terminate malformed action", "subject", msg.Subject(), "err", err)
	}
}

// reasonMalformedAction labels a message refused because it is not an
// action the dispatcher can read.
const reasonMalformedAction = "malformed_action"

func decodeAction(b []byte) (action.Action, error) {
	a, err := action.Decode(b)
	if err != nil {
		return action.Action{}, err
	}
	if _, err := uuid.Parse(a.Rule.ID); err != nil {
		return action.Action{}, errors.New("decode action: rule.id is not a UUID")
	}
	if _, err := uuid.Parse(a.Sink.ID); err != nil {
		return action.Action{}, errors.New("decode action: sink.id is not a UUID")
	}
	return a, nil
}

// watchChanges reloads the sinks when a change is announced, and every
// sinkResync in case an announcement was missed, until ctx ends.
func (s *Service) watchChanges(ctx context.Context, background *sync.WaitGroup) error {
	changed := make(chan struct{}, 1)
	sub, err := s.nc.Subscribe(bus.ChangesSubject, func(*nats.Msg) {
		select {
		case changed <- struct{}{}:
		default: // a reload is already due
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", bus.ChangesSubject, err)
	}
	background.Go(func() {
		defer sub.Unsubscribe() //nolint:errcheck // the connection closes next
		ticker := time.NewTicker(sinkResync)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
			case <-ticker.C:
			}
			if err := s.sinks.reload(ctx); err != nil {
				s.log.Warn("sinks not reloaded", "err", err)
			}
		}
	})
	return nil
}
