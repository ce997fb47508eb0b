package dispatcher

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// inflight tracks the actions held by this dispatcher, from fetch until they
// are acknowledged, handed back or refused. It serves two purposes:
//
//   - it tells JetStream that a held action is still being worked on, so
//     that a slow delivery or an audit write waiting out a database outage
//     does not let AckWait expire and the action go to a second worker;
//   - it refuses a second copy of a dispatch while the first is held, so the
//     copy is looked at again after the first's audit row is written.
//
// It is safe for concurrent use.
type inflight struct {
	mu   sync.Mutex
	held map[string]heldMsg
}

type heldMsg struct {
	msg   jetstream.Msg
	since time.Time
}

func newInflight() *inflight {
	return &inflight{held: map[string]heldMsg{}}
}

// add starts tracking msg as dispatch id. It returns false, tracking
// nothing, when that dispatch is already held.
func (f *inflight) add(id string, msg jetstream.Msg) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.held[id]; ok {
		return false
	}
	f.held[id] = heldMsg{msg: msg, since: time.Now()}
	return true
}

// done stops tracking dispatch id.
func (f *inflight) done(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.held, id)
}

// keepAlive reports progress, every interval, on each action held for longer
// than interval, until ctx ends.
func (f *inflight) keepAlive(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			for _, msg := range f.heldLongerThan(interval) {
				// An error means the action was settled meanwhile or the
				// connection is down; either way there is nothing to do.
				_ = msg.InProgress()
			}
		}
	}
}

func (f *inflight) heldLongerThan(d time.Duration) []jetstream.Msg {
	f.mu.Lock()
	defer f.mu.Unlock()
	var msgs []jetstream.Msg
	for _, h := range f.held {
		if time.Since(h.since) >= d {
			msgs = append(msgs, h.msg)
		}
	}
	return msgs
}
