// Package usage answers the command-line arguments of Zenith's service
// binaries. The services take no arguments, only environment variables, so
// -h or --help prints those variables with their defaults, and anything else
// is refused with the same text.
package usage

import (
	"fmt"
	"io"

	"github.com/caarlos0/env/v11"
)

// Exit codes of Print.
const (
	Help       = 0
	BadCommand = 2
)

// Print writes the usage of the command args[0] to w: summary, then every
// environment variable cfg (a pointer to a struct with caarlos0/env tags)
// reads, with its default. It returns Help when args ask for help and
// BadCommand, after naming the argument, otherwise.
func Print(w io.Writer, args []string, summary string, cfg any) int {
	code := Help
	if len(args) > 1 && !isHelp(args[1]) {
		fmt.Fprintf(w, "%s: unknown argument %q: configure it with environment variables\n\n", args[0], args[1])
		code = BadCommand
	}

	fmt.Fprintf(w, "usage: %s\n\n%s\n\nEnvironment:\n", args[0], summary)
	params, err := env.GetFieldParams(cfg)
	if err != nil {
		fmt.Fprintf(w, "  (cannot list the variables: %v)\n", err)
		return code
	}
	for _, p := range params {
		fmt.Fprintf(w, "  %-28s %s\n", p.Key, describe(p))
	}
	return code
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func describe(p env.FieldParams) string {
	switch {
	case p.Required:
		return "required"
	case p.HasDefaultValue:
		return "default " + p.DefaultValue
	default:
		return "unset by default"
	}
}
