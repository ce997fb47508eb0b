package main

import (
	"context"
	"os"

	"connectrpc.com/connect"
	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
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
			Use: "delete NAME", Short: "Delete a sink no rule acts on", Args: args(1, "the sink's name"),
			RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.DeleteSinkResponse], error) {
				return c.DeleteSink(ctx, connect.NewRequest(&zenithv1.DeleteSinkRequest{Name: a[0]}))
			}, done[zenithv1.DeleteSinkResponse]("sink %s deleted")),
		},
	)
	return cmd
}

// sinkSaveCommand is `sinks create` or, with update, `sinks update`.
func sinkSaveCommand(g *globals, update bool) *cobra.Command {
	var sinkType, settingsJSON, file string
	verb, short := "create", "Create a sink"
	if update {
		verb, short = "update", `Replace a sink's settings ("<redacted>" values keep the stored secret)`
	}
	cmd := &cobra.Command{
		Use:   verb + " NAME --type TYPE (--settings JSON | -f FILE)",
		Short: short,
		Args:  args(1, "the sink's name"),
		RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.Sink], error) {
			settings, err := readSettings(settingsJSON, file)
			if err != nil {
				return nil, err
			}
			var sink *zenithv1.Sink
			if update {
				resp, err := c.UpdateSink(ctx, connect.NewRequest(&zenithv1.UpdateSinkRequest{Name: a[0], Type: sinkType, Settings: settings}))
				if err != nil {
					return nil, err
				}
				sink = resp.Msg.GetSink()
			} else {
				resp, err := c.CreateSink(ctx, connect.NewRequest(&zenithv1.CreateSinkRequest{Name: a[0], Type: sinkType, Settings: settings}))
				if err != nil {
					return nil, err
				}
				sink = resp.Msg.GetSink()
			}
			return connect.NewResponse(sink), nil
		}, func(p printer, msg *zenithv1.Sink, _ []string) error {
			return sinkTable(p, msg)
		}),
	}
	cmd.Flags().StringVar(&sinkType, "type", "webhook", "the sink's type")
	cmd.Flags().StringVar(&settingsJSON, "settings", "", `the settings as JSON, such as '{"url":"https://…"}'`)
	cmd.Flags().StringVarP(&file, "file", "f", "", "a YAML or JSON file holding the settings")
	cmd.MarkFlagsMutuallyExclusive("settings", "file")
	return cmd
}

// readSettings reads a sink's settings from a flag or a file.
func readSettings(inline, file string) (*structpb.Struct, error) {
	raw := []byte(inline)
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if raw, err = yaml.YAMLToJSON(b); err != nil {
			return nil, usagef("%s: %v", file, err)
		}
	}
	if len(raw) == 0 {
		return nil, usagef("give the settings with --settings or -f")
	}
	var s structpb.Struct
	if err := protojson.Unmarshal(raw, &s); err != nil {
		return nil, usagef("settings must be a JSON object: %v", err)
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
