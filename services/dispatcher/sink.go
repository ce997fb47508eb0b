package dispatcher

import (
	"context"
	"errors"
	"fmt"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/store"
)

// Sink delivers actions to one configured destination. Deliver makes one
// attempt; the dispatcher owns retries. Implementations must be safe for
// concurrent use.
type Sink interface {
	// Deliver sends a to the destination and returns the status code the
	// destination answered (an HTTP status for webhooks), or 0 when it did
	// not answer or has no such codes. A failure is a *DeliveryError saying
	// whether trying again may help. Errors must not quote the sink's
	// secret settings, such as a URL holding a token.
	Deliver(ctx context.Context, a action.Action) (code int, err error)
}

// SinkFactory builds the Sink of a stored sink from its settings. It fails
// when the settings are invalid.
type SinkFactory func(s store.Sink) (Sink, error)

// Registry maps a sink type, such as sinkconf.TypeWebhook, to the factory of
// its sinks. Supporting a new kind of sink is one factory and one entry.
type Registry map[string]SinkFactory

// DeliveryError is a failed delivery attempt.
type DeliveryError struct {
	// Retryable reports whether a later attempt may succeed.
	Retryable bool
	// Err is the cause.
	Err error
}

func (e *DeliveryError) Error() string {
	return e.Err.Error()
}

func (e *DeliveryError) Unwrap() error {
	return e.Err
}

// retryable reports whether err, returned by a Sink, is worth another
// attempt. Errors that are not a *DeliveryError count as transient: a sink
// that cannot say otherwise must not lose an action for a passing problem.
func retryable(err error) bool {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.Retryable
	}
	return true
}

// errSinkUnusable marks a sink that no delivery can reach: unknown, of an
// unsupported type, or with invalid settings.
var errSinkUnusable = errors.New("sink unusable")

// build returns the Sink for s, or an error wrapping errSinkUnusable.
func (r Registry) build(s store.Sink) (Sink, error) {
	factory, ok := r[s.Type]
	if !ok {
		return nil, fmt.Errorf("sink %s: type %q is not supported: %w", s.ID, s.Type, errSinkUnusable)
	}
	sink, err := factory(s)
	if err != nil {
		return nil, fmt.Errorf("sink %s: %w: %w", s.ID, errSinkUnusable, err)
	}
	return sink, nil
}
