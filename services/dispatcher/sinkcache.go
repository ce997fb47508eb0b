package dispatcher

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/zenith-hq/zenith/pkg/store"
)

// sinkCache holds the destination of every stored sink, by sink id. It is
// reloaded whole when a change is announced and when an action names a sink
// it does not hold; a sink whose settings did not change keeps its
// destination, breaker state and open batches included. It is safe for
// concurrent use.
type sinkCache struct {
	st       *store.Store
	registry Registry

	mu    sync.RWMutex
	sinks map[string]*destination
	// reloadStart is when the last successful reload started.
	reloadStart time.Time

	reloadMu sync.Mutex // one reload at a time

	// retired are the batchers of changed or removed sinks, being closed.
	retired sync.WaitGroup
	// closed is set, under reloadMu, once the batchers are closed for good:
	// reloads then build no more.
	closed bool
}

func newSinkCache(st *store.Store, registry Registry) *sinkCache {
	return &sinkCache{st: st, registry: registry, sinks: map[string]*destination{}}
}

// get returns the destination of sink id. An error wrapping errSinkUnusable
// means no delivery to it can succeed; any other error is a database
// problem worth waiting out.
func (c *sinkCache) get(ctx context.Context, id string) (*destination, error) {
	if d, ok := c.lookup(id); ok {
		return d, d.err
	}
	if err := c.reloadAfterMiss(ctx); err != nil {
		return nil, err
	}
	if d, ok := c.lookup(id); ok {
		return d, d.err
	}
	return nil, fmt.Errorf("sink %s does not exist: %w", id, errSinkUnusable)
}

// lookup returns the destination of sink id if the cache holds it.
func (c *sinkCache) lookup(id string) (*destination, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.sinks[id]
	return d, ok
}

// reloadAfterMiss reloads unless a reload started after the miss: that one
// already read what the database held at the miss. Concurrent misses thus
// share one query.
func (c *sinkCache) reloadAfterMiss(ctx context.Context) error {
	missAt := time.Now()
	c.reloadMu.Lock()
	defer c.reloadMu.Unlock()

	c.mu.RLock()
	last := c.reloadStart
	c.mu.RUnlock()
	if last.After(missAt) {
		return nil
	}
	return c.reloadLocked(ctx)
}

// reload replaces the cache with the sinks stored now.
func (c *sinkCache) reload(ctx context.Context) error {
	c.reloadMu.Lock()
	defer c.reloadMu.Unlock()
	return c.reloadLocked(ctx)
}

func (c *sinkCache) reloadLocked(ctx context.Context) error {
	if c.closed {
		return nil
	}
	start := time.Now()
	stored, err := c.st.ListSinks(ctx)
	if err != nil {
		return fmt.Errorf("reload sinks: %w", err)
	}
	sinks := make(map[string]*destination, len(stored))
	for _, s := range stored {
		if old, ok := c.lookup(s.ID); ok && old.sameSettings(s) {
			sinks[s.ID] = old
			continue
		}
		sinks[s.ID] = newDestination(c.registry, s)
	}

	c.mu.Lock()
	old := c.sinks
	c.sinks = sinks
	c.reloadStart = start
	c.mu.Unlock()
	c.retire(ctx, old, sinks)
	return nil
}

// retire closes, in the background, the batchers of old that current no
// longer holds: they write what they hold, and later Adds are refused.
func (c *sinkCache) retire(ctx context.Context, old, current map[string]*destination) {
	for id, d := range old {
		if d.batcher == nil || current[id] == d {
			continue
		}
		c.retired.Go(func() { d.batcher.Close(context.WithoutCancel(ctx)) })
	}
}

// closeBatchers writes what every batcher holds and stops them all, within
// ctx, and waits for the retired ones. Reloads do nothing after it.
func (c *sinkCache) closeBatchers(ctx context.Context) {
	c.reloadMu.Lock()
	c.closed = true
	c.reloadMu.Unlock()

	c.mu.RLock()
	var batchers []Batcher
	for _, d := range c.sinks {
		if d.batcher != nil {
			batchers = append(batchers, d.batcher)
		}
	}
	c.mu.RUnlock()

	var wg sync.WaitGroup
	for _, b := range batchers {
		wg.Go(func() { b.Close(ctx) })
	}
	wg.Wait()
	c.retired.Wait()
}
