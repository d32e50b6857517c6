package main

import (
	"errors"
	"fmt"
	"io"
	"os"
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
				Name:      "status",
				Aliases:   []string{"show"},
				Usage:     "show the node's role, epoch, sync link and tracked sessions",
				UsageText: "tcptakectl [-j] node status --control PATH",
				Flags:     []cli.Flag{control},
				Action:    func(c *cli.Context) error { return nodeDo(c, "status") },
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
		case op == "switchover":
			todo = "see 'tcptakectl node status --control " + path + "'"
		}
		return failed("node "+op, err, todo)
	}
	if globalsOf(c).json {
		if op == "status" {
			return writeJSON(c.App.Writer, resp.Status)
		}
		return writeJSON(c.App.Writer, resp.Report)
	}
	if op == "status" {
		printStatus(c.App.Writer, resp.Status)
	} else {
		printReport(c.App.Writer, resp.Report)
	}
	return nil
}

func printStatus(w io.Writer, s *ha.Status) {
	fmt.Fprintf(w, "role %s epoch %d sessions %d\n", s.Role, s.Epoch, s.Sessions)
	if p := s.Peer; p != nil {
		fmt.Fprintf(w, "peer %s role %s epoch %d up since %s\n", p.Address, p.Role, p.Epoch, p.Since.Format(time.RFC3339))
	} else {
		fmt.Fprintln(w, "peer down")
	}
	if s.LinkErr != "" {
		fmt.Fprintf(w, "    last link error: %s\n", s.LinkErr)
	}
	if s.InDoubt > 0 {
		fmt.Fprintf(w, "in doubt: %d sessions held frozen until the peer reconnects\n", s.InDoubt)
	}
	if s.Last != nil {
		fmt.Fprint(w, "last switchover:\n")
		printReport(w, s.Last)
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
