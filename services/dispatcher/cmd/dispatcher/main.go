// Command dispatcher delivers the actions of matched rules to their sinks.
// It is configured from the environment; see dispatcher.Config.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/zenith-hq/zenith/pkg/telemetry"
	"github.com/zenith-hq/zenith/pkg/usage"
	"github.com/zenith-hq/zenith/services/dispatcher"
)

func main() {
	if len(os.Args) > 1 {
		os.Exit(usage.Print(os.Stderr, os.Args, "Zenith's dispatcher: delivers the actions of matched rules to their sinks,\nwith retries, and writes one audit row per outcome.", &dispatcher.Config{}))
	}
	log := telemetry.NewLogger(os.Stderr, "dispatcher", slog.LevelInfo)
	if err := run(log); err != nil {
		log.Error("dispatcher failed", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	cfg, err := dispatcher.ConfigFromEnv()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	shutdownTracing, err := telemetry.SetupTracing(ctx, "zenith-dispatcher")
	if err != nil {
		return err
	}
	defer flushTraces(shutdownTracing, log)

	svc, err := dispatcher.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}

// flushTraces sends the spans still buffered, for a few seconds at most.
func flushTraces(shutdown func(context.Context) error, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		log.Warn("flush traces", "err", err)
	}
}
