//go:build linux

package libtcptake

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestVMMigrate moves the server side of a session to a new socket with
// the kernel module as the freezer: FREEZE at Stop, GET for the fields
// TCP_REPAIR cannot read, SET of them on the restored socket, THAW with a
// kick at Restart. Bytes the client sent while the session was frozen
// reach the restored server; every byte arrives once both ways.
func TestVMMigrate(t *testing.T) {
	needVM(t)
	ctx := vmCtx(t)
	n := newVMNet(t)
	c, s, _ := n.tcpPair(t)
	opts := &Options{Freezer: &ModuleFreezer{C: n.client(t, n.B)}}

	// A locked buffer size travels only through the module.
	if err := s.SetReadBuffer(1 << 18); err != nil {
		t.Fatal(err)
	}
	rcvbuf, err := unix.GetsockoptInt(fdOf(t, s), unix.SOL_SOCKET, unix.SO_RCVBUF)
	if err != nil {
		t.Fatal(err)
	}
	// The server's RTT sample: from acknowledged data, not only the
	// handshake (whose sample may round to 0 µs, or be missing on a slow
	// debug kernel).
	s.Write([]byte("rtt"))
	expectData(t, c, []byte("rtt"), "client")
	toServer, toClient := bytes.Repeat([]byte("c2s:"), 2000), bytes.Repeat([]byte("s2c:"), 2000)
	c.Write(toServer[:4000]) // unread at Stop: the receive queue
	time.Sleep(100 * time.Millisecond)
	// On the debug kernel the sample may take longer: wait for it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ti, err := unix.GetsockoptTCPInfo(fdOf(t, s), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err == nil && ti.Rtt > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server has no RTT sample after 5 s (%+v, %v)", ti, err)
		}
	}

	sess, err := Stop(ctx, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(toServer[4000:]) // dropped by the freeze, retransmitted later
	img, err := sess.Get()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img.RecvQueue, toServer[:4000]) {
		t.Fatalf("receive queue holds %d bytes, want 4000", len(img.RecvQueue))
	}
	if img.Kernel == nil || img.Kernel.SRTTus == 0 || img.Kernel.SndCwnd == 0 || img.Kernel.RTOus == 0 {
		t.Fatalf("kernel fields missing from the image: %+v", img.Kernel)
	}
	if img.Sock.RcvBuf != uint32(rcvbuf) || img.Sock.SndBuf != 0 {
		t.Fatalf("image buffers rcvbuf %d sndbuf %d, want the locked rcvbuf %d and no sndbuf", img.Sock.RcvBuf, img.Sock.SndBuf, rcvbuf)
	}
	if err := sess.Release(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	var restored *Session
	n.in(t, n.B, func() {
		restored, err = Set(ctx, img, opts)
	})
	if err != nil {
		t.Fatal(err)
	}
	// The module's SET seeded the restored socket with the image's values.
	k, err := opts.Freezer.(*ModuleFreezer).C.Get(ctx, img.Tuple, false)
	if err != nil {
		t.Fatal(err)
	}
	if k.Kernel == nil || k.Kernel.SRTTus != img.Kernel.SRTTus || k.Kernel.SndCwnd != img.Kernel.SndCwnd ||
		k.Kernel.SndSsthresh != img.Kernel.SndSsthresh || k.Kernel.TSRecent != img.Kernel.TSRecent {
		t.Fatalf("restored kernel state %+v, image %+v", k.Kernel, img.Kernel)
	}
	conn, err := restored.Restart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	expectData(t, conn, toServer, "restored server")
	conn.Write(toClient)
	expectData(t, c, toClient, "client")
	if got, err := unix.GetsockoptInt(fdOf(t, conn), unix.SOL_SOCKET, unix.SO_RCVBUF); err != nil || got != rcvbuf {
		t.Fatalf("restored SO_RCVBUF %d (%v), want %d", got, err, rcvbuf)
	}
	mss, err := unix.GetsockoptInt(fdOf(t, conn), unix.IPPROTO_TCP, unix.TCP_MAXSEG)
	if err != nil || uint32(mss) > img.MSSClamp || mss == 524 {
		t.Fatalf("restored MSS %d (%v), clamp %d", mss, err, img.MSSClamp)
	}
}

// TestVMCheckpoint takes a checkpoint through the module's GET (the
// session never stops), then restores the session from it after the
// original is gone: the restored session carries on byte-exact.
func TestVMCheckpoint(t *testing.T) {
	needVM(t)
	ctx := vmCtx(t)
	n := newVMNet(t)
	c, s, _ := n.tcpPair(t)
	opts := &Options{Freezer: &ModuleFreezer{C: n.client(t, n.B)}}

	c.Write([]byte("unread at the checkpoint"))
	time.Sleep(100 * time.Millisecond)
	img, err := Checkpoint(ctx, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	if string(img.RecvQueue) != "unread at the checkpoint" || img.Kernel == nil || img.MSSClamp == 0 {
		t.Fatalf("checkpoint: receive queue %q, kernel %+v, mss %d", img.RecvQueue, img.Kernel, img.MSSClamp)
	}
	// The original goes away silently; the checkpoint is all that is left.
	sess, err := Stop(ctx, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	sess.Release()
	s.Close()
	var restored *Session
	n.in(t, n.B, func() { restored, err = Set(ctx, img, opts) })
	if err != nil {
		t.Fatal(err)
	}
	conn, err := restored.Restart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	expectData(t, conn, []byte("unread at the checkpoint"), "restored server")
	conn.Write([]byte("back"))
	expectData(t, c, []byte("back"), "client")
}
