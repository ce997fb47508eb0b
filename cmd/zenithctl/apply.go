package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/zenith-hq/zenith/pkg/config"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
)

func applyCommand(g *globals) *cobra.Command {
	var file string
	var dryRun, prune, force bool
	cmd := &cobra.Command{
		Use:   "apply -f zenith.yaml [--dry-run] [--prune [--force]]",
		Short: "Make Zenith hold what a configuration file declares, and print the diff",
		Long: `Applies a configuration file (the YAML the ingestor's ZENITH_CONFIG names):
each source, sink and rule is created or updated by name, all or nothing,
and with --prune what the file does not declare is deleted. The diff is
printed: + created, ~ updated (setting by setting, secrets redacted),
- deleted. --dry-run prints it and changes nothing; a read-only token may
make a dry run.

A prune that would delete every source (a file declaring none, say) is
refused, with what it would do, unless --force is given.

The file is checked here first, by the same code the server runs. The keys
its api_keys_from_env name are read from this environment and sent to the
server, which stores only their hashes; a variable that is not set here
keeps the keys saved from it before. ${NAME} and ${NAME:-default} in sink
settings are replaced by this environment's variables before the file is
sent.`,
		Args: args(0, "no arguments"),
	}
	cmd.RunE = runner(g, func(ctx context.Context, c adminClient, _ []string) (*connect.Response[zenithv1.ApplyResponse], error) {
		req, err := applyRequest(file, g.getenv)
		if err != nil {
			return nil, err
		}
		req.DryRun, req.Prune = dryRun, prune
		if prune && !dryRun && !force {
			if err := refuseEmptyingPrune(ctx, c, req, g.printer(cmd.OutOrStdout())); err != nil {
				return nil, err
			}
		}
		resp, err := c.Apply(ctx, connect.NewRequest(req))
		return resp, inFile(file, err)
	}, func(p printer, msg *zenithv1.ApplyResponse, _ []string) error {
		return printChanges(p.out, msg.GetChanges(), msg.GetDryRun())
	})
	cmd.Flags().StringVarP(&file, "file", "f", "", "the configuration file (required)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would change, change nothing")
	cmd.Flags().BoolVar(&prune, "prune", false, "delete the rules, sinks and sources the file does not declare")
	cmd.Flags().BoolVar(&force, "force", false, "with --prune, go on even if every source would be deleted")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// refuseEmptyingPrune tries req as a dry run and, when it would delete
// every source there is, prints what it would do and refuses: an empty or
// wrong file would otherwise wipe out the whole configuration.
func refuseEmptyingPrune(ctx context.Context, c adminClient, req *zenithv1.ApplyRequest, p printer) error {
	sources, err := c.ListSources(ctx, connect.NewRequest(&zenithv1.ListSourcesRequest{}))
	if err != nil || len(sources.Msg.GetSources()) == 0 {
		return err
	}
	try := proto.CloneOf(req)
	try.DryRun = true
	resp, err := c.Apply(ctx, connect.NewRequest(try))
	if err != nil {
		return err
	}
	deleted := 0
	for _, change := range resp.Msg.GetChanges() {
		if change.GetKind() == config.KindSource && change.GetOp() == config.OpDeleted {
			deleted++
		}
	}
	if deleted < len(sources.Msg.GetSources()) {
		return nil
	}
	if p.format == "json" {
		err = p.json(resp.Msg)
	} else {
		err = printChanges(p.out, resp.Msg.GetChanges(), true)
	}
	if err != nil {
		return err
	}
	return usagef("--prune would delete every source, with its keys and rules: run again with --force to do it")
}

// applyRequest reads the file, expands the variables its sinks' settings
// name, checks it, and gathers the keys it names from the environment.
func applyRequest(file string, getenv func(string) string) (*zenithv1.ApplyRequest, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, &usageError{err}
	}
	lookup := func(name string) (string, bool) {
		v := getenv(name)
		return v, v != ""
	}
	expanded, err := config.ExpandEnv(b, lookup)
	if err != nil {
		return nil, usagef("%s: %w", file, err)
	}
	parsed, err := config.Parse(expanded)
	if err != nil {
		return nil, usagef("%s: %w", file, err)
	}
	req := &zenithv1.ApplyRequest{Config: expanded, ApiKeys: map[string]string{}}
	for _, src := range parsed.Sources {
		for _, name := range src.APIKeysFromEnv {
			if v := getenv(name); v != "" {
				req.ApiKeys[name] = v
			}
		}
	}
	return req, nil
}

var opMarks = map[string]string{
	config.OpCreated: "+", config.OpUpdated: "~", config.OpDeleted: "-", config.OpRotated: "~",
}

func printChanges(out io.Writer, changes []*zenithv1.Change, dryRun bool) error {
	if dryRun {
		fmt.Fprintln(out, "dry run: nothing was changed")
	}
	for _, c := range changes {
		line := fmt.Sprintf("%s %s %s %s", opMarks[c.GetOp()], c.GetKind(), c.GetName(), c.GetOp())
		if c.GetDetail() != "" {
			line += " (" + c.GetDetail() + ")"
		}
		fmt.Fprintln(out, line)
		for _, f := range c.GetFields() {
			fc := config.FieldChange{Path: f.GetPath(), Old: f.GetOld(), New: f.GetNew()}
			fmt.Fprintln(out, "    "+fc.String())
		}
	}
	var err error
	if len(changes) == 0 {
		_, err = fmt.Fprintln(out, "no changes")
	} else {
		_, err = fmt.Fprintf(out, "%d change(s)\n", len(changes))
	}
	return err
}
