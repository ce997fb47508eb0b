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
	// NATSSyncAlways makes the embedded NATS server write every message to
	// disk before acknowledging it (sync_interval: always), so that an
	// accepted event survives a power loss too; see docs/guarantees.md.
	NATSSyncAlways bool `env:"ZENITH_NATS_SYNC_ALWAYS" envDefault:"false"`
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
	// ShopAPIKey is the example source's key, which examples/zenith.yaml
	// reads, and AdminTokens the admin API's tokens, which the ingestor
	// reads. They are here so that --help lists them with their defaults;
	// setDemoDefaults gives them those.
	ShopAPIKey  string `env:"SHOP_API_KEY" envDefault:"zenith-demo-shop-key-0001"`
	AdminTokens string `env:"ZENITH_ADMIN_TOKENS" envDefault:"zenith-demo-admin-token-0001"`
}

// setDemoDefaults gives SHOP_API_KEY and ZENITH_ADMIN_TOKENS their public
// demo values when they are not set, where the configuration file and the
// services will read them. Set empty counts as set: an empty
// ZENITH_ADMIN_TOKENS serves no admin API.
func setDemoDefaults() error {
	for key, value := range map[string]string{"SHOP_API_KEY": demoKey, "ZENITH_ADMIN_TOKENS": demoAdminToken} {
		if _, set := os.LookupEnv(key); set {
			continue
		}
		if err := os.Setenv(key, value); err != nil {
			return fmt.Errorf("set %s: %w", key, err)
		}
	}
	return nil
}

func optionsFromEnv() (options, error) {
	opts, err := usage.ParseEnv[options](env.Options{})
	if err != nil {
		return options{}, fmt.Errorf("configuration: %w", err)
	}
	for _, p := range []struct {
		variable string
		port     int
	}{{"ZENITH_NATS_PORT", opts.NATSPort}, {"ZENITH_PG_PORT", opts.PostgresPort}} {
		if p.port < 0 || p.port > 65535 {
			return options{}, fmt.Errorf("configuration: %s: %d is not a TCP port (0-65535)", p.variable, p.port)
		}
	}
	return opts, nil
}

// serviceConfig reads a service's configuration from the environment, with
// the NATS server and database zenith-local chose in place of NATS_URL and
// DATABASE_URL, and checks it.
func serviceConfig[T interface{ Validate() error }](natsURL, databaseURL string) (T, error) {
	vars := env.ToMap(os.Environ())
	vars["NATS_URL"] = natsURL
	vars["DATABASE_URL"] = databaseURL
	cfg, err := usage.ParseEnv[T](env.Options{Environment: vars})
	if err != nil {
		return cfg, fmt.Errorf("service configuration: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}
