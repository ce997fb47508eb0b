package admin

import (
	"context"
	"regexp"

	"connectrpc.com/connect"

	"github.com/zenith-hq/zenith/pkg/apikey"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/store"
)

// keyNamePattern is what a key's name may be: it also holds the names of
// environment variables, so upper case is allowed.
var keyNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// CreateAPIKey generates a key for a source and stores its hash.
func (s *Server) CreateAPIKey(ctx context.Context, req *connect.Request[zenithv1.CreateAPIKeyRequest]) (*connect.Response[zenithv1.CreateAPIKeyResponse], error) {
	if !keyNamePattern.MatchString(req.Msg.GetName()) {
		return nil, invalid("name", "must be 1-100 letters, digits, '.', '-' or '_'")
	}
	key, id, err := apikey.Generate()
	if err != nil {
		return nil, err
	}
	hash, err := apikey.Hash(key)
	if err != nil {
		return nil, err
	}

	var created store.APIKey
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		src, err := tx.SourceByName(ctx, req.Msg.GetSource())
		if err != nil {
			return orNotFound(err, "source", req.Msg.GetSource())
		}
		if err := tx.CreateKey(ctx, id, src.ID, req.Msg.GetName(), hash); err != nil {
			return err
		}
		created, err = tx.KeyByID(ctx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "api key created", "key_id", id, "source", created.SourceName)
	return connect.NewResponse(&zenithv1.CreateAPIKeyResponse{ApiKey: toAPIKey(created), Key: key}), nil
}

// ListAPIKeys lists keys without their secrets.
func (s *Server) ListAPIKeys(ctx context.Context, req *connect.Request[zenithv1.ListAPIKeysRequest]) (*connect.Response[zenithv1.ListAPIKeysResponse], error) {
	if name := req.Msg.GetSource(); name != "" {
		if _, err := s.st.SourceByName(ctx, name); err != nil {
			return nil, orNotFound(err, "source", name)
		}
	}
	list, err := s.st.ListKeys(ctx, req.Msg.GetSource(), req.Msg.GetIncludeRevoked())
	if err != nil {
		return nil, err
	}
	resp := &zenithv1.ListAPIKeysResponse{}
	for _, k := range list {
		resp.ApiKeys = append(resp.ApiKeys, toAPIKey(k))
	}
	return connect.NewResponse(resp), nil
}

// RevokeAPIKey revokes a key and tells every ingestor to forget it.
func (s *Server) RevokeAPIKey(ctx context.Context, req *connect.Request[zenithv1.RevokeAPIKeyRequest]) (*connect.Response[zenithv1.RevokeAPIKeyResponse], error) {
	k, err := s.st.RevokeKey(ctx, req.Msg.GetId())
	if err != nil {
		return nil, orNotFound(err, "api key", req.Msg.GetId())
	}
	s.announce(ctx)
	s.log.InfoContext(ctx, "api key revoked", "key_id", k.ID, "source", k.SourceName)
	return connect.NewResponse(&zenithv1.RevokeAPIKeyResponse{ApiKey: toAPIKey(k)}), nil
}
