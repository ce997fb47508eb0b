package dispatcher

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/zenith-hq/zenith/pkg/metrics"
)

// laneRoomWait is how long the fetcher waits for room in a full lane that
// took a job that recently, which slows fetching to what a healthy sink
// takes without holding the actions of other sinks for long. It does not
// wait for a lane that took nothing for longer.
const laneRoomWait = 100 * time.Millisecond

// laneStallAfter is how long a full lane may go without taking a job before
// it counts as stalled: its sink hangs or crawls. It is well above
// laneRoomWait so that a lane whose goroutines merely wait for a busy CPU
// is not taken for one whose sink hangs.
const laneStallAfter = time.Second

// Why submit did not queue a job.
const (
	// laneQueued: it did.
	laneQueued = ""
	// laneBusy: the lane is full but moving; the job should come back soon.
	laneBusy = "bulkhead_full"
	// laneStalled: the lane is full and took no job for laneStallAfter;
	// the job should wait as long as a failed delivery does.
	laneStalled = "bulkhead_stalled"
)

// lanes is the dispatcher's bulkhead: each sink's deliveries run on
// goroutines of their own, at most the sink's concurrency at once, with a
// queue as long. A sink that hangs fills only its own lane; further actions
// for it are handed back to JetStream for later instead of waiting, so
// deliveries to other sinks never wait behind it.
//
// Jobs are submitted by one goroutine, the fetcher; lanes are safe for
// concurrent use otherwise.
type lanes struct {
	// handle delivers one job.
	handle func(job)

	mu    sync.Mutex
	byID  map[string]*lane
	wg    sync.WaitGroup
	depth atomic.Int64
}

// lane is the queue and goroutines of one sink.
type lane struct {
	queue chan job
	// limit and running are guarded by lanes.mu.
	limit   int
	running int
	// lastTake is when a goroutine last took a job, in Unix nanoseconds.
	lastTake atomic.Int64
}

func newLanes(handle func(job)) *lanes {
	return &lanes{handle: handle, byID: map[string]*lane{}}
}

// submit queues j in its sink's lane, which runs at most limit jobs at once.
// When the lane is full it waits up to laneRoomWait for room if the lane
// took a job within laneRoomWait, and otherwise, or if there is still no
// room, says why (laneBusy, or laneStalled when the lane took nothing for
// laneStallAfter): the caller should put j back for later. A job that may
// not be put back (mayDefer false, its last delivery) runs beside a full
// lane instead.
func (l *lanes) submit(j job, limit int, mayDefer bool) string {
	ln := l.lane(j.action.Sink.ID, limit)
	select {
	case ln.queue <- j:
		l.queued(ln)
		return laneQueued
	default:
	}

	if !mayDefer {
		l.wg.Go(func() { l.handle(j) })
		return laneQueued
	}
	switch idle := time.Since(time.Unix(0, ln.lastTake.Load())); {
	case idle > laneStallAfter:
		return laneStalled
	case idle > laneRoomWait:
		return laneBusy
	}
	timer := time.NewTimer(laneRoomWait)
	defer timer.Stop()
	select {
	case ln.queue <- j:
		l.queued(ln)
		return laneQueued
	case <-timer.C:
		return laneBusy
	}
}

// lane returns the lane of a sink, created if needed, with its limit set.
func (l *lanes) lane(sinkID string, limit int) *lane {
	l.mu.Lock()
	defer l.mu.Unlock()
	ln, ok := l.byID[sinkID]
	if !ok {
		ln = &lane{queue: make(chan job, limit)}
		ln.lastTake.Store(time.Now().UnixNano())
		l.byID[sinkID] = ln
	}
	ln.limit = limit
	return ln
}

// queued counts a job queued in ln, and starts a goroutine for the lane if
// it runs fewer than its limit.
func (l *lanes) queued(ln *lane) {
	metrics.WorkerQueueDepth.WithLabelValues(metrics.TierDispatcher).Set(float64(l.depth.Add(1)))
	l.mu.Lock()
	defer l.mu.Unlock()
	if ln.running < ln.limit {
		ln.running++
		l.wg.Go(func() { l.work(ln) })
	}
}

// work runs the jobs of ln until its queue is closed, or until the lane has
// more goroutines than its limit.
func (l *lanes) work(ln *lane) {
	for j := range ln.queue {
		ln.lastTake.Store(time.Now().UnixNano())
		metrics.WorkerQueueDepth.WithLabelValues(metrics.TierDispatcher).Set(float64(l.depth.Add(-1)))
		l.handle(j)
		if l.retire(ln) {
			return
		}
	}
}

// retire reports whether a goroutine of ln should stop because the lane's
// limit was lowered, counting it out if so.
func (l *lanes) retire(ln *lane) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ln.running > ln.limit {
		ln.running--
		return true
	}
	return false
}

// close lets the lanes finish the jobs queued and waits for them. No job
// may be submitted after it.
func (l *lanes) close() {
	l.mu.Lock()
	for _, ln := range l.byID {
		close(ln.queue)
	}
	l.mu.Unlock()
	l.wg.Wait()
}
