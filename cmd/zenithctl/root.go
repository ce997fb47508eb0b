package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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

// inFile names file in the server's refusal of what the file holds, as the
// checks made here name it (`zenith.yaml: rules[0].actions[0]: ...`).
// Other errors are returned as they are.
func inFile(file string, err error) error {
	var cerr *connect.Error
	if errors.As(err, &cerr) && cerr.Code() == connect.CodeInvalidArgument {
		return usagef("%s: %s", file, cerr.Message())
	}
	return err
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
// reads "<code>: <message>". An address that answers 404 to the admin
// API's calls is likely another port of the ingestor.
func describe(err error) string {
	var connectErr *connect.Error
	if !errors.As(err, &connectErr) {
		return err.Error()
	}
	if connectErr.Code() == connect.CodeUnimplemented && strings.Contains(connectErr.Message(), "404") {
		return connectErr.Error() + ": is ZENITH_SERVER the admin API address (default port 8081)?"
	}
	return connectErr.Error()
}

func newRoot(getenv func(string) string) *cobra.Command {
	g := &globals{getenv: getenv}
	root := &cobra.Command{
		Use:   "zenithctl",
		Short: "Manage Zenith's sources, keys, sinks and rules through its admin API",
		Long: `zenithctl manages Zenith through the admin API the ingestor serves.

The server is --server or ZENITH_SERVER (default ` + defaultServer + `), the admin
token --token or ZENITH_TOKEN. Output is a table, or JSON with -o json.
Exit codes: 0 success; 1 the call failed or was refused; 2 the input is
wrong (the command line, or a file or value refused here or by the server).`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if g.output != "table" && g.output != "json" {
				return usagef("-o must be table or json, not %q", g.output)
			}
			// The token is read here, not as the flag's default, which
			// --help would print.
			if g.token == "" {
				g.token = getenv("ZENITH_TOKEN")
			}
			var err error
			g.server, err = adminURL(g.server)
			return err
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	flags := root.PersistentFlags()
	flags.StringVar(&g.server, "server", envOr(getenv, "ZENITH_SERVER", defaultServer), "admin API URL (env ZENITH_SERVER)")
	flags.StringVar(&g.token, "token", "", "admin token (default: env ZENITH_TOKEN)")
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

// adminURL checks the admin API's address, an http or https URL; an
// address without a scheme, such as 127.0.0.1:8081, is taken as http.
func adminURL(server string) (string, error) {
	full := server
	if !strings.Contains(full, "://") {
		full = "http://" + full
	}
	u, err := url.Parse(full)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usagef("--server (or ZENITH_SERVER) must be the admin API's address, such as %s, not %q", defaultServer, server)
	}
	return strings.TrimRight(full, "/"), nil
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
	return zenithv1connect.NewAdminServiceClient(http.DefaultClient, g.server,
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
