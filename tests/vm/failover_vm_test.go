//go:build linux

package vm

import (
	"context"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"golang.org/x/sys/unix"

	"github.com/tcptake/tcptake/ha"
)

// TestVMFailover: the active checkpoints an echo session every 20 ms with
// the module; once the session is idle, each checkpoint finds it
// unchanged (the module leaves it out of its dump: libtcptake's
// CheckpointSince) and sends a 9-byte "same" entry. Then the active dies
// (its link down first, so that its closing sockets reach no one); the
// standby takes over from the last checkpoint, finds the peer where the
// checkpoint left it and keeps the session, which goes on byte-exact.
func TestVMFailover(t *testing.T) {
	streamd := streamdPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	act, sby := startPair(t, streamd, "--echo-listen", netip.AddrPortFrom(vip6, 9000).String(),
		"--vip", vip6.String()+"/64@eth0", "--checkpoint-interval", "20ms", "-v")
	waitLinked(ctx, t, act)

	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(vip6, 9000).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echoOnce(t, c, "before the failover")
	status := func(n *node) *ha.Status {
		resp, err := ha.Control(ctx, n.ctl, ha.ControlRequest{Op: "status"})
		if err != nil || resp.Status == nil {
			t.Fatalf("status of %s: %v %+v", n.name, err, resp)
		}
		return resp.Status
	}
	var count uint64
	waitFor(t, 20*time.Second, "checkpoints of the idle session", func() bool {
		ck := status(act).Checkpoint
		if ck == nil || ck.Sessions != 1 || ck.Bytes != 12+9 {
			return false
		}
		if count == 0 {
			count = ck.Count
		}
		return ck.Count >= count+3 // three in a row, each a "same" entry
	})
	waitFor(t, 10*time.Second, "the standby's checkpoint", func() bool {
		ck := status(sby).Checkpoint
		return ck != nil && ck.Sessions == 1
	})

	rt := dialRtnl(t, -1)
	linkDown(t, rt, linkIndex(t, rt, "act0"))
	if err := syscall.Kill(act.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	resp, err := ha.Control(ctx, sby.ctl, ha.ControlRequest{Op: "takeover"})
	if err != nil || resp.Error != "" || resp.Takeover == nil {
		t.Fatalf("takeover: %v %+v", err, resp)
	}
	rep := resp.Takeover
	t.Logf("takeover: %d sessions, %d kept, %d reconciled, %d closed, %d no answer; set %v, address %v, restart %v",
		rep.Sessions, rep.Kept, rep.Reconciled, rep.Closed, rep.NoAnswer, rep.Set, rep.AddressUp, rep.Restart)
	if rep.Sessions != 1 || rep.Kept != 1 || rep.Failed != 0 || rep.NoAnswer != 0 {
		t.Fatalf("takeover report %+v, want the session kept", *rep)
	}
	echoOnce(t, c, "after the failover")
}

// echoOnce sends a line on c and reads it back whole.
func echoOnce(t *testing.T, c net.Conn, what string) {
	t.Helper()
	msg := []byte("ping " + what + "\n")
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("echo %s: %v", what, err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
		t.Fatalf("echo %s: %q, %v; want %q", what, got, err, msg)
	}
}

func linkDown(t *testing.T, c *rtnetlink.Conn, index uint32) {
	t.Helper()
	if err := c.Link.Set(&rtnetlink.LinkMessage{Index: index, Change: unix.IFF_UP}); err != nil {
		t.Fatalf("link %d down: %v", index, err)
	}
}
