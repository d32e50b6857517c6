package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

// sessionCommand is the "session" object. The verbs that need the kernel
// module come from sessionModuleCommands (cmd_module.go).
func sessionCommand() *cli.Command {
	return &cli.Command{
		Name:      "session",
		Usage:     "live TCP sessions of this node (default verb: list)",
		UsageText: "tcptakectl [-j] [-n NETNS] session { list [FILTER...] | help }",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf(c, "unknown verb %q for session", c.Args().First())
			}
			return sessionList(c)
		},
		Subcommands: append([]*cli.Command{sessionListCommand()}, sessionModuleCommands()...),
	}
}

func sessionListCommand() *cli.Command {
	return &cli.Command{
		Name:    "list",
		Aliases: []string{"show", "ls"},
		Usage:   "list the TCP sessions tcptake can move (ESTABLISHED and the FIN states)",
		UsageText: "tcptakectl [-j] [-n NETNS] session list [FILTER...]\n\n" +
			"FILTER := { sport PORT | dport PORT | src ADDR[/LEN] | dst ADDR[/LEN] }\n" +
			"src and sport are the local side, dst and dport the remote side; all filters must match.",
		Action: sessionList,
	}
}

// sessionFilter selects sessions; zero fields match everything.
type sessionFilter struct {
	sport, dport uint16
	src, dst     netip.Prefix
}

// parseSessionFilter parses ip-style "KEYWORD VALUE" pairs.
func parseSessionFilter(args []string) (sessionFilter, error) {
	var f sessionFilter
	for i := 0; i < len(args); i += 2 {
		key := args[i]
		if i+1 >= len(args) {
			return f, fmt.Errorf("filter %q needs a value", key)
		}
		val := args[i+1]
		var err error
		switch key {
		case "sport":
			f.sport, err = parsePort(val)
		case "dport":
			f.dport, err = parsePort(val)
		case "src":
			f.src, err = parsePrefix(val)
		case "dst":
			f.dst, err = parsePrefix(val)
		default:
			return f, fmt.Errorf("unknown filter %q (want sport, dport, src or dst)", key)
		}
		if err != nil {
			return f, fmt.Errorf("%s: %w", key, err)
		}
	}
	return f, nil
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
// v4-mapped IPv6 addresses (dual-stack sockets).
func prefixMatch(p netip.Prefix, a netip.Addr) bool {
	if !p.IsValid() {
		return true
	}
	a = a.WithZone("")
	return p.Contains(a) || p.Contains(a.Unmap())
}

func (f sessionFilter) match(s diagSock) bool {
	return (f.sport == 0 || f.sport == s.Local.Port()) &&
		(f.dport == 0 || f.dport == s.Remote.Port()) &&
		prefixMatch(f.src, s.Local.Addr()) &&
		prefixMatch(f.dst, s.Remote.Addr())
}

func sessionList(c *cli.Context) error {
	if err := misplacedFlag(c, "filters"); err != nil {
		return err
	}
	f, err := parseSessionFilter(c.Args().Slice())
	if err != nil {
		return usageErrorf(c, "%v", err)
	}
	ns, err := openNetNS(c)
	if err != nil {
		return err
	}
	if ns != nil {
		defer ns.Close()
	}
	socks, err := dumpSessions(ns, movableStates)
	if err != nil {
		todo := "check that the kernel has sock_diag (CONFIG_INET_DIAG, CONFIG_INET_TCP_DIAG)"
		if errors.Is(err, errors.ErrUnsupported) {
			todo = "session list needs Linux"
		} else if errors.Is(err, os.ErrPermission) {
			todo = "run as root or with CAP_SYS_ADMIN to use -n"
		}
		return failed("list sessions", err, todo)
	}
	socks = slices.DeleteFunc(socks, func(s diagSock) bool { return !f.match(s) })
	slices.SortFunc(socks, func(a, b diagSock) int {
		if n := a.Local.Compare(b.Local); n != 0 {
			return n
		}
		return a.Remote.Compare(b.Remote)
	})
	if globalsOf(c).json {
		out := make([]sessionJSON, 0, len(socks))
		for _, s := range socks {
			out = append(out, newSessionJSON(s))
		}
		return writeJSON(c.App.Writer, out)
	}
	return printSessions(c.App.Writer, socks)
}

// printSessions prints sessions the way "ss -tn" does.
func printSessions(w io.Writer, socks []diagSock) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "State\tRecv-Q\tSend-Q\tLocal Address:Port\tPeer Address:Port")
	for _, s := range socks {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", s.State, s.RecvQ, s.SendQ,
			addrPortText(s.Local, s.IfIndex), addrPortText(s.Remote, s.IfIndex))
	}
	return tw.Flush()
}

// addrPortText shows a link-local IPv6 address with its interface index
// as zone.
func addrPortText(ap netip.AddrPort, ifindex uint32) string {
	if ifindex != 0 && ap.Addr().Is6() && ap.Addr().IsLinkLocalUnicast() {
		ap = netip.AddrPortFrom(ap.Addr().WithZone(strconv.FormatUint(uint64(ifindex), 10)), ap.Port())
	}
	return ap.String()
}

// sessionJSON is one line of session list -j.
type sessionJSON struct {
	Tuple tupleJSON `json:"tuple"`
	State string    `json:"state"`
	RecvQ uint32    `json:"recv_q"`
	SendQ uint32    `json:"send_q"`
	UID   uint32    `json:"uid"`
	Inode uint64    `json:"inode"`
}

func newSessionJSON(s diagSock) sessionJSON {
	var scope uint32 // the tuple's ifindex scopes link-local addresses only
	if s.Local.Addr().Is6() && s.Local.Addr().IsLinkLocalUnicast() {
		scope = s.IfIndex
	}
	return sessionJSON{
		Tuple: newTupleJSON(s.Local, s.Remote, scope),
		State: stateSpecName(s.State),
		RecvQ: s.RecvQ,
		SendQ: s.SendQ,
		UID:   s.UID,
		Inode: s.Inode,
	}
}
