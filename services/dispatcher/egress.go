package dispatcher

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/zenith-hq/zenith/pkg/metrics"
)

// blockedRange is a range of addresses sinks may not connect to, and why.
type blockedRange struct {
	prefix netip.Prefix
	reason string
}

// blockedRanges are the addresses that are not the public internet: a sink
// URL pointing there would turn the dispatcher against the network it runs
// in. IPv4-mapped IPv6 addresses are checked as IPv4; NAT64 and 6to4
// addresses are checked by the IPv4 address they embed.
var blockedRanges = func() []blockedRange {
	ranges := []struct{ cidr, reason string }{
		{"169.254.169.254/32", "cloud metadata"},
		{"fd00:ec2::254/128", "cloud metadata"},
		{"0.0.0.0/8", "unspecified"},
		{"10.0.0.0/8", "private"},
		{"100.64.0.0/10", "carrier-grade NAT"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local"},
		{"172.16.0.0/12", "private"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"192.0.2.0/24", "documentation"},
		{"192.88.99.0/24", "6to4 relay"},
		{"192.168.0.0/16", "private"},
		{"198.18.0.0/15", "benchmarking"},
		{"198.51.100.0/24", "documentation"},
		{"203.0.113.0/24", "documentation"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"::/96", "IPv4-compatible"},
		{"64:ff9b:1::/48", "local NAT64"},
		{"100::/64", "discard"},
		{"2001::/32", "Teredo"},
		{"2001:2::/48", "benchmarking"},
		{"2001:10::/28", "ORCHID"},
		{"2001:20::/28", "ORCHID"},
		{"2001:db8::/32", "documentation"},
		{"3fff::/20", "documentation"},
		{"5f00::/16", "segment routing"},
		{"fc00::/7", "unique local"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local"},
		{"ff00::/8", "multicast"},
	}
	out := make([]blockedRange, len(ranges))
	for i, r := range ranges {
		out[i] = blockedRange{prefix: netip.MustParsePrefix(r.cidr), reason: r.reason}
	}
	return out
}()

// Prefixes of IPv6 addresses that carry an IPv4 address.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// BlockedAddressError is a connection the egress guard refused.
type BlockedAddressError struct {
	Addr   netip.Addr
	Reason string
}

func (e *BlockedAddressError) Error() string {
	return fmt.Sprintf("connection to %s refused: %s address not allowed (see DISPATCHER_EGRESS_ALLOW)", e.Addr, e.Reason)
}

// egressGuard decides which addresses sinks may connect to: any public
// address, and the blocked ones only inside an allowed prefix.
type egressGuard struct {
	allow []netip.Prefix
}

// check says why addr may not be reached, or returns nil.
func (g egressGuard) check(addr netip.Addr) *BlockedAddressError {
	addr = addr.WithZone("")
	if g.allowed(addr) || g.allowed(addr.Unmap()) {
		return nil
	}
	if reason, blocked := blockedReason(addr.Unmap()); blocked {
		return &BlockedAddressError{Addr: addr, Reason: reason}
	}
	return nil
}

func (g egressGuard) allowed(addr netip.Addr) bool {
	for _, p := range g.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// blockedReason says why addr, unmapped, is not public, if it is not.
func blockedReason(addr netip.Addr) (string, bool) {
	if embedded, ok := embeddedIPv4(addr); ok {
		if reason, blocked := blockedReason(embedded); blocked {
			return reason + " (embedded in IPv6)", true
		}
		return "", false
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(addr) {
			return r.reason, true
		}
	}
	return "", false
}

// embeddedIPv4 returns the IPv4 address a NAT64 or 6to4 address carries.
func embeddedIPv4(addr netip.Addr) (netip.Addr, bool) {
	b := addr.As16()
	switch {
	case !addr.Is6():
		return netip.Addr{}, false
	case nat64Prefix.Contains(addr):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(addr):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// control is a net.Dialer Control function: it runs after name resolution,
// on the very address about to be connected, so a name that resolves to a
// blocked address (DNS rebinding included) is refused before any packet is
// sent.
func (g egressGuard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("egress guard: unexpected address %q", address)
	}
	if blocked := g.check(ap.Addr()); blocked != nil {
		metrics.EgressBlocked.WithLabelValues(blocked.Reason).Inc()
		return blocked
	}
	return nil
}

// ClientOptions configure the HTTP client sinks share.
type ClientOptions struct {
	// IdlePerHost is how many idle connections are kept per endpoint.
	IdlePerHost int
	// Allow lists the non-public prefixes sinks may reach, such as
	// 127.0.0.0/8 for local runs. Public addresses are always allowed.
	Allow []netip.Prefix
	// Resolver resolves host names; nil means the system's.
	Resolver *net.Resolver
}

// NewSinkClient returns the HTTP client sinks share. It keeps connections
// open per endpoint, never follows a redirect (a 3xx is a failed delivery,
// and following it could reach an address the sink was not meant to),
// ignores proxy variables, connects only to addresses the egress guard
// allows, and sends the trace context of each request's context along.
func NewSinkClient(opts ClientOptions) *http.Client {
	guard := egressGuard{allow: opts.Allow}
	dialer := &net.Dialer{
		Timeout:   5 * time.Second,
		KeepAlive: 30 * time.Second,
		Resolver:  opts.Resolver,
		Control:   guard.control,
	}
	transport := &http.Transport{
		DialContext:           dialer.DialContext,
		MaxIdleConnsPerHost:   max(opts.IdlePerHost, 2),
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tracingTransport{next: transport},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// parseAllow reads an allow-list of CIDR prefixes.
func parseAllow(cidrs []string) ([]netip.Prefix, error) {
	prefixes := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix such as 127.0.0.0/8", c)
		}
		prefixes = append(prefixes, p.Masked())
	}
	return prefixes, nil
}
