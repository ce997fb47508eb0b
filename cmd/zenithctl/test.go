package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/zenith-hq/zenith/pkg/event"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
)

func testCommand(g *globals) *cobra.Command {
	var file, source, rule, draft string
	cmd := &cobra.Command{
		Use:   "test -f EVENT.json [--source SOURCE] [--rule NAME | --draft RULE.yaml]",
		Short: "Evaluate a sample event against rules, dispatching nothing",
		Long: `Evaluates a sample event against every enabled rule of a source, one rule
(--rule), or a rule not yet saved (--draft), and shows which matched and,
per condition, the value read and why it passed or failed. Nothing is
dispatched. The event file is the JSON an event is sent as:
{"type": "purchase.completed", "data": {...}}; its "source", if any, is the
default for --source.`,
		Args: args(0, "no arguments"),
		RunE: runner(g, func(ctx context.Context, c adminClient, _ []string) (*connect.Response[zenithv1.TestRulesResponse], error) {
			req, err := testRequest(file, source, rule, draft)
			if err != nil {
				return nil, err
			}
			return c.TestRules(ctx, connect.NewRequest(req))
		}, func(p printer, msg *zenithv1.TestRulesResponse, _ []string) error {
			return printTest(p.out, msg)
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the sample event, as JSON (required)")
	cmd.Flags().StringVar(&source, "source", "", "the source whose rules to evaluate")
	cmd.Flags().StringVar(&rule, "rule", "", "only this rule of the source")
	cmd.Flags().StringVar(&draft, "draft", "", "evaluate this rule file instead of stored rules")
	_ = cmd.MarkFlagRequired("file")
	cmd.MarkFlagsMutuallyExclusive("rule", "draft")
	return cmd
}

// testRequest builds the request of a test. The event file is read as the
// ingestor reads an event, so that a file it would refuse, one with a key
// given twice say, is refused before any call.
func testRequest(file, source, rule, draft string) (*zenithv1.TestRulesRequest, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, &usageError{err}
	}
	ev, err := event.ParseJSON(b)
	if err != nil {
		return nil, usagef("%s: %v", file, err)
	}
	if source == "" {
		source = ev.Source
	}
	req := &zenithv1.TestRulesRequest{
		Source: source, Rule: rule,
		Event: &zenithv1.Event{Type: ev.Type, Payload: &zenithv1.Event_DataJson{DataJson: ev.Data}},
	}
	if draft != "" {
		if req.Draft, err = readRule(draft); err != nil {
			return nil, err
		}
	} else if source == "" {
		return nil, usagef("name the source with --source, or give the event a \"source\"")
	}
	return req, nil
}

// printTest shows each rule's verdict and, below it, how each node of its
// condition evaluated.
func printTest(out io.Writer, msg *zenithv1.TestRulesResponse) error {
	for _, r := range msg.GetResults() {
		verdict := "no match"
		if r.GetMatched() {
			verdict = "MATCHED"
		}
		fmt.Fprintf(out, "%s (v%d): %s: %s\n", r.GetRule(), r.GetVersion(), verdict, r.GetReason())
		if r.GetCondition() != nil {
			printCondition(out, r.GetCondition(), 1)
		}
	}
	matched := "none"
	if len(msg.GetMatched()) > 0 {
		matched = strings.Join(msg.GetMatched(), ", ")
	}
	_, err := fmt.Fprintf(out, "matched: %s\n", matched)
	return err
}

func printCondition(out io.Writer, c *zenithv1.ConditionResult, depth int) {
	indent := strings.Repeat("  ", depth)
	mark := "fail"
	if c.GetPassed() {
		mark = "pass"
	}
	if c.GetKind() == "comparison" {
		got := "missing"
		if c.GetFound() {
			got = c.GetGotJson()
		}
		comparison := strings.TrimSpace(c.GetField() + " " + c.GetOperator() + " " + c.GetValueJson())
		fmt.Fprintf(out, "%s[%s] %s: %s, got %s: %s\n", indent, mark, c.GetPath(), comparison, got, c.GetReason())
		return
	}
	fmt.Fprintf(out, "%s[%s] %s (%s): %s\n", indent, mark, c.GetPath(), c.GetKind(), c.GetReason())
	for _, child := range c.GetChildren() {
		printCondition(out, child, depth+1)
	}
}
