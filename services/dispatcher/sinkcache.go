package dispatcher

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/zenith-hq/zenith/pkg/store"
)

// sinkCache holds the Sink of every stored sink, by sink id. It is reloaded
// whole when a change is announced and when an action names a sink it does
// not hold. It is safe for concurrent use.
type sinkCache struct {
	st       *store.Store
	registry Registry

	mu    sync.RWMutex
	sinks map[string]cachedSink
	// reloadStart is when the last successful reload started.
	reloadStart time.Time

	reloadMu sync.Mutex // one reload at a time
}

// cachedSink is a stored sink's Sink, or why it has none.
type cachedSink struct {
	sink Sink
	err  error
}

func newSinkCache(st *store.Store, registry Registry) *sinkCache {
	return &sinkCache{st: st, registry: registry, sinks: map[string]cachedSink{}}
}

// get returns the Sink of sink id. An error wrapping
// errSinkUnusable means no delivery to it can succeed; any other error is a
// database problem worth waiting out.
func (c *sinkCache) get(ctx context.Context, id string) (Sink, error) {
	if s, ok := c.lookup(id); ok {
		return s.sink, s.err
	}
	if err := c.reloadAfterMiss(ctx); err != nil {
		return nil, err
	}
	if s, ok := c.lookup(id); ok {
		return s.sink, s.err
	}
	return nil, fmt.Errorf("sink %s does not exist: %w", id, errSinkUnusable)
}

func (c *sinkCache) lookup(id string) (cachedSink, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s, ok := c.sinks[id]
	return s, ok
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
	start := time.Now()
	stored, err := c.st.ListSinks(ctx)
	if err != nil {
		return fmt.Errorf("reload sinks: %w", err)
	}
	sinks := make(map[string]cachedSink, len(stored))
	for _, s := range stored {
		sink, err := c.registry.build(s)
		sinks[s.ID] = cachedSink{sink: sink, err: err}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.sinks = sinks
	c.reloadStart = start
	return nil
}
