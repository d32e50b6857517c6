package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/tcptake/tcptake/libtcptake"
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
			"src and sport are the local side, dst and dport the remote side; all filters must match.\n" +
			"The list comes from the tcptake module's GET dump when the module is loaded in the namespace " +
			"(a session is then shown by the tuple the module takes), else from sock_diag.",
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

func (f sessionFilter) match(s diagSock) bool {
	return (f.sport == 0 || f.sport == s.Local.Port()) &&
		(f.dport == 0 || f.dport == s.Remote.Port()) &&
		prefixMatch(f.src, s.Local.Addr()) &&
		prefixMatch(f.dst, s.Remote.Addr())
}

// moduleFilter is the part of f that the module's GET dump can filter on:
// the ports and a whole address (a prefix is matched in tcptakectl, and
// narrows the dump to its family when it is IPv4). ok is false when the
// families of src and dst exclude each other: no session matches.
func (f sessionFilter) moduleFilter() (mf libtcptake.SessionFilter, ok bool) {
	mf.LocalPort, mf.RemotePort = f.sport, f.dport
	var fam uint16
	for _, p := range []netip.Prefix{f.src, f.dst} {
		if !p.IsValid() {
			continue
		}
		var af uint16
		switch {
		case p.Bits() == p.Addr().BitLen():
			// A v4-mapped address is AF_INET, as the module reports it.
			af = afInet6
			if p.Addr().Unmap().Is4() {
				af = afInet
			}
		case p.Addr().Is4():
			af = afInet
		default:
			continue // an IPv6 prefix may hold v4-mapped addresses
		}
		if fam != 0 && fam != af {
			return libtcptake.SessionFilter{}, false
		}
		fam = af
	}
	mf.Family = fam
	if f.src.IsValid() && f.src.Bits() == f.src.Addr().BitLen() {
		mf.LocalAddr = f.src.Addr()
	}
	if f.dst.IsValid() && f.dst.Bits() == f.dst.Addr().BitLen() {
		mf.RemoteAddr = f.dst.Addr()
	}
	return mf, true
}

// listedSession is one session of session list, from sock_diag or, with
// img, from the module's GET dump.
type listedSession struct {
	diagSock
	img *libtcptake.Image
}

// moduleSession makes a list entry of a GET image without buffers.
func moduleSession(img *libtcptake.Image) listedSession {
	s := listedSession{img: img}
	s.Family = afInet
	if img.Tuple.Is6() {
		s.Family = afInet6
	}
	s.State = img.State
	s.Local, s.Remote = img.Tuple.Local, img.Tuple.Remote
	s.IfIndex = img.Tuple.IfIndex
	if q := img.Queued; q != nil {
		s.RecvQ = q.Recv
		s.SendQ = q.Unacked + q.Unsent
	} else {
		s.RecvQ = uint32(len(img.RecvQueue))
		s.SendQ = uint32(len(img.SendUnacked) + len(img.SendUnsent))
	}
	return s
}

// listSessions lists the sessions of the namespace of ns (nil: the current
// one) that f matches: through the module's GET dump when the module is
// loaded there, else through sock_diag. An unprivileged caller, whom the
// module refuses, gets the sock_diag list too.
func listSessions(ctx context.Context, ns *os.File, f sessionFilter) ([]listedSession, error) {
	var o libtcptake.ClientOptions
	if ns != nil {
		o.NetNS = int(ns.Fd())
	}
	mf, ok := f.moduleFilter()
	if !ok {
		return nil, nil
	}
	if mc, err := newModuleClient(o); err == nil {
		imgs, err := mc.Sessions(ctx, mf, false)
		mc.Close()
		switch {
		case err == nil:
			out := make([]listedSession, 0, len(imgs))
			for _, img := range imgs {
				out = append(out, moduleSession(img))
			}
			return out, nil
		case !errors.Is(err, libtcptake.ErrPermission):
			return nil, moduleFailed("list sessions", err)
		}
	}
	socks, err := dumpSessions(ns, movableStates)
	if err != nil {
		todo := "check that the kernel has sock_diag (CONFIG_INET_DIAG, CONFIG_INET_TCP_DIAG)"
		if errors.Is(err, errors.ErrUnsupported) {
			todo = "session list needs Linux"
		} else if errors.Is(err, os.ErrPermission) {
			todo = "run as root or with CAP_SYS_ADMIN to use -n"
		}
		return nil, failed("list sessions", err, todo)
	}
	out := make([]listedSession, 0, len(socks))
	for _, s := range socks {
		out = append(out, listedSession{diagSock: s})
	}
	return out, nil
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
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	list, err := listSessions(ctx, ns, f)
	if err != nil {
		return err
	}
	list = slices.DeleteFunc(list, func(s listedSession) bool { return !f.match(s.diagSock) })
	slices.SortFunc(list, func(a, b listedSession) int {
		if n := a.Local.Compare(b.Local); n != 0 {
			return n
		}
		return a.Remote.Compare(b.Remote)
	})
	if globalsOf(c).json {
		out := make([]sessionJSON, 0, len(list))
		for _, s := range list {
			if s.img != nil {
				out = append(out, newModuleSessionJSON(s))
			} else {
				out = append(out, newSessionJSON(s.diagSock))
			}
		}
		return writeJSON(c.App.Writer, out)
	}
	socks := make([]diagSock, 0, len(list))
	for _, s := range list {
		socks = append(socks, s.diagSock)
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

// sessionJSON is one line of session list -j. Source says where it comes
// from: "sock_diag" (with the owner's uid and the socket's inode) or
// "module" (the GET dump, with the sequence numbers and the kernel-only
// state).
type sessionJSON struct {
	Tuple  tupleJSON `json:"tuple"`
	State  string    `json:"state"`
	RecvQ  uint32    `json:"recv_q"`
	SendQ  uint32    `json:"send_q"`
	Source string    `json:"source"`
	*SockDiagJSON
	*ModuleJSON
}

// SockDiagJSON are the fields of a sock_diag session.
type SockDiagJSON struct {
	UID   uint32 `json:"uid"`
	Inode uint64 `json:"inode"`
}

// ModuleJSON are the fields of a session from the module's GET dump.
type ModuleJSON struct {
	SndUna   uint32                   `json:"snd_una"`
	SndNxt   uint32                   `json:"snd_nxt"`
	WriteSeq uint32                   `json:"write_seq"`
	RcvNxt   uint32                   `json:"rcv_nxt"`
	Queued   *libtcptake.QueueLengths `json:"queued,omitempty"`
	Kernel   *libtcptake.KernelState  `json:"kernel,omitempty"`
}

func newSessionJSON(s diagSock) sessionJSON {
	j := sessionJSONOf(s)
	j.Source = "sock_diag"
	j.SockDiagJSON = &SockDiagJSON{UID: s.UID, Inode: s.Inode}
	return j
}

func newModuleSessionJSON(s listedSession) sessionJSON {
	j := sessionJSONOf(s.diagSock)
	j.Source = "module"
	j.ModuleJSON = &ModuleJSON{
		SndUna: s.img.SndUna, SndNxt: s.img.SndNxt, WriteSeq: s.img.WriteSeq, RcvNxt: s.img.RcvNxt,
		Queued: s.img.Queued, Kernel: s.img.Kernel,
	}
	return j
}

// sessionJSONOf fills the fields common to both sources.
func sessionJSONOf(s diagSock) sessionJSON {
	var scope uint32 // the tuple's ifindex scopes link-local addresses only
	if s.Local.Addr().Is6() && s.Local.Addr().IsLinkLocalUnicast() {
		scope = s.IfIndex
	}
	return sessionJSON{
		Tuple: newTupleJSON(s.Local, s.Remote, scope),
		State: stateSpecName(s.State),
		RecvQ: s.RecvQ,
		SendQ: s.SendQ,
	}
}
