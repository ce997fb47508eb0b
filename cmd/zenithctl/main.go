// Command zenithctl manages Zenith through the admin API the ingestor serves:
// sources, API keys, sinks, rules, rule tests, the audit log, dead letters,
// and configuration files applied like code (`zenithctl apply -f
// zenith.yaml`). It also sends test events to the ingestor.
//
// The server and token come from --server and --token, or ZENITH_SERVER and
// ZENITH_TOKEN. Output is a table for people, or JSON with -o json for
// scripts: each call's answer as it is, empty lists included. Exit codes: 0
// success; 1 the call failed or was refused for another reason than its
// input (the error is printed on stderr as "zenithctl: <code>: <message>");
// 2 the input is wrong: the command line, or a file or value refused here or
// by the server (invalid_argument).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"connectrpc.com/connect"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run executes one command line and returns its exit code. getenv reads
// the environment: ZENITH_SERVER, ZENITH_TOKEN, and the variables a
// configuration file's api_keys_from_env names.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	root := newRoot(getenv)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "zenithctl:", printable(describe(err)))
	if isCobraUsage(err) {
		fmt.Fprintln(stderr, "Run 'zenithctl --help' for usage.")
	}
	var usage *usageError
	if errors.As(err, &usage) || isCobraUsage(err) || connect.CodeOf(err) == connect.CodeInvalidArgument {
		return exitUsage
	}
	return exitError
}
