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
// fetched. It returns an error only when the consumer is gone.
func (s *Service) consume(ctx context.Context) error {
	queue := make(chan jetstream.Msg, s.cfg.WorkerCount)
	var workers sync.WaitGroup
	// Workers finish the events they were given even after ctx ends; the
	// publish timeout bounds how long that takes.
	workCtx := context.WithoutCancel(ctx)
	for range s.cfg.WorkerCount {
		workers.Go(func() { s.work(workCtx, queue) })
	}

	err := s.feed(ctx, queue)
	close(queue)
	workers.Wait()
	return err
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

// work handles messages from queue until it is closed.
func (s *Service) work(ctx context.Context, queue <-chan jetstream.Msg) {
	depth := metrics.WorkerQueueDepth.WithLabelValues(metrics.TierRuleEngine)
	for msg := range queue {
		depth.Set(float64(len(queue)))
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
