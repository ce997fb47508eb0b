package main

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
)

func keysCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Create, list and revoke the API keys of sources"}

	var listSource string
	var withRevoked bool
	list := &cobra.Command{
		Use: "list", Short: "List API keys, without their secrets", Args: args(0, "no arguments"),
		RunE: runner(g, func(ctx context.Context, c adminClient, _ []string) (*connect.Response[zenithv1.ListAPIKeysResponse], error) {
			return c.ListAPIKeys(ctx, connect.NewRequest(&zenithv1.ListAPIKeysRequest{Source: listSource, IncludeRevoked: withRevoked}))
		}, func(p printer, msg *zenithv1.ListAPIKeysResponse, _ []string) error {
			return keyTable(p, msg.GetApiKeys()...)
		}),
	}
	list.Flags().StringVar(&listSource, "source", "", "only the keys of this source")
	list.Flags().BoolVar(&withRevoked, "include-revoked", false, "list revoked keys too")

	var createSource, name string
	create := &cobra.Command{
		Use: "create --source SOURCE --name NAME", Short: "Create a key; it is shown this once", Args: args(0, "no arguments"),
		RunE: runner(g, func(ctx context.Context, c adminClient, _ []string) (*connect.Response[zenithv1.CreateAPIKeyResponse], error) {
			return c.CreateAPIKey(ctx, connect.NewRequest(&zenithv1.CreateAPIKeyRequest{Source: createSource, Name: name}))
		}, func(p printer, msg *zenithv1.CreateAPIKeyResponse, _ []string) error {
			k := msg.GetApiKey()
			_, err := fmt.Fprintf(p.out, "API key %s for source %s (shown once; only its hash is stored):\n%s\n",
				k.GetId(), k.GetSource(), msg.GetKey())
			return err
		}),
	}
	create.Flags().StringVar(&createSource, "source", "", "the source the key speaks for (required)")
	create.Flags().StringVar(&name, "name", "", "what to call the key, such as its holder (required)")
	_ = create.MarkFlagRequired("source")
	_ = create.MarkFlagRequired("name")

	revoke := &cobra.Command{
		Use: "revoke ID", Short: "Revoke a key for good; every ingestor refuses it within seconds", Args: args(1, "the key's id"),
		RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.RevokeAPIKeyResponse], error) {
			return c.RevokeAPIKey(ctx, connect.NewRequest(&zenithv1.RevokeAPIKeyRequest{Id: a[0]}))
		}, done[zenithv1.RevokeAPIKeyResponse]("api key %s revoked")),
	}
	cmd.AddCommand(list, create, revoke)
	return cmd
}

func keyTable(p printer, list ...*zenithv1.APIKey) error {
	rows := make([][]string, len(list))
	for i, k := range list {
		prefix := k.GetPrefix()
		if prefix == "" {
			prefix = "-"
		}
		rows[i] = []string{k.GetId(), k.GetSource(), k.GetName(), prefix, when(k.GetCreatedAt()), when(k.GetLastUsedAt()), when(k.GetRevokedAt())}
	}
	return p.table([]string{"ID", "SOURCE", "NAME", "PREFIX", "CREATED", "LAST USED", "REVOKED"}, rows)
}
