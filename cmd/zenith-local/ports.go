package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// listenAddr is an address the pipeline will listen on, and the variable
// that moves it.
type listenAddr struct {
	variable string
	addr     string
}

// checkAddrs makes sure the pipeline can listen on every address it will
// use, so that one taken by another pipeline, or mistyped, is named with
// the variable that moves it before anything starts or the configuration
// file is applied. The local PostgreSQL's port is not among them: a
// cluster left running by a killed run holds it and is reused.
func checkAddrs(opts options) error {
	settings, err := stackConfig("nats://127.0.0.1:4222", "postgres://127.0.0.1/zenith")
	if err != nil {
		return err
	}
	addrs := []listenAddr{
		{"INGESTOR_ADDR", settings.Ingestor.ListenAddr},
		{"INGESTOR_ADMIN_ADDR", settings.Ingestor.AdminAddr},
		{"ENGINE_ADMIN_ADDR", settings.Engine.AdminAddr},
		{"DISPATCHER_ADMIN_ADDR", settings.Dispatcher.AdminAddr},
	}
	if len(settings.Ingestor.AdminTokens) > 0 {
		addrs = append(addrs, listenAddr{"INGESTOR_ADMIN_API_ADDR", settings.Ingestor.AdminAPIAddr})
	}
	if opts.NATSURL == "" {
		addrs = append(addrs, listenAddr{"ZENITH_NATS_PORT", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.NATSPort))})
	}
	if opts.ReceiverAddr != "off" {
		addrs = append(addrs, listenAddr{"ZENITH_RECEIVER_ADDR", opts.ReceiverAddr})
	}
	for _, a := range addrs {
		if err := tryListen(a); err != nil {
			return err
		}
	}
	return nil
}

// tryListen listens on a's address and lets it go at once.
func tryListen(a listenAddr) error {
	ln, err := net.Listen("tcp", a.addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s: %s is taken (by another pipeline?): set %s to move it", a.variable, a.addr, a.variable)
	}
	if err != nil {
		return fmt.Errorf("%s: cannot listen on %q: %w", a.variable, a.addr, err)
	}
	return ln.Close()
}
