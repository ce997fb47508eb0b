package dispatcher

import "sync"

// maxAttemptLog bounds the dispatches whose attempts are remembered.
const maxAttemptLog = 100000

// attemptLog remembers how many times the sink was called for each dispatch
// handed back to JetStream for later, so that the next delivery counts on
// from there: deliveries deferred without a call, or cut short, make the
// count from JetStream's delivery number alone wrong. It is per process:
// after a restart, or on another replica, the count is estimated. It is safe
// for concurrent use.
type attemptLog struct {
	mu     sync.Mutex
	counts map[string]int
}

func newAttemptLog() *attemptLog {
	return &attemptLog{counts: map[string]int{}}
}

// get returns the attempts remembered for a dispatch.
func (l *attemptLog) get(dispatchID string) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, ok := l.counts[dispatchID]
	return n, ok
}

// set remembers the attempts of a dispatch, unless the log is full.
func (l *attemptLog) set(dispatchID string, attempts int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.counts[dispatchID]; ok || len(l.counts) < maxAttemptLog {
		l.counts[dispatchID] = attempts
	}
}

// forget drops a dispatch whose outcome is recorded.
func (l *attemptLog) forget(dispatchID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.counts, dispatchID)
}
