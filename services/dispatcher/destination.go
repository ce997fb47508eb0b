package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/sinkconf"
	"github.com/zenith-hq/zenith/pkg/store"
)

// destination is a stored sink ready for deliveries: its Sink or Batcher,
// its policy, and the circuit breaker and rate limiter every call to it goes
// through. It lives as long as the sink's settings do not change, so its
// breaker and limiter outlast sink reloads.
type destination struct {
	// name is the sink's name, for metrics labels.
	name     string
	sinkType string
	config   json.RawMessage
	// Exactly one of sink, batcher and err is set.
	sink    Sink
	batcher Batcher
	err     error

	policy  sinkconf.Policy
	breaker *gobreaker.CircuitBreaker[int]
	// limiter is nil when the sink has no rate limit.
	limiter *rate.Limiter
}

// Circuit breaker states as the zenith_sink_circuit_state metric shows them.
var circuitStateValues = map[gobreaker.State]float64{
	gobreaker.StateClosed:   0,
	gobreaker.StateHalfOpen: 1,
	gobreaker.StateOpen:     2,
}

// newDestination builds the destination of s with registry. A sink that
// cannot be built is kept as unusable, with the reason, wrapping
// errSinkUnusable.
func newDestination(registry Registry, s store.Sink) *destination {
	d := &destination{name: s.Name, sinkType: s.Type, config: s.Config}
	settings, err := sinkconf.Parse(s.Type, s.Config)
	if err != nil {
		d.err = fmt.Errorf("sink %s: %w: %w", s.ID, errSinkUnusable, err)
		return d
	}
	d.policy = settings.DeliveryPolicy()
	if err := d.build(registry, s); err != nil {
		d.err = fmt.Errorf("sink %s: %w: %w", s.ID, errSinkUnusable, err)
		return d
	}
	d.breaker = newBreaker(s.Name, d.policy)
	if d.policy.RateLimit > 0 {
		d.limiter = rate.NewLimiter(rate.Limit(d.policy.RateLimit), d.policy.RateBurst())
	}
	return d
}

func (d *destination) build(registry Registry, s store.Sink) error {
	var err error
	if factory, ok := registry.Sinks[s.Type]; ok {
		d.sink, err = factory(s)
		return err
	}
	if factory, ok := registry.Batchers[s.Type]; ok {
		d.batcher, err = factory(s)
		return err
	}
	return fmt.Errorf("type %q is not supported", s.Type)
}

// sameSettings reports whether s has the settings d was built from.
func (d *destination) sameSettings(s store.Sink) bool {
	return d.sinkType == s.Type && string(d.config) == string(s.Config)
}

// newBreaker returns the circuit breaker of sink name: it opens after the
// policy's number of consecutive failures, refuses calls for its cooldown,
// then lets one through to test the sink. Only failures that say the sink is
// unwell count: a final answer such as 400 means the sink is up, and a 429
// is rate limiting, which Retry-After handles.
func newBreaker(name string, p sinkconf.Policy) *gobreaker.CircuitBreaker[int] {
	metrics.SinkCircuitState.WithLabelValues(name).Set(circuitStateValues[gobreaker.StateClosed])
	failures := uint32(p.Failures())
	return gobreaker.NewCircuitBreaker[int](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     p.Cooldown(),
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsSuccessful: func(err error) bool {
			var de *DeliveryError
			if errors.As(err, &de) {
				return !de.Retryable || de.Code == http.StatusTooManyRequests
			}
			return err == nil
		},
		IsExcluded: func(err error) bool {
			return errors.Is(err, context.Canceled)
		},
		OnStateChange: func(name string, _, to gobreaker.State) {
			metrics.SinkCircuitState.WithLabelValues(name).Set(circuitStateValues[to])
		},
	})
}

// errCircuitOpen is a call the breaker refused.
var errCircuitOpen = errors.New("circuit breaker open")

// call makes one attempt through the breaker. It returns errCircuitOpen,
// having called nothing, while the breaker refuses calls.
func (d *destination) call(ctx context.Context, a action.Action) (int, error) {
	code, err := d.breaker.Execute(func() (int, error) {
		return d.sink.Deliver(ctx, a)
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return 0, errCircuitOpen
	}
	return code, err
}

// circuitOpen reports whether the breaker refuses calls now. An unusable
// destination has no breaker.
func (d *destination) circuitOpen() bool {
	return d.breaker != nil && d.breaker.State() == gobreaker.StateOpen
}

// reserve takes a place in the rate limit and returns how long to wait
// before the call, if that is at most patience. Otherwise it takes nothing
// and returns the wait and false.
func (d *destination) reserve(patience time.Duration) (time.Duration, bool) {
	if d.limiter == nil {
		return 0, true
	}
	r := d.limiter.Reserve()
	wait := r.Delay()
	if !r.OK() || wait > patience {
		r.Cancel()
		return wait, false
	}
	return wait, true
}

// concurrency is how many deliveries to the sink may run at once, def when
// its policy does not say.
func (d *destination) concurrency(def int) int {
	if d.policy.Concurrency > 0 {
		return d.policy.Concurrency
	}
	return def
}
