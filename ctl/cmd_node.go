package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tcptake/tcptake/ha"
	"github.com/urfave/cli/v2"
)

func nodeCommand() *cli.Command {
	control := &cli.StringFlag{Name: "control", Usage: "the node's control socket `PATH` (required)"}
	return &cli.Command{
		Name:  "node",
		Usage: "drive a node of a two-node service (package ha) through its control socket",
		Subcommands: []*cli.Command{
			{
				Name:    "status",
				Aliases: []string{"show"},
				Usage:   "show the node's role, epoch, sync link, sessions, checkpoints and counts",
				UsageText: "tcptakectl [-j] node status --control PATH\n\n" +
					"The figures of the node's Prometheus metrics (streamd --metrics-listen):\n" +
					"the link's round-trip time, the ages of the sessions' checkpoints, the\n" +
					"switchovers and takeovers with their durations, the refused links.",
				Flags:  []cli.Flag{control},
				Action: func(c *cli.Context) error { return nodeDo(c, "status") },
			},
			{
				Name:  "switchover",
				Usage: "move every session of the active node to the standby",
				UsageText: "tcptakectl [-j] node switchover --control PATH\n\n" +
					"Run on the active's control socket. Returns once the standby serves\n" +
					"the sessions, with the time each step took.",
				Flags:  []cli.Flag{control},
				Action: func(c *cli.Context) error { return nodeDo(c, "switchover") },
			},
			{
				Name:  "checkpoint",
				Usage: "checkpoint every session of the active node to the standby now",
				UsageText: "tcptakectl [-j] node checkpoint --control PATH\n\n" +
					"Run on the active's control socket. Each session is paused while its TCP\n" +
					"state and its application's state are captured, then goes on.",
				Flags:  []cli.Flag{control},
				Action: func(c *cli.Context) error { return nodeDo(c, "checkpoint") },
			},
			{
				Name:  "takeover",
				Usage: "make the standby the active from the last checkpoints (failover)",
				UsageText: "tcptakectl [-j] node takeover --control PATH\n\n" +
					"Run on the standby's control socket, by an operator or a cluster manager\n" +
					"(keepalived's notify on MASTER) once the active is dead or cut off. An\n" +
					"active still linked is told to stop first. Each session is adjusted to\n" +
					"where its peer really is; the application keeps, reconciles or closes it.\n" +
					"On the active it does nothing.",
				Flags:  []cli.Flag{control},
				Action: func(c *cli.Context) error { return nodeDo(c, "takeover") },
			},
			{
				Name:  "standby",
				Usage: "make the node stop serving and wait as the standby",
				UsageText: "tcptakectl [-j] node standby --control PATH\n\n" +
					"For a cluster manager (keepalived's notify on BACKUP or FAULT): an active\n" +
					"node stops its sessions silently and gives up the service address.",
				Flags:  []cli.Flag{control},
				Action: func(c *cli.Context) error { return nodeDo(c, "standby") },
			},
		},
	}
}

func nodeDo(c *cli.Context, op string) error {
	if err := noArgs(c, op); err != nil {
		return err
	}
	path := c.String("control")
	if path == "" {
		return usageErrorf(c, "node %s needs --control PATH, the node's control socket", op)
	}
	resp, err := ha.Control(c.Context, path, ha.ControlRequest{Op: op})
	if err != nil {
		todo := ""
		switch {
		case errors.Is(err, os.ErrPermission):
			todo = "run as root"
		case resp == nil:
			todo = "is the node running with --control " + path + "?"
		case op != "status":
			todo = "see 'tcptakectl node status --control " + path + "'"
		}
		return failed("node "+op, err, todo)
	}
	w := c.App.Writer
	if globalsOf(c).json {
		switch op {
		case "status", "standby":
			return writeJSON(w, resp.Status)
		case "checkpoint":
			return writeJSON(w, resp.Checkpoint)
		case "takeover":
			return writeJSON(w, resp.Takeover)
		}
		return writeJSON(w, resp.Report)
	}
	switch op {
	case "status", "standby":
		printStatus(w, resp.Status)
	case "checkpoint":
		printCheckpoint(w, resp.Checkpoint)
	case "takeover":
		printTakeover(w, resp.Takeover)
	default:
		printReport(w, resp.Report)
	}
	return nil
}

func printCheckpoint(w io.Writer, s *ha.CheckpointStatus) {
	fmt.Fprintf(w, "checkpoint sessions %d failed %d bytes %d took %v age %v (count %d", s.Sessions, s.Failed, s.Bytes,
		s.Duration.Round(time.Microsecond), s.Age.Round(time.Millisecond), s.Count)
	if s.Interval > 0 {
		fmt.Fprintf(w, ", every %v", s.Interval)
	}
	fmt.Fprintln(w, ")")
	if s.LastErr != "" {
		fmt.Fprintf(w, "    last checkpoint error: %s\n", s.LastErr)
	}
}

func printTakeover(w io.Writer, r *ha.TakeoverReport) {
	if r.AlreadyActive {
		fmt.Fprintf(w, "already the active (epoch %d)\n", r.Epoch)
		return
	}
	fmt.Fprintf(w, "epoch %d sessions %d kept %d reconciled %d closed %d no-answer %d failed %d fenced %v\n",
		r.Epoch, r.Sessions, r.Kept, r.Reconciled, r.Closed, r.NoAnswer, r.Failed, r.Fenced)
	for _, s := range []struct {
		name string
		d    time.Duration
	}{{"set", r.Set}, {"address up", r.AddressUp}, {"restart", r.Restart}, {"total", r.Total}} {
		fmt.Fprintf(w, "    %-14s %v\n", s.name, s.d.Round(time.Microsecond))
	}
	for _, s := range r.Results {
		fmt.Fprintf(w, "    %s %s age %v", s.Session, s.Outcome, s.Age.Round(time.Millisecond))
		if a := s.Adjustment; a != nil {
			if !a.Answered {
				fmt.Fprint(w, " no-answer")
			}
			fmt.Fprintf(w, " acked %d outgoing-ahead %d incoming-lost %d tsval-moved %d", a.Acked, a.OutgoingAhead, a.IncomingLost, a.TSValMoved)
		}
		if s.Error != "" {
			fmt.Fprintf(w, " error %q", s.Error)
		}
		fmt.Fprintln(w)
	}
}

func printStatus(w io.Writer, s *ha.Status) {
	fmt.Fprintf(w, "role %s epoch %d sessions %d\n", s.Role, s.Epoch, s.Sessions)
	if p := s.Peer; p != nil {
		fmt.Fprintf(w, "peer %s role %s epoch %d up since %s", p.Address, p.Role, p.Epoch, p.Since.Format(time.RFC3339))
		if p.RTT > 0 {
			fmt.Fprintf(w, " rtt %v", p.RTT.Round(time.Microsecond))
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "peer down")
	}
	if s.LinkErr != "" {
		fmt.Fprintf(w, "    last link error: %s\n", s.LinkErr)
	}
	if s.InDoubt > 0 {
		fmt.Fprintf(w, "in doubt: %d sessions held frozen until the peer reconnects\n", s.InDoubt)
	}
	if s.Checkpoint != nil {
		printCheckpoint(w, s.Checkpoint)
	}
	if a := s.CheckpointAges; a != nil {
		fmt.Fprintf(w, "checkpoint ages: sessions %d freshest %v oldest %v\n", a.Sessions,
			a.Freshest.Round(time.Millisecond), a.Oldest.Round(time.Millisecond))
	}
	printStats(w, &s.Stats)
	if s.Last != nil {
		fmt.Fprint(w, "last switchover:\n")
		printReport(w, s.Last)
	}
	if s.LastTakeover != nil {
		fmt.Fprint(w, "last takeover:\n")
		printTakeover(w, s.LastTakeover)
	}
	if s.LastErr != "" {
		fmt.Fprintf(w, "last error: %s\n", s.LastErr)
	}
}

func printReport(w io.Writer, r *ha.Report) {
	fmt.Fprintf(w, "sessions %d failed %d\n", r.Sessions, r.Failed)
	for _, s := range []struct {
		name string
		d    time.Duration
	}{
		{"stop+get", r.StopGet}, {"transfer", r.Transfer}, {"set", r.Set},
		{"address moved", r.AddressMoved}, {"restart", r.Restart}, {"blackout", r.Blackout},
	} {
		fmt.Fprintf(w, "    %-14s %v\n", s.name, s.d.Round(time.Microsecond))
	}
}

// printStats prints the counts, the refusals there were and the
// distributions with observations (their count and mean).
func printStats(w io.Writer, s *ha.Stats) {
	fmt.Fprintf(w, "switchovers %d failed %d takeovers %d failed %d\n", s.Switchovers, s.SwitchoversFailed, s.Takeovers, s.TakeoversFailed)
	var refused []string
	for _, r := range ha.RefusalReasons {
		if k := s.LinkRefused[r]; k > 0 {
			refused = append(refused, fmt.Sprintf("%s %d", r, k))
		}
	}
	if len(refused) > 0 {
		fmt.Fprintf(w, "link refused: %s\n", strings.Join(refused, " "))
	}
	type dist struct {
		name string
		h    *ha.Histogram
	}
	ds := []dist{{"switchover blackout", s.Blackout}}
	for _, k := range ha.SwitchoverSteps {
		ds = append(ds, dist{"switchover " + k, s.SwitchoverSteps[k]})
	}
	ds = append(ds, dist{"takeover", s.Takeover})
	for _, k := range ha.TakeoverSteps {
		ds = append(ds, dist{"takeover " + k, s.TakeoverSteps[k]})
	}
	for _, d := range ds {
		if d.h != nil && d.h.Count > 0 {
			mean := time.Duration(d.h.Sum / float64(d.h.Count) * float64(time.Second))
			fmt.Fprintf(w, "    %-26s count %d mean %v\n", d.name, d.h.Count, mean.Round(time.Microsecond))
		}
	}
	if h := s.CheckpointBytes; h != nil && h.Count > 0 {
		fmt.Fprintf(w, "    %-26s count %d mean %.0f bytes\n", "checkpoint size", h.Count, h.Sum/float64(h.Count))
	}
}
