package admin

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/zenith-hq/zenith/pkg/config"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
)

// Apply parses, checks and applies a configuration file with the same code
// the ingestor uses for ZENITH_CONFIG at start. The keys its
// api_keys_from_env name come from the request, never from this process's
// environment: the server's variables are none of the caller's business.
func (s *Server) Apply(ctx context.Context, req *connect.Request[zenithv1.ApplyRequest]) (*connect.Response[zenithv1.ApplyResponse], error) {
	file, err := config.Parse(req.Msg.GetConfig())
	var cfgErr *config.Error
	if err != nil && !errors.As(err, &cfgErr) {
		return nil, invalid("config", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	keys := req.Msg.GetApiKeys()
	report, err := config.Apply(ctx, s.st, file, config.Options{
		Getenv: func(name string) string { return keys[name] },
		DryRun: req.Msg.GetDryRun(),
		Prune:  req.Msg.GetPrune(),
	})
	if err != nil {
		return nil, err
	}
	if report.Changed() && !req.Msg.GetDryRun() {
		s.announce(ctx)
	}
	s.log.InfoContext(ctx, "configuration applied", "dry_run", req.Msg.GetDryRun(), "prune", req.Msg.GetPrune(), "changes", report.Lines())
	return connect.NewResponse(&zenithv1.ApplyResponse{Changes: toChanges(report), DryRun: req.Msg.GetDryRun()}), nil
}
