package main

import (
	"bytes"
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

// sessionCommand is the "session" object: the TCP sessions of this node.
// get and set need the kernel module; list uses it when it is loaded.
func sessionCommand() *cli.Command {
	return &cli.Command{
		Name:  "session",
		Usage: "live TCP sessions of this node (default verb: list)",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return verbAction(c)
			}
			return sessionList(c)
		},
		Subcommands: []*cli.Command{
			{
				Name:    "list",
				Aliases: []string{"show", "ls"},
				Usage:   "list the TCP sessions tcptake can move (ESTABLISHED and the FIN states)",
				UsageText: "tcptakectl [-j] [-n NETNS] session list [FILTER]\n\n" +
					filterUsage + "\n" +
					"The list comes from the tcptake module's GET dump when the module is loaded in the namespace " +
					"(a session is then shown by the tuple the module takes), else from sock_diag.",
				Action: sessionList,
			},
			{
				Name:  "get",
				Usage: "snapshot a session's state through the module, without stopping it",
				UsageText: "tcptakectl [-j] [-n NETNS] session get [-o FILE] TUPLE [buffers]\n\n" +
					tupleUsage + "\n" +
					"buffers includes the queue bytes; -o writes the session image to FILE " +
					"(\"-\": standard output), as 'image inspect' reads it, and implies buffers.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the session image to `FILE`", TakesFile: true},
				},
				Action: sessionGet,
			},
			{
				Name:  "set",
				Usage: "set the kernel-only state of a session in repair mode",
				UsageText: "tcptakectl [-j] [-n NETNS] session set TUPLE FIELD N [FIELD N]...\n\n" +
					tupleUsage + "\n" +
					"FIELD := { ts-recent | srtt-us | mdev-us | rto-us | cwnd | ssthresh }\n" +
					"The session's socket must be in TCP_REPAIR mode (a session being restored).",
				Action: sessionSet,
			},
		},
	}
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
func listSessions(ctx context.Context, stderr io.Writer, ns *os.File, f sessionFilter) ([]listedSession, error) {
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
		var partial *libtcptake.SessionsError
		if errors.As(err, &partial) {
			// The others are listed; each that could not be read is said.
			for _, f := range partial.Failed {
				fmt.Fprintf(stderr, "tcptakectl: session %s could not be read: %s\n", f.Session, reason(f.Err))
			}
			err = nil
		}
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
	f, err := parseFilter(c.Args().Slice())
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
	list, err := listSessions(ctx, c.App.ErrWriter, ns, f)
	if err != nil {
		return err
	}
	list = slices.DeleteFunc(list, func(s listedSession) bool { return !f.match(s.Local, s.Remote) })
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

// keyword reports whether the optional keyword word ends the arguments;
// anything else there is a usage error.
func keyword(c *cli.Context, args []string, word string) (bool, error) {
	for _, a := range args {
		if a != word {
			return false, usageErrorf(c, "unknown argument %q (want %s)", a, word)
		}
	}
	return len(args) > 0, nil
}

func sessionGet(c *cli.Context) error {
	t, args, err := tupleArgs(c)
	if err != nil {
		return err
	}
	buffers, err := keyword(c, args, "buffers")
	if err != nil {
		return err
	}
	out := c.String("output")
	if out != "" {
		buffers = true // an image file holds the whole session
	}
	return withModule(c, func(ctx context.Context, mc moduleClient) error {
		img, err := mc.Get(ctx, t, buffers)
		if err != nil {
			return moduleFailed("get "+tupleText(t), err)
		}
		if out != "" {
			return writeImageFile(c, out, img)
		}
		if globalsOf(c).json {
			return writeJSON(c.App.Writer, newSessionImageJSON(img, buffers))
		}
		var b bytes.Buffer
		printSession(&b, img, buffers)
		_, err = b.WriteTo(c.App.Writer)
		return err
	})
}

// writeImageFile writes img framed to path ("-": standard output).
func writeImageFile(c *cli.Context, path string, img *libtcptake.Image) error {
	if path == "-" {
		if err := libtcptake.WriteImage(c.App.Writer, img); err != nil {
			return failed("write the image to standard output", err, "")
		}
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return failed("create "+path, err, "")
	}
	if err := libtcptake.WriteImage(f, img); err != nil {
		f.Close()
		return failed("write "+path, err, "")
	}
	if err := f.Close(); err != nil {
		return failed("write "+path, err, "")
	}
	return nil
}

// setFields are the FIELD keywords of session set.
var setFields = []struct {
	names []string
	bit   libtcptake.KernelFields
	field func(*libtcptake.KernelState) *uint32
}{
	{[]string{"ts-recent"}, libtcptake.KernelTSRecent, func(k *libtcptake.KernelState) *uint32 { return &k.TSRecent }},
	{[]string{"srtt-us", "srtt"}, libtcptake.KernelSRTT, func(k *libtcptake.KernelState) *uint32 { return &k.SRTTus }},
	{[]string{"mdev-us", "mdev"}, libtcptake.KernelMDEV, func(k *libtcptake.KernelState) *uint32 { return &k.MDEVus }},
	{[]string{"rto-us", "rto"}, libtcptake.KernelRTO, func(k *libtcptake.KernelState) *uint32 { return &k.RTOus }},
	{[]string{"cwnd", "snd-cwnd"}, libtcptake.KernelSndCwnd, func(k *libtcptake.KernelState) *uint32 { return &k.SndCwnd }},
	{[]string{"ssthresh", "snd-ssthresh"}, libtcptake.KernelSndSsthresh, func(k *libtcptake.KernelState) *uint32 { return &k.SndSsthresh }},
}

// parseSetArgs parses the FIELD N pairs of session set.
func parseSetArgs(args []string) (libtcptake.KernelState, libtcptake.KernelFields, error) {
	var (
		ks     libtcptake.KernelState
		fields libtcptake.KernelFields
	)
	if len(args) == 0 {
		return ks, 0, errors.New("set needs at least one FIELD N")
	}
next:
	for i := 0; i < len(args); i += 2 {
		for _, f := range setFields {
			for _, name := range f.names {
				if args[i] != name {
					continue
				}
				if i+1 >= len(args) {
					return ks, 0, fmt.Errorf("%s needs a value", name)
				}
				v, err := strconv.ParseUint(args[i+1], 0, 32)
				if err != nil {
					return ks, 0, fmt.Errorf("bad %s %q: want an unsigned 32-bit number", name, args[i+1])
				}
				if fields&f.bit != 0 {
					return ks, 0, fmt.Errorf("%s given twice", name)
				}
				*f.field(&ks) = uint32(v)
				fields |= f.bit
				continue next
			}
		}
		return ks, 0, fmt.Errorf("unknown field %q (want ts-recent, srtt-us, mdev-us, rto-us, cwnd or ssthresh)", args[i])
	}
	return ks, fields, nil
}

func sessionSet(c *cli.Context) error {
	t, args, err := tupleArgs(c)
	if err != nil {
		return err
	}
	ks, fields, err := parseSetArgs(args)
	if err != nil {
		return usageErrorf(c, "%v", err)
	}
	return withModule(c, func(ctx context.Context, mc moduleClient) error {
		if err := mc.Set(ctx, t, ks, fields); err != nil {
			return moduleFailed("set "+tupleText(t), err)
		}
		return nil
	})
}
