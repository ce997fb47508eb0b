// Package natsembed runs a NATS server with JetStream inside the current
// process: `make run` uses it so that nothing needs installing, and the
// tests use it as a real broker on a throwaway port and folder.
package natsembed

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure an embedded server.
type Options struct {
	// Host and Port to listen on; Port 0 picks a free port (-1 in
	// nats-server's terms).
	Host string
	Port int
	// StoreDir holds JetStream's files.
	StoreDir string
	// SyncAlways makes JetStream write every message to disk (fsync) before
	// it acknowledges it, so that an acknowledged event survives a power
	// loss or a kernel crash, not only a crash of the process. Without it
	// JetStream syncs every two minutes (sync_interval), and the OS page
	// cache holds what was acknowledged since. It costs 3 to 10 times the
	// publish throughput; see docs/guarantees.md.
	SyncAlways bool
}

// Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
}

// Start runs a NATS server with JetStream enabled and waits until it takes
// connections.
func Start(opts Options) (*Server, error) {
	port := opts.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "zenith-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		SyncAlways: opts.SyncAlways,
		NoSigs:     true,
		// The default of 1 MiB is below the largest event the ingestor
		// accepts once headers are counted.
		MaxPayload: 8 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("configure embedded NATS: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not start within 10s (store %s)", opts.StoreDir)
	}
	return &Server{ns: ns}, nil
}

// URL is the address clients connect to.
func (s *Server) URL() string {
	return s.ns.ClientURL()
}

// Shutdown stops the server and waits until it has stopped.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
