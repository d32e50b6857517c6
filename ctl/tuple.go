package main

// TUPLE and FILTER, the one grammar of tcptakectl for naming sessions and
// frozen tuples (see the package doc).

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tcptake/tcptake/libtcptake"
)

// The grammar lines of the usage texts.
const (
	tupleForm  = "TUPLE := local ADDR:PORT remote ADDR:PORT"
	tupleUsage = tupleForm + ", as the node that owns the session sees it;\n" +
		"IPv6 as [ADDR]:PORT, a link-local address with its interface as zone: [fe80::1%eth0]:22"
	patternForm = "PATTERN := { ADDR[/LEN] | ADDR:PORT | [ADDR[/LEN]]:PORT | :PORT }"
	filterUsage = "FILTER := [local PATTERN] [remote PATTERN]; both must match\n" + patternForm
)

// The keywords of TUPLE and FILTER.
const (
	kwLocal  = "local"
	kwRemote = "remote"
)

// takeKeywords moves the values of the keywords local and remote out of
// args, in any order and each at most once, and returns them with the
// other arguments in their order. A value is never a keyword of a verb,
// so the other arguments keep their own pairs.
func takeKeywords(args []string) (local, remote string, rest []string, err error) {
	var seen [2]bool
	for i := 0; i < len(args); i++ {
		k := slot(args[i])
		if k < 0 {
			rest = append(rest, args[i])
			continue
		}
		if i+1 >= len(args) {
			return "", "", nil, fmt.Errorf("%s needs a value", args[i])
		}
		if seen[k] {
			return "", "", nil, fmt.Errorf("%s given twice", args[i])
		}
		seen[k] = true
		i++
		if k == 0 {
			local = args[i]
		} else {
			remote = args[i]
		}
	}
	return local, remote, rest, nil
}

// slot is 0 for local, 1 for remote and -1 for any other word.
func slot(word string) int {
	switch word {
	case kwLocal:
		return 0
	case kwRemote:
		return 1
	}
	return -1
}

// parseTuple parses the TUPLE of a verb out of args and returns the
// other arguments. A zone names the interface of a link-local IPv6
// address; names are resolved in the current namespace, so with -n only
// interface indexes are accepted.
func parseTuple(args []string, netns bool) (libtcptake.Tuple, []string, error) {
	var t libtcptake.Tuple
	local, remote, rest, err := takeKeywords(args)
	if err != nil {
		return t, nil, err
	}
	if local == "" || remote == "" {
		missing := "local ADDR:PORT"
		switch {
		case local == "" && remote == "":
			missing += " and remote ADDR:PORT"
		case remote == "":
			missing = "remote ADDR:PORT"
		}
		if local == "" && remote == "" && len(rest) >= 2 {
			_, err1 := netip.ParseAddrPort(rest[0])
			_, err2 := netip.ParseAddrPort(rest[1])
			if err1 == nil && err2 == nil { // the positional form of older releases
				return t, nil, fmt.Errorf("name the ends with keywords: local %s remote %s", rest[0], rest[1])
			}
		}
		return t, nil, fmt.Errorf("missing %s", missing)
	}
	var aps [2]netip.AddrPort
	var zones [2]string
	for i, s := range []string{local, remote} {
		side := []string{kwLocal, kwRemote}[i]
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			hint := "ADDR:PORT"
			switch {
			case strings.Contains(s, "/"):
				hint += ", a whole address and not a prefix"
			case strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "["):
				hint += "; write IPv6 as [ADDR]:PORT"
			}
			return t, nil, fmt.Errorf("bad %s %q: want %s", side, s, hint)
		}
		if ap.Port() == 0 {
			return t, nil, fmt.Errorf("bad %s %q: port 0", side, s)
		}
		zones[i] = ap.Addr().Zone()
		aps[i] = netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port())
	}
	if aps[0].Addr().Is4() != aps[1].Addr().Is4() {
		return t, nil, fmt.Errorf("local %s and remote %s mix IPv4 and IPv6", local, remote)
	}
	t.Local, t.Remote = aps[0], aps[1]
	if zones[0] != "" && zones[1] != "" && zones[0] != zones[1] {
		return t, nil, fmt.Errorf("two different zones %q and %q", zones[0], zones[1])
	}
	zone := zones[0]
	if zone == "" {
		zone = zones[1]
	}
	if zone != "" {
		if t.IfIndex, err = zoneIndex(zone, netns); err != nil {
			return t, nil, err
		}
	}
	return t, rest, nil
}

// zoneIndex is the interface index of an IPv6 zone: a number, or an
// interface name of the current namespace (refused with -n).
func zoneIndex(zone string, netns bool) (uint32, error) {
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil && n > 0 {
		return uint32(n), nil
	}
	if netns {
		return 0, fmt.Errorf("zone %q: with -n, give the interface index, not its name", zone)
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, fmt.Errorf("zone %q: %v", zone, err)
	}
	return uint32(ifi.Index), nil
}

// pattern matches one end of a session; zero fields match everything.
type pattern struct {
	prefix netip.Prefix
	port   uint16
}

// sessionFilter is a parsed FILTER.
type sessionFilter struct {
	local, remote pattern
}

// parseFilter parses a FILTER; nothing else may be in args.
func parseFilter(args []string) (sessionFilter, error) {
	var f sessionFilter
	local, remote, rest, err := takeKeywords(args)
	if err != nil {
		return f, err
	}
	if len(rest) > 0 {
		return f, fmt.Errorf("unknown filter %q (want local PATTERN or remote PATTERN; %s)", rest[0], patternForm)
	}
	for _, p := range []struct {
		name, s string
		dst     *pattern
	}{{kwLocal, local, &f.local}, {kwRemote, remote, &f.remote}} {
		if p.s == "" {
			continue
		}
		if *p.dst, err = parsePattern(p.s); err != nil {
			return f, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return f, nil
}

// parsePattern parses a PATTERN.
func parsePattern(s string) (pattern, error) {
	var p pattern
	addr, port, hasPort := s, "", false
	switch {
	case strings.HasPrefix(s, "["):
		in, after, ok := strings.Cut(s[1:], "]")
		if !ok || (after != "" && !strings.HasPrefix(after, ":")) {
			return p, fmt.Errorf("bad pattern %q (want [ADDR[/LEN]]:PORT)", s)
		}
		addr = in
		if after != "" {
			port, hasPort = after[1:], true
		}
	case strings.HasPrefix(s, ":") && !strings.HasPrefix(s, "::"):
		addr, port, hasPort = "", s[1:], true
	case strings.Count(s, ":") == 1:
		addr, port, _ = strings.Cut(s, ":")
		hasPort = true
	}
	var err error
	if hasPort {
		if p.port, err = parsePort(port); err != nil {
			return p, err
		}
	}
	if addr != "" {
		if p.prefix, err = parsePrefix(addr); err != nil {
			return p, err
		}
	}
	return p, nil
}

func parsePort(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("bad port %q (want 1-65535)", s)
	}
	return uint16(p), nil
}

// parsePrefix parses ADDR or ADDR/LEN; an IPv6 zone is ignored.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address %q (want ADDR or ADDR/LEN)", s)
	}
	a = a.WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// prefixMatch reports whether a is in p; an IPv4 prefix also matches
// v4-mapped IPv6 addresses (dual-stack sockets), and a v4-mapped prefix
// also matches IPv4 addresses (the module reports a dual-stack socket
// talking IPv4 as IPv4).
func prefixMatch(p netip.Prefix, a netip.Addr) bool {
	if !p.IsValid() {
		return true
	}
	a = a.WithZone("")
	if p.Contains(a) || p.Contains(a.Unmap()) {
		return true
	}
	return a.Is4() && p.Addr().Is4In6() && p.Contains(netip.AddrFrom16(a.As16()))
}

func (p pattern) match(ap netip.AddrPort) bool {
	return (p.port == 0 || p.port == ap.Port()) && prefixMatch(p.prefix, ap.Addr())
}

func (f sessionFilter) match(local, remote netip.AddrPort) bool {
	return f.local.match(local) && f.remote.match(remote)
}

// whole is the address of a prefix that names one address.
func whole(p netip.Prefix) (netip.Addr, bool) {
	if p.IsValid() && p.Bits() == p.Addr().BitLen() {
		return p.Addr(), true
	}
	return netip.Addr{}, false
}

// moduleFilter is the part of f that the module's GET dump can filter on:
// the ports and a whole address (a prefix is matched in tcptakectl, and
// narrows the dump to its family when it is IPv4). ok is false when the
// families of the two patterns exclude each other: no session matches.
func (f sessionFilter) moduleFilter() (mf libtcptake.SessionFilter, ok bool) {
	mf.LocalPort, mf.RemotePort = f.local.port, f.remote.port
	var fam uint16
	for _, p := range []netip.Prefix{f.local.prefix, f.remote.prefix} {
		var af uint16
		a, isWhole := whole(p)
		switch {
		case isWhole:
			// A v4-mapped address is AF_INET, as the module reports it.
			af = afInet6
			if a.Unmap().Is4() {
				af = afInet
			}
		case p.IsValid() && p.Addr().Is4():
			af = afInet
		default:
			continue // no prefix, or an IPv6 prefix that may hold v4-mapped addresses
		}
		if fam != 0 && fam != af {
			return libtcptake.SessionFilter{}, false
		}
		fam = af
	}
	mf.Family = fam
	mf.LocalAddr, _ = whole(f.local.prefix)
	mf.RemoteAddr, _ = whole(f.remote.prefix)
	return mf, true
}

// tupleArgs parses the TUPLE of the verb running in c and returns its
// other arguments.
func tupleArgs(c *cli.Context) (libtcptake.Tuple, []string, error) {
	if err := misplacedFlag(c, "tuple"); err != nil {
		return libtcptake.Tuple{}, nil, err
	}
	t, rest, err := parseTuple(c.Args().Slice(), globalsOf(c).netns != "")
	if err != nil {
		return t, nil, usageErrorf(c, "%v; %s", err, tupleForm)
	}
	return t, rest, nil
}
