package ruleengine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/metrics"
)

// consume pulls events and hands them to the workers until ctx ends, then
// drains: it stops pulling, passes on what the client already buffered and
// waits for the workers to finish. It returns an error only when the
// consumer can no longer deliver.
func (s *Service) consume(ctx context.Context) error {
	iter, err := s.consumer.Messages(jetstream.PullMaxMessages(s.cfg.WorkerCount))
	if err != nil {
		return fmt.Errorf("consume %s: %w", ConsumerName, err)
	}
	stopDrain := context.AfterFunc(ctx, func() {
		s.draining.Store(true)
		s.log.Info("draining")
		iter.Drain()
	})
	defer stopDrain()

	queue := make(chan jetstream.Msg, s.cfg.WorkerCount)
	var workers sync.WaitGroup
	// Workers finish the events they hold even after ctx ends; the publish
	// timeout bounds how long that takes.
	workCtx := context.WithoutCancel(ctx)
	for range s.cfg.WorkerCount {
		workers.Go(func() { s.work(workCtx, queue) })
	}

	err = s.feed(iter, queue)
	if err != nil {
		iter.Stop()
	}
	close(queue)
	workers.Wait()
	return err
}

// feed moves messages from iter to queue until iter is drained or the
// consumer is gone.
func (s *Service) feed(iter jetstream.MessagesContext, queue chan<- jetstream.Msg) error {
	depth := metrics.WorkerQueueDepth.WithLabelValues(metrics.TierRuleEngine)
	for {
		msg, err := iter.Next()
		switch {
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			return nil
		case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound):
			return fmt.Errorf("consume %s: %w", ConsumerName, err)
		case err != nil:
			// Missed heartbeats and the like: the iterator keeps pulling.
			s.log.Warn("pull events", "err", err)
			continue
		}
		queue <- msg
		depth.Set(float64(len(queue)))
	}
}

// work handles messages from queue until it is closed.
func (s *Service) work(ctx context.Context, queue <-chan jetstream.Msg) {
	depth := metrics.WorkerQueueDepth.WithLabelValues(metrics.TierRuleEngine)
	for msg := range queue {
		depth.Set(float64(len(queue)))
		s.handle(ctx, msg)
	}
}
