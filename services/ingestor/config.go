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
	"math"
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
	// MaxBodyBytes bounds a request body as it arrives, compressed or not.
	MaxBodyBytes int64 `env:"INGESTOR_MAX_BODY_BYTES" envDefault:"1048576"`
	// MaxDecompressedBytes bounds a request body, or a Connect or gRPC
	// message, once decompressed; a gzip bomb is refused when its output
	// passes it, without inflating the rest. It is at least MaxBodyBytes.
	MaxDecompressedBytes int64 `env:"INGESTOR_MAX_DECOMPRESSED_BYTES" envDefault:"4194304"`
	// RateLimit is how many events a second each API key may send on
	// average; 0 turns rate limiting off.
	RateLimit float64 `env:"INGESTOR_RATE_LIMIT" envDefault:"1000"`
	// RateBurst is how many events an API key may send at once, at least
	// the largest batch (500) when rate limiting is on.
	RateBurst int `env:"INGESTOR_RATE_BURST" envDefault:"2000"`
	// PublishTimeout bounds the wait for JetStream to store an event.
	PublishTimeout time.Duration `env:"INGESTOR_PUBLISH_TIMEOUT" envDefault:"5s"`
	// ShutdownGrace bounds how long a stop waits for requests in flight.
	ShutdownGrace time.Duration `env:"INGESTOR_SHUTDOWN_GRACE" envDefault:"20s"`
	// Streams are the streams' limits and replicas, the same in every
	// service (ZENITH_STREAM_*).
	Streams bus.StreamOptions
}

// ConfigFromEnv reads the configuration from the environment and validates
// it.
func ConfigFromEnv() (Config, error) {
	cfg, err := usage.ParseEnv[Config](env.Options{})
	if err != nil {
		return Config{}, fmt.Errorf("ingestor configuration: %w", err)
	}
	return cfg, cfg.Validate()
}

// Validate reports the first limit or admin token that cannot work.
func (c Config) Validate() error {
	switch {
	case c.MaxBodyBytes <= 0:
		return fmt.Errorf("ingestor configuration: INGESTOR_MAX_BODY_BYTES must be positive, got %d", c.MaxBodyBytes)
	case c.MaxDecompressedBytes < c.MaxBodyBytes || c.MaxDecompressedBytes > math.MaxInt32:
		return fmt.Errorf("ingestor configuration: INGESTOR_MAX_DECOMPRESSED_BYTES must be at least INGESTOR_MAX_BODY_BYTES (%d) and below 2 GiB, got %d", c.MaxBodyBytes, c.MaxDecompressedBytes)
	case c.RateLimit < 0:
		return fmt.Errorf("ingestor configuration: INGESTOR_RATE_LIMIT must not be negative, got %g", c.RateLimit)
	case c.RateLimit > 0 && c.RateBurst < MaxBatch:
		return fmt.Errorf("ingestor configuration: INGESTOR_RATE_BURST must be at least %d, the largest batch, got %d", MaxBatch, c.RateBurst)
	}
	if err := c.Streams.Validate(); err != nil {
		return fmt.Errorf("ingestor configuration: %w", err)
	}
	if err := c.adminTokens().Validate(); err != nil {
		return fmt.Errorf("ingestor configuration: %w", err)
	}
	return nil
}
