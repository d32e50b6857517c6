package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

// netnsDir is where ip-netns(8) keeps its named network namespaces.
const netnsDir = "/run/netns"

var errNotNetNS = errors.New("not a network namespace")

// openNetNS opens the network namespace of the -n option: a name under
// /run/netns, or an absolute path such as /proc/PID/ns/net. It returns nil
// when no namespace was asked for. The caller closes the file.
func openNetNS(c *cli.Context) (*os.File, error) {
	name := globalsOf(c).netns
	if name == "" {
		return nil, nil
	}
	path := name
	if !filepath.IsAbs(name) {
		if name == "." || name == ".." || strings.ContainsRune(name, '/') {
			return nil, usageErrorf(c, "bad network namespace name %q", name)
		}
		path = filepath.Join(netnsDir, name)
	}
	f, err := os.Open(path)
	if err == nil {
		err = checkNetNS(f)
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		return nil, failed("open network namespace "+name, err,
			"check its name with 'ip netns list'")
	}
	return f, nil
}
