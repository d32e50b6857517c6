package main

// The "module" object, and the client of the tcptake kernel module that
// the verbs of session and freeze use.
//
//	tcptakectl module status
//	tcptakectl module monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/tcptake/tcptake/libtcptake"
)

// moduleCommand is the "module" object.
func moduleCommand() *cli.Command {
	return &cli.Command{
		Name:  "module",
		Usage: "the tcptake kernel module (default verb: status)",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return verbAction(c)
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
		if g.json && moduleNotLoaded(err) { // say so on stdout too
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
