// Package ingestor is Zenith's front door. It authenticates producers by API
// key, validates their events and persists them in NATS JetStream, answering
// success only once JetStream has stored the event. It serves the
// ConnectRPC IngestorService (gRPC, gRPC-Web and Connect JSON on one h2c
// port) and POST /v1/events for producers that can only post plain JSON.
// When admin tokens are set it also serves the admin API (AdminService, see
// internal/admin) on a port of its own.
package ingestor

import (
	"fmt"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/usage"
)

// Config is the ingestor's configuration, read from the environment.
type Config struct {
	// NATSURL is the NATS server holding the streams.
	NATSURL string `env:"NATS_URL" envDefault:"nats://127.0.0.1:4222"`
	// DatabaseURL is the PostgreSQL or CockroachDB database holding the keys.
	DatabaseURL string `env:"DATABASE_URL,required"`
	// Migrate applies the database migrations at start.
	Migrate bool `env:"DATABASE_MIGRATE" envDefault:"true"`
	// ConfigPath names a configuration file (sources, keys, sinks, rules) to
	// apply at start; empty applies none.
	ConfigPath string `env:"ZENITH_CONFIG"`
	// ListenAddr serves producers: Connect, gRPC, gRPC-Web and REST.
	ListenAddr string `env:"INGESTOR_ADDR" envDefault:"127.0.0.1:8080"`
	// AdminAddr serves /metrics, /healthz and /readyz.
	AdminAddr string `env:"INGESTOR_ADMIN_ADDR" envDefault:"127.0.0.1:9090"`
	// AdminAPIAddr serves the admin API (the ConnectRPC AdminService) when
	// admin tokens are set; keep it off the producers' network.
	AdminAPIAddr string `env:"INGESTOR_ADMIN_API_ADDR" envDefault:"127.0.0.1:8081"`
	// AdminTokens are the bearer tokens that may call the whole admin API,
	// comma-separated, each of 16 or more characters. With no token at all
	// the admin API is off.
	AdminTokens []string `env:"ZENITH_ADMIN_TOKENS"`
	// AdminReadOnlyTokens may call only the admin API's reading calls.
	AdminReadOnlyTokens []string `env:"ZENITH_ADMIN_READONLY_TOKENS"`
	// KeyRevalidate is how long a verified API key is trusted before its row
	// is read again; it bounds how long a revoked key keeps working.
	KeyRevalidate time.Duration `env:"INGESTOR_KEY_REVALIDATE" envDefault:"5s"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64 `env:"INGESTOR_MAX_BODY_BYTES" envDefault:"1048576"`
	// PublishTimeout bounds the wait for JetStream to store an event.
	PublishTimeout time.Duration `env:"INGESTOR_PUBLISH_TIMEOUT" envDefault:"5s"`
	// ShutdownGrace bounds how long a stop waits for requests in flight.
	ShutdownGrace time.Duration `env:"INGESTOR_SHUTDOWN_GRACE" envDefault:"20s"`
	// Streams are the streams' limits and replicas, the same in every
	// service (ZENITH_STREAM_*).
	Streams bus.StreamOptions
}

// ConfigFromEnv reads the configuration from the environment.
func ConfigFromEnv() (Config, error) {
	cfg, err := usage.ParseEnv[Config](env.Options{})
	if err != nil {
		return Config{}, fmt.Errorf("ingestor configuration: %w", err)
	}
	if err := cfg.Streams.Validate(); err != nil {
		return Config{}, fmt.Errorf("ingestor configuration: %w", err)
	}
	return cfg, nil
}
