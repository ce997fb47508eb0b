package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadyCheck reports why a service is not ready to take work, or nil.
type ReadyCheck func(ctx context.Context) error

// AdminServer serves /metrics, /healthz (the process is alive) and /readyz
// (the service can take work: connected to NATS and the database, not
// draining).
type AdminServer struct {
	server   *http.Server
	listener net.Listener
}

// ListenAdmin opens the admin server's port; Serve starts answering.
func ListenAdmin(addr string, ready ReadyCheck) (*AdminServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin server: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return &AdminServer{server: server, listener: ln}, nil
}

// Addr is the address the server listens on.
func (s *AdminServer) Addr() string {
	return s.listener.Addr().String()
}

// Serve answers requests until ctx ends, then shuts the server down.
func (s *AdminServer) Serve(ctx context.Context, log *slog.Logger) {
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = s.server.Shutdown(shutdownCtx)
	}()
	if err := s.server.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("admin server stopped", "err", err)
	}
}
