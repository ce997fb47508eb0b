package main

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/gen/zenith/v1/zenithv1connect"
)

type adminClient = zenithv1connect.AdminServiceClient

func sourcesCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "sources", Short: "List, show, create, rename and delete sources"}
	cmd.AddCommand(
		&cobra.Command{
			Use: "list", Short: "List the sources", Args: args(0, "no arguments"),
			RunE: runner(g, func(ctx context.Context, c adminClient, _ []string) (*connect.Response[zenithv1.ListSourcesResponse], error) {
				return c.ListSources(ctx, connect.NewRequest(&zenithv1.ListSourcesRequest{}))
			}, func(p printer, msg *zenithv1.ListSourcesResponse, _ []string) error {
				return sourceTable(p, msg.GetSources()...)
			}),
		},
		&cobra.Command{
			Use: "get NAME", Short: "Show a source", Args: args(1, "the source's name"),
			RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.GetSourceResponse], error) {
				return c.GetSource(ctx, connect.NewRequest(&zenithv1.GetSourceRequest{Name: a[0]}))
			}, func(p printer, msg *zenithv1.GetSourceResponse, _ []string) error {
				return sourceTable(p, msg.GetSource())
			}),
		},
		&cobra.Command{
			Use: "create NAME", Short: "Create a source", Args: args(1, "the new source's name"),
			RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.CreateSourceResponse], error) {
				return c.CreateSource(ctx, connect.NewRequest(&zenithv1.CreateSourceRequest{Name: a[0]}))
			}, func(p printer, msg *zenithv1.CreateSourceResponse, _ []string) error {
				return sourceTable(p, msg.GetSource())
			}),
		},
		&cobra.Command{
			Use: "rename NAME NEW-NAME", Short: "Rename a source; its keys and rules follow", Args: args(2, "the source's name and its new name"),
			RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.UpdateSourceResponse], error) {
				return c.UpdateSource(ctx, connect.NewRequest(&zenithv1.UpdateSourceRequest{Name: a[0], NewName: a[1]}))
			}, func(p printer, msg *zenithv1.UpdateSourceResponse, _ []string) error {
				return sourceTable(p, msg.GetSource())
			}),
		},
		deleteSourceCommand(g),
	)
	return cmd
}

func deleteSourceCommand(g *globals) *cobra.Command {
	var withRules bool
	cmd := &cobra.Command{
		Use:   "delete NAME [--with-rules]",
		Short: "Delete a source with its API keys",
		Long: `Deletes a source with its API keys, which are refused from then on. A
source that has rules is refused, naming them, unless --with-rules deletes
them too.`,
		Args: args(1, "the source's name"),
		RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.DeleteSourceResponse], error) {
			return c.DeleteSource(ctx, connect.NewRequest(&zenithv1.DeleteSourceRequest{Name: a[0], WithRules: withRules}))
		}, func(p printer, msg *zenithv1.DeleteSourceResponse, a []string) error {
			_, err := fmt.Fprintf(p.out, "source %s deleted with %d rule(s) and %d API key(s)\n", a[0], msg.GetRulesDeleted(), msg.GetApiKeysDeleted())
			return err
		}),
	}
	cmd.Flags().BoolVar(&withRules, "with-rules", false, "delete the source's rules too")
	return cmd
}

func sourceTable(p printer, list ...*zenithv1.Source) error {
	rows := make([][]string, len(list))
	for i, s := range list {
		rows[i] = []string{s.GetName(), s.GetId(), when(s.GetCreatedAt())}
	}
	return p.table([]string{"NAME", "ID", "CREATED"}, rows)
}
