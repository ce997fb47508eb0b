// Command natsd runs a NATS server with JetStream in a process of its own,
// for the fault-injection suite (package faults), which stops, kills and
// restarts it on the same port and store folder while the services run.
// SIGTERM or SIGINT shuts it down cleanly; SIGKILL leaves its store as a
// crash would.
//
//	natsd -port 4222 -store /tmp/nats [-sync-always]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/zenith-hq/zenith/pkg/natsembed"
)

func main() {
	port := flag.Int("port", 4222, "client port, on 127.0.0.1")
	store := flag.String("store", "", "JetStream's store folder (required)")
	syncAlways := flag.Bool("sync-always", false, "fsync every message before acknowledging it")
	flag.Parse()
	if *store == "" {
		fmt.Fprintln(os.Stderr, "natsd: -store is required")
		os.Exit(2)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	srv, err := natsembed.Start(natsembed.Options{Port: *port, StoreDir: *store, SyncAlways: *syncAlways})
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsd:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "natsd: listening on", srv.URL())
	<-stop
	srv.Shutdown()
	fmt.Fprintln(os.Stderr, "natsd: stopped")
}
