package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/tcptake/tcptake/ha"
	"github.com/urfave/cli/v2"
)

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "write a node's private key for the sync link and print its public key",
		UsageText: "tcptakectl [-j] keygen OUT\n\n" +
			"OUT is created with mode 0600 (never overwritten). The public key is\n" +
			"printed on one line: give it to the peer node's --peer-key.",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageErrorf(c, "keygen takes one argument, the key file OUT")
			}
			out := c.Args().First()
			pub, err := ha.GenerateKey(out)
			if errors.Is(err, fs.ErrExist) {
				return failed("write key "+out, err, "remove it first or choose another file")
			}
			if err != nil {
				return failed("write key "+out, err, "")
			}
			line := ha.FormatPublicKey(pub)
			if globalsOf(c).json {
				return writeJSON(c.App.Writer, struct {
					Key       string `json:"key"`
					PublicKey string `json:"public_key"`
				}{out, line})
			}
			_, err = fmt.Fprintln(c.App.Writer, line)
			return err
		},
	}
}
