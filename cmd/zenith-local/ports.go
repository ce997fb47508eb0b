package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/zenith-hq/zenith/cmd/internal/stack"
)

// listenAddr is an address the pipeline will listen on, and the variable
// that moves it.
type listenAddr struct {
	variable string
	addr     string
}

// checkAddrs makes sure the pipeline can listen on every address it will
// use, so that one taken by another pipeline, mistyped, or given to two
// settings is named with the variable that moves it before anything starts
// or the configuration file is applied. Every address is held until all
// are checked, so that two settings naming one address are caught too. The
// local PostgreSQL's port is left out when its folder holds a cluster: one
// left running by a killed run holds it and is reused.
func checkAddrs(opts options, settings stack.Config) error {
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
	pg, err := postgresAddr(opts)
	if err != nil {
		return err
	}
	if pg != nil {
		addrs = append(addrs, *pg)
	}
	return holdAll(addrs)
}

// postgresAddr is the local PostgreSQL's address when zenith-local will
// start a new server on it; nil when DATABASE_URL names a database or a
// cluster in the state folder may be running already.
func postgresAddr(opts options) (*listenAddr, error) {
	if opts.DatabaseURL != "" {
		return nil, nil
	}
	dir, err := postgresDir(opts.StateDir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); err == nil {
		return nil, nil
	}
	return &listenAddr{"ZENITH_PG_PORT", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.PostgresPort))}, nil
}

// holdAll listens on every address, holding each until all are tried,
// and reports every one it could not take, so that a second pipeline's
// ports are all moved in one go.
func holdAll(addrs []listenAddr) error {
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	var errs []error
	for _, a := range addrs {
		ln, err := listen(a, addrs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		held = append(held, ln)
	}
	return errors.Join(errs...)
}

// listen listens on a's address, naming in its error the variable that
// moves it and any other setting that names the same port.
func listen(a listenAddr, all []listenAddr) (net.Listener, error) {
	ln, err := net.Listen("tcp", a.addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		if other := sharing(a, all); other != "" {
			return nil, fmt.Errorf("%s: %s is also %s: give each its own address", a.variable, a.addr, other)
		}
		return nil, fmt.Errorf("%s: %s is taken (by another pipeline?): set %s to move it", a.variable, a.addr, a.variable)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: cannot listen on %q: %w", a.variable, a.addr, err)
	}
	return ln, nil
}

// sharing returns the variable of another address in all with a's port
// and a host a's could clash with; "" when there is none.
func sharing(a listenAddr, all []listenAddr) string {
	_, port, _ := net.SplitHostPort(a.addr)
	for _, o := range all {
		if o.variable == a.variable {
			break
		}
		if _, p, _ := net.SplitHostPort(o.addr); p == port && port != "0" {
			return o.variable
		}
	}
	return ""
}
