// Command tcptakectl inspects and moves live TCP sessions.
//
// Its grammar is the one of ip(8):
//
//	tcptakectl [-j|--json] [-n|--netns NETNS] OBJECT VERB [ARGS]
//
// Objects and verbs:
//
//	tcptakectl image inspect [-d|--data] FILE...   decode session images ("-" is stdin)
//	tcptakectl session list [FILTER...]            TCP sessions tcptake can move
//	tcptakectl module status                       the tcptake kernel module
//	tcptakectl version                             print the version
//	tcptakectl help [OBJECT [VERB]]                help ("-h" and "--help" work too)
//
// A FILTER of session list is "sport PORT", "dport PORT", "src ADDR[/LEN]" or
// "dst ADDR[/LEN]"; several filters must all match. An OBJECT given alone
// runs its default verb when it has one (session: list, module: status).
//
// The global options may also follow the OBJECT or the VERB (before the
// VERB's arguments):
//
//	-j, --json          print JSON instead of text; keys are the attribute
//	                    names of uapi/tcptake.yaml with "-" replaced by "_"
//	-n, --netns NETNS   work in the network namespace /run/netns/NETNS (or
//	                    in the namespace file NETNS when it is an absolute path);
//	                    used by the verbs that talk to the kernel
//
// image inspect --data dumps the first 256 bytes of each queue in text mode
// and all of them, in hex, in JSON.
//
// Exit status: 0 success, 1 the operation failed (one line on stderr:
// "tcptakectl: what failed: why; what to do"), 2 usage error.
package main

import (
	"context"
	"io"
	"os"
	"runtime/debug"

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
		Name:      "tcptakectl",
		Usage:     "inspect and move live TCP sessions",
		UsageText: "tcptakectl [-j|--json] [-n|--netns NETNS] OBJECT VERB [ARGS]",
		Description: "OBJECT is image, session, module or version; " +
			"run 'tcptakectl OBJECT --help' for its verbs.",
		Version:     buildVersion(),
		HideVersion: true, // "tcptakectl version" instead of a -v flag
		// With a "help" command of its own, the app must add -h itself.
		Flags: append(globalFlags(),
			&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help", DisableDefaultText: true}),
		Commands: []*cli.Command{
			imageCommand(),
			sessionCommand(),
			moduleCommand(),
			versionCommand(),
			nodeCommand(),
			keygenCommand(),
			helpCommand(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf(c, "unknown object %q (want image, session, module or version)", c.Args().First())
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
	return app
}

// prepareCommands gives every command of the tree the global flags, the
// usage-error handler and, for commands with verbs, an action that rejects
// unknown verbs.
func prepareCommands(cmds []*cli.Command) {
	for _, cmd := range cmds {
		if cmd == nil {
			continue
		}
		cmd.Flags = append(cmd.Flags, globalFlags()...)
		if cmd.OnUsageError == nil {
			cmd.OnUsageError = onUsageError
		}
		if len(cmd.Subcommands) > 0 && cmd.Action == nil {
			cmd.Action = verbAction
		}
		prepareCommands(cmd.Subcommands)
	}
}

// verbAction runs for an object given without a known verb: help when no
// verb is given, a usage error for an unknown one.
func verbAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf(c, "unknown verb %q for %s", c.Args().First(), c.Command.Name)
	}
	return cli.ShowSubcommandHelp(c)
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
