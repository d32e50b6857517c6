package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/tcptake/tcptake/libtcptake"
)

// dataLimit is how many bytes of each queue "image inspect --data" dumps in
// text mode. JSON carries all the bytes.
const dataLimit = 256

func imageCommand() *cli.Command {
	return &cli.Command{
		Name:  "image",
		Usage: "session image files (checkpoint streams)",
		Subcommands: []*cli.Command{{
			Name:  "inspect",
			Usage: "decode and print session images",
			UsageText: "tcptakectl [-j] image inspect [-d|--data] FILE...\n\n" +
				"FILE holds one or more framed images back to back; \"-\" is standard input.",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "data", Aliases: []string{"d"}, Usage: "also dump the queue and application-state bytes", DisableDefaultText: true},
			},
			Action: imageInspect,
		}},
	}
}

// inspected is one decoded image and where it came from.
type inspected struct {
	file  string
	index int // position in the file's stream, from 0
	img   *libtcptake.Image
}

func imageInspect(c *cli.Context) error {
	files := c.Args().Slice()
	if len(files) == 0 {
		return usageErrorf(c, "image inspect needs at least one FILE (\"-\" for standard input)")
	}
	if err := misplacedFlag(c, "files"); err != nil {
		return err
	}
	stdin := 0
	for _, f := range files {
		if f == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return usageErrorf(c, "standard input (\"-\") can be read only once")
	}
	g := globalsOf(c)
	data := c.Bool("data")
	w := c.App.Writer

	// Text streams: each image is printed as soon as it is decoded, so a
	// damaged stream still shows its good images. JSON is one array,
	// printed only when every file decoded.
	var all []inspected
	printed := 0
	emit := func(in inspected) error {
		if g.json {
			all = append(all, in)
			return nil
		}
		if printed > 0 {
			fmt.Fprintln(w) // a blank line between blocks
		}
		printImage(w, in, data)
		printed++
		return nil
	}
	for _, f := range files {
		if err := readImages(c, f, emit); err != nil {
			return err
		}
	}
	if !g.json {
		return nil
	}
	out := make([]imageJSON, 0, len(all))
	for _, in := range all {
		out = append(out, newImageJSON(in, data))
	}
	return writeJSON(w, out)
}

// readImages decodes every image of file and hands it to emit.
func readImages(c *cli.Context, file string, emit func(inspected) error) error {
	var r io.Reader
	name := file
	if file == "-" {
		name = "standard input"
		r = c.App.Reader
		if r == nil {
			r = os.Stdin
		}
	} else {
		f, err := os.Open(file)
		if err != nil {
			return failed("open "+file, err, "check the file name")
		}
		defer f.Close()
		r = f
	}
	br := bufio.NewReaderSize(r, 64<<10)
	for i := 0; ; i++ {
		img, err := libtcptake.ReadImage(br)
		// io.EOF itself, not wrapped, is the clean end of a stream.
		if err == io.EOF && i > 0 {
			return nil
		}
		if err == io.EOF {
			return failed("read "+name, errors.New("empty, no session image"),
				"check that it is a tcptake image file")
		}
		if err != nil {
			what := "read " + name
			if i > 0 {
				what = fmt.Sprintf("read %s: image %d", name, i)
			}
			// "tcptake: decode: bad session image: ..." says "decode"
			// twice over: keep the reason.
			var le *libtcptake.Error
			if errors.As(err, &le) && le.Session == "" && le.Message == "" && le.Err != nil {
				err = le.Err
			}
			return failed(what, err, "check that it is a tcptake image file and was copied completely")
		}
		if err := emit(inspected{file: file, index: i, img: img}); err != nil {
			return err
		}
	}
}
