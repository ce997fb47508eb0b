package faults

import (
	"io"
	"maps"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// receiver is the sinks' webhook endpoint, on loopback. It records the
// webhook-id of every delivery it accepted, with the path it came to, and
// can be told to fail (503) for a while.
type receiver struct {
	srv     *http.Server
	addr    string
	failing atomic.Bool

	mu sync.Mutex
	// seen counts the deliveries accepted per webhook-id.
	seen map[string]int
	// paths is the path each webhook-id came to.
	paths map[string]string
	// refused counts the requests answered 503 while failing.
	refused int
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{addr: ln.Addr().String(), seen: map[string]int{}, paths: map[string]string{}}
	r.srv = &http.Server{Handler: r}
	go r.srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed on close
	return r, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing.Load() {
		r.refused++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	id := req.Header.Get("webhook-id")
	r.seen[id]++
	r.paths[id] = req.URL.Path
	w.WriteHeader(http.StatusNoContent)
}

// counts returns the deliveries accepted, the distinct webhook-ids among
// them and the requests refused.
func (r *receiver) counts() (accepted, distinct, refused int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.seen {
		accepted += n
	}
	return accepted, len(r.seen), r.refused
}

// deliveries returns a copy of what the receiver saw: the path of each
// webhook-id and how many times it was delivered.
func (r *receiver) deliveries() (paths map[string]string, seen map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.paths), maps.Clone(r.seen)
}

func (r *receiver) close() {
	_ = r.srv.Close()
}
