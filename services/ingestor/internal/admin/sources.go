package admin

import (
	"context"

	"connectrpc.com/connect"

	"github.com/zenith-hq/zenith/pkg/config"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/store"
)

// CreateSource creates a source.
func (s *Server) CreateSource(ctx context.Context, req *connect.Request[zenithv1.CreateSourceRequest]) (*connect.Response[zenithv1.CreateSourceResponse], error) {
	name := req.Msg.GetName()
	if err := (config.Source{Name: name}).Validate(""); err != nil {
		return nil, err
	}
	src, err := s.st.CreateSource(ctx, name)
	if err != nil {
		return nil, err
	}
	s.announce(ctx)
	return connect.NewResponse(&zenithv1.CreateSourceResponse{Source: toSource(src)}), nil
}

// ListSources lists every source.
func (s *Server) ListSources(ctx context.Context, _ *connect.Request[zenithv1.ListSourcesRequest]) (*connect.Response[zenithv1.ListSourcesResponse], error) {
	list, err := s.st.ListSources(ctx)
	if err != nil {
		return nil, err
	}
	resp := &zenithv1.ListSourcesResponse{}
	for _, src := range list {
		resp.Sources = append(resp.Sources, toSource(src))
	}
	return connect.NewResponse(resp), nil
}

// GetSource returns one source.
func (s *Server) GetSource(ctx context.Context, req *connect.Request[zenithv1.GetSourceRequest]) (*connect.Response[zenithv1.GetSourceResponse], error) {
	src, err := s.st.SourceByName(ctx, req.Msg.GetName())
	if err != nil {
		return nil, orNotFound(err, "source", req.Msg.GetName())
	}
	return connect.NewResponse(&zenithv1.GetSourceResponse{Source: toSource(src)}), nil
}

// UpdateSource renames a source.
func (s *Server) UpdateSource(ctx context.Context, req *connect.Request[zenithv1.UpdateSourceRequest]) (*connect.Response[zenithv1.UpdateSourceResponse], error) {
	if err := (config.Source{Name: req.Msg.GetNewName()}).Validate(""); err != nil {
		return nil, invalid("new_name", "must be 1-100 lower-case letters, digits, '-' or '_'")
	}
	src, err := s.st.RenameSource(ctx, req.Msg.GetName(), req.Msg.GetNewName())
	if err != nil {
		return nil, orNotFound(err, "source", req.Msg.GetName())
	}
	s.announce(ctx)
	return connect.NewResponse(&zenithv1.UpdateSourceResponse{Source: toSource(src)}), nil
}

// DeleteSource deletes a source with its keys, and with its rules when
// asked to.
func (s *Server) DeleteSource(ctx context.Context, req *connect.Request[zenithv1.DeleteSourceRequest]) (*connect.Response[zenithv1.DeleteSourceResponse], error) {
	var deleted store.SourceDeletion
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		var err error
		deleted, err = tx.DeleteSource(ctx, req.Msg.GetName(), req.Msg.GetWithRules())
		return err
	})
	if err != nil {
		return nil, orNotFound(err, "source", req.Msg.GetName())
	}
	s.announce(ctx)
	return connect.NewResponse(&zenithv1.DeleteSourceResponse{
		RulesDeleted: int32(deleted.Rules), ApiKeysDeleted: int32(deleted.APIKeys),
	}), nil
}
