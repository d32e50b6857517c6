package main

// The verbs that need the tcptake kernel module: the session verbs that
// address a session by its 4-tuple (freeze, thaw, get, set, peer, frozen)
// and the "module" object.
//
//	tcptakectl session freeze TUPLE [timeout DURATION] [replace]
//	tcptakectl session thaw TUPLE [kick]
//	tcptakectl session get TUPLE [buffers] [-o FILE]
//	tcptakectl session set TUPLE { ts-recent N | srtt-us N | mdev-us N | rto-us N | cwnd N | ssthresh N }...
//	tcptakectl session peer TUPLE
//	tcptakectl session frozen
//	tcptakectl module status
//	tcptakectl module monitor
//
// TUPLE := LOCAL_ADDR:PORT REMOTE_ADDR:PORT, as the node that owns the
// session sees it (IPv6 as [ADDR]:PORT; a link-local address takes its
// interface as zone: [fe80::1%eth0]:22 or [fe80::1%2]:22).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tcptake/tcptake/libtcptake"
)

// notLoaded is the message of every module verb when the module is absent.
const notLoaded = "tcptake kernel module not loaded; install tcptake-dkms and run 'modprobe tcptake'"

// tupleUsage explains the TUPLE argument.
const tupleUsage = "TUPLE := LOCAL_ADDR:PORT REMOTE_ADDR:PORT (the owner's view; IPv6 as [ADDR]:PORT, " +
	"a link-local address with its interface as zone: [fe80::1%eth0]:22)"

// sessionModuleCommands are the session verbs that need the tcptake kernel
// module.
func sessionModuleCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:  "freeze",
			Usage: "drop every packet of a session in both directions, until thaw or the timeout",
			UsageText: "tcptakectl [-j] [-n NETNS] session freeze TUPLE [timeout DURATION] [replace]\n\n" +
				tupleUsage + "\n" +
				"DURATION is a Go duration (500ms, 30s, 2m; default 10s, at most 10m); " +
				"replace re-arms the timeout of a tuple already frozen.",
			Action: sessionFreeze,
		},
		{
			Name:  "thaw",
			Usage: "lift the freeze of a session; kick makes both ends send at once what the freeze held back",
			UsageText: "tcptakectl [-j] [-n NETNS] session thaw TUPLE [kick]\n\n" +
				tupleUsage,
			Action: sessionThaw,
		},
		{
			Name:  "get",
			Usage: "snapshot a session's state through the module, without stopping it",
			UsageText: "tcptakectl [-j] [-n NETNS] session get TUPLE [buffers] [-o FILE]\n\n" +
				tupleUsage + "\n" +
				"buffers includes the queue bytes; -o writes the session image to FILE " +
				"(\"-\": standard output), as 'image inspect' reads it, and implies buffers.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the session image to `FILE`"},
			},
			Action: sessionGet,
		},
		{
			Name:  "set",
			Usage: "set the kernel-only state of a session in repair mode",
			UsageText: "tcptakectl [-j] [-n NETNS] session set TUPLE FIELD N [FIELD N]...\n\n" +
				tupleUsage + "\n" +
				"FIELD := { ts-recent | srtt-us | mdev-us | rto-us | cwnd | ssthresh }\n" +
				"The session must be a socket of the caller in TCP_REPAIR mode.",
			Action: sessionSet,
		},
		{
			Name:  "peer",
			Usage: "show the segments the peer sent while the session was frozen",
			UsageText: "tcptakectl [-j] [-n NETNS] session peer TUPLE\n\n" +
				tupleUsage,
			Action: sessionPeer,
		},
		{
			Name:      "frozen",
			Usage:     "list the frozen tuples",
			UsageText: "tcptakectl [-j] [-n NETNS] session frozen",
			Action:    sessionFrozen,
		},
	}
}

// moduleCommand is the "module" object.
func moduleCommand() *cli.Command {
	return &cli.Command{
		Name:  "module",
		Usage: "the tcptake kernel module (default verb: status)",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf(c, "unknown verb %q for module", c.Args().First())
			}
			return moduleStatus(c)
		},
		Subcommands: []*cli.Command{
			{
				Name:      "status",
				Aliases:   []string{"show"},
				Usage:     "report whether the module is loaded, its version and limits",
				UsageText: "tcptakectl [-j] [-n NETNS] module status",
				Action:    moduleStatus,
			},
			{
				Name:  "monitor",
				Usage: "print freeze, thaw and expiry notifications until interrupted",
				UsageText: "tcptakectl [-j] [-n NETNS] module monitor\n\n" +
					"With -j, one JSON object per line.",
				Action: moduleMonitor,
			},
		},
	}
}

// parseTuple parses the TUPLE grammar from args[0:2]. A zone names the
// interface of a link-local IPv6 address; names are resolved in the
// current namespace, so with -n only interface indexes are accepted.
func parseTuple(args []string, netns bool) (libtcptake.Tuple, error) {
	var t libtcptake.Tuple
	switch len(args) {
	case 0:
		return t, errors.New("missing TUPLE")
	case 1:
		return t, fmt.Errorf("TUPLE needs the remote address after %q", args[0])
	}
	var aps [2]netip.AddrPort
	var zones [2]string
	for i, side := range []string{"local", "remote"} {
		ap, err := netip.ParseAddrPort(args[i])
		if err != nil {
			hint := ""
			if strings.Count(args[i], ":") > 1 && !strings.HasPrefix(args[i], "[") {
				hint = " (write IPv6 as [ADDR]:PORT)"
			}
			return t, fmt.Errorf("bad %s address %q: want ADDR:PORT%s", side, args[i], hint)
		}
		if ap.Port() == 0 {
			return t, fmt.Errorf("bad %s address %q: port 0", side, args[i])
		}
		zones[i] = ap.Addr().Zone()
		aps[i] = netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port())
	}
	if aps[0].Addr().Is4() != aps[1].Addr().Is4() {
		return t, fmt.Errorf("%s and %s mix IPv4 and IPv6", args[0], args[1])
	}
	t.Local, t.Remote = aps[0], aps[1]
	if zones[0] != "" && zones[1] != "" && zones[0] != zones[1] {
		return t, fmt.Errorf("two different zones %q and %q", zones[0], zones[1])
	}
	zone := zones[0]
	if zone == "" {
		zone = zones[1]
	}
	if zone != "" {
		if n, err := strconv.ParseUint(zone, 10, 32); err == nil && n > 0 {
			t.IfIndex = uint32(n)
		} else if netns {
			return t, fmt.Errorf("zone %q: with -n, give the interface index, not its name", zone)
		} else {
			ifi, err := net.InterfaceByName(zone)
			if err != nil {
				return t, fmt.Errorf("zone %q: %v", zone, err)
			}
			t.IfIndex = uint32(ifi.Index)
		}
	}
	return t, nil
}

// tupleArgs parses the TUPLE of a verb and returns the remaining args.
func tupleArgs(c *cli.Context) (libtcptake.Tuple, []string, error) {
	if err := misplacedFlag(c, "tuple"); err != nil {
		return libtcptake.Tuple{}, nil, err
	}
	args := c.Args().Slice()
	t, err := parseTuple(args, globalsOf(c).netns != "")
	if err != nil {
		return t, nil, usageErrorf(c, "%v; %s", err, tupleUsage)
	}
	return t, args[2:], nil
}

// moduleClient is what the verbs use of *libtcptake.Client; tests fake it.
type moduleClient interface {
	Close() error
	Info(ctx context.Context) (*libtcptake.ModuleInfo, error)
	Freeze(ctx context.Context, t libtcptake.Tuple, o libtcptake.FreezeOptions) error
	Thaw(ctx context.Context, t libtcptake.Tuple, kick bool) error
	Get(ctx context.Context, t libtcptake.Tuple, withBuffers bool) (*libtcptake.Image, error)
	Set(ctx context.Context, t libtcptake.Tuple, ks libtcptake.KernelState, fields libtcptake.KernelFields) error
	PeerSegments(ctx context.Context, t libtcptake.Tuple) ([]libtcptake.Segment, error)
	Freezes(ctx context.Context) ([]libtcptake.FreezeInfo, error)
	Sessions(ctx context.Context, f libtcptake.SessionFilter, withBuffers bool) ([]*libtcptake.Image, error)
	Events(ctx context.Context) (<-chan libtcptake.FreezeEvent, error)
}

var _ moduleClient = (*libtcptake.Client)(nil)

// newModuleClient opens the module client; tests replace it.
var newModuleClient = func(o libtcptake.ClientOptions) (moduleClient, error) {
	c, err := libtcptake.NewWithOptions(o)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// nsClient is a module client with the namespace file of -n, which stays
// open for Events.
type nsClient struct {
	moduleClient
	ns *os.File
}

func (c *nsClient) Close() error {
	err := c.moduleClient.Close()
	if c.ns != nil {
		c.ns.Close()
	}
	return err
}

// openModule opens a module client in the namespace of -n.
func openModule(c *cli.Context) (moduleClient, error) {
	ns, err := openNetNS(c)
	if err != nil {
		return nil, err
	}
	var o libtcptake.ClientOptions
	if ns != nil {
		o.NetNS = int(ns.Fd())
	}
	mc, err := newModuleClient(o)
	if err != nil {
		if ns != nil {
			ns.Close()
		}
		return nil, moduleFailed("open the tcptake module", err)
	}
	return &nsClient{moduleClient: mc, ns: ns}, nil
}

// moduleFailed is the error of a module operation: the errno text and
// the module's extack message, and what to do about it.
func moduleFailed(what string, err error) error {
	var le *libtcptake.Error
	if errors.As(err, &le) && le.Op == libtcptake.OpOpen {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return cli.Exit(notLoaded, exitFailed)
		case errors.Is(err, libtcptake.ErrUnsupported):
			return failed(what, errors.New("the tcptake kernel module needs Linux"), "")
		}
	}
	why := err
	if le != nil && le.Err != nil {
		s := le.Err.Error()
		if le.Message != "" {
			s += " (" + le.Message + ")"
		}
		why = errors.New(s)
	}
	todo := ""
	switch {
	case errors.Is(err, libtcptake.ErrPermission):
		todo = "run as root or with CAP_NET_ADMIN over the network namespace"
	case errors.Is(err, syscall.EEXIST) && le != nil && le.Op == libtcptake.OpFreeze:
		todo = "add 'replace' to re-arm its timeout"
	case errors.Is(err, os.ErrNotExist) && le != nil && (le.Op == libtcptake.OpThaw || le.Op == libtcptake.OpPeerGet):
		todo = "the tuple is not frozen (see 'tcptakectl session frozen')"
	case errors.Is(err, os.ErrNotExist) && le != nil && le.Op == libtcptake.OpGet:
		todo = "no such session (see 'tcptakectl session list'; give the tuple as its owner sees it)"
	case errors.Is(err, os.ErrNotExist) && le != nil && le.Op == libtcptake.OpSet:
		todo = "the tuple's socket must be the caller's, in TCP_REPAIR mode"
	}
	return failed(what, why, todo)
}

// withModule runs fn with a module client and a context that ends on
// SIGINT or SIGTERM.
func withModule(c *cli.Context, fn func(ctx context.Context, mc moduleClient) error) error {
	mc, err := openModule(c)
	if err != nil {
		return err
	}
	defer mc.Close()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return fn(ctx, mc)
}

func sessionFreeze(c *cli.Context) error {
	t, args, err := tupleArgs(c)
	if err != nil {
		return err
	}
	var o libtcptake.FreezeOptions
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "timeout":
			if i+1 >= len(args) {
				return usageErrorf(c, "timeout needs a DURATION (500ms, 30s, 2m)")
			}
			i++
			d, err := time.ParseDuration(args[i])
			if err != nil || d <= 0 || d > 10*time.Minute {
				return usageErrorf(c, "bad timeout %q: want a duration such as 500ms, 30s or 2m, at most 10m", args[i])
			}
			o.Timeout = d
		case "replace":
			o.Replace = true
		default:
			return usageErrorf(c, "unknown argument %q (want timeout DURATION or replace)", args[i])
		}
	}
	return withModule(c, func(ctx context.Context, mc moduleClient) error {
		if err := mc.Freeze(ctx, t, o); err != nil {
			return moduleFailed("freeze "+tupleText(t), err)
		}
		return nil
	})
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

func sessionThaw(c *cli.Context) error {
	t, args, err := tupleArgs(c)
	if err != nil {
		return err
	}
	kick, err := keyword(c, args, "kick")
	if err != nil {
		return err
	}
	return withModule(c, func(ctx context.Context, mc moduleClient) error {
		if err := mc.Thaw(ctx, t, kick); err != nil {
			return moduleFailed("thaw "+tupleText(t), err)
		}
		return nil
	})
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

// tcpFlagNames are the TCP header flags, lowest bit first.
var tcpFlagNames = []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// tcpFlagsText names the TCP header flags f in bit order ("PSH,ACK");
// "none" for 0.
func tcpFlagsText(f uint8) string {
	var names []string
	for bit, name := range tcpFlagNames {
		if f&(1<<bit) != 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// segmentJSON is the spec's attribute set "segment".
type segmentJSON struct {
	Seq       uint32   `json:"seq"`
	Ack       uint32   `json:"ack"`
	Window    uint32   `json:"window"`
	TSVal     uint32   `json:"tsval"`
	TSEcr     uint32   `json:"tsecr"`
	Flags     uint8    `json:"flags"`
	FlagNames []string `json:"flag_names"`
	Len       uint32   `json:"len"`
	AgeMs     int64    `json:"age_ms"`
}

func sessionPeer(c *cli.Context) error {
	t, args, err := tupleArgs(c)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return usageErrorf(c, "unknown argument %q", args[0])
	}
	return withModule(c, func(ctx context.Context, mc moduleClient) error {
		segs, err := mc.PeerSegments(ctx, t)
		if err != nil {
			return moduleFailed("get the peer segments of "+tupleText(t), err)
		}
		if globalsOf(c).json {
			out := make([]segmentJSON, 0, len(segs))
			for _, s := range segs {
				names := []string{}
				if s.Flags != 0 {
					names = strings.Split(tcpFlagsText(s.Flags), ",")
				}
				out = append(out, segmentJSON{s.Seq, s.Ack, s.Window, s.TSVal, s.TSEcr, s.Flags, names, s.Len, s.Age.Milliseconds()})
			}
			return writeJSON(c.App.Writer, out)
		}
		tw := tabwriter.NewWriter(c.App.Writer, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "Seq\tAck\tWindow\tTSval\tTSecr\tFlags\tLen\tAge")
		for _, s := range segs {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%s\t%d\t%s\n",
				s.Seq, s.Ack, s.Window, s.TSVal, s.TSEcr, tcpFlagsText(s.Flags), s.Len, s.Age)
		}
		return tw.Flush()
	})
}

// freezeJSON is the spec's attribute set "freeze".
type freezeJSON struct {
	Tuple      tupleJSON `json:"tuple"`
	ExpiresMs  int64     `json:"expires_ms"`
	DroppedIn  uint64    `json:"dropped_in"`
	DroppedOut uint64    `json:"dropped_out"`
	Event      string    `json:"event,omitempty"` // module monitor only
}

func newFreezeJSON(fi libtcptake.FreezeInfo) freezeJSON {
	return freezeJSON{
		Tuple:      newTupleJSON(fi.Tuple.Local, fi.Tuple.Remote, fi.Tuple.IfIndex),
		ExpiresMs:  fi.Expires.Milliseconds(),
		DroppedIn:  fi.DroppedIn,
		DroppedOut: fi.DroppedOut,
	}
}

func sessionFrozen(c *cli.Context) error {
	if err := noArgs(c, "frozen"); err != nil {
		return err
	}
	return withModule(c, func(ctx context.Context, mc moduleClient) error {
		fz, err := mc.Freezes(ctx)
		if err != nil {
			return moduleFailed("list the frozen tuples", err)
		}
		if globalsOf(c).json {
			out := make([]freezeJSON, 0, len(fz))
			for _, fi := range fz {
				out = append(out, newFreezeJSON(fi))
			}
			return writeJSON(c.App.Writer, out)
		}
		tw := tabwriter.NewWriter(c.App.Writer, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "Local Address:Port\tPeer Address:Port\tExpires\tDropped-In\tDropped-Out")
		for _, fi := range fz {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n",
				addrPortText(fi.Tuple.Local, fi.Tuple.IfIndex), addrPortText(fi.Tuple.Remote, fi.Tuple.IfIndex),
				fi.Expires, fi.DroppedIn, fi.DroppedOut)
		}
		return tw.Flush()
	})
}

// statusJSON is module status -j.
type statusJSON struct {
	Loaded     bool   `json:"loaded"`
	Version    string `json:"version,omitempty"`
	MaxFreezes uint32 `json:"max_freezes,omitempty"`
	Freezes    uint32 `json:"freezes,omitempty"`
}

func moduleStatus(c *cli.Context) error {
	if err := noArgs(c, "status"); err != nil {
		return err
	}
	g := globalsOf(c)
	mc, err := openModule(c)
	if err != nil {
		var ec cli.ExitCoder
		if g.json && errors.As(err, &ec) { // not loaded: say so on stdout too
			if jerr := writeJSON(c.App.Writer, statusJSON{Loaded: false}); jerr != nil {
				return jerr
			}
		}
		return err
	}
	defer mc.Close()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	mi, err := mc.Info(ctx)
	if err != nil {
		return moduleFailed("query the tcptake module", err)
	}
	if g.json {
		return writeJSON(c.App.Writer, statusJSON{Loaded: true, Version: mi.Version, MaxFreezes: mi.MaxFreezes, Freezes: mi.Freezes})
	}
	_, err = fmt.Fprintf(c.App.Writer, "module tcptake loaded\nversion %s\nmax_freezes %d\nfreezes %d\n",
		mi.Version, mi.MaxFreezes, mi.Freezes)
	return err
}

func moduleMonitor(c *cli.Context) error {
	if err := noArgs(c, "monitor"); err != nil {
		return err
	}
	return withModule(c, func(ctx context.Context, mc moduleClient) error {
		return monitor(ctx, c, mc)
	})
}

// monitor prints the module's notifications until ctx ends.
func monitor(ctx context.Context, c *cli.Context, mc moduleClient) error {
	events, err := mc.Events(ctx)
	if err != nil {
		return moduleFailed("subscribe to the module's notifications", err)
	}
	asJSON := globalsOf(c).json
	w := c.App.Writer
	for ev := range events {
		if ev.Err != nil {
			if errors.Is(ev.Err, libtcptake.ErrEventsLost) {
				fmt.Fprintf(c.App.ErrWriter, "tcptakectl: %s\n", reason(ev.Err))
				continue
			}
			return moduleFailed("receive notifications", ev.Err)
		}
		if asJSON {
			j := newFreezeJSON(ev.Freeze)
			j.Event = ev.Type.String()
			if err := json.NewEncoder(w).Encode(j); err != nil { // one object per line
				return failed("write JSON", err, "")
			}
			continue
		}
		fmt.Fprintf(w, "%s %s %s expires %s dropped in %d out %d\n", ev.Type,
			addrPortText(ev.Freeze.Tuple.Local, ev.Freeze.Tuple.IfIndex),
			addrPortText(ev.Freeze.Tuple.Remote, ev.Freeze.Tuple.IfIndex),
			ev.Freeze.Expires, ev.Freeze.DroppedIn, ev.Freeze.DroppedOut)
	}
	return nil
}
