package main

import (
	"context"
	"os"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/zenith-hq/zenith/pkg/config"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/sinkconf"
)

func sinksCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "sinks", Short: "List, show, create, update and delete sinks (secrets are never shown)"}
	cmd.AddCommand(
		&cobra.Command{
			Use: "list", Short: "List the sinks", Args: args(0, "no arguments"),
			RunE: runner(g, func(ctx context.Context, c adminClient, _ []string) (*connect.Response[zenithv1.ListSinksResponse], error) {
				return c.ListSinks(ctx, connect.NewRequest(&zenithv1.ListSinksRequest{}))
			}, func(p printer, msg *zenithv1.ListSinksResponse, _ []string) error {
				return sinkTable(p, msg.GetSinks()...)
			}),
		},
		&cobra.Command{
			Use: "get NAME", Short: "Show a sink, secrets redacted", Args: args(1, "the sink's name"),
			RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.GetSinkResponse], error) {
				return c.GetSink(ctx, connect.NewRequest(&zenithv1.GetSinkRequest{Name: a[0]}))
			}, func(p printer, msg *zenithv1.GetSinkResponse, _ []string) error {
				return sinkTable(p, msg.GetSink())
			}),
		},
		sinkSaveCommand(g, false),
		sinkSaveCommand(g, true),
		&cobra.Command{
			Use: "delete NAME", Short: "Delete a sink no rule acts on (a refusal names the rules)", Args: args(1, "the sink's name"),
			RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.DeleteSinkResponse], error) {
				return c.DeleteSink(ctx, connect.NewRequest(&zenithv1.DeleteSinkRequest{Name: a[0]}))
			}, done[zenithv1.DeleteSinkResponse]("sink %s deleted")),
		},
	)
	return cmd
}

// sinkSaveCommand is `sinks create` or, with update, `sinks update`. An
// update keeps the sink's type unless --type is given.
func sinkSaveCommand(g *globals, update bool) *cobra.Command {
	var sinkType, settingsJSON, file string
	cmd := &cobra.Command{
		Use:   "create NAME [--type TYPE] (--settings JSON | -f FILE)",
		Short: "Create a sink (of type webhook unless --type says otherwise)",
		Args:  args(1, "the sink's name"),
		RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.CreateSinkResponse], error) {
			settings, err := readSettings(settingsJSON, file)
			if err != nil {
				return nil, err
			}
			return c.CreateSink(ctx, connect.NewRequest(&zenithv1.CreateSinkRequest{Name: a[0], Type: sinkType, Settings: settings}))
		}, showSink[zenithv1.CreateSinkResponse]),
	}
	typeDefault := "webhook"
	if update {
		cmd.Use = "update NAME [--type TYPE] (--settings JSON | -f FILE)"
		cmd.Short = `Replace a sink's settings ("<redacted>" keeps the stored secret it stands for)`
		cmd.Long = `Replaces a sink's settings with those given, all of them. The sink keeps
its type unless --type names another. A value "<redacted>", as "sinks get"
shows secrets, keeps the stored secret at the same place; in a list, the
n-th "<redacted>" keeps the list's n-th stored secret, so signing secrets
rotate with '{"url": "<redacted>", "secrets": ["whsec_NEW…", "<redacted>"]}'.`
		cmd.RunE = runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.UpdateSinkResponse], error) {
			settings, err := readSettings(settingsJSON, file)
			if err != nil {
				return nil, err
			}
			return c.UpdateSink(ctx, connect.NewRequest(&zenithv1.UpdateSinkRequest{Name: a[0], Type: sinkType, Settings: settings}))
		}, showSink[zenithv1.UpdateSinkResponse])
		typeDefault = ""
	}
	cmd.Flags().StringVar(&sinkType, "type", typeDefault, "the sink's type: "+strings.Join(sinkconf.Types, ", "))
	cmd.Flags().StringVar(&settingsJSON, "settings", "", `the settings as JSON, such as '{"url":"https://…"}'`)
	cmd.Flags().StringVarP(&file, "file", "f", "", "a YAML or JSON file holding the settings")
	cmd.MarkFlagsMutuallyExclusive("settings", "file")
	return cmd
}

// showSink shows the sink of a create or update answer as a table.
func showSink[Res any, PRes interface {
	*Res
	GetSink() *zenithv1.Sink
}](p printer, msg *Res, _ []string) error {
	return sinkTable(p, PRes(msg).GetSink())
}

// readSettings reads a sink's settings from a flag or a file, as YAML or
// JSON, with the configuration file's limits and errors.
func readSettings(inline, file string) (*structpb.Struct, error) {
	raw, source := []byte(inline), "--settings"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, &usageError{err}
		}
		raw, source = b, file
	}
	if len(raw) == 0 {
		return nil, usagef("give the settings with --settings or -f")
	}
	js, err := config.ToJSON(raw)
	if err != nil {
		return nil, usagef("%s: %v", source, err)
	}
	var s structpb.Struct
	if err := protojson.Unmarshal(js, &s); err != nil {
		return nil, usagef("%s: the settings must be a mapping of names to values", source)
	}
	return &s, nil
}

func sinkTable(p printer, list ...*zenithv1.Sink) error {
	rows := make([][]string, len(list))
	for i, k := range list {
		rows[i] = []string{k.GetName(), k.GetType(), compactJSON(k.GetSettings().AsMap()), when(k.GetUpdatedAt())}
	}
	return p.table([]string{"NAME", "TYPE", "SETTINGS", "UPDATED"}, rows)
}
