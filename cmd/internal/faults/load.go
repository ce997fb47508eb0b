package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// order is the event numbered n of the load: its amount and segment decide
// which rules match it (see expectedMatches).
type order struct {
	n      int
	amount int
	vip    bool
}

func orderNumber(n int) order {
	return order{n: n, amount: n * 37 % 1000, vip: n%5 == 0}
}

// id is the event id the producer gives the order.
func (o order) id() string {
	return "f-" + strconv.Itoa(o.n)
}

func (o order) body() string {
	segment := "regular"
	if o.vip {
		segment = "VIP"
	}
	return fmt.Sprintf(`{"id":%q,"type":"order.placed","data":{"amount":%d,"user":{"segment":%q}}}`, o.id(), o.amount, segment)
}

// load sends a steady stream of distinct events to the ingestor, and
// retries each one until it is accepted, as a careful producer does: with
// the same id every time, after the wait the answer's Retry-After asks for.
type load struct {
	url    string
	key    string
	rate   int
	client *http.Client

	next  atomic.Int64
	tries atomic.Int64
	// duplicates counts the acceptances of an event JetStream already held:
	// a retry of one whose first answer was lost.
	duplicates atomic.Int64

	mu       sync.Mutex
	accepted map[int]bool
	// refusals counts the answers that were not 202, by kind.
	refusals map[string]int
}

func newLoad(url, key string, rate, workers int) *load {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = workers
	return &load{
		url:      url,
		key:      key,
		rate:     rate,
		client:   &http.Client{Transport: transport, Timeout: 10 * time.Second},
		accepted: map[int]bool{},
		refusals: map[string]int{},
	}
}

// run sends a new event every 1/rate seconds until sending ends, with at
// most workers events in flight, and then keeps retrying the events not
// yet accepted until finishing ends. It returns when every worker is done.
func (l *load) run(sending, finishing context.Context, workers int) {
	orders := make(chan order, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for o := range orders {
				l.send(finishing, o)
			}
		})
	}

	tick := time.NewTicker(time.Second / time.Duration(l.rate))
	defer tick.Stop()
	for sending.Err() == nil {
		select {
		case <-sending.Done():
		case <-tick.C:
			orders <- orderNumber(int(l.next.Add(1) - 1))
		}
	}
	close(orders)
	wg.Wait()
}

// send posts o until it is accepted or ctx ends.
func (l *load) send(ctx context.Context, o order) {
	for ctx.Err() == nil {
		wait, ok := l.post(ctx, o)
		if ok {
			l.mu.Lock()
			l.accepted[o.n] = true
			l.mu.Unlock()
			return
		}
		pause(ctx, wait)
	}
}

// post posts o once. It returns true when the event was accepted, and
// otherwise how long to wait before trying again.
func (l *load) post(ctx context.Context, o order) (time.Duration, bool) {
	l.tries.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, strings.NewReader(o.body()))
	if err != nil {
		panic(err) // the URL is the suite's own, and valid
	}
	req.Header.Set("X-Api-Key", l.key)
	req.Header.Set("Content-Type", "application/json")
	// Marks the POST safe to send again on another connection when the
	// server closed an idle one under it, as net/http then does.
	req.Header.Set("Idempotency-Key", o.id())
	resp, err := l.client.Do(req)
	if err != nil {
		l.refused("no answer")
		return 200 * time.Millisecond, false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusAccepted {
		if bytes.Contains(body, []byte(`"duplicate":true`)) {
			l.duplicates.Add(1)
		}
		return 0, true
	}
	l.refused(strconv.Itoa(resp.StatusCode))
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		return time.Duration(s) * time.Second, false
	}
	return 200 * time.Millisecond, false
}

func (l *load) refused(kind string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refusals[kind]++
}

// counts returns how many events were sent, how many accepted, and the
// refusals by kind.
func (l *load) counts() (sent, accepted int, refusals map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.next.Load()), len(l.accepted), maps.Clone(l.refusals)
}

// acceptedSet returns the numbers of the events accepted.
func (l *load) acceptedSet() map[int]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.accepted)
}

// pause waits d, or less if ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
