package main

// The "freeze" object: a 4-tuple whose packets the kernel module drops in
// both directions. A freeze names a tuple, not a socket: it can be set
// before the socket exists (on the node a session moves to) and outlives
// the socket it froze.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tcptake/tcptake/libtcptake"
)

// freezeCommand is the "freeze" object.
func freezeCommand() *cli.Command {
	return &cli.Command{
		Name:  "freeze",
		Usage: "frozen 4-tuples: every packet dropped in both directions (default verb: show)",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return verbAction(c)
			}
			return freezeShow(c)
		},
		Subcommands: []*cli.Command{
			{
				Name:  "add",
				Usage: "freeze a tuple until it is deleted or the timeout ends; its socket need not exist",
				UsageText: "tcptakectl [-j] [-n NETNS] freeze add TUPLE [timeout DURATION] [replace]\n\n" +
					tupleUsage + "\n" +
					"DURATION is a Go duration (500ms, 30s, 2m; default 10s, at most 10m); " +
					"replace re-arms the timeout of a tuple already frozen.",
				Action: freezeAdd,
			},
			{
				Name:    "del",
				Aliases: []string{"delete"},
				Usage:   "thaw a tuple; kick makes both ends send at once what the freeze held back",
				UsageText: "tcptakectl [-j] [-n NETNS] freeze del TUPLE [kick]\n\n" +
					tupleUsage,
				Action: freezeDel,
			},
			{
				Name:    "show",
				Aliases: []string{"list", "ls"},
				Usage:   "list the frozen tuples with their timeout and dropped packets",
				UsageText: "tcptakectl [-j] [-n NETNS] freeze show [FILTER]\n\n" +
					filterUsage,
				Action: freezeShow,
			},
			{
				Name:  "peer",
				Usage: "show the segments the peer sent to a frozen tuple",
				UsageText: "tcptakectl [-j] [-n NETNS] freeze peer TUPLE\n\n" +
					tupleUsage,
				Action: freezePeer,
			},
		},
	}
}

func freezeAdd(c *cli.Context) error {
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

func freezeDel(c *cli.Context) error {
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

func freezePeer(c *cli.Context) error {
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
	Tuple       tupleJSON `json:"tuple"`
	ExpiresMs   int64     `json:"expires_ms"`
	DroppedIn   uint64    `json:"dropped_in"`
	DroppedOut  uint64    `json:"dropped_out"`
	DroppedICMP uint64    `json:"dropped_icmp"`
	Event       string    `json:"event,omitempty"` // module monitor only
}

func newFreezeJSON(fi libtcptake.FreezeInfo) freezeJSON {
	return freezeJSON{
		Tuple:       newTupleJSON(fi.Tuple.Local, fi.Tuple.Remote, fi.Tuple.IfIndex),
		ExpiresMs:   fi.Expires.Milliseconds(),
		DroppedIn:   fi.DroppedIn,
		DroppedOut:  fi.DroppedOut,
		DroppedICMP: fi.DroppedICMP,
	}
}

func freezeShow(c *cli.Context) error {
	if err := misplacedFlag(c, "filters"); err != nil {
		return err
	}
	f, err := parseFilter(c.Args().Slice())
	if err != nil {
		return usageErrorf(c, "%v", err)
	}
	return withModule(c, func(ctx context.Context, mc moduleClient) error {
		fz, err := mc.Freezes(ctx)
		if err != nil {
			return moduleFailed("list the frozen tuples", err)
		}
		fz = slices.DeleteFunc(fz, func(fi libtcptake.FreezeInfo) bool { return !f.match(fi.Tuple.Local, fi.Tuple.Remote) })
		if globalsOf(c).json {
			out := make([]freezeJSON, 0, len(fz))
			for _, fi := range fz {
				out = append(out, newFreezeJSON(fi))
			}
			return writeJSON(c.App.Writer, out)
		}
		tw := tabwriter.NewWriter(c.App.Writer, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "Local Address:Port\tPeer Address:Port\tExpires\tDropped-In\tDropped-Out\tDropped-ICMP")
		for _, fi := range fz {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\n",
				addrPortText(fi.Tuple.Local, fi.Tuple.IfIndex), addrPortText(fi.Tuple.Remote, fi.Tuple.IfIndex),
				fi.Expires, fi.DroppedIn, fi.DroppedOut, fi.DroppedICMP)
		}
		return tw.Flush()
	})
}
