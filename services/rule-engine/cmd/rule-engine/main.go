// Command rule-engine evaluates Zenith's events against their source's rules
// and publishes the actions of the rules that match. It is configured from
// the environment; see ruleengine.Config.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	ruleengine "github.com/zenith-hq/zenith/services/rule-engine"

	"github.com/zenith-hq/zenith/pkg/telemetry"
	"github.com/zenith-hq/zenith/pkg/usage"
)

// serviceName names the service in logs, and as zenith-rule-engine in
// traces.
const serviceName = "rule-engine"

func main() {
	if len(os.Args) > 1 {
		os.Exit(usage.Print(os.Stderr, os.Args, "Zenith's rule-engine: evaluates each event against its source's rules and\npublishes an action per sink of each matched rule.", &ruleengine.Config{}))
	}
	log := telemetry.NewLogger(os.Stderr, serviceName, slog.LevelInfo)
	if err := run(log); err != nil {
		log.Error("rule-engine failed", "err", err)
		os.Exit(1)
	}
}

// run starts the service and runs it until SIGINT or SIGTERM.
func run(log *slog.Logger) error {
	cfg, err := ruleengine.ConfigFromEnv()
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	shutdownTracing, err := telemetry.SetupTracing(ctx, "zenith-"+serviceName)
	if err != nil {
		return err
	}
	defer flushTracing(log, shutdownTracing)

	svc, err := ruleengine.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}

// flushTracing sends the spans still buffered, giving up after a few seconds.
func flushTracing(log *slog.Logger, shutdown func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		log.Warn("flush traces", "err", err)
	}
}
