package dispatcher

import "sync"

// maxAttemptLog bounds the dispatches whose attempts are remembered.
const maxAttemptLog = 100000

// attemptLog remembers how many times the sink was called for each dispatch
// handed back to JetStream for later, so that the next delivery counts on
// from there: deliveries deferred without a call, or cut short, make the
// count from JetStream's delivery number alone wrong. It also keeps the
// last call's error, so that an action given up on while its sink's
// breaker is open says what the sink last answered. It is per process:
// after a restart, or on another replica, the count is estimated. It is
// safe for concurrent use.
type attemptLog struct {
	mu      sync.Mutex
	entries map[string]attemptEntry
}

type attemptEntry struct {
	count   int
	lastErr string
}

func newAttemptLog() *attemptLog {
	return &attemptLog{entries: map[string]attemptEntry{}}
}

// get returns the attempts remembered for a dispatch.
func (l *attemptLog) get(dispatchID string) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[dispatchID]
	return e.count, ok
}

// lastError returns the error of the last call remembered for a dispatch,
// or "".
func (l *attemptLog) lastError(dispatchID string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.entries[dispatchID].lastErr
}

// set remembers the attempts of a dispatch and, when callErr is not empty,
// the error of its last call, unless the log is full.
func (l *attemptLog) set(dispatchID string, attempts int, callErr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[dispatchID]
	if !ok && len(l.entries) >= maxAttemptLog {
		return
	}
	e.count = attempts
	if callErr != "" {
		e.lastErr = callErr
	}
	l.entries[dispatchID] = e
}

// forget drops a dispatch whose outcome is recorded.
func (l *attemptLog) forget(dispatchID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, dispatchID)
}
