//go:build linux

package host

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
	"github.com/tcptake/tcptake/tests/host/topo"
	"golang.org/x/sys/unix"
)

// pair is one client↔server session between cli and act, driven directly
// by the test: the test decides what each side reads.
type pair struct {
	e        *env
	cli, srv *net.TCPConn
	port     uint16
	mss      uint32 // the server's snd_mss before any stop
	// watch (set before stop): moveTo asks the peer's position on the
	// active after the stop (PeerWatch.Positions) and tells the standby's
	// session (PeerAt); peer is the answer.
	watch *libtcptake.PeerWatch
	peer  libtcptake.PeerPosition
	// later, when set, runs after the standby's session was told peer;
	// then, as ha does before the address goes, the watch is read again
	// (PeerWatch.Received) and the standby's session is told what came
	// since: peerLater.
	later     func()
	peerLater []byte
}

// watchPeers opens p.watch in the active's namespace.
func (p *pair) watchPeers(t *testing.T) {
	t.Helper()
	if err := p.e.Act.Do(func() (err error) { p.watch, err = libtcptake.WatchPeers(); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.watch.Close() })
}

func newPair(t *testing.T, e *env, v6 bool, port uint16, tune func(*net.Dialer)) *pair {
	t.Helper()
	addr := vip(v6, port)
	l := listenFree(t, e.Act, addr)
	defer l.Close()
	d := dialer()
	if tune != nil {
		tune(d)
	}
	var c net.Conn
	if err := e.Cli.Do(func() (err error) { c, err = d.Dial("tcp", addr.String()); return err }); err != nil {
		t.Fatal(err)
	}
	l.SetDeadline(time.Now().Add(5 * time.Second))
	s, err := l.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{e: e, cli: c.(*net.TCPConn), srv: s, port: port}
	t.Cleanup(func() { p.cli.Close(); p.srv.Close() })
	p.mss = sndMSS(s)
	return p
}

func (p *pair) tuple() (local, remote netip.AddrPort) {
	l, r := connTuple(p.srv)
	return unmap(l), unmap(r)
}

// stop freezes and dumps the server side in act.
func (p *pair) stop(t *testing.T, o *libtcptake.Options) (*libtcptake.Session, *libtcptake.Image) {
	t.Helper()
	var sess *libtcptake.Session
	var img *libtcptake.Image
	err := p.e.Act.Do(func() (err error) {
		if sess, err = libtcptake.Stop(context.Background(), p.srv, o); err != nil {
			return err
		}
		img, err = sess.Get()
		return err
	})
	if err != nil {
		t.Fatalf("stop/get: %v", err)
	}
	t.Logf("image: state %v snd_una %d snd_nxt %d write_seq %d rcv_nxt %d recvq %d unacked %d unsent %d mss_clamp %d wscale %d/%d opts %#x window %+v",
		img.State, img.SndUna, img.SndNxt, img.WriteSeq, img.RcvNxt, len(img.RecvQueue), len(img.SendUnacked),
		len(img.SendUnsent), img.MSSClamp, img.SndWScale, img.RcvWScale, img.Options, img.Window)
	return sess, img
}

// moveTo restores img in sby, moves the service address, restarts the
// session there and releases the old one in act; it returns the restored
// conn and when Restart was called.
func (p *pair) moveTo(t *testing.T, sess *libtcptake.Session, img *libtcptake.Image, actOpts, sbyOpts *libtcptake.Options) (*net.TCPConn, time.Time) {
	t.Helper()
	// The image crosses "the wire" as bytes.
	b, err := img.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	img2 := new(libtcptake.Image)
	if err := img2.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if p.watch != nil {
		p.e.Act.Do(func() error {
			p.peer = p.watch.Positions(context.Background(), []*libtcptake.Image{img}, actOpts)[0]
			if !p.peer.Answered {
				t.Fatal("Positions: the peer did not answer")
			}
			return nil
		})
	}
	var s2 *libtcptake.Session
	if err := p.e.Sby.Do(func() (err error) {
		if s2, err = libtcptake.Set(context.Background(), img2, sbyOpts); err != nil || p.watch == nil {
			return err
		}
		return s2.PeerAt(p.peer)
	}); err != nil {
		t.Fatalf("set: %v", err)
	}
	if p.later != nil {
		p.later()
		pos := []libtcptake.PeerPosition{p.peer}
		p.e.Act.Do(func() error { p.watch.Received([]*libtcptake.Image{img}, pos); return nil })
		p.peerLater = pos[0].Received[len(p.peer.Received):]
		if err := p.e.Sby.Do(func() error { return s2.PeerAt(libtcptake.PeerPosition{Received: p.peerLater}) }); err != nil {
			t.Fatalf("set, later: %v", err)
		}
	}
	if err := p.e.MoveServiceIP(p.e.Act, p.e.Sby); err != nil {
		t.Fatal(err)
	}
	var conn *net.TCPConn
	var restarted time.Time
	if err := p.e.Sby.Do(func() (err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		restarted = time.Now()
		conn, err = s2.Restart(ctx)
		return err
	}); err != nil {
		p.e.diagnose(t)
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	err = p.e.Act.Do(func() error {
		if err := sess.Release(); err != nil {
			return err
		}
		p.srv.Close()
		return sess.Thaw(context.Background())
	})
	if err != nil {
		t.Fatalf("release: %v", err)
	}
	if got := sndMSS(conn); got != p.mss || got == 524 {
		t.Errorf("restored snd_mss %d, original %d (want equal, not 524)", got, p.mss)
	}
	return conn, restarted
}

// drop makes the client's netns drop every segment from the server's port
// (the network loses them) until undrop.
func drop(t *testing.T, n *topo.Netns, port uint16) {
	t.Helper()
	n.Run("nft", "add table inet ttloss")
	n.Run("nft", fmt.Sprintf("add chain inet ttloss in { type filter hook input priority -300 ; policy accept ; }"))
	n.Run("nft", fmt.Sprintf("add rule inet ttloss in tcp sport %d drop", port))
}

func undrop(t *testing.T, n *topo.Netns) {
	t.Helper()
	n.Run("nft", "delete table inet ttloss")
}

func ioctl(c *net.TCPConn, req uint) int {
	rc, _ := c.SyscallConn()
	v := -1
	rc.Control(func(fd uintptr) { v, _ = unix.IoctlGetInt(int(fd), req) })
	return v
}

func state(c *net.TCPConn) libtcptake.State {
	if ti := tcpInfo(c); ti != nil {
		return libtcptake.State(ti.State)
	}
	return 0
}

// collector reads a conn to EOF in the background, noting when it had n
// bytes.
type collector struct {
	buf    bytes.Buffer
	err    error
	done   chan struct{}
	mark   int
	marked chan time.Time
}

func collect(c net.Conn, mark int) *collector {
	k := &collector{done: make(chan struct{}), mark: mark, marked: make(chan time.Time, 1)}
	go func() {
		defer close(k.done)
		b := make([]byte, 64<<10)
		for {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := c.Read(b)
			before := k.buf.Len()
			k.buf.Write(b[:n])
			if before < k.mark && k.buf.Len() >= k.mark {
				k.marked <- time.Now()
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				k.err = err
				return
			}
		}
	}()
	return k
}

// waitMark waits until the reader has mark bytes.
func (k *collector) waitMark(t *testing.T) time.Time {
	t.Helper()
	select {
	case at := <-k.marked:
		return at
	case <-k.done:
		t.Fatalf("reader ended after %d bytes (%v), before %d", k.buf.Len(), k.err, k.mark)
	case <-time.After(10 * time.Second):
		t.Fatalf("reader has not got %d bytes within 10 s", k.mark)
	}
	return time.Time{}
}

func (k *collector) wait(t *testing.T) ([]byte, error) {
	t.Helper()
	select {
	case <-k.done:
	case <-time.After(40 * time.Second):
		t.Fatal("reader did not finish")
	}
	return k.buf.Bytes(), k.err
}
