//go:build linux

// Command rateserver is the tcptake demo server: a tiny HTTP server whose
// downloads survive a move to another node.
//
// GET /body?size=N answers N deterministic bytes (node.Body) at -rate
// bytes per second. On SIGUSR1 it stops every live download, takes its
// session image with the download's position as application state, and
// hands them to the -peer process, which restarts them and finishes the
// downloads; the service address (-vip) moves along. See ci/demo.sh.
//
//	rateserver -listen 192.0.2.100:8080 -vip 192.0.2.100/24@eth0 \
//	    -handoff /run/act.sock -peer /run/sby.sock -rate 1048576
//
// rateserver -sha256 N prints the sha256 of the N-byte body and exits, so
// a client can check what it downloaded.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"

	"github.com/tcptake/tcptake/examples/node"
)

func main() {
	rate := flag.Int("rate", 1<<20, "bytes per second per download (0: unlimited)")
	sum := flag.Int64("sha256", -1, "print the sha256 of the `N`-byte body and exit")
	node.Main(func() node.Service {
		if *sum >= 0 {
			h := sha256.New()
			buf := make([]byte, 1<<20)
			for off := int64(0); off < *sum; off += int64(len(buf)) {
				b := buf[:min(int64(len(buf)), *sum-off)]
				node.Body(off, b)
				h.Write(b)
			}
			fmt.Printf("%x\n", h.Sum(nil))
			return nil
		}
		return node.RateBody{Rate: *rate}
	})
}
