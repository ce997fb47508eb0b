package dispatcher

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/usage"
)

// Config is the dispatcher's configuration. ConfigFromEnv fills it from the
// environment; a Config built in code may leave any field but DatabaseURL at
// its zero value, which New replaces with the default named in its env tag.
type Config struct {
	// NATSURL is the NATS server holding the streams.
	NATSURL string `env:"NATS_URL" envDefault:"nats://127.0.0.1:4222"`
	// DatabaseURL is the PostgreSQL or CockroachDB database holding sinks
	// and the audit log. It may hold a password: never log it.
	DatabaseURL string `env:"DATABASE_URL,required"`
	// WorkerCount is how many actions are fetched at once, and how many are
	// delivered at once to each sink whose policy sets no concurrency.
	WorkerCount int `env:"DISPATCHER_WORKER_COUNT" envDefault:"20"`
	// AdminAddr is where /metrics, /healthz and /readyz are served.
	AdminAddr string `env:"DISPATCHER_ADMIN_ADDR" envDefault:"127.0.0.1:9092"`

	// AckWait is how long JetStream waits for an answer about a delivered
	// action before handing it out again. Long deliveries report progress
	// every third of it, so it only bounds how soon a crashed dispatcher's
	// actions come back.
	AckWait time.Duration `env:"DISPATCHER_ACK_WAIT" envDefault:"30s"`
	// MaxDeliver is how many deliveries of an action try its sink before the
	// action is dead-lettered. Each delivery makes up to RetryAttempts
	// attempts.
	MaxDeliver int `env:"DISPATCHER_MAX_DELIVER" envDefault:"8"`
	// MaxAckPending bounds the actions handed out and not yet answered,
	// across all replicas. It must exceed replicas × WorkerCount × 2, or
	// replicas sit idle. Actions waiting in an archive batch count too: a
	// batch holds at most half of it.
	MaxAckPending int `env:"DISPATCHER_MAX_ACK_PENDING" envDefault:"10000"`

	// RetryAttempts is how many times one delivery calls the sink before
	// handing the action back to JetStream for a later delivery.
	RetryAttempts int `env:"DISPATCHER_RETRY_ATTEMPTS" envDefault:"3"`
	// RetryBase is the wait before the second attempt of a delivery; each
	// further wait doubles, up to RetryCap, with ±20% jitter.
	RetryBase time.Duration `env:"DISPATCHER_RETRY_BASE" envDefault:"100ms"`
	// RetryCap bounds the wait between two attempts of one delivery.
	RetryCap time.Duration `env:"DISPATCHER_RETRY_CAP" envDefault:"2s"`
	// RedeliveryBase is how long JetStream keeps an action back after its
	// first failed delivery; each further delivery doubles it, up to
	// RedeliveryCap. A down endpoint thus waits in the stream, not in a
	// worker.
	RedeliveryBase time.Duration `env:"DISPATCHER_REDELIVERY_BASE" envDefault:"10s"`
	// RedeliveryCap bounds the wait between two deliveries.
	RedeliveryCap time.Duration `env:"DISPATCHER_REDELIVERY_CAP" envDefault:"10m"`
	// RetryAfterCap bounds how long a sink's Retry-After answer keeps an
	// action back; a longer one is cut to it.
	RetryAfterCap time.Duration `env:"DISPATCHER_RETRY_AFTER_CAP" envDefault:"10m"`

	// EgressAllow lists the address ranges (CIDR prefixes) that are not
	// public but sinks may connect to all the same, such as 127.0.0.0/8 for
	// local runs. Public addresses are always allowed; loopback, private,
	// link-local, cloud metadata, carrier-grade NAT, multicast and other
	// special ranges are refused unless listed. Empty in production.
	EgressAllow []string `env:"DISPATCHER_EGRESS_ALLOW" envSeparator:","`

	// AuditBatchSize is the most audit rows written in one round trip.
	AuditBatchSize int `env:"DISPATCHER_AUDIT_BATCH_SIZE" envDefault:"100"`
	// AuditLinger is how long the audit writer waits for more rows before
	// writing a batch that is not full.
	AuditLinger time.Duration `env:"DISPATCHER_AUDIT_LINGER" envDefault:"5ms"`

	// DrainTimeout bounds the shutdown: deliveries still running after it
	// are cut short and handed back to JetStream.
	DrainTimeout time.Duration `env:"DISPATCHER_DRAIN_TIMEOUT" envDefault:"20s"`

	// Streams are the streams' limits and replicas, the same in every
	// service (ZENITH_STREAM_*).
	Streams bus.StreamOptions
}

// Defaults, the same as the env tags above.
const (
	defaultNATSURL        = "nats://127.0.0.1:4222"
	defaultWorkerCount    = 20
	defaultAdminAddr      = "127.0.0.1:9092"
	defaultAckWait        = 30 * time.Second
	defaultMaxDeliver     = 8
	defaultMaxAckPending  = 10000
	defaultRetryAttempts  = 3
	defaultRetryBase      = 100 * time.Millisecond
	defaultRetryCap       = 2 * time.Second
	defaultRedeliveryBase = 10 * time.Second
	defaultRedeliveryCap  = 10 * time.Minute
	defaultRetryAfterCap  = 10 * time.Minute
	defaultAuditBatchSize = 100
	defaultAuditLinger    = 5 * time.Millisecond
	defaultDrainTimeout   = 20 * time.Second
)

// ConfigFromEnv reads the Config from the environment and validates it.
func ConfigFromEnv() (Config, error) {
	cfg, err := usage.ParseEnv[Config](env.Options{})
	if err != nil {
		return Config{}, fmt.Errorf("read dispatcher config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	setDefault(&c.NATSURL, defaultNATSURL)
	setDefault(&c.WorkerCount, defaultWorkerCount)
	setDefault(&c.AdminAddr, defaultAdminAddr)
	setDefault(&c.AckWait, defaultAckWait)
	setDefault(&c.MaxDeliver, defaultMaxDeliver)
	setDefault(&c.MaxAckPending, defaultMaxAckPending)
	setDefault(&c.RetryAttempts, defaultRetryAttempts)
	setDefault(&c.RetryBase, defaultRetryBase)
	setDefault(&c.RetryCap, defaultRetryCap)
	setDefault(&c.RedeliveryBase, defaultRedeliveryBase)
	setDefault(&c.RedeliveryCap, defaultRedeliveryCap)
	setDefault(&c.RetryAfterCap, defaultRetryAfterCap)
	setDefault(&c.AuditBatchSize, defaultAuditBatchSize)
	setDefault(&c.AuditLinger, defaultAuditLinger)
	setDefault(&c.DrainTimeout, defaultDrainTimeout)
	c.Streams = c.Streams.WithDefaults()
	return c
}

func setDefault[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}

// Validate reports the first setting that cannot work. Zero values are
// accepted: they mean the default.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.DatabaseURL == "":
		return errors.New("dispatcher config: DATABASE_URL is required")
	case c.WorkerCount < 1:
		return errors.New("dispatcher config: DISPATCHER_WORKER_COUNT must be at least 1")
	case c.AckWait < time.Second:
		return errors.New("dispatcher config: DISPATCHER_ACK_WAIT must be at least 1s")
	case c.MaxDeliver < 1:
		return errors.New("dispatcher config: DISPATCHER_MAX_DELIVER must be at least 1")
	case c.MaxAckPending < c.WorkerCount:
		return errors.New("dispatcher config: DISPATCHER_MAX_ACK_PENDING must be at least DISPATCHER_WORKER_COUNT")
	case c.RetryAttempts < 1:
		return errors.New("dispatcher config: DISPATCHER_RETRY_ATTEMPTS must be at least 1")
	case c.RetryBase < 0:
		return errors.New("dispatcher config: DISPATCHER_RETRY_BASE must not be negative")
	case c.RetryCap < c.RetryBase:
		return errors.New("dispatcher config: DISPATCHER_RETRY_CAP must be at least DISPATCHER_RETRY_BASE")
	case c.RedeliveryBase < 0:
		return errors.New("dispatcher config: DISPATCHER_REDELIVERY_BASE must not be negative")
	case c.RedeliveryCap < c.RedeliveryBase:
		return errors.New("dispatcher config: DISPATCHER_REDELIVERY_CAP must be at least DISPATCHER_REDELIVERY_BASE")
	case c.AuditBatchSize < 1:
		return errors.New("dispatcher config: DISPATCHER_AUDIT_BATCH_SIZE must be at least 1")
	case c.AuditLinger < 0 || c.DrainTimeout < 0 || c.RetryAfterCap < 0:
		return errors.New("dispatcher config: durations must not be negative")
	}
	if _, err := parseAllow(c.EgressAllow); err != nil {
		return fmt.Errorf("dispatcher config: DISPATCHER_EGRESS_ALLOW: %w", err)
	}
	if err := c.Streams.Validate(); err != nil {
		return fmt.Errorf("dispatcher config: %w", err)
	}
	return nil
}

// LogValue lets a Config be logged: the URLs lose their credentials.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("nats_url", redactURL(c.NATSURL)),
		slog.String("database_url", redactURL(c.DatabaseURL)),
		slog.Int("worker_count", c.WorkerCount),
		slog.String("admin_addr", c.AdminAddr),
		slog.Duration("ack_wait", c.AckWait),
		slog.Int("max_deliver", c.MaxDeliver),
		slog.Int("max_ack_pending", c.MaxAckPending),
		slog.Int("retry_attempts", c.RetryAttempts),
		slog.Duration("retry_base", c.RetryBase),
		slog.Duration("retry_cap", c.RetryCap),
		slog.Duration("redelivery_base", c.RedeliveryBase),
		slog.Duration("redelivery_cap", c.RedeliveryCap),
		slog.Duration("retry_after_cap", c.RetryAfterCap),
		slog.Any("egress_allow", c.EgressAllow),
		slog.Int("audit_batch_size", c.AuditBatchSize),
		slog.Duration("audit_linger", c.AuditLinger),
		slog.Duration("drain_timeout", c.DrainTimeout),
	)
}

// redactURL returns raw without its user information and query, which may
// hold credentials. Anything but an absolute URL, such as a key=value
// connection string, is hidden whole.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "(redacted)"
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	if u.RawQuery != "" {
		u.RawQuery = "xxxxx"
	}
	return u.String()
}
