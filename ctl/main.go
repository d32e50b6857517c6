// Command tcptakectl inspects and moves live TCP sessions.
//
// Its grammar is the one of ip(8):
//
//	tcptakectl [-j|--json] [-n|--netns NETNS] OBJECT VERB [ARGS]
//
// Objects and verbs:
//
//	tcptakectl session list [FILTER]
//	tcptakectl session get [-o FILE] TUPLE [buffers]
//	tcptakectl session set TUPLE FIELD N [FIELD N]...
//	tcptakectl freeze add TUPLE [timeout DURATION] [replace]
//	tcptakectl freeze del TUPLE [kick]
//	tcptakectl freeze show [FILTER]
//	tcptakectl freeze peer TUPLE
//	tcptakectl image inspect [-d|--data] FILE...
//	tcptakectl module status
//	tcptakectl module monitor
//	tcptakectl version
//	tcptakectl node status --control PATH
//	tcptakectl node switchover --control PATH
//	tcptakectl node checkpoint --control PATH
//	tcptakectl node takeover --control PATH
//	tcptakectl node standby --control PATH
//	tcptakectl keygen OUT
//	tcptakectl help [OBJECT [VERB]]
//
// session list shows the TCP sessions tcptake can move; session get
// snapshots one through the kernel module (buffers: with its queue bytes;
// -o: as an image file) and session set sets its kernel-only state while
// its socket is in repair mode. A freeze drops the packets of a 4-tuple in
// both directions until it is deleted or its timeout (DURATION, default
// 10s, at most 10m) ends; it names a tuple, not a socket, so it can exist
// before the socket does. freeze add ... replace re-arms a freeze, freeze
// del ... kick makes both ends send at once what the freeze held back,
// freeze show lists the freezes and freeze peer the segments the peer
// sent to a frozen tuple. image inspect decodes session images ("-" is
// stdin); module status and module monitor report on the kernel module.
// An OBJECT given alone runs its default verb when it has one (session:
// list, freeze: show, module: status).
//
// Every verb that names a session, or a frozen tuple, takes the same
// TUPLE, and the verbs that list take a FILTER with the same keywords, in
// the style of ip(8) and ss(8):
//
//	TUPLE   := local ADDR:PORT remote ADDR:PORT
//	FILTER  := [local PATTERN] [remote PATTERN]
//	PATTERN := { ADDR[/LEN] | ADDR:PORT | [ADDR[/LEN]]:PORT | :PORT }
//	FIELD   := { ts-recent | srtt-us | mdev-us | rto-us | cwnd | ssthresh }
//
// local and remote are the ends as the node that owns the session sees
// them. IPv6 with a port is written [ADDR]:PORT; a link-local address
// takes its interface as zone: [fe80::1%eth0]:22 (with -n, the interface
// index: [fe80::1%2]:22). The keywords may come in any order.
//
// The global options may also follow the OBJECT or the VERB (before the
// VERB's arguments):
//
//	-j, --json          print JSON instead of text; keys are the attribute
//	                    names of uapi/tcptake.yaml with "-" replaced by "_"
//	-n, --netns NETNS   work in the network namespace /run/netns/NETNS (or
//	                    in the namespace file NETNS when it is an absolute path)
//
// image inspect --data dumps the first 256 bytes of each queue in text mode
// and all of them, in hex, in JSON.
//
// Exit status: 0 success, 1 the operation failed (one line on stderr:
// "tcptakectl: what failed: why; what to do"), 2 usage error (with the
// usage of the command).
//
// The man page tcptakectl(8) and the bash and zsh completions in dist/ are
// made from the command definitions (docs.go; 'make generate').
package main

import (
	"context"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version string

func main() {
	os.Exit(run(context.Background(), os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	return exitStatus(stderr, app.RunContext(ctx, args))
}

// newApp builds the command tree. It is built anew for each run because
// urfave/cli keeps per-run state in the flag values.
func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:        "tcptakectl",
		Usage:       "inspect and move live TCP sessions",
		Version:     buildVersion(),
		HideVersion: true, // "tcptakectl version" instead of a -v flag
		// With a "help" command of its own, the app must add -h itself.
		Flags: append(globalFlags(),
			&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help", DisableDefaultText: true}),
		Commands: []*cli.Command{
			sessionCommand(),
			freezeCommand(),
			imageCommand(),
			moduleCommand(),
			versionCommand(),
			nodeCommand(),
			keygenCommand(),
			helpCommand(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf(c, "unknown object %q (want %s)", c.Args().First(), objectList(c.App.Commands))
			}
			return cli.ShowAppHelp(c)
		},
		OnUsageError: onUsageError,
		// Errors are printed and mapped to exit codes by exitStatus,
		// never by urfave/cli (which would call os.Exit).
		ExitErrHandler: func(*cli.Context, error) {},
		Reader:         stdin,
		Writer:         stdout,
		ErrWriter:      stderr,
	}
	prepareCommands(app.Commands)
	app.UsageText = "tcptakectl [-j|--json] [-n|--netns NETNS] OBJECT VERB [ARGS]\n\n" +
		strings.Join(synopses(app.Commands), "\n")
	app.Description = "OBJECT is " + objectList(app.Commands) +
		"; run 'tcptakectl OBJECT --help' for its verbs.\n" + tupleUsage + "\n" + filterUsage
	return app
}

// prepareCommands gives every command of the tree the global flags, the
// usage-error handler and, for commands with verbs, an action that rejects
// unknown verbs and a usage text that lists every verb.
func prepareCommands(cmds []*cli.Command) {
	for _, cmd := range cmds {
		cmd.Flags = append(cmd.Flags, globalFlags()...)
		if cmd.OnUsageError == nil {
			cmd.OnUsageError = onUsageError
		}
		if len(cmd.Subcommands) == 0 {
			continue
		}
		if cmd.Action == nil {
			cmd.Action = verbAction
		}
		if cmd.UsageText == "" {
			var verbs []string
			for _, v := range cmd.Subcommands {
				verbs = append(verbs, v.Name)
			}
			cmd.UsageText = "tcptakectl [-j] [-n NETNS] " + cmd.Name + " { " + strings.Join(verbs, " | ") + " | help } [ARGS]\n\n" +
				strings.Join(synopses([]*cli.Command{cmd}), "\n")
		}
		prepareCommands(cmd.Subcommands)
	}
}

// globalOptsRE is the global options that the usage texts of the verbs
// show after the program's name.
var globalOptsRE = regexp.MustCompile(`^tcptakectl( \[[^]]*\])* `)

// synopses are the first lines of the usage texts of the verbs of cmds
// (of cmds themselves when they have no verbs), without the global
// options: "tcptakectl session list [FILTER]".
func synopses(cmds []*cli.Command) []string {
	var out []string
	for _, cmd := range cmds {
		if cmd.Hidden {
			continue
		}
		if len(cmd.Subcommands) > 0 {
			out = append(out, synopses(cmd.Subcommands)...)
			continue
		}
		first, _, _ := strings.Cut(cmd.UsageText, "\n")
		out = append(out, globalOptsRE.ReplaceAllString(first, "tcptakectl "))
	}
	return out
}

// objectList names the objects: "session, freeze, image, module or version".
func objectList(cmds []*cli.Command) string {
	var names []string
	for _, cmd := range cmds {
		if cmd.Name != "help" && !cmd.Hidden {
			names = append(names, cmd.Name)
		}
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// verbAction runs for an object given without a known verb: help when no
// verb is given, a usage error for an unknown one.
func verbAction(c *cli.Context) error {
	if c.NArg() > 0 {
		verb := c.Args().First()
		if now, ok := movedVerbs[c.Command.Name+" "+verb]; ok {
			return usageErrorf(c, "unknown verb %q for %s; freezes are their own object now: 'tcptakectl %s'", verb, c.Command.Name, now)
		}
		return usageErrorf(c, "unknown verb %q for %s", verb, c.Command.Name)
	}
	return cli.ShowSubcommandHelp(c)
}

// movedVerbs are the verbs of older releases that name a freeze, and
// what they are now.
var movedVerbs = map[string]string{
	"session freeze": "freeze add",
	"session thaw":   "freeze del",
	"session frozen": "freeze show",
	"session peer":   "freeze peer",
}

// helpCommand replaces urfave/cli's "help", which shows only part of the
// help of a command with verbs: "help OBJECT [VERB]" runs
// "OBJECT [VERB] --help".
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "show the help of tcptakectl or of an OBJECT [VERB]",
		UsageText: "tcptakectl help [OBJECT [VERB]]",
		Action: func(c *cli.Context) error {
			args := c.Args().Slice()
			if len(args) == 0 {
				return cli.ShowAppHelp(c)
			}
			if c.App.Command(args[0]) == nil {
				return usageErrorf(c, "no help topic %q", args[0])
			}
			argv := append(append([]string{c.App.Name}, args...), "--help")
			return c.App.RunContext(c.Context, argv)
		},
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
