// Package bus names and creates the NATS JetStream streams that join Zenith's
// tiers, and the core NATS subject that announces configuration changes.
//
// Events flow ingestor → ZENITH_EVENTS → rule-engine → ZENITH_ACTIONS →
// dispatcher. Actions that cannot be delivered end in ZENITH_DLQ, and so do
// events the rule-engine cannot read or evaluate, on subjects of their own.
// Every service calls EnsureStreams at start; it is idempotent, so the
// services may start in any order.
package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream names and the subjects they hold.
const (
	EventsStream     = "ZENITH_EVENTS"
	ActionsStream    = "ZENITH_ACTIONS"
	DeadLetterStream = "ZENITH_DLQ"

	eventsPrefix     = "zenith.events."
	actionsPrefix    = "zenith.actions."
	deadLetterPrefix = "zenith.dlq."

	eventDeadLetterPrefix = deadLetterPrefix + "events."
)

// ChangesSubject is the core NATS subject on which a configuration change
// (sources, keys, sinks, rules) is announced, so that every replica reloads
// within a second. CockroachDB has no LISTEN/NOTIFY, so NATS carries it.
const ChangesSubject = "zenith.control.changed"

// EventSubject is the subject an event of source and type is published on:
// zenith.events.<source>.<type>. Both parts must have been validated (see
// event.ValidSourceName and event.ValidType), never taken raw from input.
func EventSubject(source, eventType string) string {
	return eventsPrefix + source + "." + eventType
}

// SourceFromEventSubject returns the source token of an event subject.
func SourceFromEventSubject(subject string) (source, eventType string, ok bool) {
	rest, ok := strings.CutPrefix(subject, eventsPrefix)
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, ".")
}

// ActionSubject is the subject an action for a sink of sinkType is published
// on: zenith.actions.<sink type>.
func ActionSubject(sinkType string) string {
	return actionsPrefix + sinkType
}

// DeadLetterSubject is the subject a dead-lettered action for a sink of
// sinkType is kept on.
func DeadLetterSubject(sinkType string) string {
	return deadLetterPrefix + sinkType
}

// ActionDeadLetters is the filter subject of every dead-lettered action,
// and of nothing else the dead-letter stream holds: sink types are one
// token.
const ActionDeadLetters = deadLetterPrefix + "*"

// EventDeadLetterSubject is the subject a dead-lettered event is kept on:
// zenith.dlq.events.<reason>, where reason is a short label such as
// invalid_id (see event.FieldError.Reason). The message is the event's, as
// it arrived, with OriginalSubjectHeader and the reason's text added.
func EventDeadLetterSubject(reason string) string {
	return eventDeadLetterPrefix + reason
}

// EventDeadLetters is the filter subject of every dead-lettered event.
const EventDeadLetters = eventDeadLetterPrefix + ">"

// maxHeaderText bounds HeaderText's result.
const maxHeaderText = 512

// HeaderText makes text, such as an error that may quote what a producer
// sent, fit for a NATS header value: control characters, which cannot
// travel in one, become spaces, and it is cut to 512 bytes.
func HeaderText(text string) string {
	text = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, text)
	if len(text) > maxHeaderText {
		text = strings.ToValidUTF8(text[:maxHeaderText-3], "") + "..."
	}
	return text
}

// OriginalSubjectHeader carries, on a dead-lettered event, the subject it
// was published on.
const OriginalSubjectHeader = "Zenith-Original-Subject"

// StreamOptions tune the streams. Every service applies them at start, so
// all three must be given the same values; each reads them from the
// environment variables of the env tags. The zero value of a field means its
// default (WithDefaults), which is also its envDefault.
type StreamOptions struct {
	// Replicas is the number of copies of each stream in a NATS cluster:
	// 3 in a three-node cluster, so that an acknowledged event survives the
	// loss of a node; 1 for a single server.
	Replicas int `env:"ZENITH_STREAM_REPLICAS" envDefault:"1"`
	// MaxAge bounds how long a message is kept. On the work-queue streams it
	// bounds how long an event or action may wait for its consumer: one
	// older than this is removed unprocessed, so it must outlast any outage
	// of the consumers.
	MaxAge time.Duration `env:"ZENITH_STREAM_MAX_AGE" envDefault:"168h"`
	// MaxBytes bounds each stream's size. A full stream refuses new messages
	// (the ingestor answers 429) rather than dropping unprocessed ones.
	MaxBytes int64 `env:"ZENITH_STREAM_MAX_BYTES" envDefault:"1073741824"`
	// DuplicateWindow is how long a message id is remembered to drop a resent
	// message. It must outlast the longest time between two publishes of the
	// same message: a producer's resend, and the rule-engine's re-publish of
	// an event's actions when the event is delivered again (see
	// ruleengine.Config).
	//
	// TODO: keep the ids of processed events across a NATS restart. JetStream
	// rebuilds its id memory from the messages a stream still holds, and the
	// work-queue streams drop a message once it is processed, so an event
	// resent just after a restart is evaluated again; only the audit log's
	// dispatch ids then stop a second delivery.
	DuplicateWindow time.Duration `env:"ZENITH_STREAM_DUPLICATE_WINDOW" envDefault:"10m"`
}

// Defaults of StreamOptions, the same as their envDefault tags.
const (
	DefaultReplicas        = 1
	DefaultMaxAge          = 7 * 24 * time.Hour
	DefaultMaxBytes        = 1 << 30
	DefaultDuplicateWindow = 10 * time.Minute
)

// WithDefaults returns o with every zero field set to its default.
func (o StreamOptions) WithDefaults() StreamOptions {
	if o.Replicas == 0 {
		o.Replicas = DefaultReplicas
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = DefaultDuplicateWindow
	}
	return o
}

// Validate reports the first option that cannot work.
func (o StreamOptions) Validate() error {
	o = o.WithDefaults()
	switch {
	case o.Replicas < 1 || o.Replicas > 5:
		return fmt.Errorf("ZENITH_STREAM_REPLICAS must be 1 to 5, got %d", o.Replicas)
	case o.MaxAge < 0 || o.DuplicateWindow < 0:
		return errors.New("ZENITH_STREAM_MAX_AGE and ZENITH_STREAM_DUPLICATE_WINDOW must not be negative")
	case o.MaxBytes < 0:
		return fmt.Errorf("ZENITH_STREAM_MAX_BYTES must not be negative, got %d", o.MaxBytes)
	case o.DuplicateWindow > o.MaxAge:
		return fmt.Errorf("ZENITH_STREAM_DUPLICATE_WINDOW (%s) must not exceed ZENITH_STREAM_MAX_AGE (%s)", o.DuplicateWindow, o.MaxAge)
	}
	return nil
}

// EnsureStreams creates the three streams, or updates them to opts.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, opts StreamOptions) error {
	opts = opts.WithDefaults()
	// Events and actions are work queues: a message is removed once its
	// consumer acknowledged it, so the limits bound the backlog, not the
	// history. Dead letters are kept until they age out or are replayed.
	streams := []struct {
		name, subjects, description string
		retention                   jetstream.RetentionPolicy
	}{
		{EventsStream, eventsPrefix + ">", "events accepted by the ingestor, awaiting rule evaluation", jetstream.WorkQueuePolicy},
		{ActionsStream, actionsPrefix + ">", "actions of matched rules, awaiting delivery to sinks", jetstream.WorkQueuePolicy},
		{DeadLetterStream, deadLetterPrefix + ">", "actions that could not be delivered and events that could not be read or evaluated", jetstream.LimitsPolicy},
	}
	for _, s := range streams {
		cfg := jetstream.StreamConfig{
			Name:        s.name,
			Description: s.description,
			Subjects:    []string{s.subjects},
			Retention:   s.retention,
			Storage:     jetstream.FileStorage,
			Discard:     jetstream.DiscardNew,
			MaxAge:      opts.MaxAge,
			MaxBytes:    opts.MaxBytes,
			Replicas:    opts.Replicas,
			Duplicates:  opts.DuplicateWindow,
		}
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("ensure stream %s: %w", s.name, err)
		}
	}
	return nil
}

// AnnounceChange tells every replica that sources, keys, sinks or rules
// changed, so they reload now instead of at their next periodic resync.
func AnnounceChange(nc *nats.Conn) error {
	if err := nc.Publish(ChangesSubject, nil); err != nil {
		return fmt.Errorf("announce configuration change: %w", err)
	}
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("announce configuration change: %w", err)
	}
	return nil
}

// Close flushes what nc has published and acknowledged, waiting at most
// timeout for the server to confirm that it received all of it, then closes
// nc. It returns the flush's error: an acknowledgement the server did not
// confirm may be lost, and its message delivered again.
func Close(nc *nats.Conn, timeout time.Duration) error {
	defer nc.Close()
	if err := nc.FlushTimeout(timeout); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("flush NATS connection: %w", err)
	}
	return nil
}

// IsStreamFull reports whether err, from a publish, means that JetStream
// refused the message for lack of room: the stream reached its limits (it
// discards new messages rather than old ones) or the server its storage.
// A producer should then slow down and retry later; any other publish error
// means JetStream could not be reached or did not answer.
func IsStreamFull(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case errCodeInsufficientResources, errCodeStorageResourcesExceeded:
		return true
	case errCodeStoreFailed:
		// The same code covers a failed write; only the limits' refusals
		// say "maximum ... exceeded".
		return strings.HasPrefix(apiErr.Description, "maximum ") && strings.HasSuffix(apiErr.Description, " exceeded")
	}
	return false
}

// JetStream error codes of a publish refused for lack of room, as
// nats-server numbers them (they are not among nats.go's constants).
const (
	errCodeInsufficientResources    jetstream.ErrorCode = 10023
	errCodeStorageResourcesExceeded jetstream.ErrorCode = 10047
	errCodeStoreFailed              jetstream.ErrorCode = 10077
)
