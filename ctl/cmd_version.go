package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "print the version of tcptakectl",
		UsageText: "tcptakectl [-j] version",
		Action: func(c *cli.Context) error {
			if err := noArgs(c, "version"); err != nil {
				return err
			}
			v := buildVersion()
			if globalsOf(c).json {
				return writeJSON(c.App.Writer, struct {
					Version string `json:"version"`
				}{v})
			}
			_, err := fmt.Fprintf(c.App.Writer, "tcptakectl %s\n", v)
			return err
		},
	}
}
