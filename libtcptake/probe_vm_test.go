//go:build linux

package libtcptake

import (
	"testing"
	"time"
)

// TestVMProbeFromRecord: where packet sockets are not to be had, the
// answers to the probes come from the module's record of the segments its
// freeze dropped (PEER-GET): the peer's duplicate ACK carries its rcv_nxt.
func TestVMProbeFromRecord(t *testing.T) {
	needVM(t)
	ctx := vmCtx(t)
	n := newVMNet(t)
	c, s, _ := n.tcpPair(t)
	mc := n.client(t, n.B)
	s.Write([]byte("data"))
	expectData(t, c, []byte("data"), "client")
	sess, err := Stop(ctx, s, &Options{Freezer: &ModuleFreezer{C: mc}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := sess.Get()
	if err != nil {
		t.Fatal(err)
	}
	sess.img = img // as a restored session has it
	var acks []uint32
	n.in(t, n.B, func() {
		probeAll(ctx, moduleRecord{mc}, []*Session{sess}, func(_ *Session, seg Segment) { acks = append(acks, seg.Ack) }, time.Second)
	})
	if len(acks) == 0 || acks[len(acks)-1] != img.SndNxt {
		t.Fatalf("answers' acks %v, want the peer's rcv_nxt %d", acks, img.SndNxt)
	}
	sess.img = nil
	conn, err := sess.Restart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("more"))
	expectData(t, c, []byte("more"), "client after the restart")
}
