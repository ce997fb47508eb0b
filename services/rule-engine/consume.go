package ruleengine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/metrics"
)

// fetchWait is how long one pull request waits for events. A drain waits
// for the request in progress to end, so it also bounds that wait.
const fetchWait = time.Second

// consume pulls events and hands them to the workers until ctx ends, then
// drains: it stops pulling and waits for the workers to finish what was
// fetched, at most DrainTimeout, after which the events not yet settled are
// handed back to JetStream. It returns an error only when the consumer is
// gone.
func (s *Service) consume(ctx context.Context) error {
	queue := make(chan jetstream.Msg, s.cfg.WorkerCount)
	// Workers finish the events they were given even after ctx ends, until
	// the drain's deadline cancels workCtx.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var workers sync.WaitGroup
	for range s.cfg.WorkerCount {
		workers.Go(func() { s.work(workCtx, queue) })
	}
	workersDone := make(chan struct{})
	var clock sync.WaitGroup
	clock.Go(func() { s.cutShortOnDrain(ctx, workersDone, cancelWork) })

	err := s.feed(ctx, queue)
	close(queue)
	workers.Wait()
	close(workersDone)
	clock.Wait()
	return err
}

// cutShortOnDrain cancels the workers' context (cancelWork) if they are not
// done DrainTimeout after ctx ends.
func (s *Service) cutShortOnDrain(ctx context.Context, workersDone <-chan struct{}, cancelWork func()) {
	select {
	case <-workersDone:
		return
	case <-ctx.Done():
	}
	timer := time.NewTimer(s.cfg.DrainTimeout)
	defer timer.Stop()
	select {
	case <-workersDone:
	case <-timer.C:
		s.log.Warn("drain timeout: handing back the events not yet evaluated", "timeout", s.cfg.DrainTimeout)
		cancelWork()
	}
}

// feed sends one pull request after another and moves the events to queue,
// until ctx ends or the consumer is gone. A deleted consumer ends the
// service rather than being recreated behind the back of whoever deleted
// it; a restart recreates it.
//
// It uses single requests rather than a continuous pull iterator because
// a request ends cleanly: the server says when it has sent everything for
// it. An iterator stopped mid-stream can leave events the server already
// sent unread, and those wait out AckWait before anyone else gets them.
func (s *Service) feed(ctx context.Context, queue chan<- jetstream.Msg) error {
	for ctx.Err() == nil {
		err := s.fetch(queue)
		if err == nil {
			continue
		}
		if gone := s.consumerGone(ctx, err); gone != nil {
			return gone
		}
		s.log.WarnContext(ctx, "pull events", "err", err)
		pause(ctx, fetchWait)
	}
	return nil
}

// consumerGone returns an error when fetchErr, the error of a pull request,
// means the consumer no longer exists; nil when it may be passing. A pull
// for a deleted consumer usually finds no responder, as does one made while
// JetStream is unavailable for a moment, so that case asks the server.
func (s *Service) consumerGone(ctx context.Context, fetchErr error) error {
	if errors.Is(fetchErr, jetstream.ErrConsumerDeleted) || errors.Is(fetchErr, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("consume %s: %w", ConsumerName, fetchErr)
	}
	if !errors.Is(fetchErr, nats.ErrNoResponders) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	_, err := s.js.Consumer(ctx, bus.EventsStream, ConsumerName)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("consume %s: %w", ConsumerName, err)
	}
	return nil
}

// fetch asks for as many events as there are workers, passes each on as it
// arrives and returns when the request has ended.
//
// TODO: read the request's replies on a subscription kept open across
// requests. The client ends a request a second after the server's deadline
// and ignores later replies, so an event sent at the last moment to a
// process starved of CPU is left unread until AckWait brings it back.
func (s *Service) fetch(queue chan<- jetstream.Msg) error {
	batch, err := s.consumer.Fetch(s.cfg.WorkerCount, jetstream.FetchMaxWait(fetchWait))
	if err != nil {
		return err
	}
	depth := metrics.WorkerQueueDepth.WithLabelValues(metrics.TierRuleEngine)
	for msg := range batch.Messages() {
		queue <- msg
		depth.Set(float64(len(queue)))
	}
	return batch.Error()
}

// work handles messages from queue until it is closed. Once ctx ends (the
// drain's deadline passed) it hands back what remains instead.
func (s *Service) work(ctx context.Context, queue <-chan jetstream.Msg) {
	depth := metrics.WorkerQueueDepth.WithLabelValues(metrics.TierRuleEngine)
	for msg := range queue {
		depth.Set(float64(len(queue)))
		if ctx.Err() != nil {
			s.handBack(ctx, msg, ctx.Err())
			continue
		}
		s.handle(ctx, msg)
	}
}

// pause waits for d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
