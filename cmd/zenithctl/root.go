package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/zenith-hq/zenith/pkg/gen/zenith/v1/zenithv1connect"
)

// Defaults of the global settings.
const (
	defaultServer = "http://127.0.0.1:8081"
	defaultIngest = "http://127.0.0.1:8080"
)

// globals are the settings every command shares.
type globals struct {
	server string
	token  string
	output string
	getenv func(string) string
}

// usageError is a mistake in the command line rather than a failed call.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// isCobraUsage reports whether err is cobra's own complaint about the
// command line, which it does not type.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "unknown flag", "unknown shorthand", "flag needs", "invalid argument",
		"required flag", "if any flags in the group"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// describe is how an error is shown: a refusal from the server already
// reads "<code>: <message>".
func describe(err error) string {
	var connectErr *connect.Error
	if errors.As(err, &connectErr) {
		return connectErr.Error()
	}
	return err.Error()
}

func newRoot(getenv func(string) string) *cobra.Command {
	g := &globals{getenv: getenv}
	root := &cobra.Command{
		Use:   "zenithctl",
		Short: "Manage Zenith's sources, keys, sinks and rules through its admin API",
		Long: `zenithctl manages Zenith through the admin API the ingestor serves.

The server is --server or ZENITH_SERVER (default ` + defaultServer + `), the admin
token --token or ZENITH_TOKEN. Output is a table, or JSON with -o json.
Exit codes: 0 success, 1 the call failed or was refused, 2 bad usage.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if g.output != "table" && g.output != "json" {
				return usagef("-o must be table or json, not %q", g.output)
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	flags := root.PersistentFlags()
	flags.StringVar(&g.server, "server", envOr(getenv, "ZENITH_SERVER", defaultServer), "admin API URL (env ZENITH_SERVER)")
	flags.StringVar(&g.token, "token", getenv("ZENITH_TOKEN"), "admin token (env ZENITH_TOKEN)")
	flags.StringVarP(&g.output, "output", "o", "table", "output format: table or json")

	root.AddCommand(
		sourcesCommand(g), keysCommand(g), sinksCommand(g), rulesCommand(g),
		testCommand(g), auditCommand(g), deadLettersCommand(g), applyCommand(g), sendCommand(g),
	)
	return root
}

func envOr(getenv func(string) string, name, fallback string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return fallback
}

// client returns an admin API client sending the token with every call.
func (g *globals) client() (zenithv1connect.AdminServiceClient, error) {
	if g.token == "" {
		return nil, usagef("no admin token: set ZENITH_TOKEN or pass --token")
	}
	auth := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+g.token)
			return next(ctx, req)
		}
	})
	return zenithv1connect.NewAdminServiceClient(http.DefaultClient, strings.TrimRight(g.server, "/"),
		connect.WithInterceptors(auth)), nil
}

// args checks the number of positional arguments, as a usage error.
func args(n int, names string) cobra.PositionalArgs {
	return func(_ *cobra.Command, list []string) error {
		if len(list) != n {
			return usagef("want %s, got %d argument(s)", names, len(list))
		}
		return nil
	}
}
