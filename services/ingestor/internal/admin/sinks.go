package admin

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/zenith-hq/zenith/pkg/config"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/store"
)

// CreateSink checks and creates a sink.
func (s *Server) CreateSink(ctx context.Context, req *connect.Request[zenithv1.CreateSinkRequest]) (*connect.Response[zenithv1.CreateSinkResponse], error) {
	sink, err := sinkFromRequest(req.Msg.GetName(), req.Msg.GetType(), req.Msg.GetSettings())
	if err != nil {
		return nil, err
	}
	var saved store.Sink
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		if _, err := tx.SinkByName(ctx, sink.Name); err == nil {
			return fmt.Errorf("sink %q: %w", sink.Name, store.ErrExists)
		}
		saved, _, err = config.SaveSink(ctx, tx, sink, "")
		return err
	})
	out, err := s.sinkSaved(ctx, saved, err)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&zenithv1.CreateSinkResponse{Sink: out}), nil
}

// ListSinks lists every sink, secrets redacted.
func (s *Server) ListSinks(ctx context.Context, _ *connect.Request[zenithv1.ListSinksRequest]) (*connect.Response[zenithv1.ListSinksResponse], error) {
	list, err := s.st.ListSinks(ctx)
	if err != nil {
		return nil, err
	}
	resp := &zenithv1.ListSinksResponse{}
	for _, k := range list {
		out, err := toSink(k)
		if err != nil {
			return nil, err
		}
		resp.Sinks = append(resp.Sinks, out)
	}
	return connect.NewResponse(resp), nil
}

// GetSink returns one sink, secrets redacted.
func (s *Server) GetSink(ctx context.Context, req *connect.Request[zenithv1.GetSinkRequest]) (*connect.Response[zenithv1.GetSinkResponse], error) {
	k, err := s.st.SinkByName(ctx, req.Msg.GetName())
	if err != nil {
		return nil, orNotFound(err, "sink", req.Msg.GetName())
	}
	out, err := toSink(k)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&zenithv1.GetSinkResponse{Sink: out}), nil
}

// UpdateSink replaces a sink's settings, and its type when the request
// names one, putting back the stored secrets "<redacted>" values stand for
// (see config.RestoreSecrets).
func (s *Server) UpdateSink(ctx context.Context, req *connect.Request[zenithv1.UpdateSinkRequest]) (*connect.Response[zenithv1.UpdateSinkResponse], error) {
	sink, err := sinkFromRequest(req.Msg.GetName(), req.Msg.GetType(), req.Msg.GetSettings())
	if err != nil {
		return nil, err
	}
	var saved store.Sink
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		stored, err := tx.SinkByName(ctx, sink.Name)
		if err != nil {
			return orNotFound(err, "sink", sink.Name)
		}
		if sink.Type == "" {
			sink.Type = stored.Type
		}
		if sink.Config, err = config.RestoreSecrets(stored.Type, stored.Config, sink.Config); err != nil {
			return err
		}
		saved, _, err = config.SaveSink(ctx, tx, sink, "")
		return err
	})
	out, err := s.sinkSaved(ctx, saved, err)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&zenithv1.UpdateSinkResponse{Sink: out}), nil
}

// DeleteSink deletes a sink no rule acts on.
func (s *Server) DeleteSink(ctx context.Context, req *connect.Request[zenithv1.DeleteSinkRequest]) (*connect.Response[zenithv1.DeleteSinkResponse], error) {
	if err := s.st.DeleteSink(ctx, req.Msg.GetName()); err != nil {
		return nil, orNotFound(err, "sink", req.Msg.GetName())
	}
	s.announce(ctx)
	return connect.NewResponse(&zenithv1.DeleteSinkResponse{}), nil
}

// sinkSaved finishes a create or update that ended with err: it announces
// the saved sink and returns it, redacted.
func (s *Server) sinkSaved(ctx context.Context, saved store.Sink, err error) (*zenithv1.Sink, error) {
	if err != nil {
		return nil, err
	}
	s.announce(ctx)
	return toSink(saved)
}

func sinkFromRequest(name, sinkType string, settings *structpb.Struct) (config.Sink, error) {
	raw, err := fromStruct(settings)
	if err != nil {
		return config.Sink{}, invalid("settings", "%v", err)
	}
	if raw == nil {
		raw = []byte("{}")
	}
	return config.Sink{Name: name, Type: sinkType, Config: raw}, nil
}
