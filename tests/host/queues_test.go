//go:build linux

package host

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcptake/tcptake/tests/host/topo"
	"golang.org/x/sys/unix"
)

// TestQueues (c): the session is stopped while all three queues hold
// data: (i) bytes the client sent that the server has not read, (ii) bytes
// the server sent that the client has not acked (the client's netns drops
// them), (iii) bytes the server wrote beyond the congestion window, not
// sent yet. The image must hold exactly those bytes; after the move every
// byte arrives exactly once both ways, and the unacked bytes reach the
// client within 0.5 s of Restart (no retransmission-timeout stall: bytes
// restored as sent without an RTT sample wait a second or more for the
// first loss probe or timeout). The standby's Restart asks the client
// where it is (a window probe), or, /asked, the active asked it after the
// stop (Positions: snd_una, the client has none of the unacked bytes, and
// its answer shows it holds nothing beyond: exact) and the standby sends
// no probe. /grown: a bulk transfer before grew the server's congestion
// window and the client's window, so the unacked bytes are more than a
// restored socket's first flight; the exact position has them sent again
// at once all the same.
func TestQueues(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, c := range []struct {
			name         string
			asked, grown bool
		}{{"", false, false}, {"/asked", true, false}, {"/grown/asked", true, true}} {
			t.Run(family(v6)+c.name, func(t *testing.T) { testQueues(t, v6, c.asked, c.grown) })
		}
	}
}

func testQueues(t *testing.T, v6, asked, grown bool) {
	e := newEnv(t)
	p := newPair(t, e, v6, 8000, nil)
	if asked {
		p.watchPeers(t)
	}
	sndq := pattern(2, 0, 200_000)
	p.srv.SetWriteBuffer(1 << 20)
	if grown {
		bulk := pattern(5, 0, 8<<20)
		go p.srv.Write(bulk)
		if got, err := readN(p.cli, len(bulk), 10*time.Second); err != nil || !bytes.Equal(got, bulk) {
			t.Fatalf("bulk transfer: %d bytes (%v)", len(got), err)
		}
		time.Sleep(50 * time.Millisecond) // its last ACKs reach the server
		sndq = pattern(2, 0, 2<<20)
		p.srv.SetWriteBuffer(8 << 20)
	}
	recvq := pattern(1, 0, 3000)
	if _, err := p.cli.Write(recvq); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the server's receive queue", func() bool { return ioctl(p.srv, unix.SIOCINQ) == len(recvq) })

	drop(t, e.Cli, p.port)
	if n, err := p.srv.Write(sndq); err != nil || n != len(sndq) {
		t.Fatalf("server write: %d, %v", n, err)
	}
	waitFor(t, 5*time.Second, "sent and unsent bytes in the server's send queue", func() bool {
		outq, nsd := ioctl(p.srv, unix.SIOCOUTQ), ioctl(p.srv, unix.SIOCOUTQNSD)
		return outq == len(sndq) && nsd > 0 && nsd < outq
	})
	sess, img := p.stop(t, opts(t, e.Act))
	if !bytes.Equal(img.RecvQueue, recvq) {
		t.Errorf("image receive queue: %d bytes, want the %d unread bytes exactly", len(img.RecvQueue), len(recvq))
	}
	if len(img.SendUnacked) == 0 || len(img.SendUnsent) == 0 {
		t.Errorf("image send queue: %d unacked, %d unsent bytes; want both non-empty", len(img.SendUnacked), len(img.SendUnsent))
	}
	if got := append(append([]byte{}, img.SendUnacked...), img.SendUnsent...); !bytes.Equal(got, sndq) {
		t.Errorf("image send queue (unacked+unsent, %d bytes) differs from the %d bytes written", len(got), len(sndq))
	}
	unacked := len(img.SendUnacked)
	if firstFlight := 10 * (img.MSSClamp - 12); grown && unacked <= int(firstFlight) {
		t.Fatalf("%d bytes unacked after the bulk transfer, want more than a first flight (%d)", unacked, firstFlight)
	}
	undrop(t, e.Cli)

	got := collect(p.cli, unacked)
	standbyProbes(t, e, p.port)
	conn, restarted := p.moveTo(t, sess, img, opts(t, e.Act), opts(t, e.Sby))
	switch probes := standbyProbes(t, e, p.port); {
	case asked && (p.peer.Ack != img.SndUna || !p.peer.Exact || len(p.peer.Received) != 0):
		t.Errorf("Positions: the client acknowledged %d (want snd_una %d: it has none of the unacked bytes), exact %v (want true), and sent %d bytes (want 0)",
			p.peer.Ack, img.SndUna, p.peer.Exact, len(p.peer.Received))
	case asked && probes != 0:
		t.Errorf("the standby sent %d window probes, want none (the active asked)", probes)
	case !asked && probes < 1:
		t.Error("the standby sent no window probe")
	}
	select {
	case at := <-got.marked:
		if d := at.Sub(restarted); d > 500*time.Millisecond {
			t.Errorf("the %d unacked bytes reached the client %v after Restart, want < 0.5 s", unacked, d)
		} else {
			t.Logf("the %d unacked bytes reached the client %v after Restart", unacked, d)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("the %d unacked bytes did not reach the client within 10 s of Restart", unacked)
	}

	// Both ways, exactly once: the server reads the old unread bytes and
	// new ones, the client gets the old send queue and new bytes, then EOF.
	more := pattern(3, 0, 5000)
	if _, err := p.cli.Write(more); err != nil {
		t.Fatal(err)
	}
	p.cli.CloseWrite()
	tail := pattern(4, 0, 7000)
	if _, err := conn.Write(tail); err != nil {
		t.Fatal(err)
	}
	conn.CloseWrite()
	fromCli, err := readAll(conn, 10*time.Second)
	if err != nil {
		t.Errorf("server read: %v", err)
	}
	if want := append(append([]byte{}, recvq...), more...); !bytes.Equal(fromCli, want) {
		t.Errorf("server received %d bytes, want %d (unread queue + new bytes) exactly", len(fromCli), len(want))
	}
	toCli, err := got.wait(t)
	if err != nil {
		t.Errorf("client read: %v", err)
	}
	if want := append(append([]byte{}, sndq...), tail...); !bytes.Equal(toCli, want) {
		t.Errorf("client received %d bytes, want %d (send queue + new bytes) exactly", len(toCli), len(want))
	}
	conn.Close()
	p.cli.Close()
	time.Sleep(100 * time.Millisecond)
	e.checkNoRST()
}

// TestZeroWindow (c, iii): the client stops reading, its small receive
// buffer fills and the server's send queue fills behind a zero window.
// The image must hold the unsent bytes; after the move the client reads
// everything exactly once.
func TestZeroWindow(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(family(v6), func(t *testing.T) { testZeroWindow(t, v6) })
	}
}

func testZeroWindow(t *testing.T, v6 bool) {
	e := newEnv(t)
	p := newPair(t, e, v6, 8001, func(d *net.Dialer) {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
		}
	})
	p.srv.SetWriteBuffer(16 << 10)
	var written []byte
	chunk := 0
	for {
		b := pattern(5, int64(len(written)), 8192)
		p.srv.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := p.srv.Write(b)
		written = append(written, b[:n]...)
		chunk++
		if err != nil {
			break
		}
	}
	p.srv.SetWriteDeadline(time.Time{})
	waitFor(t, 5*time.Second, "a zero window", func() bool {
		return ioctl(p.srv, unix.SIOCOUTQNSD) > 0 && ioctl(p.srv, unix.SIOCOUTQ) == ioctl(p.srv, unix.SIOCOUTQNSD)
	})
	sess, img := p.stop(t, opts(t, e.Act))
	if len(img.SendUnsent) == 0 {
		t.Errorf("image holds no unsent bytes (unacked %d)", len(img.SendUnacked))
	}
	q := append(append([]byte{}, img.SendUnacked...), img.SendUnsent...)
	if !bytes.Equal(q, written[len(written)-len(q):]) {
		t.Errorf("image send queue (%d bytes) is not the tail of the %d bytes written", len(q), len(written))
	}
	got := collect(p.cli, len(written))
	conn, _ := p.moveTo(t, sess, img, opts(t, e.Act), opts(t, e.Sby))
	conn.CloseWrite()
	p.cli.CloseWrite()
	toCli, err := got.wait(t)
	if err != nil {
		t.Errorf("client read: %v", err)
	}
	if !bytes.Equal(toCli, written) {
		t.Errorf("client received %d bytes, want the %d written exactly", len(toCli), len(written))
	}
	if b, err := readAll(conn, 5*time.Second); err != nil || len(b) != 0 {
		t.Errorf("server: %d bytes, %v; want a clean EOF", len(b), err)
	}
	conn.Close()
	p.cli.Close()
	time.Sleep(100 * time.Millisecond)
	e.checkNoRST()
}

// TestLostACKs (c, ii bis): the server's bytes reached the client but the
// client's ACKs were lost, so at the stop the image holds as unacked bytes
// the client already has: a few KB (within an initial window), and a few
// hundred KB (a grown congestion window: more than a fresh socket may send
// before an ACK). After the move the server sends them again; the client
// drops the duplicates and ACKs what it has, and the session must go on at
// once: every byte exactly once both ways, no stall. /asked: the active
// asks the client where it is after the stop (Positions: exactly all the
// server sent), and the standby's session is set without those bytes.
func TestLostACKs(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, big := range []bool{false, true} {
			for _, asked := range []bool{false, true} {
				name := family(v6) + "/small"
				if big {
					name = family(v6) + "/large"
				}
				if asked {
					name += "/asked"
				}
				t.Run(name, func(t *testing.T) { testLostACKs(t, v6, big, asked) })
			}
		}
	}
}

func testLostACKs(t *testing.T, v6, big, asked bool) {
	e := newEnv(t)
	p := newPair(t, e, v6, 8002, nil)
	if asked {
		p.watchPeers(t)
	}
	var sent []byte
	warm, burst := 0, 10_000 // small: within the initial window
	if big {
		warm, burst = 8<<20, 1<<20 // grow cwnd first
	}
	sent = pattern(17, 0, warm+burst)
	got := collect(p.cli, warm+burst/2)
	p.srv.SetWriteBuffer(4 << 20)
	if _, err := p.srv.Write(sent[:warm]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the warm-up to be acked", func() bool { return ioctl(p.srv, unix.SIOCOUTQ) == 0 })
	// The client's ACKs (and anything else it sends) are lost from now on.
	e.Cli.Run("nft", "add table inet ttloss")
	e.Cli.Run("nft", "add chain inet ttloss out { type filter hook output priority -300 ; policy accept ; }")
	e.Cli.Run("nft", fmt.Sprintf("add rule inet ttloss out tcp dport %d drop", p.port))
	if big {
		got.mark = warm + 128<<10
	} else {
		got.mark = warm + burst
	}
	if _, err := p.srv.Write(sent[warm:]); err != nil {
		t.Fatal(err)
	}
	got.waitMark(t)                        // the client has the bytes...
	time.Sleep(20 * time.Millisecond)      // (all the window allows)
	sess, img := p.stop(t, opts(t, e.Act)) // ...and the server does not know
	if len(img.SendUnacked) < got.mark-warm {
		t.Fatalf("image holds %d unacked bytes, want at least the %d the client has", len(img.SendUnacked), got.mark-warm)
	}
	q := append(append([]byte{}, img.SendUnacked...), img.SendUnsent...)
	if !bytes.Equal(q, sent[len(sent)-len(q):]) {
		t.Errorf("image send queue is not the tail of what was sent")
	}
	undrop(t, e.Cli)
	conn, _ := p.moveTo(t, sess, img, opts(t, e.Act), opts(t, e.Sby))
	if asked && p.peer.Ack != img.SndNxt {
		t.Errorf("Positions: the client acknowledged %d, want snd_nxt %d (it has all the server sent)", p.peer.Ack, img.SndNxt)
	}

	start := time.Now()
	more := pattern(18, 0, 20_000)
	if _, err := conn.Write(more); err != nil {
		t.Fatal(err)
	}
	conn.CloseWrite()
	back := pattern(19, 0, 10_000)
	if _, err := p.cli.Write(back); err != nil {
		t.Fatal(err)
	}
	p.cli.CloseWrite()
	fromCli, err := readAll(conn, 10*time.Second)
	if err != nil || !bytes.Equal(fromCli, back) {
		t.Errorf("server read %d bytes (%v), want the client's %d exactly", len(fromCli), err, len(back))
	}
	toCli, err := got.wait(t)
	if want := append(append([]byte{}, sent...), more...); err != nil || !bytes.Equal(toCli, want) {
		t.Errorf("client read %d bytes (%v), want %d exactly", len(toCli), err, len(want))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the exchange after the move took %v, want < 1 s", d)
	}
	if t.Failed() {
		e.diagnose(t)
	}
	conn.Close()
	p.cli.Close()
	time.Sleep(100 * time.Millisecond)
	e.checkNoRST()
}

// standbyProbes returns how many of tcptake's window probes (one byte, no
// TCP option) for port the client netns got from the standby since the
// last call (the first call sets the count up).
func standbyProbes(t *testing.T, e *env, port uint16) int {
	t.Helper()
	if _, err := e.Cli.Try("nft", "list", "table", "inet", "ttprobe"); err != nil {
		var links []struct {
			Address string `json:"address"`
		}
		json.Unmarshal([]byte(e.Sby.Run("ip", "-j", "link", "show", topo.Dev)), &links)
		if len(links) != 1 {
			t.Fatal("no MAC address of the standby")
		}
		f := filepath.Join(t.TempDir(), "probes.nft")
		os.WriteFile(f, []byte(fmt.Sprintf(`table inet ttprobe {
	counter probes {}
	chain in {
		type filter hook input priority -310; policy accept;
		ether saddr %[1]s tcp sport %[2]d tcp doff 5 ip length 41 counter name probes
		ether saddr %[1]s tcp sport %[2]d tcp doff 5 ip6 length 21 counter name probes
	}
}
`, links[0].Address, port)), 0o644)
		e.Cli.Run("nft", "-f", f)
		t.Cleanup(func() { e.Cli.Try("nft", "delete", "table", "inet", "ttprobe") })
		return 0
	}
	out := e.Cli.Run("nft", "reset", "counter", "inet", "ttprobe", "probes")
	k := -1
	if i := strings.Index(out, "packets "); i >= 0 {
		fmt.Sscanf(out[i:], "packets %d", &k)
	}
	if k < 0 {
		t.Fatalf("no probe count in %q", out)
	}
	return k
}

// TestFreezeReceived: the client sends while its session is stopped on the
// active; the freeze drops the bytes, the active's PeerWatch keeps them
// (Positions: exactly those bytes), and the standby's session has them in
// its receive queue (PeerAt) and acknowledges them at restart: the server
// reads them at once, and the client never sends them again (its minimum
// RTO is 2 s here and its tail-loss probe off, so a retransmission could
// not hide in the timing). The client sends again after Positions, while
// the standby's session is set (as a client does between the end of a
// switchover's step 1 and the address leaving the active): the watch,
// read again (Received), has exactly those bytes too, and the standby's
// session takes them after the first.
func TestFreezeReceived(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(family(v6), func(t *testing.T) { testFreezeReceived(t, v6) })
	}
}

func testFreezeReceived(t *testing.T, v6 bool) {
	e := newEnv(t)
	e.Cli.Run("sysctl", "-qw", "net.ipv4.tcp_early_retrans=0")
	e.Cli.Run("ip", "route", "add", topo.VIP4.String()+"/32", "dev", topo.Dev, "rto_min", "2s")
	e.Cli.Run("ip", "-6", "route", "add", topo.VIP6.String()+"/128", "dev", topo.Dev, "rto_min", "2s")
	p := newPair(t, e, v6, 8003, nil)
	p.watchPeers(t)
	sess, img := p.stop(t, opts(t, e.Act))
	late := pattern(23, 0, 3000)
	if _, err := p.cli.Write(late); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the client's bytes to leave", func() bool { return ioctl(p.cli, unix.SIOCOUTQNSD) == 0 })
	time.Sleep(20 * time.Millisecond) // on the active's taps
	later := pattern(29, 0, 700)
	p.later = func() {
		if _, err := p.cli.Write(later); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	conn, restarted := p.moveTo(t, sess, img, opts(t, e.Act), opts(t, e.Sby))
	if !bytes.Equal(p.peer.Received, late) || !bytes.Equal(p.peerLater, later) {
		t.Errorf("Positions: received %d bytes, then %d; want the client's %d, then %d, exactly",
			len(p.peer.Received), len(p.peerLater), len(late), len(later))
	}
	all := append(append([]byte(nil), late...), later...)
	got, err := readN(conn, len(all), time.Second)
	if err != nil || !bytes.Equal(got, all) {
		t.Fatalf("server read %d bytes (%v) within 1 s of Restart, want the %d the client sent into the freeze", len(got), err, len(all))
	}
	t.Logf("the client's bytes read %v after Restart", time.Since(restarted))
	waitFor(t, time.Second, "the client's bytes acknowledged", func() bool { return ioctl(p.cli, unix.SIOCOUTQ) == 0 })
	if r := retransmits(t, p.cli); r != 0 {
		t.Errorf("the client retransmitted %d segments, want none", r)
	}
	// And the session goes on, both ways.
	if _, err := conn.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if b, err := readN(p.cli, 4, 5*time.Second); err != nil || string(b) != "pong" {
		t.Errorf("client read %q (%v), want pong", b, err)
	}
	conn.Close()
	p.cli.Close()
	time.Sleep(100 * time.Millisecond)
	e.checkNoRST()
}

// readN reads exactly n bytes from c within d.
func readN(c *net.TCPConn, n int, d time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, n)
	k, err := io.ReadFull(c, b)
	return b[:k], err
}

// retransmits is the socket's tcpi_total_retrans.
func retransmits(t *testing.T, c *net.TCPConn) uint32 {
	t.Helper()
	rc, _ := c.SyscallConn()
	var info *unix.TCPInfo
	var err error
	rc.Control(func(fd uintptr) { info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
	if err != nil {
		t.Fatal(err)
	}
	return info.Total_retrans
}
