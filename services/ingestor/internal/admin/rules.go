package admin

import (
	"context"
	"fmt"

	"connectrpc.com/connect"

	"github.com/zenith-hq/zenith/pkg/config"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/store"
)

// CreateRule checks and creates a rule.
func (s *Server) CreateRule(ctx context.Context, req *connect.Request[zenithv1.CreateRuleRequest]) (*connect.Response[zenithv1.CreateRuleResponse], error) {
	rule, err := fromRule(req.Msg.GetRule(), "")
	if err != nil {
		return nil, err
	}
	saved, err := s.saveRule(ctx, rule, false)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&zenithv1.CreateRuleResponse{Rule: saved}), nil
}

// UpdateRule checks and replaces a rule.
func (s *Server) UpdateRule(ctx context.Context, req *connect.Request[zenithv1.UpdateRuleRequest]) (*connect.Response[zenithv1.UpdateRuleResponse], error) {
	rule, err := fromRule(req.Msg.GetRule(), "")
	if err != nil {
		return nil, err
	}
	saved, err := s.saveRule(ctx, rule, true)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&zenithv1.UpdateRuleResponse{Rule: saved}), nil
}

// SetRuleEnabled enables or disables a rule.
func (s *Server) SetRuleEnabled(ctx context.Context, req *connect.Request[zenithv1.SetRuleEnabledRequest]) (*connect.Response[zenithv1.SetRuleEnabledResponse], error) {
	var saved store.Rule
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		stored, err := ruleByName(ctx, tx, req.Msg.GetSource(), req.Msg.GetName())
		if err != nil {
			return err
		}
		rule := config.FromStoredRule(stored)
		enabled := req.Msg.GetEnabled()
		rule.Enabled = &enabled
		saved, _, err = config.SaveRule(ctx, tx, rule, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	s.announce(ctx)
	return connect.NewResponse(&zenithv1.SetRuleEnabledResponse{Rule: toRule(saved)}), nil
}

// saveRule creates rule, or with update replaces the stored one, and
// announces the change.
func (s *Server) saveRule(ctx context.Context, rule config.Rule, update bool) (*zenithv1.Rule, error) {
	var saved store.Rule
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		if err := rule.Validate(""); err != nil {
			return err
		}
		_, err := ruleByName(ctx, tx, rule.Source, rule.Name)
		switch {
		case update && err != nil:
			return err
		case !update && err == nil:
			return fmt.Errorf("rule %s/%s: %w", rule.Source, rule.Name, store.ErrExists)
		}
		saved, _, err = config.SaveRule(ctx, tx, rule, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	s.announce(ctx)
	return toRule(saved), nil
}

// ListRules lists the rules of a source, or of every source.
func (s *Server) ListRules(ctx context.Context, req *connect.Request[zenithv1.ListRulesRequest]) (*connect.Response[zenithv1.ListRulesResponse], error) {
	source := req.Msg.GetSource()
	if source != "" {
		if _, err := s.st.SourceByName(ctx, source); err != nil {
			return nil, orNotFound(err, "source", source)
		}
	}
	list, err := s.st.ListRules(ctx, false)
	if err != nil {
		return nil, err
	}
	resp := &zenithv1.ListRulesResponse{}
	for _, r := range list {
		if source != "" && r.SourceName != source {
			continue
		}
		resp.Rules = append(resp.Rules, toRule(r))
	}
	return connect.NewResponse(resp), nil
}

// GetRule returns one rule.
func (s *Server) GetRule(ctx context.Context, req *connect.Request[zenithv1.GetRuleRequest]) (*connect.Response[zenithv1.GetRuleResponse], error) {
	r, err := ruleByName(ctx, s.st, req.Msg.GetSource(), req.Msg.GetName())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&zenithv1.GetRuleResponse{Rule: toRule(r)}), nil
}

// DeleteRule deletes a rule.
func (s *Server) DeleteRule(ctx context.Context, req *connect.Request[zenithv1.DeleteRuleRequest]) (*connect.Response[zenithv1.DeleteRuleResponse], error) {
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		r, err := ruleByName(ctx, tx, req.Msg.GetSource(), req.Msg.GetName())
		if err != nil {
			return err
		}
		return tx.DeleteRule(ctx, r.SourceID, r.Name)
	})
	if err != nil {
		return nil, err
	}
	s.announce(ctx)
	return connect.NewResponse(&zenithv1.DeleteRuleResponse{}), nil
}

// ruleByName finds a rule by its source's name and its own, naming what is
// missing when either is.
func ruleByName(ctx context.Context, st *store.Store, source, name string) (store.Rule, error) {
	src, err := st.SourceByName(ctx, source)
	if err != nil {
		return store.Rule{}, orNotFound(err, "source", source)
	}
	r, err := st.RuleByName(ctx, src.ID, name)
	if err != nil {
		return store.Rule{}, orNotFound(err, "rule", source+"/"+name)
	}
	return r, nil
}
