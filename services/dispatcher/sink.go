package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/store"
)

// Sink delivers actions to one configured destination. Deliver makes one
// attempt; the dispatcher owns retries, the circuit breaker and the rate
// limit. Implementations must be safe for concurrent use.
type Sink interface {
	// Deliver sends a to the destination and returns the status code the
	// destination answered (an HTTP status for webhooks), or 0 when it did
	// not answer or has no such codes. A failure is a *DeliveryError saying
	// whether trying again may help. Errors must not quote the sink's
	// secret settings, such as a URL holding a token.
	Deliver(ctx context.Context, a action.Action) (code int, err error)
}

// Batcher gathers actions and stores many at once, such as an archive
// writing one object per batch. The dispatcher acknowledges an action only
// once the batch holding it is stored, so Add does not wait for that.
// Implementations must be safe for concurrent use.
type Batcher interface {
	// Add takes a into the current batch. done is called exactly once, from
	// another goroutine, when the write of that batch ended: with a zero
	// Result's error once a is stored. Add returns an error, and never calls
	// done, when it cannot take a (the batcher is closed). ctx carries the
	// trace of a's dispatch, which the write of its batch links to; it
	// does not bound the write.
	Add(ctx context.Context, a action.Action, done func(Result)) error
	// Close writes the batches held, calling their done functions, and stops
	// the batcher. ctx bounds the writes.
	Close(ctx context.Context)
}

// Result is how the write of a batch ended, for each action in it.
type Result struct {
	// Code is the store's answer (an HTTP status), 0 when it gave none.
	Code int
	// Err is nil once the action is stored, else a *DeliveryError.
	Err error
}

// SinkFactory builds the Sink of a stored sink from its settings. It fails
// when the settings are invalid.
type SinkFactory func(s store.Sink) (Sink, error)

// BatcherFactory builds the Batcher of a stored sink from its settings.
type BatcherFactory func(s store.Sink) (Batcher, error)

// Registry maps each sink type, such as sinkconf.TypeWebhook, to the factory
// of its sinks or batchers. Supporting a new kind of sink is one factory and
// one entry.
type Registry struct {
	Sinks    map[string]SinkFactory
	Batchers map[string]BatcherFactory
}

// has reports whether the registry knows sinkType.
func (r Registry) has(sinkType string) bool {
	_, sync := r.Sinks[sinkType]
	_, batch := r.Batchers[sinkType]
	return sync || batch
}

// DeliveryError is a failed delivery attempt.
type DeliveryError struct {
	// Retryable reports whether a later attempt may succeed.
	Retryable bool
	// Code is the status the destination answered, 0 when none.
	Code int
	// RetryAfter is how long the destination asked to be left alone
	// (Retry-After), 0 when it did not say.
	RetryAfter time.Duration
	// Err is the cause.
	Err error
}

func (e *DeliveryError) Error() string {
	return e.Err.Error()
}

func (e *DeliveryError) Unwrap() error {
	return e.Err
}

// finalError is a failure no retry can mend.
func finalError(format string, args ...any) *DeliveryError {
	return &DeliveryError{Err: fmt.Errorf(format, args...)}
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

// retryAfter returns the wait a destination asked for in err, or 0.
func retryAfter(err error) time.Duration {
	var de *DeliveryError
	if errors.As(err, &de) {
		return de.RetryAfter
	}
	return 0
}

// errSinkUnusable marks a sink that no delivery can reach: unknown, of an
// unsupported type, or with invalid settings.
var errSinkUnusable = errors.New("sink unusable")
