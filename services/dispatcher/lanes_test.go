package dispatcher

import (
	"testing"
	"time"

	"github.com/zenith-hq/zenith/pkg/action"
)

// TestLaneSaysWhyAJobWasNotQueued fills a lane whose sink hangs and checks
// the answers for a lane that is full but moving or slow (busy: back soon)
// and for one that took nothing for laneStallAfter (stalled: back after a
// failed delivery's wait), and that a last delivery runs beside a full
// lane.
func TestLaneSaysWhyAJobWasNotQueued(t *testing.T) {
	release := make(chan struct{})
	handled := make(chan string, 8)
	l := newLanes(func(j job) {
		<-release
		handled <- j.action.DispatchID
	})
	defer l.close()
	jobFor := func(id string) job {
		return job{action: action.Action{DispatchID: id, Sink: action.SinkRef{ID: "hanging"}}, delivery: 1}
	}

	// A limit of 1: one job running, one queued, and the lane is full.
	for _, id := range []string{"a", "b"} {
		if got := l.submit(jobFor(id), 1, true); got != laneQueued {
			t.Fatalf("submit %s to a lane with room = %q, want it queued", id, got)
		}
	}
	if got := l.submit(jobFor("c"), 1, true); got != laneBusy {
		t.Errorf("submit to a full lane that took a job just now = %q, want %q", got, laneBusy)
	}

	ln := l.lane("hanging", 1)
	ln.lastTake.Store(time.Now().Add(-2 * laneRoomWait).UnixNano())
	if got := l.submit(jobFor("e"), 1, true); got != laneBusy {
		t.Errorf("submit to a full lane idle for %v = %q, want %q without waiting", 2*laneRoomWait, got, laneBusy)
	}
	ln.lastTake.Store(time.Now().Add(-2 * laneStallAfter).UnixNano())
	if got := l.submit(jobFor("d"), 1, true); got != laneStalled {
		t.Errorf("submit to a full lane idle for %v = %q, want %q", 2*laneStallAfter, got, laneStalled)
	}
	if got := l.submit(jobFor("last"), 1, false); got != laneQueued {
		t.Errorf("submit of a last delivery to a full lane = %q, want it run beside the lane", got)
	}

	close(release)
	got := map[string]bool{}
	for range 3 {
		got[<-handled] = true
	}
	for _, id := range []string{"a", "b", "last"} {
		if !got[id] {
			t.Errorf("job %s was not handled; handled %v", id, got)
		}
	}
}
