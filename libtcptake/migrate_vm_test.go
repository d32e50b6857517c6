//go:build linux

package libtcptake

import (
	"bytes"
	"context"
	"net"
	"syscall"
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
	// debug kernel). The client delays its ACK (TCP_QUICKACK off: 40 ms
	// or more), so that the sample is not 0 µs either on a guest whose
	// clock fell back to jiffies (the debug kernel has no ACPI timers, and
	// the TSC's calibration against the PIT can fail on a loaded host).
	if err := unix.SetsockoptInt(fdOf(t, c), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0); err != nil {
		t.Fatal(err)
	}
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

// TestVMPrepareAll moves three sessions with the module, each holding
// 8 KiB its client lost, after a retransmission timeout (congestion
// window 1): more than a restored socket's first flight, so the bytes go
// into the send queue as sent (queueSend). PrepareAll queues those of the
// two whose peers' positions are given, before Restart; PeerAt sets one
// of them anew (its client's bytes sent into the freeze), and RestartAll
// queues that one again and the third, whose peer it asks. None is queued
// twice: each client reads its 8 KiB exactly once.
func TestVMPrepareAll(t *testing.T) {
	needVM(t)
	ctx := vmCtx(t)
	n := newVMNet(t)
	opts := &Options{Freezer: &ModuleFreezer{C: n.client(t, n.B)}}
	mcA := n.client(t, n.A)
	const k = 3
	sent := func(i int) []byte { return bytes.Repeat([]byte{'a' + byte(i)}, 8<<10) }
	clients := make([]net.Conn, k)
	servers := make([]syscall.Conn, k)
	var atClient []Tuple
	for i := range k {
		c, s, tu := n.tcpPair(t)
		clients[i], servers[i] = c, s
		s.Write([]byte("rtt")) // an RTT sample
		expectData(t, c, []byte("rtt"), "client")
		atClient = append(atClient, tu) // the client's view
	}
	// The clients lose the 8 KiB until the servers have timed out.
	if err := mcA.FreezeAll(ctx, atClient, FreezeOptions{Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	for i, s := range servers {
		s.(*net.TCPConn).Write(sent(i))
	}
	time.Sleep(time.Second)
	olds, imgs := stopLost(ctx, t, servers, opts, mcA, atClient)
	for i, img := range imgs {
		if len(img.SendUnacked) != len(sent(i)) || len(img.SendUnacked) <= firstFlight(img) {
			t.Fatalf("session %d: %d bytes unacked, first flight %d (cwnd %+v): want %d, more than a first flight",
				i, len(img.SendUnacked), firstFlight(img), img.Kernel, len(sent(i)))
		}
		olds[i].Release()
		servers[i].(*net.TCPConn).Close()
	}
	var news []*Session
	var err error
	n.in(t, n.B, func() { news, err = SetAll(ctx, imgs, opts) })
	if err != nil {
		t.Fatal(err)
	}
	// PeerAt makes a socket: in the session's namespace.
	n.in(t, n.B, func() { checkPrepared(t, clients, news, sent) })
	for i, s := range news[:1] { // news[1] was set anew
		if len(s.pending) != 0 {
			t.Fatalf("session %d prepared with %d bytes to write at Restart, want all in the queue", i, len(s.pending))
		}
	}
	var conns []*net.TCPConn
	n.in(t, n.B, func() { conns, err = RestartAll(ctx, news) })
	if err != nil {
		t.Fatal(err)
	}
	checkRestarted(t, clients, conns, sent)
}

// stopLost stops the servers' sessions, whose bytes their clients lost
// (the freeze of atClient on the clients' node, mcA's), lifts that freeze
// and reads their images.
func stopLost(ctx context.Context, t *testing.T, servers []syscall.Conn, opts *Options, mcA *Client, atClient []Tuple) ([]*Session, []*Image) {
	t.Helper()
	olds, err := StopAll(ctx, servers, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := mcA.ThawAll(ctx, atClient, false); err != nil {
		t.Fatal(err)
	}
	imgs, err := GetAll(ctx, olds)
	if err != nil {
		t.Fatal(err)
	}
	return olds, imgs
}

// TestVMPositionsExact: the node that stopped a session with 64 KiB its
// client lost asks the client (PeerWatch.Positions), in each family, on
// the kernel under test: the client's answer, its D-SACK of the probe's
// byte alone, makes the position exact at snd_una. The session, restored
// with it on the same node, sends the 64 KiB again as new data (the
// module's SET restores the congestion window the losses shrank), and the
// client reads each byte once.
func TestVMPositionsExact(t *testing.T) {
	needVM(t)
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "IPv4", true: "IPv6"}[v6], func(t *testing.T) {
			ctx := vmCtx(t)
			n := newVMNet(t)
			opts := &Options{Freezer: &ModuleFreezer{C: n.client(t, n.B)}}
			mcA := n.client(t, n.A)
			c, s, atClient := n.tcpPairFamily(t, v6)
			s.Write([]byte("rtt"))
			expectData(t, c, []byte("rtt"), "client")
			if err := mcA.Freeze(ctx, atClient, FreezeOptions{Timeout: 30 * time.Second}); err != nil {
				t.Fatal(err)
			}
			lost := bytes.Repeat([]byte("lost"), 16<<10)
			s.SetWriteBuffer(1 << 20)
			if _, err := s.Write(lost); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			var w *PeerWatch
			var err error
			n.in(t, n.B, func() { w, err = WatchPeers() })
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			olds, imgs := stopLost(ctx, t, []syscall.Conn{s}, opts, mcA, []Tuple{atClient})
			img := imgs[0]
			if len(img.SendUnacked) == 0 {
				t.Fatalf("nothing unacked (%d unsent)", len(img.SendUnsent))
			}
			var pos []PeerPosition
			n.in(t, n.B, func() { pos = w.Positions(ctx, imgs, opts) })
			if p := pos[0]; !p.Answered || !p.Exact || p.Ack != img.SndUna {
				t.Fatalf("peer position %+v, want answered, exact, at snd_una %d", p, img.SndUna)
			}
			olds[0].Release()
			s.Close()
			var conns []*net.TCPConn
			n.in(t, n.B, func() {
				var news []*Session
				if news, err = SetAll(ctx, imgs, opts); err != nil {
					return
				}
				if err = news[0].PeerAt(pos[0]); err != nil {
					return
				}
				conns, err = RestartAll(ctx, news)
			})
			if err != nil {
				t.Fatal(err)
			}
			defer conns[0].Close()
			expectData(t, c, lost, "client")
			expectSilence(t, c, "client")
		})
	}
}
