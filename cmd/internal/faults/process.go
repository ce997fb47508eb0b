package faults

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// The programs the suite runs, by import path; go build names each binary
// after the last element.
var programs = []string{
	"github.com/zenith-hq/zenith/services/ingestor/cmd/ingestor",
	"github.com/zenith-hq/zenith/services/rule-engine/cmd/rule-engine",
	"github.com/zenith-hq/zenith/services/dispatcher/cmd/dispatcher",
	"github.com/zenith-hq/zenith/cmd/internal/faults/natsd",
}

// build compiles the programs into dir. They are built without the race
// detector even when the tests run with it: under it, the bcrypt of each
// first API key check takes seconds, and the suite would measure that.
func build(ctx context.Context, dir string) error {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	cmd := exec.CommandContext(ctx, "go", append(args, programs...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build the services: %w\n%s", err, out.Bytes())
	}
	return nil
}

// process is one program the suite starts, signals and starts again. Its
// output goes to a log file, appended to across restarts.
type process struct {
	name string
	path string
	args []string
	env  []string
	log  string
	// ready reports whether the started program is ready for work.
	ready func(ctx context.Context) bool

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// start runs the program and waits until it is ready, at most timeout.
func (p *process) start(ctx context.Context, timeout time.Duration) error {
	log, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	fmt.Fprintf(log, "--- %s starting at %s\n", p.name, time.Now().Format(time.RFC3339Nano))

	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, p.env...)
	cmd.Stdout, cmd.Stderr = log, log
	dieWithSuite(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(exited)
	}()
	return p.awaitReady(ctx, exited, timeout)
}

// awaitReady polls ready until it holds, the program exits or timeout
// passes.
func (p *process) awaitReady(ctx context.Context, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !p.ready(ctx) {
		select {
		case <-exited:
			return fmt.Errorf("%s exited while starting (see %s)", p.name, p.log)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s (see %s)", p.name, timeout, p.log)
		case <-tick.C:
		}
	}
	return nil
}

// stop sends sig and waits for the program to exit, at most timeout, after
// which it is killed. It returns how long the exit took and the program's
// exit error: nil for a clean exit.
func (p *process) stop(sig syscall.Signal, timeout time.Duration) (time.Duration, error) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return 0, fmt.Errorf("%s is not running", p.name)
	}
	sent := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		return 0, fmt.Errorf("signal %s: %w", p.name, err)
	}
	select {
	case <-exited:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-exited
		return time.Since(sent), fmt.Errorf("%s did not exit within %s of %s and was killed", p.name, timeout, sig)
	}
	took := time.Since(sent)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmd = nil
	if sig == syscall.SIGKILL {
		return took, nil
	}
	return took, p.waitErr
}

// running reports whether the program runs.
func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// readyz returns a readiness check asking the admin server at addr.
func readyz(addr string) func(ctx context.Context) bool {
	return func(ctx context.Context) bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		if err != nil {
			return false
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}

// freePorts returns n distinct ports free on loopback now.
func freePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		listeners = append(listeners, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
