//go:build linux

package host

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
	"golang.org/x/sys/unix"
)

// TestAdjust: TCP status adjustment after an unexpected failover, exact.
// act checkpoints a session (libtcptake.Checkpoint), then sends D more
// bytes that the client reads and acknowledges, and receives E bytes from
// the client that its kernel acknowledges; then act dies (its link cut,
// its socket gone). sby sets the checkpoint with Options.Adjust, takes the
// service address and restarts: the report must say exactly
// OutgoingAhead = D and IncomingLost = E, and the session must go on from
// the peer's real position — what the server writes next follows the D
// bytes at the client exactly, and the server reads the client's unread
// bytes of the checkpoint, then its new ones. With timestamps the TSval
// moved past the client's TSecr: the client's PAWS counters stay still.
func TestAdjust(t *testing.T) {
	const d, e = 3000, 1234
	for _, v6 := range []bool{false, true} {
		for _, ts := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s-timestamps=%v", family(v6), ts), func(t *testing.T) { testAdjust(t, v6, ts, d, e) })
		}
	}
}

func testAdjust(t *testing.T, v6, ts bool, d, e int) {
	env := newEnv(t)
	if !ts {
		env.Cli.Run("sysctl", "-qw", "net.ipv4.tcp_timestamps=0")
	}
	p := newPair(t, env, v6, 8300, nil)
	const tcpiOptTimestamps = 1
	if got := tcpInfo(p.srv).Options&tcpiOptTimestamps != 0; got != ts {
		t.Fatalf("timestamps negotiated %v, want %v", got, ts)
	}
	// Before the checkpoint: 1000 bytes each way; the server leaves the
	// client's unread (they are in the image's receive queue).
	a, b := pattern(21, 0, 1000), pattern(22, 0, 1000)
	p.cli.Write(a)
	p.srv.Write(b)
	got := collect(p.cli, len(b)+d)
	waitFor(t, 5*time.Second, "the first bytes delivered and acknowledged", func() bool {
		return ioctl(p.srv, unix.SIOCOUTQ) == 0 && ioctl(p.srv, unix.SIOCINQ) == len(a) && ioctl(p.cli, unix.SIOCOUTQ) == 0
	})
	img := checkpoint(t, env, p)
	if !bytes.Equal(img.RecvQueue, a) || len(img.SendUnacked)+len(img.SendUnsent) != 0 {
		t.Fatalf("checkpoint: receive queue %d bytes, send queue %d+%d, want %d and 0", len(img.RecvQueue),
			len(img.SendUnacked), len(img.SendUnsent), len(a))
	}
	// The dead node's last moments: it goes on after the checkpoint long
	// enough for its TSval to move, D bytes out, E bytes in.
	time.Sleep(300 * time.Millisecond)
	if _, err := p.srv.Write(pattern(22, int64(len(b)), d)); err != nil {
		t.Fatal(err)
	}
	got.waitMark(t)
	if _, err := p.cli.Write(pattern(21, int64(len(a)), e)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "D acknowledged by the client and E by the server", func() bool {
		return ioctl(p.srv, unix.SIOCOUTQ) == 0 && ioctl(p.cli, unix.SIOCOUTQ) == 0 && ioctl(p.srv, unix.SIOCINQ) == len(a)+e
	})
	pawsBefore := counter(t, env, "TcpExtPAWSEstab")
	killActive(env, p)
	s2, conn := takeOver(t, env, img)
	adj := s2.Adjustment()
	t.Logf("adjustment: %+v", adj)
	if adj == nil || !adj.Answered || adj.OutgoingAhead != uint32(d) || adj.IncomingLost != uint32(e) || adj.Acked != 0 {
		t.Fatalf("adjustment %+v, want answered, OutgoingAhead %d, IncomingLost %d, Acked 0", adj, d, e)
	}
	if ts && adj.TSValMoved < 300 {
		t.Errorf("TSval moved by %d, want at least the 300 ms the dead node went on", adj.TSValMoved)
	}
	if !ts && adj.TSValMoved != 0 {
		t.Errorf("TSval moved by %d without timestamps", adj.TSValMoved)
	}
	// The session goes on from the peer's position, both ways.
	a2, b2 := pattern(21, int64(len(a)+e), 700), pattern(22, int64(len(b)+d), 2000)
	if _, err := conn.Write(b2); err != nil {
		t.Fatalf("server write: %v", err)
	}
	conn.CloseWrite()
	if _, err := p.cli.Write(a2); err != nil {
		t.Fatalf("client write: %v", err)
	}
	p.cli.CloseWrite()
	fromCli, err := readAll(conn, 10*time.Second)
	if err != nil {
		t.Errorf("server read: %v", err)
	}
	if want := append(append([]byte{}, a...), a2...); !bytes.Equal(fromCli, want) {
		t.Errorf("server read %d bytes, want the checkpoint's %d unread then the %d new ones exactly", len(fromCli), len(a), len(a2))
	}
	toCli, err := got.wait(t)
	if err != nil {
		t.Errorf("client read: %v", err)
	}
	if want := pattern(22, 0, len(b)+d+len(b2)); !bytes.Equal(toCli, want) {
		t.Errorf("client read %d bytes, want %d exactly", len(toCli), len(want))
	}
	if n := counter(t, env, "TcpExtPAWSEstab") - pawsBefore; n != 0 {
		t.Errorf("client dropped %d segments by PAWS", n)
	}
	env.checkNoRST()
}

// checkpoint takes a checkpoint of p's server session on act.
func checkpoint(t *testing.T, env *env, p *pair) *libtcptake.Image {
	t.Helper()
	var img *libtcptake.Image
	if err := env.Act.Do(func() (err error) {
		img, err = libtcptake.Checkpoint(context.Background(), p.srv, opts(t, env.Act))
		return err
	}); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	return img
}

// killActive: act dies, its link cut, then the process and its socket.
func killActive(env *env, p *pair) {
	env.Act.Run("ip", "link", "set", "eth0", "down")
	p.srv.SetLinger(0)
	p.srv.Close()
}

// takeOver has sby take the session over from the checkpoint img
// (Options.Adjust): set, the service address, Restart. The conn is closed
// with the test.
func takeOver(t *testing.T, env *env, img *libtcptake.Image) (*libtcptake.Session, *net.TCPConn) {
	t.Helper()
	o := opts(t, env.Sby)
	o.Adjust = true
	var s *libtcptake.Session
	if err := env.Sby.Do(func() (err error) { s, err = libtcptake.Set(context.Background(), img, o); return err }); err != nil {
		t.Fatalf("set: %v", err)
	}
	if err := env.MoveServiceIP(env.Act, env.Sby); err != nil {
		t.Fatal(err)
	}
	var conn *net.TCPConn
	if err := env.Sby.Do(func() (err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err = s.Restart(ctx)
		return err
	}); err != nil {
		env.diagnose(t)
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return s, conn
}

func counter(t *testing.T, e *env, name string) int64 {
	t.Helper()
	c, err := e.Cli.Counters()
	if err != nil {
		t.Fatal(err)
	}
	v, ok := c[name]
	if !ok {
		t.Fatalf("counter %s missing", name)
	}
	return v
}

// TestAdjustUnacked: a failover from a checkpoint whose server had more
// bytes unacked than a restored socket's first flight (a bulk transfer
// grew its windows, then the client lost what followed). The client's
// answer to the standby's probe shows it holds none of them beyond its
// ACK (its D-SACK of the probe's byte alone), and the node that sent them
// is gone, so the standby sends them all again at once: the client has
// them within 0.5 s of Restart (restored as sent, without the module's
// RTT, they would wait a second or more), then every byte exactly once.
func TestAdjustUnacked(t *testing.T) {
	const port = 8320
	env := newEnv(t)
	p := newPair(t, env, false, port, nil)
	p.srv.SetWriteBuffer(8 << 20)
	bulk := pattern(23, 0, 8<<20) // the windows grow
	go p.srv.Write(bulk)
	if got, err := readN(p.cli, len(bulk), 10*time.Second); err != nil || !bytes.Equal(got, bulk) {
		t.Fatalf("bulk transfer: %d bytes (%v)", len(got), err)
	}
	time.Sleep(50 * time.Millisecond) // its last ACKs reach the server
	drop(t, env.Cli, port)
	lost := pattern(23, int64(len(bulk)), 2<<20)
	if _, err := p.srv.Write(lost); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "more than a first flight sent, unacked", func() bool {
		return ioctl(p.srv, unix.SIOCOUTQ)-ioctl(p.srv, unix.SIOCOUTQNSD) > 10*1448
	})
	img := checkpoint(t, env, p)
	unacked := len(img.SendUnacked)
	if firstFlight := 10 * int(img.MSSClamp-12); unacked <= firstFlight {
		t.Fatalf("checkpoint: %d bytes unacked, want more than a first flight (%d)", unacked, firstFlight)
	}
	if got := append(append([]byte{}, img.SendUnacked...), img.SendUnsent...); !bytes.Equal(got, lost) {
		t.Fatalf("checkpoint: send queue of %d bytes, want the %d lost exactly", len(got), len(lost))
	}
	killActive(env, p) // then the client's network works again
	undrop(t, env.Cli)
	got := collect(p.cli, unacked)
	s2, conn := takeOver(t, env, img)
	restarted := time.Now()
	if adj := s2.Adjustment(); adj == nil || !adj.Exact() || adj.Acked != 0 {
		t.Fatalf("adjustment %+v, want answered, byte-exact, Acked 0", adj)
	}
	if d := got.waitMark(t).Sub(restarted); d > 500*time.Millisecond {
		t.Errorf("the %d unacked bytes reached the client %v after Restart, want < 0.5 s", unacked, d)
	} else {
		t.Logf("the %d unacked bytes reached the client %v after Restart", unacked, d)
	}
	conn.CloseWrite()
	toCli, err := got.wait(t)
	if err != nil {
		t.Errorf("client read: %v", err)
	}
	if !bytes.Equal(toCli, lost) {
		t.Errorf("client read %d bytes, want the %d of the checkpoint's send queue exactly", len(toCli), len(lost))
	}
	env.checkNoRST()
}
