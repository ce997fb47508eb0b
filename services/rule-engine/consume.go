package ruleengine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
// until ctx ends or the consumer is gone.
//
// It uses single requests rather than a continuous pull iterator because
// a request ends cleanly: the server says when it has sent everything for
// it. An iterator stopped mid-stream can leave events the server already
// sent unread, and those wait out AckWait before anyone else gets them.
func (s *Service) feed(ctx context.Context, queue chan<- jetstream.Msg) error {
	for ctx.Err() == nil {
		err := s.fetch(queue)
		switch {
		case err == nil:
		case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound):
			return fmt.Errorf("consume %s: %w", ConsumerName, err)
		default:
			s.log.WarnContext(ctx, "pull events", "err", err)
			pause(ctx, fetchWait)
		}
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
