// Command zenith-healthcheck asks one URL, such as a service's /readyz, and
// exits 0 when it answers 2xx within two seconds, 1 otherwise:
//
//	zenith-healthcheck http://127.0.0.1:9090/readyz
//
// The service images are distroless, with no shell, curl or wget, so this is
// what a container health check (docker-compose.yml) runs inside them.
// Kubernetes probes the admin port over HTTP itself and needs no such
// program.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// timeout bounds the whole check, connection included.
const timeout = 2 * time.Second

// usageText is printed for -h and --help, and with a usage error.
const usageText = "usage: zenith-healthcheck URL\n\nexits 0 when URL (such as http://127.0.0.1:9090/readyz) answers 2xx within 2s, 1 otherwise"

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "-h" || os.Args[1] == "--help") {
		fmt.Println(usageText)
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "zenith-healthcheck:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 1 {
		return errors.New(usageText)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return check(ctx, args[0])
}

// check GETs url and reports why its answer is not a success.
func check(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("get %s: %s: %s", url, resp.Status, body)
	}
	return nil
}
