package dispatcher

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func TestEgressGuardRanges(t *testing.T) {
	guard := egressGuard{}
	public := []string{
		"8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700::1111", "2a00:1450:4001:80b::200e",
		"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
	}
	for _, a := range public {
		if err := guard.check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s refused (%v), want allowed: it is public", a, err)
		}
	}

	blocked := map[string]string{
		"127.0.0.1":              "loopback",
		"127.255.255.254":        "loopback",
		"10.1.2.3":               "private",
		"172.16.0.1":             "private",
		"172.31.255.255":         "private",
		"192.168.1.1":            "private",
		"169.254.169.254":        "cloud metadata",
		"169.254.1.1":            "link-local",
		"100.64.0.1":             "carrier-grade NAT",
		"100.100.100.200":        "carrier-grade NAT",
		"0.0.0.0":                "unspecified",
		"224.0.0.1":              "multicast",
		"255.255.255.255":        "reserved",
		"198.18.0.1":             "benchmarking",
		"192.0.2.1":              "documentation",
		"::1":                    "loopback",
		"::":                     "unspecified",
		"::ffff:127.0.0.1":       "loopback",
		"::ffff:169.254.169.254": "cloud metadata",
		"::ffff:10.0.0.1":        "private",
		"::127.0.0.1":            "IPv4-compatible",
		"fd00:ec2::254":          "cloud metadata",
		"fc00::1":                "unique local",
		"fe80::1":                "link-local",
		"fe80::1%eth0":           "link-local",
		"ff02::1":                "multicast",
		"64:ff9b::a9fe:a9fe":     "cloud metadata (embedded in IPv6)",
		"64:ff9b::7f00:1":        "loopback (embedded in IPv6)",
		"2002:7f00:1::1":         "loopback (embedded in IPv6)",
		"2002:a9fe:a9fe::":       "cloud metadata (embedded in IPv6)",
		"2001::1":                "Teredo",
		"2001:db8::1":            "documentation",
		"100::1":                 "discard",
	}
	for a, reason := range blocked {
		err := guard.check(netip.MustParseAddr(a))
		if err == nil || err.Reason != reason {
			t.Errorf("%s: check = %v, want refused as %s", a, err, reason)
		}
	}
}

func TestEgressGuardAllowList(t *testing.T) {
	guard := egressGuard{allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.20.0.0/16")}}
	for _, a := range []string{"127.0.0.1", "::ffff:127.0.0.1", "10.20.3.4"} {
		if err := guard.check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s refused (%v), want allowed by the allow-list", a, err)
		}
	}
	for _, a := range []string{"::1", "10.21.0.1", "169.254.169.254", "192.168.0.1"} {
		if guard.check(netip.MustParseAddr(a)) == nil {
			t.Errorf("%s allowed, want refused: not in the allow-list", a)
		}
	}
}

func TestParseAllow(t *testing.T) {
	got, err := parseAllow([]string{"127.0.0.1/8", "::1/128"})
	if err != nil || len(got) != 2 || got[0].String() != "127.0.0.0/8" {
		t.Errorf("parseAllow = %v, %v; want [127.0.0.0/8 ::1/128]", got, err)
	}
	if _, err := parseAllow([]string{"localhost"}); err == nil {
		t.Error("parseAllow(localhost) succeeded, want an error")
	}
}

// canary is a listener that counts the connections it accepts: an SSRF
// guard that works lets none through.
type canary struct {
	ln    net.Listener
	conns atomic.Int32
}

func newCanary(t *testing.T, addr string) *canary {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &canary{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.conns.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return c
}

func (c *canary) port() string {
	return strconv.Itoa(c.ln.Addr().(*net.TCPAddr).Port)
}

func TestSinkClientRefusesHostileURLs(t *testing.T) {
	c := newCanary(t, "127.0.0.1:0")
	client := NewSinkClient(ClientOptions{})
	port := c.port()
	hosts := []string{
		"127.0.0.1", "localhost", "127.1", "2130706433", "0x7f000001", "017700000001",
		"0.0.0.0", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]",
	}
	for _, host := range hosts {
		sink, err := NewWebhookFactory(client)(storeSink("webhook", `{"url":"http://`+host+`:`+port+`/hook"}`))
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		code, err := sink.Deliver(context.Background(), testAction("r", "s", "e"))
		if err == nil || code != 0 {
			t.Errorf("%s: Deliver = %d, %v; want refused", host, code, err)
		}
		var blocked *BlockedAddressError
		if errors.As(err, &blocked) && retryable(err) {
			t.Errorf("%s: a refused address is retryable, want final", host)
		}
	}
	if n := c.conns.Load(); n != 0 {
		t.Errorf("the loopback canary accepted %d connections, want 0", n)
	}
}

func TestRedirectToLoopbackNotFollowed(t *testing.T) {
	// The sink's endpoint is allowed (127.0.0.2 only); it redirects to a
	// canary on 127.0.0.1, which must see no connection.
	c := newCanary(t, "127.0.0.1:0")
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.RedirectHandler("http://127.0.0.1:"+c.port()+"/internal", http.StatusFound))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()

	client := NewSinkClient(ClientOptions{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}})
	sink, err := NewWebhookFactory(client)(storeSink("webhook", `{"url":"`+srv.URL+`/hook"}`))
	if err != nil {
		t.Fatal(err)
	}
	code, err := sink.Deliver(context.Background(), testAction("r", "s", "e"))
	if code != http.StatusFound || err == nil || retryable(err) {
		t.Errorf("Deliver = %d, %v; want 302 and a final error", code, err)
	}

	// Were it followed, the guard would refuse the target anyway.
	direct, err := NewWebhookFactory(client)(storeSink("webhook", `{"url":"http://127.0.0.1:`+c.port()+`/internal"}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = direct.Deliver(context.Background(), testAction("r", "s", "e"))
	var blocked *BlockedAddressError
	if !errors.As(err, &blocked) || blocked.Reason != "loopback" {
		t.Errorf("Deliver to 127.0.0.1 = %v, want refused as loopback", err)
	}
	if n := c.conns.Load(); n != 0 {
		t.Errorf("the redirect target accepted %d connections, want 0", n)
	}
}

func TestNameResolvingToMetadataRefused(t *testing.T) {
	dns := startDNS(t, map[string]netip.Addr{
		"metadata.attacker.test.": netip.MustParseAddr("169.254.169.254"),
		"rebind.attacker.test.":   netip.MustParseAddr("10.0.0.7"),
	})
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", dns)
	}}
	client := NewSinkClient(ClientOptions{Resolver: resolver, Allow: loopback})

	for host, reason := range map[string]string{"metadata.attacker.test": "cloud metadata", "rebind.attacker.test": "private"} {
		sink, err := NewWebhookFactory(client)(storeSink("webhook", `{"url":"http://`+host+`/latest/meta-data/"}`))
		if err != nil {
			t.Fatal(err)
		}
		code, err := sink.Deliver(context.Background(), testAction("r", "s", "e"))
		var blocked *BlockedAddressError
		if code != 0 || !errors.As(err, &blocked) || blocked.Reason != reason {
			t.Errorf("%s: Deliver = %d, %v; want refused at connect time as %s", host, code, err, reason)
		}
		if retryable(err) {
			t.Errorf("%s: refusal is retryable, want final", host)
		}
	}
}

// startDNS serves A records for names on a loopback UDP port and returns
// its address. Other questions get an empty answer.
func startDNS(t *testing.T, names map[string]netip.Addr) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if reply, err := dnsAnswer(buf[:n], names); err == nil {
				_, _ = pc.WriteTo(reply, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

func dnsAnswer(query []byte, names map[string]netip.Addr) ([]byte, error) {
	var msg dnsmessage.Message
	if err := msg.Unpack(query); err != nil || len(msg.Questions) != 1 {
		return nil, errors.New("bad query")
	}
	q := msg.Questions[0]
	msg.Header.Response = true
	msg.Header.Authoritative = true
	if addr, ok := names[q.Name.String()]; ok && q.Type == dnsmessage.TypeA {
		msg.Answers = []dnsmessage.Resource{{
			Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
			Body:   &dnsmessage.AResource{A: addr.As4()},
		}}
	}
	return msg.Pack()
}
