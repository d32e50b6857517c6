//go:build linux

package host

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcptake/tcptake/tests/host/topo"
)

// TestTopology checks the test bed itself: the client reaches the service
// address on act, and right after MoveServiceIP (no neighbour flush on the
// client: the gratuitous ARP / unsolicited NA must do it) on sby, and back.
func TestTopology(t *testing.T) {
	e := newEnv(t)
	for _, ns := range []*topo.Netns{e.Act, e.Sby} {
		var l *net.TCPListener
		if err := ns.Do(func() (err error) {
			l, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.IPv6Unspecified(), 9)))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Write([]byte(ns.Role))
				c.Close()
			}
		}()
	}
	for _, v6 := range []bool{false, true} {
		// who asks the service address who it is, and waits until the
		// connection is fully closed on both ends: moving the address while
		// a FIN is in flight would draw a (legitimate) RST from the node
		// that no longer has the socket.
		who := func() string {
			c := dial(t, e.Cli, vip(v6, 9))
			b, err := readAll(c, 5*time.Second)
			if err != nil {
				t.Fatalf("%s: read: %v", family(v6), err)
			}
			c.Close()
			waitFor(t, 5*time.Second, "the client's socket to close", func() bool {
				for _, l := range strings.Split(e.Cli.Run("ss", "-tanH"), "\n") {
					if strings.Contains(l, ":9 ") && !strings.HasPrefix(l, "TIME-WAIT") {
						return false
					}
				}
				return true
			})
			return string(b)
		}
		if got := who(); got != "act" {
			t.Fatalf("%s: service address answered by %q before the move, want act", family(v6), got)
		}
		if err := e.MoveServiceIP(e.Act, e.Sby); err != nil {
			t.Fatal(err)
		}
		if got := who(); got != "sby" {
			t.Fatalf("%s: service address answered by %q after the move, want sby", family(v6), got)
		}
		if err := e.MoveServiceIP(e.Sby, e.Act); err != nil {
			t.Fatal(err)
		}
		if got := who(); got != "act" {
			t.Fatalf("%s: service address answered by %q after moving back, want act", family(v6), got)
		}
	}
	out := e.Cli.Run("ip", "neigh", "show")
	if !strings.Contains(out, "192.0.2.100") || !strings.Contains(out, "2001:db8::100") {
		t.Errorf("client has no neighbour entries for the service addresses:\n%s", out)
	}
	e.checkNoRST()
}
