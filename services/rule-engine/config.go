package ruleengine

import (
	"errors"
	"fmt"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/zenith-hq/zenith/pkg/usage"
)

// Config is the rule-engine's configuration. Every field but DatabaseURL has
// a default, given in its envDefault tag.
type Config struct {
	// NATSURL is the NATS server holding the streams.
	NATSURL string `env:"NATS_URL" envDefault:"nats://127.0.0.1:4222"`
	// DatabaseURL is the PostgreSQL or CockroachDB DSN rules are read from.
	// It may hold a password: never log it.
	DatabaseURL string `env:"DATABASE_URL,required"`
	// WorkerCount is the number of events evaluated at once.
	WorkerCount int `env:"ENGINE_WORKER_COUNT" envDefault:"10"`
	// AdminAddr is where /metrics, /healthz and /readyz are served; port 0
	// picks a free port (see Service.AdminAddr).
	AdminAddr string `env:"ENGINE_ADMIN_ADDR" envDefault:"127.0.0.1:9091"`
	// Resync is how often rules are reloaded even when no change was
	// announced, in case an announcement was missed.
	Resync time.Duration `env:"ENGINE_RESYNC_INTERVAL" envDefault:"30s"`
	// AckWait is how long JetStream waits for an event's acknowledgement
	// before delivering it again.
	AckWait time.Duration `env:"ENGINE_ACK_WAIT" envDefault:"30s"`
	// MaxDeliver is how many times an event is delivered before JetStream
	// gives up on it.
	MaxDeliver int `env:"ENGINE_MAX_DELIVER" envDefault:"5"`
	// RetryDelay is how long an event whose actions could not be stored
	// waits before it is delivered again.
	RetryDelay time.Duration `env:"ENGINE_RETRY_DELAY" envDefault:"1s"`
	// PublishTimeout bounds the wait for JetStream to store an event's
	// actions, and with it how long shutdown waits for work in flight.
	PublishTimeout time.Duration `env:"ENGINE_PUBLISH_TIMEOUT" envDefault:"5s"`
}

// ConfigFromEnv reads the configuration from the environment and validates
// it.
func ConfigFromEnv() (Config, error) {
	cfg, err := usage.ParseEnv[Config](env.Options{})
	if err != nil {
		return Config{}, fmt.Errorf("read configuration: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.NATSURL == "":
		return errors.New("config: NATS_URL is required")
	case c.DatabaseURL == "":
		return errors.New("config: DATABASE_URL is required")
	case c.WorkerCount < 1:
		return fmt.Errorf("config: ENGINE_WORKER_COUNT must be at least 1, got %d", c.WorkerCount)
	case c.Resync <= 0:
		return fmt.Errorf("config: ENGINE_RESYNC_INTERVAL must be positive, got %s", c.Resync)
	case c.MaxDeliver < 1:
		return fmt.Errorf("config: ENGINE_MAX_DELIVER must be at least 1, got %d", c.MaxDeliver)
	case c.RetryDelay < 0:
		return fmt.Errorf("config: ENGINE_RETRY_DELAY must not be negative, got %s", c.RetryDelay)
	case c.PublishTimeout <= 0:
		return fmt.Errorf("config: ENGINE_PUBLISH_TIMEOUT must be positive, got %s", c.PublishTimeout)
	case c.AckWait <= c.PublishTimeout:
		// An event whose ack wait runs out while its actions are still being
		// stored is delivered to a second worker for nothing.
		return fmt.Errorf("config: ENGINE_ACK_WAIT (%s) must be longer than ENGINE_PUBLISH_TIMEOUT (%s)", c.AckWait, c.PublishTimeout)
	}
	return nil
}
