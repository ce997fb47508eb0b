package stack_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/zenith-hq/zenith/pkg/testenv"
)

// TestReadinessFollowsNATSAndDatabase cuts, then restores, the services'
// connections to NATS and to the database, and checks that every tier's
// /readyz says so while /healthz and /metrics keep answering.
func TestReadinessFollowsNATSAndDatabase(t *testing.T) {
	var natsLink, dbLink *link
	p := startPipelineWith(t, setup{route: func(natsURL, dsn string) (string, string) {
		natsLink = newLink(t, hostOf(t, natsURL))
		dbLink = newLink(t, hostOf(t, dsn))
		return withHost(t, natsURL, natsLink.addr()), withHost(t, dsn, dbLink.addr())
	}})

	p.waitReady(t, http.StatusOK)
	for name, l := range map[string]*link{"NATS": natsLink, "the database": dbLink} {
		t.Run(name, func(t *testing.T) {
			l.cut()
			p.waitReady(t, http.StatusServiceUnavailable)
			for tier, addr := range p.admins() {
				for _, path := range []string{"/healthz", "/metrics"} {
					if status := get(t, addr, path); status != http.StatusOK {
						t.Errorf("%s %s: status %d while %s is unreachable, want 200", tier, path, status, name)
					}
				}
			}
			l.restore()
			p.waitReady(t, http.StatusOK)
		})
	}
}

// waitReady waits until every tier's /readyz answers status.
func (p *pipeline) waitReady(t *testing.T, status int) {
	t.Helper()
	for tier, addr := range p.admins() {
		t.Logf("waiting for %s /readyz to answer %d", tier, status)
		testenv.WaitFor(t, 15*time.Second, func() bool { return get(t, addr, "/readyz") == status })
	}
}

func get(t *testing.T, addr, path string) int {
	t.Helper()
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func withHost(t *testing.T, rawURL, host string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = host
	return u.String()
}

// link is a TCP relay on loopback to a server, which a test can cut: it
// then closes every connection it relays and drops new ones at once, until
// restored.
type link struct {
	target   string
	listener net.Listener

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newLink(t *testing.T, target string) *link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{target: target, listener: ln, conns: map[net.Conn]bool{}}
	l.wg.Go(l.accept)
	t.Cleanup(func() {
		ln.Close()
		l.cut()
		l.wg.Wait()
	})
	return l
}

func (l *link) addr() string {
	return l.listener.Addr().String()
}

func (l *link) accept() {
	for {
		client, err := l.listener.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		server, err := net.Dial("tcp", l.target)
		if err != nil || !l.track(client, server) {
			client.Close()
			if server != nil {
				server.Close()
			}
			continue
		}
		l.wg.Go(func() { l.relay(client, server) })
		l.wg.Go(func() { l.relay(server, client) })
	}
}

// track notes a relayed pair, unless the link is down.
func (l *link) track(conns ...net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return false
	}
	for _, c := range conns {
		l.conns[c] = true
	}
	return true
}

// relay copies from one side to the other until either closes, then
// closes both.
func (l *link) relay(from, to net.Conn) {
	_, _ = io.Copy(to, from)
	from.Close()
	to.Close()
}

// cut closes every relayed connection and drops new ones until restore.
func (l *link) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = true
	for c := range l.conns {
		c.Close()
	}
	clear(l.conns)
}

func (l *link) restore() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = false
}
