package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/zenith-hq/zenith/cmd/internal/stack"
	"github.com/zenith-hq/zenith/services/dispatcher"
	"github.com/zenith-hq/zenith/services/ingestor"
	ruleengine "github.com/zenith-hq/zenith/services/rule-engine"
)

// demoKey is the example source's key that `make run` sets unless
// SHOP_API_KEY is already set, and demoAdminToken the admin token it sets
// unless ZENITH_ADMIN_TOKENS is. Both are public, for local use only.
const (
	demoKey        = "zenith-demo-shop-key-0001"
	demoAdminToken = "zenith-demo-admin-token-0001"
)

// runPipeline starts the demo receiver and the three services, prints how
// to send a first event, and runs until ctx is cancelled.
func runPipeline(ctx context.Context, opts options, env *environment, out io.Writer, newLogger func(string) *slog.Logger) error {
	cfg, err := stackConfig(env.natsURL, env.databaseURL)
	if err != nil {
		return err
	}
	if opts.ReceiverAddr != "off" {
		recv, err := startReceiver(opts.ReceiverAddr, out)
		if err != nil {
			return err
		}
		defer recv.stop(context.WithoutCancel(ctx))
	}

	pipeline, err := stack.Start(ctx, cfg, newLogger)
	if err != nil {
		return err
	}
	printBanner(out, pipeline, opts)
	err = pipeline.Run(ctx)
	fmt.Fprintln(out, "services stopped")
	return err
}

// stackConfig reads and checks the three services' settings, with the NATS
// server and database zenith-local chose.
func stackConfig(natsURL, databaseURL string) (stack.Config, error) {
	var cfg stack.Config
	var err error
	if cfg.Ingestor, err = serviceConfig[ingestor.Config](natsURL, databaseURL); err != nil {
		return cfg, err
	}
	if cfg.Engine, err = serviceConfig[ruleengine.Config](natsURL, databaseURL); err != nil {
		return cfg, err
	}
	if cfg.Dispatcher, err = serviceConfig[dispatcher.Config](natsURL, databaseURL); err != nil {
		return cfg, err
	}
	if len(cfg.Dispatcher.EgressAllow) == 0 {
		// The demo's sinks deliver to the receiver on loopback, which the
		// dispatcher refuses unless allowed.
		cfg.Dispatcher.EgressAllow = localEgress
	}
	return cfg, nil
}

// checkServiceSettings checks the services' settings before anything
// starts, so that a mistaken variable is reported at once rather than after
// NATS and PostgreSQL have come up, and returns them for the checks that
// follow. The addresses of NATS and the database stand in for the ones
// chosen later, which are not known yet.
func checkServiceSettings() (stack.Config, error) {
	return stackConfig("nats://127.0.0.1:4222", "postgres://127.0.0.1/zenith")
}

// localEgress is what a local run lets sinks reach besides public
// addresses: this machine.
var localEgress = []string{"127.0.0.0/8", "::1/128"}

func printBanner(out io.Writer, pipeline *stack.Stack, opts options) {
	// Only the documented demo key is printed; a real one stays unseen, and
	// the shell fills it in from the variable.
	keyHeader := `"X-Api-Key: $SHOP_API_KEY"`
	if os.Getenv("SHOP_API_KEY") == demoKey {
		keyHeader = "'X-Api-Key: " + demoKey + "'"
	}
	admin := adminBanner(pipeline)
	receiver := "none (ZENITH_RECEIVER_ADDR=off)"
	watch := "and look for it at your sinks."
	if opts.ReceiverAddr != "off" {
		receiver = "http://" + opts.ReceiverAddr + "  (the example sinks deliver here)"
		watch = `and watch for "receiver: POST /vip" below.`
	}
	fmt.Fprintf(out, `
Zenith is running (%s). Ctrl-C stops it.

  ingestor     http://%s  (REST POST /v1/events; Connect, gRPC, gRPC-Web)
  admin API    %s
  metrics      http://%s/metrics  http://%s/metrics  http://%s/metrics
  receiver     %s

Send a first event:

  curl -i -X POST http://%s/v1/events \
    -H %s -H 'Content-Type: application/json' \
    -d '{"type":"purchase.completed","data":{"amount":742.5,"user":{"segment":"VIP"}}}'

%s

`, time.Now().Format(time.TimeOnly), pipeline.Ingestor.Addr(), admin,
		pipeline.Ingestor.AdminAddr(), pipeline.Engine.AdminAddr(), pipeline.Dispatcher.AdminAddr(),
		receiver, pipeline.Ingestor.Addr(), keyHeader, watch)
}

// adminBanner says where the admin API is and how zenithctl reaches it.
// Only the documented demo token is printed; a real one stays unseen.
func adminBanner(pipeline *stack.Stack) string {
	addr := pipeline.Ingestor.AdminAPIAddr()
	if addr == "" {
		return "off (set ZENITH_ADMIN_TOKENS to serve it)"
	}
	token := `"$ZENITH_ADMIN_TOKENS"`
	if os.Getenv("ZENITH_ADMIN_TOKENS") == demoAdminToken {
		token = demoAdminToken
	}
	return fmt.Sprintf("http://%s  (make build; ZENITH_SERVER=http://%s ZENITH_TOKEN=%s bin/zenithctl rules list)", addr, addr, token)
}
