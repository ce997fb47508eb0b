package ingestor

import (
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyLimiter is a token bucket per API key: each key may send Rate events a
// second on average and Burst at once, and one key's flood costs the others
// nothing but the few microseconds it takes to refuse it. Buckets exist
// only for keys that verified, and one unused for longer than it takes to
// refill is dropped: a new bucket starts full, so dropping it grants no one
// anything, and memory stays bounded by the keys in use. A keyLimiter is
// safe for concurrent use; a nil one allows everything.
type keyLimiter struct {
	rate  rate.Limit
	burst int
	// idle is how long an unused bucket is kept.
	idle time.Duration

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	limiter *rate.Limiter
	used    time.Time
	// take holds a refused request's reservation until it is cancelled,
	// so that a request of the same key at the same moment does not queue
	// behind it and report twice the wait.
	take sync.Mutex
}

// newKeyLimiter returns a limiter of perSecond events a second and burst
// per key, or nil, which allows everything, when perSecond is 0.
func newKeyLimiter(perSecond float64, burst int) *keyLimiter {
	if perSecond <= 0 {
		return nil
	}
	refill := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &keyLimiter{
		rate:    rate.Limit(perSecond),
		burst:   burst,
		idle:    max(time.Minute, refill),
		buckets: map[string]*bucket{},
	}
}

// take asks for n events' worth of keyID's bucket at now. When they are
// not there it takes none and returns how long until they would be.
func (l *keyLimiter) take(keyID string, n int, now time.Time) (wait time.Duration, ok bool) {
	if l == nil {
		return 0, true
	}
	b := l.bucket(keyID, now)
	b.take.Lock()
	defer b.take.Unlock()
	r := b.limiter.ReserveN(now, n)
	if !r.OK() {
		// More than the burst: never possible, and Config.Validate keeps
		// the burst above the largest batch.
		return l.idle, false
	}
	if wait = r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return wait, false
	}
	return 0, true
}

// bucket returns keyID's bucket, creating it, and drops the buckets unused
// for idle, at most once per idle period.
func (l *keyLimiter) bucket(keyID string, now time.Time) *bucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > l.idle {
		for id, b := range l.buckets {
			if now.Sub(b.used) > l.idle {
				delete(l.buckets, id)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[keyID]
	if !ok {
		b = &bucket{limiter: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[keyID] = b
	}
	b.used = now
	return b
}

// size is the number of buckets held.
func (l *keyLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// retryAfter is the Retry-After value for a wait: whole seconds, at least 1.
func retryAfter(wait time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
}

// rateLimitedMessage says why a key was refused, and when to try again.
func rateLimitedMessage(wait time.Duration) string {
	return "this API key sends events faster than its limit; retry after " + retryAfter(wait) + " s"
}
