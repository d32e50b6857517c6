//go:build linux

// Command echoserver sends back what it receives, and can move its live
// sessions to a peer process on SIGUSR1 (same flags as rateserver). Bytes
// read but not yet echoed travel as the session's application state.
//
//	echoserver -listen 192.0.2.100:7 -vip 192.0.2.100/24@eth0 \
//	    -handoff /run/act.sock -peer /run/sby.sock -rate 1048576
package main

import (
	"flag"

	"github.com/tcptake/tcptake/examples/node"
)

func main() {
	rate := flag.Int("rate", 0, "bytes per second per session (0: unlimited)")
	node.Main(func() node.Service { return node.Echo{Rate: *rate} })
}
