package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// receiver stands in for the outside world in the local demo: it answers
// every webhook delivery with 204 and prints one line for each, so that a
// first event can be seen arriving.
type receiver struct {
	out    io.Writer
	mu     sync.Mutex
	server *http.Server
	ln     net.Listener
}

func startReceiver(addr string, out io.Writer) (*receiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo receiver: listen on %s: %w (ZENITH_RECEIVER_ADDR moves it; =off goes without)", addr, err)
	}
	r := &receiver{out: out, ln: ln}
	r.server = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := r.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(out, "demo receiver stopped:", err)
		}
	}()
	return r, nil
}

// delivery is the part of a webhook body the receiver prints.
type delivery struct {
	Event struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"event"`
	Rule struct {
		Name string `json:"name"`
	} `json:"rule"`
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	var d delivery
	_ = json.Unmarshal(body, &d)

	r.mu.Lock()
	fmt.Fprintf(r.out, "receiver: %s %s <- rule %s: event %s (%s), webhook-id %s\n",
		req.Method, req.URL.Path, d.Rule.Name, d.Event.ID, d.Event.Type, req.Header.Get("webhook-id"))
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) stop(ctx context.Context) {
	_ = r.server.Shutdown(ctx)
}
