package main

import (
	"context"
	"os"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/zenith-hq/zenith/pkg/config"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
)

func rulesCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "List, show, create, update, enable, disable and delete rules"}

	var source string
	list := &cobra.Command{
		Use: "list", Short: "List rules", Args: args(0, "no arguments"),
		RunE: runner(g, func(ctx context.Context, c adminClient, _ []string) (*connect.Response[zenithv1.ListRulesResponse], error) {
			return c.ListRules(ctx, connect.NewRequest(&zenithv1.ListRulesRequest{Source: source}))
		}, func(p printer, msg *zenithv1.ListRulesResponse, _ []string) error {
			return ruleTable(p, msg.GetRules()...)
		}),
	}
	list.Flags().StringVar(&source, "source", "", "only the rules of this source")

	get := &cobra.Command{
		Use: "get SOURCE/NAME", Short: "Show a rule", Args: args(1, "SOURCE/NAME"),
		RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.GetRuleResponse], error) {
			src, name, err := ruleRef(a[0])
			if err != nil {
				return nil, err
			}
			return c.GetRule(ctx, connect.NewRequest(&zenithv1.GetRuleRequest{Source: src, Name: name}))
		}, func(p printer, msg *zenithv1.GetRuleResponse, _ []string) error {
			return ruleTable(p, msg.GetRule())
		}),
	}
	del := &cobra.Command{
		Use: "delete SOURCE/NAME", Short: "Delete a rule", Args: args(1, "SOURCE/NAME"),
		RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.DeleteRuleResponse], error) {
			src, name, err := ruleRef(a[0])
			if err != nil {
				return nil, err
			}
			return c.DeleteRule(ctx, connect.NewRequest(&zenithv1.DeleteRuleRequest{Source: src, Name: name}))
		}, done[zenithv1.DeleteRuleResponse]("rule %s deleted")),
	}
	cmd.AddCommand(list, get, ruleSaveCommand(g, false), ruleSaveCommand(g, true),
		ruleEnableCommand(g, true), ruleEnableCommand(g, false), del)
	return cmd
}

// ruleSaveCommand is `rules create` or, with update, `rules update`.
func ruleSaveCommand(g *globals, update bool) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "create -f RULE.yaml",
		Short: "Create a rule from a file",
		Args:  args(0, "no arguments"),
		RunE: runner(g, func(ctx context.Context, c adminClient, _ []string) (*connect.Response[zenithv1.CreateRuleResponse], error) {
			rule, err := readRule(file)
			if err != nil {
				return nil, err
			}
			resp, err := c.CreateRule(ctx, connect.NewRequest(&zenithv1.CreateRuleRequest{Rule: rule}))
			return resp, inFile(file, err)
		}, showRule[zenithv1.CreateRuleResponse]),
	}
	if update {
		cmd.Use, cmd.Short = "update -f RULE.yaml", "Replace a rule with the one in a file"
		cmd.RunE = runner(g, func(ctx context.Context, c adminClient, _ []string) (*connect.Response[zenithv1.UpdateRuleResponse], error) {
			rule, err := readRule(file)
			if err != nil {
				return nil, err
			}
			resp, err := c.UpdateRule(ctx, connect.NewRequest(&zenithv1.UpdateRuleRequest{Rule: rule}))
			return resp, inFile(file, err)
		}, showRule[zenithv1.UpdateRuleResponse])
	}
	cmd.Long = cmd.Short + `. The file holds one rule as the configuration file writes
its rules: name, source, event_type, condition, fallback, priority, enabled
and actions. It is checked here first, as apply checks a file.`
	cmd.Flags().StringVarP(&file, "file", "f", "", "the rule, as YAML or JSON (required)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// showRule shows the rule of an answer as a table.
func showRule[Res any, PRes interface {
	*Res
	GetRule() *zenithv1.Rule
}](p printer, msg *Res, _ []string) error {
	return ruleTable(p, PRes(msg).GetRule())
}

func ruleEnableCommand(g *globals, enable bool) *cobra.Command {
	verb := "disable"
	if enable {
		verb = "enable"
	}
	return &cobra.Command{
		Use: verb + " SOURCE/NAME", Short: strings.ToUpper(verb[:1]) + verb[1:] + " a rule", Args: args(1, "SOURCE/NAME"),
		RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.SetRuleEnabledResponse], error) {
			src, name, err := ruleRef(a[0])
			if err != nil {
				return nil, err
			}
			return c.SetRuleEnabled(ctx, connect.NewRequest(&zenithv1.SetRuleEnabledRequest{Source: src, Name: name, Enabled: enable}))
		}, func(p printer, msg *zenithv1.SetRuleEnabledResponse, _ []string) error {
			return ruleTable(p, msg.GetRule())
		}),
	}
}

// ruleRef splits SOURCE/NAME.
func ruleRef(ref string) (source, name string, err error) {
	source, name, ok := strings.Cut(ref, "/")
	if !ok || source == "" || name == "" {
		return "", "", usagef("name a rule as SOURCE/NAME, not %q", ref)
	}
	return source, name, nil
}

// readRule reads and checks one rule from a YAML or JSON file, with the
// configuration file's parser, so that a mistake is named by its key.
func readRule(file string) (*zenithv1.Rule, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, &usageError{err}
	}
	r, err := config.ParseRule(b)
	if err != nil {
		return nil, usagef("%s: %v", file, err)
	}
	out := &zenithv1.Rule{
		Name: r.Name, Source: r.Source, EventType: r.EventType, Fallback: r.Fallback,
		Priority: int32(r.Priority), Enabled: r.Enabled, Actions: r.Actions,
	}
	if r.HasCondition() {
		out.ConditionJson = string(r.Condition)
	}
	return out, nil
}

func ruleTable(p printer, list ...*zenithv1.Rule) error {
	rows := make([][]string, len(list))
	for i, r := range list {
		condition := "-"
		if r.GetConditionJson() != "" {
			condition = compactRawJSON(r.GetConditionJson())
		}
		kind := r.GetEventType()
		if kind == "" {
			kind = "*"
		}
		if r.GetFallback() {
			condition = "fallback " + condition
		}
		rows[i] = []string{r.GetSource() + "/" + r.GetName(), strconv.FormatInt(r.GetVersion(), 10), yesNo(r.GetEnabled()),
			strconv.Itoa(int(r.GetPriority())), kind, condition, strings.Join(r.GetActions(), ",")}
	}
	return p.table([]string{"RULE", "VERSION", "ENABLED", "PRIORITY", "EVENT TYPE", "CONDITION", "ACTIONS"}, rows)
}
