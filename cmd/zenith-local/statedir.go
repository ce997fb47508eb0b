package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// pidFile names the file in the state folder that holds the process id of
// the zenith-local using it. Two runs on one folder would share a NATS
// store and a database cluster, and `make clean` must not delete them from
// under a running pipeline: both look for a live process in it first.
const pidFile = "zenith-local.pid"

// claimStateDir makes the state folder this process's, refusing one a live
// zenith-local holds. The returned function gives it up.
func claimStateDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create state folder: %w", err)
	}
	path := filepath.Join(dir, pidFile)
	if pid, ok := livePID(path); ok {
		return nil, fmt.Errorf("another zenith-local (pid %d) is using %s: stop it first, or set ZENITH_STATE_DIR and move the ports (see the README)", pid, dir)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("claim state folder: %w", err)
	}
	return func() { os.Remove(path) }, nil
}

// livePID returns the process id in the file at path when that process is
// still running.
func livePID(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return 0, false
	}
	err = syscall.Kill(pid, 0)
	return pid, err == nil || errors.Is(err, syscall.EPERM)
}
