// Package stack runs Zenith's three services (ingestor, rule-engine,
// dispatcher) in one process, as `make run` and the end-to-end tests do.
// Each service is the same code its own binary runs.
package stack

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/zenith-hq/zenith/services/dispatcher"
	"github.com/zenith-hq/zenith/services/ingestor"
	ruleengine "github.com/zenith-hq/zenith/services/rule-engine"
)

// Config holds the configuration of each service.
type Config struct {
	Ingestor   ingestor.Config
	Engine     ruleengine.Config
	Dispatcher dispatcher.Config
}

// ConfigFromEnv reads each service's configuration from the environment,
// as its own binary does.
func ConfigFromEnv() (Config, error) {
	var cfg Config
	var err error
	if cfg.Ingestor, err = ingestor.ConfigFromEnv(); err != nil {
		return Config{}, err
	}
	if cfg.Engine, err = ruleengine.ConfigFromEnv(); err != nil {
		return Config{}, err
	}
	if cfg.Dispatcher, err = dispatcher.ConfigFromEnv(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Stack is the three services, connected and listening.
type Stack struct {
	Ingestor   *ingestor.Service
	Engine     *ruleengine.Service
	Dispatcher *dispatcher.Service
}

// Start connects and opens the ports of the three services, each logging
// through the logger newLogger makes for its name. Nothing is processed
// until Run.
func Start(ctx context.Context, cfg Config, newLogger func(service string) *slog.Logger) (*Stack, error) {
	var s Stack
	var err error
	if s.Dispatcher, err = dispatcher.New(ctx, cfg.Dispatcher, newLogger("dispatcher")); err != nil {
		return nil, err
	}
	if s.Engine, err = ruleengine.New(ctx, cfg.Engine, newLogger("rule-engine")); err != nil {
		s.release(ctx)
		return nil, err
	}
	if s.Ingestor, err = ingestor.New(ctx, cfg.Ingestor, newLogger("ingestor")); err != nil {
		s.release(ctx)
		return nil, err
	}
	return &s, nil
}

// release closes the services a failed Start had already started, by
// running each with a context that is already cancelled.
func (s *Stack) release(ctx context.Context) {
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	if s.Engine != nil {
		_ = s.Engine.Run(stopped)
	}
	if s.Dispatcher != nil {
		_ = s.Dispatcher.Run(stopped)
	}
}

// Run runs the three services until ctx is cancelled and all have drained.
// Should one stop with an error, the others are stopped too.
func (s *Stack) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	runs := []func(context.Context) error{s.Ingestor.Run, s.Engine.Run, s.Dispatcher.Run}
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, run := range runs {
		wg.Go(func() {
			errs[i] = run(ctx)
			cancel()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
