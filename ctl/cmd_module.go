package main

// This file is a placeholder: the module-backed verbs (session freeze, get,
// thaw, set, peer and module status) replace it.

import (
	"errors"

	"github.com/urfave/cli/v2"
)

// sessionModuleCommands are the session verbs that need the tcptake kernel
// module.
func sessionModuleCommands() []*cli.Command { return nil }

// moduleCommand is the "module" object.
func moduleCommand() *cli.Command {
	return &cli.Command{
		Name:      "module",
		Usage:     "the tcptake kernel module",
		UsageText: "tcptakectl [-j] [-n NETNS] module status",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf(c, "unknown verb %q for module", c.Args().First())
			}
			return moduleStatus(c)
		},
		Subcommands: []*cli.Command{{
			Name:      "status",
			Usage:     "report whether the module is loaded, its version and limits",
			UsageText: "tcptakectl [-j] [-n NETNS] module status",
			Action:    moduleStatus,
		}},
	}
}

func moduleStatus(c *cli.Context) error {
	return failed("module status", errors.New("tcptake module: not available"),
		"this tcptakectl has no module support yet")
}
