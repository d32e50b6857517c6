package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // the operation failed
	exitUsage  = 2 // bad flags, arguments or command
)

// usageError is a bad command line. It is printed with a hint at the help
// of the command that rejected it, and exits with status 2.
type usageError struct {
	cmd   string // "tcptakectl image inspect"
	usage string // the first line of its usage text
	msg   string
}

func (e *usageError) Error() string { return e.msg }

// noArgs is the usage error of a verb that takes no arguments, if c has any.
func noArgs(c *cli.Context, verb string) error {
	if c.NArg() > 0 {
		return usageErrorf(c, "%s takes no arguments, got %q", verb, c.Args().First())
	}
	return nil
}

// usageErrorf returns a usage error of the command running in c.
func usageErrorf(c *cli.Context, format string, a ...any) error {
	usage := c.App.UsageText
	if c.Command != nil && c.Command.UsageText != "" {
		usage = c.Command.UsageText
	}
	usage, _, _ = strings.Cut(usage, "\n")
	return &usageError{cmd: commandPath(c), usage: usage, msg: fmt.Sprintf(format, a...)}
}

// onUsageError turns urfave/cli's flag parsing errors into usage errors.
func onUsageError(c *cli.Context, err error, _ bool) error {
	return usageErrorf(c, "%v", err)
}

// commandPath is the full name of the command running in c, e.g.
// "tcptakectl session list".
func commandPath(c *cli.Context) string {
	var names []string
	for _, cc := range c.Lineage() {
		if cc.Command != nil && cc.Command.Name != "" {
			names = append(names, cc.Command.Name)
		}
	}
	slices.Reverse(names)
	if len(names) == 0 || names[0] != "tcptakectl" {
		names = append([]string{"tcptakectl"}, names...)
	}
	return strings.Join(names, " ")
}

// opError is an operation that failed: it prints as
// "tcptakectl: what: why; todo" and exits with status 1.
type opError struct {
	what  string // what failed: "open image.bin", "list sessions"; may be empty
	err   error  // why
	todo  string // what to do about it; may be empty
	cause error  // the error err was made of, if not err itself
}

func (e *opError) Error() string {
	s := reason(e.err)
	if e.what != "" {
		s = e.what + ": " + s
	}
	if e.todo != "" {
		s += "; " + e.todo
	}
	return s
}

func (e *opError) Unwrap() error {
	if e.cause != nil {
		return e.cause
	}
	return e.err
}

// failed returns the error of an operation that failed.
func failed(what string, err error, todo string) error {
	return &opError{what: what, err: err, todo: todo}
}

// reason is err's text for the "why" part of a message: without the
// "tcptake: " prefix of libtcptake errors, and without the path of
// *fs.PathError (the "what" part names the file).
func reason(err error) string {
	if err == nil {
		return "unknown error"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err != nil {
		err = pe.Err
	}
	return strings.TrimPrefix(oneLine(err.Error()), "tcptake: ")
}

// oneLine keeps a message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// exitStatus prints err, if any, on stderr and returns the exit status.
func exitStatus(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var oe *opError
	var ec cli.ExitCoder
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "tcptakectl: %s\n", oneLine(ue.msg))
		if ue.usage != "" {
			fmt.Fprintf(stderr, "Usage: %s\n", ue.usage)
		}
		fmt.Fprintf(stderr, "Run '%s --help' for more.\n", ue.cmd)
		return exitUsage
	case errors.As(err, &oe):
		fmt.Fprintf(stderr, "tcptakectl: %s\n", oe.Error())
		return exitFailed
	case errors.As(err, &ec):
		// urfave/cli's own errors: "No help topic for 'x'" (3) and
		// the like are usage errors.
		if msg := oneLine(err.Error()); msg != "" {
			fmt.Fprintf(stderr, "tcptakectl: %s\n", msg)
		}
		switch code := ec.ExitCode(); code {
		case exitOK, exitFailed:
			return code
		}
		return exitUsage
	}
	fmt.Fprintf(stderr, "tcptakectl: %s\n", reason(err))
	return exitFailed
}

// globalFlags are the options of every command: they may be given before
// the OBJECT, after it, or after the VERB.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "json", Aliases: []string{"j"}, Usage: "print JSON", DisableDefaultText: true},
		&cli.StringFlag{Name: "netns", Aliases: []string{"n"}, Usage: "work in network namespace `NETNS`"},
	}
}

// misplacedFlag returns a usage error when an argument of c is one of the
// options of the command line, given after the positional arguments where
// urfave/cli no longer parses options.
func misplacedFlag(c *cli.Context, what string) error {
	for _, a := range c.Args().Slice() {
		for _, f := range c.Command.Flags {
			for _, n := range f.Names() {
				if a == "-"+n || a == "--"+n || strings.HasPrefix(a, "--"+n+"=") || strings.HasPrefix(a, "-"+n+"=") {
					return usageErrorf(c, "option %q must come before the %s", a, what)
				}
			}
		}
	}
	return nil
}

// globals are the global options in effect for a command.
type globals struct {
	json  bool
	netns string // "" for the current namespace
}

// globalsOf collects the global options given at any level of the command
// line; the one nearest to the verb wins.
func globalsOf(c *cli.Context) globals {
	var g globals
	var jsonSet, netnsSet bool
	for _, cc := range c.Lineage() {
		if cc.Command == nil { // the outermost context has no flags
			continue
		}
		for _, name := range cc.LocalFlagNames() {
			switch name {
			case "json", "j":
				if !jsonSet {
					g.json, jsonSet = cc.Bool("json"), true
				}
			case "netns", "n":
				if !netnsSet {
					g.netns, netnsSet = cc.String("netns"), true
				}
			}
		}
	}
	return g
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return failed("write JSON", err, "")
	}
	return nil
}

// hexDump writes at most limit bytes of b as a canonical hex dump
// indented by indent, with a note when b is longer.
func hexDump(w io.Writer, indent string, b []byte, limit int) {
	shown := b
	if len(shown) > limit {
		shown = shown[:limit]
	}
	for _, line := range strings.SplitAfter(hex.Dump(shown), "\n") {
		if line != "" {
			fmt.Fprint(w, indent, line)
		}
	}
	if len(b) > limit {
		fmt.Fprintf(w, "%s... %d more bytes (%d in all)\n", indent, len(b)-limit, len(b))
	}
}
