package sinkconf

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Policy says how deliveries to one sink are retried and limited. It is the
// "policy" setting of every sink type; its zero value means the defaults.
type Policy struct {
	// MaxAttempts bounds the calls to the sink for one action, over all its
	// deliveries; 0 means the dispatcher's default (its attempts per
	// delivery × deliveries).
	MaxAttempts int `json:"max_attempts,omitempty"`
	// MaxAge is how long after the rule matched an action may still be
	// retried, as a Go duration; empty means DefaultMaxAge. An action that
	// fails past it is dead-lettered.
	MaxAge string `json:"max_age,omitempty"`
	// RetryStatuses are the HTTP statuses worth another attempt; empty means
	// 408, 429 and every 5xx. Other 4xx answers are final, and so is any
	// 3xx: redirects are never followed.
	RetryStatuses []int `json:"retry_statuses,omitempty"`
	// RateLimit bounds the calls to the sink per second; 0 means no limit.
	RateLimit float64 `json:"rate_limit,omitempty"`
	// Burst is how many calls may go at once above RateLimit; 0 means
	// RateLimit rounded up.
	Burst int `json:"burst,omitempty"`
	// Concurrency bounds the deliveries to the sink in progress at once on
	// one dispatcher; 0 means the dispatcher's worker count.
	Concurrency int `json:"concurrency,omitempty"`
	// BreakerFailures is how many consecutive failed calls open the sink's
	// circuit breaker; 0 means DefaultBreakerFailures.
	BreakerFailures int `json:"breaker_failures,omitempty"`
	// BreakerCooldown is how long an open breaker refuses calls before
	// letting one through to test the sink; empty means
	// DefaultBreakerCooldown.
	BreakerCooldown string `json:"breaker_cooldown,omitempty"`
}

// Policy defaults.
const (
	DefaultMaxAge          = 24 * time.Hour
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = 30 * time.Second
)

// Bounds of the policy settings.
const (
	maxPolicyAttempts    = 1000
	maxPolicyConcurrency = 1000
	maxPolicyRate        = 100000
)

// check validates p, naming a bad setting as policy.<name>.
func (p Policy) check() error {
	if err := p.checkRetries(); err != nil {
		return withPrefix("policy", err)
	}
	if err := p.checkLimits(); err != nil {
		return withPrefix("policy", err)
	}
	return nil
}

func (p Policy) checkRetries() error {
	if p.MaxAttempts < 0 || p.MaxAttempts > maxPolicyAttempts {
		return fieldErr("max_attempts", "must be between 1 and %d (0 for the default)", maxPolicyAttempts)
	}
	if _, err := p.maxAge(); err != nil {
		return err
	}
	for i, code := range p.RetryStatuses {
		if code < 400 || code > 599 {
			return fieldErr(fmt.Sprintf("retry_statuses[%d]", i), "must be an HTTP status from 400 to 599")
		}
	}
	return nil
}

func (p Policy) checkLimits() error {
	switch {
	case p.RateLimit < 0 || p.RateLimit > maxPolicyRate:
		return fieldErr("rate_limit", "must be between 0 and %d calls per second", maxPolicyRate)
	case p.Burst < 0 || p.Burst > maxPolicyRate:
		return fieldErr("burst", "must be between 0 and %d", maxPolicyRate)
	case p.Burst > 0 && p.RateLimit == 0:
		return fieldErr("burst", "needs rate_limit")
	case p.Concurrency < 0 || p.Concurrency > maxPolicyConcurrency:
		return fieldErr("concurrency", "must be between 1 and %d (0 for the default)", maxPolicyConcurrency)
	case p.BreakerFailures < 0 || p.BreakerFailures > maxPolicyAttempts:
		return fieldErr("breaker_failures", "must be between 1 and %d (0 for the default)", maxPolicyAttempts)
	}
	_, err := p.breakerCooldown()
	return err
}

func (p Policy) maxAge() (time.Duration, error) {
	return parseDuration("max_age", p.MaxAge, DefaultMaxAge, time.Millisecond, 30*24*time.Hour)
}

func (p Policy) breakerCooldown() (time.Duration, error) {
	return parseDuration("breaker_cooldown", p.BreakerCooldown, DefaultBreakerCooldown, time.Millisecond, time.Hour)
}

// Age returns how long an action may still be retried after its rule
// matched. p must have been checked (by a Parse function).
func (p Policy) Age() time.Duration {
	d, _ := p.maxAge()
	return d
}

// Cooldown returns how long an open breaker refuses calls. p must have been
// checked.
func (p Policy) Cooldown() time.Duration {
	d, _ := p.breakerCooldown()
	return d
}

// Failures returns how many consecutive failures open the breaker.
func (p Policy) Failures() int {
	if p.BreakerFailures == 0 {
		return DefaultBreakerFailures
	}
	return p.BreakerFailures
}

// RateBurst returns the rate limiter's burst: Burst, or RateLimit rounded up.
func (p Policy) RateBurst() int {
	if p.Burst > 0 {
		return p.Burst
	}
	return max(1, int(p.RateLimit+0.999999))
}

// Retryable reports whether an answer with HTTP status code is worth
// another attempt.
func (p Policy) Retryable(code int) bool {
	if len(p.RetryStatuses) > 0 {
		return slices.Contains(p.RetryStatuses, code)
	}
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}
