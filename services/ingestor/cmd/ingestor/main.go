// Command ingestor runs Zenith's ingestor on its own, against the NATS
// server and database its environment names (see the ingestor package for
// the variables).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/zenith-hq/zenith/pkg/telemetry"
	"github.com/zenith-hq/zenith/pkg/usage"
	"github.com/zenith-hq/zenith/services/ingestor"
)

func main() {
	if len(os.Args) > 1 {
		os.Exit(usage.Print(os.Stderr, os.Args, "Zenith's ingestor: authenticates producers, validates their events and\npersists them in NATS JetStream.", &ingestor.Config{}))
	}
	log := telemetry.NewLogger(os.Stderr, "ingestor", slog.LevelInfo)
	if err := run(log); err != nil {
		log.Error("ingestor failed", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := ingestor.ConfigFromEnv()
	if err != nil {
		return err
	}
	shutdownTracing, err := telemetry.SetupTracing(ctx, "zenith-ingestor")
	if err != nil {
		return err
	}
	defer shutdownTracing(context.WithoutCancel(ctx))

	svc, err := ingestor.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}
