// Package localpg runs a throwaway PostgreSQL cluster in a local folder with
// the machine's own initdb and pg_ctl, for `make run` and the integration
// tests. When the process runs as root, the cluster is made and run as the
// postgres user, since PostgreSQL refuses to run as root.
package localpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries means initdb and pg_ctl were not found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin: " +
	"install PostgreSQL (for example `apt-get install postgresql` or `brew install postgresql`), " +
	"or set DATABASE_URL to a PostgreSQL or CockroachDB database you already run")

// Options configure a cluster.
type Options struct {
	// Dir holds the cluster's files and its socket. It is created when
	// missing; an existing cluster in it is reused.
	Dir string
	// Port to listen on, on 127.0.0.1; 0 picks a free one.
	Port int
	// Throwaway turns durability off (fsync, full page writes) for speed; for
	// tests only.
	Throwaway bool
}

// Cluster is a running local PostgreSQL.
type Cluster struct {
	dir    string
	port   int
	bin    string
	asUser string
}

// Start makes the cluster when Dir holds none, and starts it. A cluster
// already running in Dir (left by a killed process) is reused as it is, so
// Port must then be the port it listens on.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: opts.Dir, port: opts.Port, bin: bin}
	if os.Geteuid() == 0 {
		c.asUser = "postgres"
	}
	if c.port == 0 {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
	}

	if err := c.prepareDir(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(c.dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.start(ctx, opts.Throwaway); err != nil {
		return nil, err
	}
	return c, nil
}

// URL is a connection string for database name.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, database)
}

// Port is the port the cluster listens on.
func (c *Cluster) Port() int {
	return c.port
}

// Stop shuts the cluster down, finishing quickly.
func (c *Cluster) Stop(ctx context.Context) error {
	return c.run(ctx, "pg_ctl", "-D", c.dir, "-m", "fast", "-w", "stop")
}

// CreateDatabase creates an empty database called name.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to local PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func (c *Cluster) prepareDir() error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("create PostgreSQL folder: %w", err)
	}
	if c.asUser == "" {
		return nil
	}
	owner, err := user.Lookup(c.asUser)
	if err != nil {
		return fmt.Errorf("running as root needs a %q user to run PostgreSQL: %w", c.asUser, err)
	}
	uid, _ := strconv.Atoi(owner.Uid)
	gid, _ := strconv.Atoi(owner.Gid)
	if err := os.Chown(c.dir, uid, gid); err != nil {
		return fmt.Errorf("hand PostgreSQL folder to %s: %w", c.asUser, err)
	}
	return nil
}

func (c *Cluster) initdb(ctx context.Context) error {
	return c.run(ctx, "initdb", "-D", c.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C")
}

func (c *Cluster) start(ctx context.Context, throwaway bool) error {
	if c.run(ctx, "pg_ctl", "-D", c.dir, "status") == nil {
		// Left running by a run that was killed: reuse it.
		return nil
	}
	settings := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=200", c.port, c.dir)
	if throwaway {
		settings += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
	}
	logPath := filepath.Join(c.dir, "server.log")
	if err := c.run(ctx, "pg_ctl", "-D", c.dir, "-l", logPath, "-o", settings, "-w", "start"); err != nil {
		return fmt.Errorf("%w; the server's log ends: %s", err, logTail(logPath, 5))
	}
	return nil
}

// logTail returns the last lines of the server's log, joined, which say why
// it would not start (a port in use, a folder that is gone).
func logTail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	all := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(all[max(0, len(all)-lines):], " | ")
}

// run runs one of PostgreSQL's programs, as the postgres user when needed.
func (c *Cluster) run(ctx context.Context, program string, args ...string) error {
	path := filepath.Join(c.bin, program)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", program, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// findBinaries returns the folder holding initdb and pg_ctl.
func findBinaries() (string, error) {
	if path, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(path), nil
	}
	candidates, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(candidates) > 0 {
		return filepath.Dir(candidates[len(candidates)-1]), nil
	}
	return "", ErrNoBinaries
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
