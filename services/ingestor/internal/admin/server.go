// Package admin implements the ConnectRPC AdminService the ingestor serves
// on its own port: sources, API keys, sinks and rules; rule tests; the audit
// log; dead letters; and applying a configuration file.
//
// Every call needs a bearer token from Tokens, compared in constant time. A
// read-only token may call only the calls declared free of side effects.
// Handlers return plain errors; one interceptor maps them to Connect codes
// at the edge (see mapError), so no internal detail reaches a caller.
//
// After each change to sources, keys, sinks or rules the server announces
// it on bus.ChangesSubject, so every replica of every tier reloads within a
// second. The Server is safe for concurrent use.
package admin

import (
	"context"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/config"
	"github.com/zenith-hq/zenith/pkg/gen/zenith/v1/zenithv1connect"
	"github.com/zenith-hq/zenith/pkg/store"
)

// Server implements zenithv1connect.AdminServiceHandler.
type Server struct {
	st  *store.Store
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger
}

var _ zenithv1connect.AdminServiceHandler = (*Server)(nil)

// New returns a Server over the store, announcing changes on nc and reading
// and replaying dead letters through js.
func New(st *store.Store, nc *nats.Conn, js jetstream.JetStream, log *slog.Logger) *Server {
	return &Server{st: st, nc: nc, js: js, log: log.With("component", "admin")}
}

// MaxRequestBytes bounds a request: a configuration file of
// config.MaxFileBytes with room for the keys beside it.
const MaxRequestBytes = config.MaxFileBytes + 64<<10

// Handler returns the path and handler of the service, behind tokens,
// reading requests of at most MaxRequestBytes.
func (s *Server) Handler(tokens Tokens, opts ...connect.HandlerOption) (string, http.Handler) {
	opts = append(opts,
		connect.WithReadMaxBytes(MaxRequestBytes),
		connect.WithInterceptors(tokens.interceptor(), errorMapper(s.log)),
	)
	return zenithv1connect.NewAdminServiceHandler(s, opts...)
}

// announce tells every replica that something changed. The change is saved
// either way: a replica that misses the announcement catches up at its next
// periodic reload, so a failure is logged, not returned.
func (s *Server) announce(ctx context.Context) {
	if err := bus.AnnounceChange(s.nc); err != nil {
		s.log.WarnContext(ctx, "change saved but not announced; replicas catch up at their next reload", "err", err)
	}
}
