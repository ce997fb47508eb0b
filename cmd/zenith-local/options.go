package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/caarlos0/env/v11"

	"github.com/zenith-hq/zenith/pkg/usage"
)

// options configure zenith-local. The services' own variables (INGESTOR_ADDR,
// ENGINE_WORKER_COUNT and so on) apply too.
type options struct {
	// StateDir holds the embedded NATS server's data and, unless running as
	// root, the local PostgreSQL cluster.
	StateDir string `env:"ZENITH_STATE_DIR" envDefault:".zenith"`
	// NATSURL names an external NATS server; empty starts an embedded one.
	NATSURL string `env:"NATS_URL"`
	// NATSPort is the embedded NATS server's port.
	NATSPort int `env:"ZENITH_NATS_PORT" envDefault:"4222"`
	// DatabaseURL names an external database; empty starts a local cluster.
	DatabaseURL string `env:"DATABASE_URL"`
	// PostgresPort is the local cluster's port.
	PostgresPort int `env:"ZENITH_PG_PORT" envDefault:"55432"`
	// ConfigPath is the configuration applied at start.
	ConfigPath string `env:"ZENITH_CONFIG" envDefault:"examples/zenith.yaml"`
	// ReceiverAddr is where the demo receiver listens; "off" starts none.
	ReceiverAddr string `env:"ZENITH_RECEIVER_ADDR" envDefault:"127.0.0.1:9000"`
	// LogLevel is the services' log level: debug, info, warn or error.
	LogLevel slog.Level `env:"ZENITH_LOG_LEVEL" envDefault:"info"`
}

func optionsFromEnv() (options, error) {
	opts, err := usage.ParseEnv[options](env.Options{})
	if err != nil {
		return options{}, fmt.Errorf("configuration: %w", err)
	}
	return opts, nil
}

// serviceConfig reads a service's configuration from the environment, with
// the NATS server and database zenith-local chose in place of NATS_URL and
// DATABASE_URL.
func serviceConfig[T any](natsURL, databaseURL string) (T, error) {
	vars := env.ToMap(os.Environ())
	vars["NATS_URL"] = natsURL
	vars["DATABASE_URL"] = databaseURL
	cfg, err := usage.ParseEnv[T](env.Options{Environment: vars})
	if err != nil {
		return cfg, fmt.Errorf("service configuration: %w", err)
	}
	return cfg, nil
}
