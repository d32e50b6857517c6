//go:build linux

package libtcptake

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestVMAdjust is host TestAdjust with the kernel module: the checkpoint
// is the module's atomic GET (the session never stops), the node's death
// a silent close with the tuple frozen by the module, and the peer's
// position comes from the module's record (PEER-GET) and the probe. After
// the checkpoint the server sends D bytes the client acknowledges and
// receives E bytes its kernel acknowledges: the restored session reports
// exactly OutgoingAhead = D and IncomingLost = E, and goes on byte-exact
// from the client's position, over IPv4 and IPv6, with and without
// timestamps.
func TestVMAdjust(t *testing.T) {
	needVM(t)
	for _, v6 := range []bool{false, true} {
		for _, ts := range []bool{true, false} {
			fam := "IPv4"
			if v6 {
				fam = "IPv6"
			}
			t.Run(fmt.Sprintf("%s/timestamps=%v", fam, ts), func(t *testing.T) { testVMAdjust(t, v6, ts) })
		}
	}
}

func testVMAdjust(t *testing.T, v6, ts bool) {
	const d, e = 3000, 1234
	ctx := vmCtx(t)
	n := newVMNet(t)
	if !ts {
		// net.ipv4.tcp_timestamps is IPv6's too.
		n.in(t, n.A, func() {
			if err := os.WriteFile("/proc/sys/net/ipv4/tcp_timestamps", []byte("0"), 0); err != nil {
				t.Fatal(err)
			}
		})
	}
	c, s, tu := n.tcpPairFamily(t, v6)
	if tu.Is6() != v6 {
		t.Fatalf("pair %s, want IPv6 %v", tu, v6)
	}
	opts := &Options{Freezer: &ModuleFreezer{C: n.client(t, n.B)}}
	info, err := getTCPInfo(fdOf(t, s))
	if err != nil || (info.options&tcpiOptTimestamps != 0) != ts {
		t.Fatalf("timestamps negotiated: options %#x (%v), want %v", info.options, err, ts)
	}
	queued := func(conn *net.TCPConn, req uint) int {
		v, _ := unix.IoctlGetInt(fdOf(t, conn), req)
		return v
	}
	settle := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5 s", what)
			}
		}
	}
	a, b := bytes.Repeat([]byte("a"), 1000), bytes.Repeat([]byte("b"), 1000)
	c.Write(a)
	s.Write(b)
	expectData(t, c, b, "client")
	settle("the first bytes acknowledged", func() bool {
		return queued(s, unix.SIOCOUTQ) == 0 && queued(s, unix.SIOCINQ) == len(a) && queued(c, unix.SIOCOUTQ) == 0
	})
	img, err := Checkpoint(ctx, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	dBytes, eBytes := bytes.Repeat([]byte("D"), d), bytes.Repeat([]byte("E"), e)
	s.Write(dBytes)
	expectData(t, c, dBytes, "client, D")
	c.Write(eBytes)
	settle("D and E acknowledged", func() bool {
		return queued(s, unix.SIOCOUTQ) == 0 && queued(c, unix.SIOCOUTQ) == 0 && queued(s, unix.SIOCINQ) == len(a)+e
	})
	// The node dies: its socket goes silently, the tuple frozen.
	sess, err := Stop(ctx, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	sess.Release()
	s.Close()
	adjOpts := *opts
	adjOpts.Adjust = true
	var restored *Session
	var conn *net.TCPConn
	n.in(t, n.B, func() {
		if restored, err = Set(ctx, img, &adjOpts); err == nil {
			conn, err = restored.Restart(ctx)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	adj := restored.Adjustment()
	t.Logf("adjustment: %+v", adj)
	if adj == nil || !adj.Answered || adj.OutgoingAhead != d || adj.IncomingLost != e || adj.Acked != 0 {
		t.Fatalf("adjustment %+v, want OutgoingAhead %d, IncomingLost %d", adj, d, e)
	}
	if ts != (adj.TSValMoved >= 300) {
		t.Errorf("TSval moved by %d (timestamps %v)", adj.TSValMoved, ts)
	}
	expectData(t, conn, a, "restored server: the checkpoint's unread bytes")
	c.Write([]byte("after"))
	expectData(t, conn, []byte("after"), "restored server: after the gap")
	conn.Write([]byte("onwards"))
	expectData(t, c, []byte("onwards"), "client: after D")
}
