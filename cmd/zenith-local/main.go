// Command zenith-local runs the whole Zenith pipeline on one machine with
// nothing installed but Go and PostgreSQL's server binaries: an embedded
// NATS server with JetStream, a local PostgreSQL cluster (unless
// DATABASE_URL names a database), the migrations, the configuration in
// examples/zenith.yaml (or ZENITH_CONFIG), a receiver that prints what the
// example sinks deliver, and the three services. `make run` starts it;
// Ctrl-C stops everything.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/zenith-hq/zenith/pkg/config"
	"github.com/zenith-hq/zenith/pkg/telemetry"
	"github.com/zenith-hq/zenith/pkg/usage"
)

const summary = `Runs the whole Zenith pipeline on this machine: an embedded NATS server, a
local PostgreSQL unless DATABASE_URL is set, the three services and a demo
receiver. The services' own variables apply too (bin/ingestor --help,
bin/rule-engine --help and bin/dispatcher --help list them), among them the
addresses they listen on: INGESTOR_ADDR, INGESTOR_ADMIN_ADDR,
INGESTOR_ADMIN_API_ADDR, ENGINE_ADMIN_ADDR and DISPATCHER_ADMIN_ADDR.`

func main() {
	if len(os.Args) > 1 {
		os.Exit(usage.Print(os.Stderr, os.Args, summary, &options{}))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := run(ctx, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "zenith-local:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out, logOut io.Writer) error {
	opts, err := optionsFromEnv()
	if err != nil {
		return err
	}
	if err := setDemoDefaults(); err != nil {
		return err
	}
	settings, err := checkServiceSettings()
	if err != nil {
		return err
	}
	if _, err := config.Load(opts.ConfigPath); err != nil {
		return fmt.Errorf("ZENITH_CONFIG: %w", err)
	}
	release, err := claimStateDir(opts.StateDir)
	if err != nil {
		return err
	}
	defer release()
	if err := checkAddrs(opts, settings); err != nil {
		return err
	}
	newLogger := func(service string) *slog.Logger {
		return telemetry.NewLogger(logOut, service, opts.LogLevel)
	}
	shutdownTracing, err := telemetry.SetupTracing(ctx, "zenith-local")
	if err != nil {
		return err
	}
	defer shutdownTracing(context.WithoutCancel(ctx))

	env, err := startEnvironment(ctx, opts, out)
	if err != nil {
		return err
	}
	defer env.stop(out)

	return runPipeline(ctx, opts, env, out, newLogger)
}
