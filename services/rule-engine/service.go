package ruleengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/telemetry"
)

// ConsumerName is the durable consumer the rule-engine's replicas share on
// the events stream.
const ConsumerName = "rule-engine"

// setupTimeout bounds each step New takes against NATS.
const setupTimeout = 10 * time.Second

// Service is a running rule-engine: its connections, consumer, rules and
// admin server. Build it with New and run it once with Run.
type Service struct {
	cfg      Config
	log      *slog.Logger
	nc       *nats.Conn
	js       jetstream.JetStream
	consumer jetstream.Consumer
	store    *store.Store
	rules    ruleCache
	admin    *telemetry.AdminServer

	// changes is set when a configuration change was announced and rules
	// have not been reloaded since; its capacity of one coalesces bursts.
	changes    chan struct{}
	changesSub *nats.Subscription

	// draining is set once Run starts shutting down, for /readyz.
	draining atomic.Bool
}

// New connects to NATS and the database, makes sure the streams and the
// consumer exist, loads the rules, subscribes to change announcements and
// opens the admin port. It returns an error, having closed what it opened,
// at the first step that fails.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:     cfg,
		log:     log.With("component", "rule-engine"),
		changes: make(chan struct{}, 1),
	}
	if err := s.open(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// open does New's steps in order.
func (s *Service) open(ctx context.Context) error {
	if err := s.connectNATS(ctx); err != nil {
		return err
	}
	st, err := store.Open(ctx, s.cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	s.store = st
	if err := st.WaitForSchema(ctx, func(have, want uint) {
		s.log.InfoContext(ctx, "waiting for the database migrations", "schema_version", have, "needed", want)
	}); err != nil {
		return err
	}
	if err := s.rules.reload(ctx, s.store, s.log); err != nil {
		return err
	}
	s.changesSub, err = s.nc.Subscribe(bus.ChangesSubject, func(*nats.Msg) { s.noteChange() })
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", bus.ChangesSubject, err)
	}
	s.admin, err = telemetry.ListenAdmin(s.cfg.AdminAddr, s.ready)
	if err != nil {
		return fmt.Errorf("%w (ENGINE_ADMIN_ADDR moves it)", err)
	}
	return nil
}

// connectNATS connects, ensures the streams and creates or updates the
// durable consumer.
func (s *Service) connectNATS(ctx context.Context) error {
	nc, err := nats.Connect(s.cfg.NATSURL, bus.ConnectOptions("zenith-rule-engine", s.log)...)
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	s.nc = nc
	s.js, err = jetstream.New(nc, jetstream.WithPublishAsyncTimeout(s.cfg.PublishTimeout))
	if err != nil {
		return fmt.Errorf("open JetStream: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if err := bus.EnsureStreams(ctx, s.js, s.cfg.Streams); err != nil {
		return err
	}
	s.consumer, err = s.js.CreateOrUpdateConsumer(ctx, bus.EventsStream, s.consumerConfig())
	if err != nil {
		return fmt.Errorf("create consumer %s on %s: %w", ConsumerName, bus.EventsStream, err)
	}
	return nil
}

// consumerConfig describes the durable consumer. MaxAckPending covers the
// events the workers hold, those waiting in the queue and one pull request's
// worth: more would only sit in the client with their ack wait running.
// MaxDeliver leaves room for the spare deliveries that dead-letter an event
// (see spareDeliveries).
func (s *Service) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "evaluates events against their source's rules",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxDeliver:    s.cfg.MaxDeliver + spareDeliveries,
		MaxAckPending: 3 * s.cfg.WorkerCount,
	}
}

// AdminAddr returns the address the admin server listens on, with the port
// chosen when the configuration asked for port 0.
func (s *Service) AdminAddr() string {
	return s.admin.Addr()
}

// Run evaluates events until ctx ends. It then drains: it stops fetching,
// lets the workers finish the events already fetched (publishing their
// actions and acknowledging them), flushes and closes the connections. It
// returns nil on a clean stop and an error when consuming failed. Run must
// be called once.
func (s *Service) Run(ctx context.Context) error {
	defer s.close()

	// The admin server outlives ctx so that /readyz reports the drain.
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	// ctx may still be live when consuming fails; stopping the rule watcher
	// must not depend on it.
	watchCtx, stopWatch := context.WithCancel(ctx)
	var background sync.WaitGroup
	defer background.Wait()
	defer stopAdmin()
	defer stopWatch()
	background.Go(func() { s.admin.Serve(adminCtx, s.log) })
	background.Go(func() { s.watchRules(watchCtx) })
	background.Go(func() {
		telemetry.WatchConsumer(watchCtx, s.consumer, metrics.TierRuleEngine, telemetry.PollInterval)
	})
	stopDraining := context.AfterFunc(ctx, func() {
		s.draining.Store(true)
		s.log.Info("draining")
	})
	defer stopDraining()

	s.log.InfoContext(ctx, "rule-engine started", "workers", s.cfg.WorkerCount, "admin_addr", s.AdminAddr())
	if err := s.consume(ctx); err != nil {
		s.draining.Store(true)
		return err
	}
	s.log.InfoContext(ctx, "rule-engine stopped")
	return nil
}

// noteChange records that a configuration change was announced. It never
// blocks: a reload already pending covers this change too.
func (s *Service) noteChange() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

// watchRules reloads the rules when a change is announced and every Resync
// interval, until ctx ends. A failed reload keeps the previous rules.
func (s *Service) watchRules(ctx context.Context) {
	ticker := time.NewTicker(s.cfg.Resync)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.changes:
		case <-ticker.C:
		}
		if err := s.rules.reload(ctx, s.store, s.log); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "keeping the previous rules", "err", err)
		}
	}
}

// ready reports whether the service can take work, for /readyz.
func (s *Service) ready(ctx context.Context) error {
	if s.draining.Load() {
		return errors.New("draining")
	}
	if !s.nc.IsConnected() {
		return errors.New("not connected to NATS")
	}
	if err := s.store.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "database unreachable", "err", err)
		return errors.New("database unreachable")
	}
	return nil
}

// close releases the connections New opened. It tolerates a partly opened
// service.
func (s *Service) close() {
	if s.changesSub != nil {
		_ = s.changesSub.Unsubscribe()
	}
	if s.nc != nil {
		if err := bus.Close(s.nc, setupTimeout); err != nil {
			s.log.Warn("close NATS connection", "err", err)
		}
	}
	if s.store != nil {
		s.store.Close()
	}
}
