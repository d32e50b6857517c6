package libtcptake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// inNewNetns runs fn on a locked OS thread in a fresh network namespace
// with loopback up. It skips the test when that is not permitted.
func inNewNetns(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, TCP_REPAIR, nftables)")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // the thread dies with its namespace: never unlocked
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		if err := linkUp("lo"); err != nil {
			t.Errorf("lo up: %v", err)
			return
		}
		fn()
	}()
	<-done
}

func linkUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// setMTU sets the MTU of the calling thread's namespace's link name.
func setMTU(t *testing.T, name string, mtu uint32) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		t.Fatal(err)
	}
	ifr.SetUint32(mtu)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFMTU, ifr); err != nil {
		t.Fatalf("%s mtu %d: %v", name, mtu, err)
	}
}

// stopGet stops conn's session and reads its image.
func stopGet(ctx context.Context, t *testing.T, conn *net.TCPConn, opts *Options) (*Session, *Image) {
	t.Helper()
	sess, err := Stop(ctx, conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	img, err := sess.Get()
	if err != nil {
		t.Fatal(err)
	}
	return sess, img
}

// restore sets img on a new socket and restarts it; the conn is closed
// with the test.
func restore(ctx context.Context, t *testing.T, img *Image, opts *Options) *net.TCPConn {
	t.Helper()
	sess, err := Set(ctx, img, opts)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := sess.Restart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// testFreezer returns an NFTFreezer of the calling thread's namespace,
// closed with the test.
func testFreezer(t *testing.T) *NFTFreezer {
	t.Helper()
	f, err := NewNFTFreezer(-1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// pair returns a connected client and server conn over addr ("127.0.0.1:0").
func pair(t *testing.T, addr string) (client, server *net.TCPConn) {
	t.Helper()
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// TestMigrateInPlace moves the server side of a loopback session to a new
// socket on the same node, with bytes in the receive queue, unacked and
// unsent bytes in the send queue, and checks every byte arrives once.
func TestMigrateInPlace(t *testing.T) {
	for _, tt := range []struct {
		name, addr string
		mapped     bool
	}{
		{"127.0.0.1:0", "127.0.0.1:0", false},
		{"[::1]:0", "[::1]:0", false},
		// The image a dual-stack socket gives of an IPv4 session.
		{"v4-mapped", "127.0.0.1:0", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inNewNetns(t, func() { migrateInPlace(t, tt.addr, tt.mapped) })
		})
	}
}

func migrateInPlace(t *testing.T, addr string, mapped bool) {
	ctx := context.Background()
	f := testFreezer(t)
	opts := &Options{Freezer: f}
	client, server := pair(t, addr)
	defer client.Close()

	// Receive queue: the client sends, the server does not read.
	toServer := bytes.Repeat([]byte("c2s."), 1000)
	if _, err := client.Write(toServer); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	// Unacked: the server's segments leave but never reach the client.
	unblock := blockInput(t, client.LocalAddr().(*net.TCPAddr).Port)
	toClient := bytes.Repeat([]byte("s2c!"), 3000)
	if _, err := server.Write(toClient); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	// Unsent: written while frozen (a dropped transmission is not sent).
	tuple, err := fdTupleOf(server)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Freeze(ctx, tuple); err != nil {
		t.Fatal(err)
	}
	unsent := []byte("unsent")
	if _, err := server.Write(unsent); err != nil {
		t.Fatal(err)
	}
	toClient = append(toClient, unsent...)

	sess, img := stopGet(ctx, t, server, opts)
	if !bytes.Equal(img.RecvQueue, toServer) {
		t.Fatalf("receive queue: %d bytes, want the client's %d", len(img.RecvQueue), len(toServer))
	}
	if got := append(append([]byte(nil), img.SendUnacked...), img.SendUnsent...); !bytes.Equal(got, toClient) {
		t.Fatalf("send queue: %d bytes, want %d", len(got), len(toClient))
	}
	if len(img.SendUnacked) != len(toClient)-len(unsent) || !bytes.Equal(img.SendUnsent, unsent) {
		t.Fatalf("send queue split %d+%d, want %d+%d", len(img.SendUnacked), len(img.SendUnsent), len(toClient)-len(unsent), len(unsent))
	}
	unblock()
	img.AppState = []byte("state")
	b, err := img.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var img2 Image
	if err := img2.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if mapped {
		for _, ap := range []*netip.AddrPort{&img2.Tuple.Local, &img2.Tuple.Remote} {
			*ap = netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
		}
	}

	// The 4-tuple is still taken by the stopped socket.
	if _, err := Set(ctx, &img2, opts); !errors.Is(err, ErrInUse) {
		t.Fatalf("Set while the original exists: %v, want ErrInUse", err)
	}
	if err := sess.Release(); err != nil {
		t.Fatal(err)
	}
	server.Close()

	start := time.Now()
	conn := restore(ctx, t, &img2, opts)
	if got := readN(t, client, len(toClient)); !bytes.Equal(got, toClient) {
		t.Fatal("client read different bytes")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("unacked bytes took %v to reach the client (an RTO stall)", d)
	}
	if got := readN(t, conn, len(toServer)); !bytes.Equal(got, toServer) {
		t.Fatal("restored server read different bytes")
	}
	mss, err := unix.GetsockoptInt(fdOf(t, conn), unix.IPPROTO_TCP, unix.TCP_MAXSEG)
	if err != nil || uint32(mss) == 524 {
		t.Fatalf("restored MSS %d (%v), want the original clamp %d", mss, err, img.MSSClamp)
	}
	if !tuple.Is6() {
		if tr, err := unix.GetsockoptInt(fdOf(t, conn), unix.IPPROTO_IP, unix.IP_TRANSPARENT); err != nil || tr != 0 {
			t.Fatalf("IP_TRANSPARENT %d (%v) after Restart, want 0", tr, err)
		}
	}
	// And the session goes on both ways.
	client.Write([]byte("more"))
	if got := readN(t, conn, 4); string(got) != "more" {
		t.Fatalf("after restart: %q", got)
	}
	conn.Write([]byte("back"))
	if got := readN(t, client, 4); string(got) != "back" {
		t.Fatalf("after restart: %q", got)
	}
}

// blockInput drops TCP segments to port on input, as a lossy path would,
// until the returned function is called.
func blockInput(t *testing.T, port int) func() { return blockPort(t, port, 2) }

// blockPort drops TCP segments on input whose port at offset off of the
// TCP header (0: source, 2: destination) is port.
func blockPort(t *testing.T, port int, off uint32) func() {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "tcptake_test"})
	chain := c.AddChain(&nftables.Chain{Name: "in", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityRef(-400)})
	c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(port))},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() {
		c.DelTable(table)
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

func fdOf(t *testing.T, c *net.TCPConn) int {
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	rc.Control(func(f uintptr) { fd = int(f) })
	return fd
}

func fdTupleOf(c *net.TCPConn) (Tuple, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return Tuple{}, err
	}
	var t Tuple
	if cerr := rc.Control(func(fd uintptr) { t, err = fdTuple(int(fd)) }); cerr != nil {
		return Tuple{}, cerr
	}
	return t, err
}

// TestMigrateStates moves the server side of a loopback session in each
// half-closed state and checks both ends finish the exchange: every byte
// once, then a clean EOF, never a reset.
func TestMigrateStates(t *testing.T) {
	type setup func(t *testing.T, client, server *net.TCPConn, block func(port int) func()) (cleanup func())
	clientPort := func(c *net.TCPConn) int { return c.LocalAddr().(*net.TCPAddr).Port }
	tests := []struct {
		name       string
		want       State
		setup      setup
		serverSent bool // the server's FIN went out before the move
		clientSent bool // the client's FIN went out before the move
	}{
		{"established", StateEstablished, func(t *testing.T, c, s *net.TCPConn, block func(int) func()) func() {
			return func() {}
		}, false, false},
		{"fin-wait-1", StateFinWait1, func(t *testing.T, c, s *net.TCPConn, block func(int) func()) func() {
			unblock := block(clientPort(c))
			s.CloseWrite()
			return unblock
		}, true, false},
		{"fin-wait-2", StateFinWait2, func(t *testing.T, c, s *net.TCPConn, block func(int) func()) func() {
			s.CloseWrite()
			return func() {}
		}, true, false},
		{"close-wait", StateCloseWait, func(t *testing.T, c, s *net.TCPConn, block func(int) func()) func() {
			c.CloseWrite()
			return func() {}
		}, false, true},
		{"last-ack", StateLastAck, func(t *testing.T, c, s *net.TCPConn, block func(int) func()) func() {
			c.CloseWrite()
			time.Sleep(20 * time.Millisecond)
			unblock := block(clientPort(c))
			s.CloseWrite()
			return unblock
		}, true, true},
		{"closing", StateClosing, func(t *testing.T, c, s *net.TCPConn, block func(int) func()) func() {
			unblock := block(clientPort(c))
			s.CloseWrite()
			time.Sleep(20 * time.Millisecond)
			c.CloseWrite()
			return unblock
		}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inNewNetns(t, func() {
				ctx := context.Background()
				f := testFreezer(t)
				client, server := pair(t, "127.0.0.1:0")
				defer client.Close()
				c2s, s2c := []byte("to the server"), []byte("to the client")
				client.Write(c2s)
				server.Write(s2c)
				time.Sleep(20 * time.Millisecond)
				unblock := tt.setup(t, client, server, func(port int) func() { return blockInput(t, port) })
				time.Sleep(50 * time.Millisecond)

				sess, img := stopGet(ctx, t, server, &Options{Freezer: f})
				if img.State != tt.want {
					t.Fatalf("state %v, want %v", img.State, tt.want)
				}
				sess.Release()
				server.Close()
				unblock()
				conn := restore(ctx, t, img, &Options{Freezer: f})

				// The server reads what the client sent, then EOF if the
				// client closed.
				if got := readN(t, conn, len(c2s)); !bytes.Equal(got, c2s) {
					t.Fatalf("server read %q", got)
				}
				if !tt.clientSent {
					client.CloseWrite()
				}
				expectEOF(t, conn)
				// The client reads what the server sent, then EOF.
				if got := readN(t, client, len(s2c)); !bytes.Equal(got, s2c) {
					t.Fatalf("client read %q", got)
				}
				if !tt.serverSent {
					conn.CloseWrite()
				}
				expectEOF(t, client)
			})
		})
	}
}

func expectEOF(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if n, err := c.Read(b[:]); err != io.EOF {
		t.Fatalf("read %d bytes, %v; want a clean EOF", n, err)
	}
}

func TestStopMPTCP(t *testing.T) {
	inNewNetns(t, func() {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		d := net.Dialer{}
		d.SetMultipathTCP(true)
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if ok, _ := s.(*net.TCPConn).MultipathTCP(); !ok {
			t.Skip("the kernel did not negotiate MPTCP")
		}
		_, err = Stop(context.Background(), s.(*net.TCPConn), nil)
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("Stop of an MPTCP session: %v, want ErrUnsupported", err)
		}
	})
}

// TestCheckpoint stops, gets and restarts a session in place (the failover
// checkpoint) while both ends keep writing, and checks no byte is lost.
func TestCheckpoint(t *testing.T) {
	inNewNetns(t, func() {
		ctx := context.Background()
		f := testFreezer(t)
		client, server := pair(t, "127.0.0.1:0")
		defer client.Close()
		defer server.Close()
		var sent []byte
		for i := range 20 {
			msg := bytes.Repeat([]byte{byte('a' + i)}, 1000)
			client.Write(msg)
			sent = append(sent, msg...)
			sess, img := stopGet(ctx, t, server, &Options{Freezer: f})
			if img.Generation != 1 {
				t.Fatalf("generation %d", img.Generation)
			}
			c, err := sess.Restart(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if c != server {
				t.Fatal("Restart of a stopped conn returned another conn")
			}
		}
		if got := readN(t, server, len(sent)); !bytes.Equal(got, sent) {
			t.Fatal("bytes lost or reordered across checkpoints")
		}
		server.Write([]byte("done"))
		if got := readN(t, client, 4); string(got) != "done" {
			t.Fatalf("client read %q", got)
		}
	})
}

// TestCheckpointFunc takes checkpoints with Checkpoint (no module here: a
// stop, get and restart in place) and checks the image holds the unread
// bytes exactly while the session goes on.
func TestCheckpointFunc(t *testing.T) {
	inNewNetns(t, func() {
		ctx := context.Background()
		opts := &Options{Freezer: testFreezer(t)}
		client, server := pair(t, "127.0.0.1:0")
		defer client.Close()
		defer server.Close()
		client.Write([]byte("unread"))
		time.Sleep(20 * time.Millisecond)
		img, err := Checkpoint(ctx, server, opts)
		if err != nil {
			t.Fatal(err)
		}
		if string(img.RecvQueue) != "unread" || img.State != StateEstablished {
			t.Fatalf("checkpoint: state %v, receive queue %q", img.State, img.RecvQueue)
		}
		if got := readN(t, server, 6); string(got) != "unread" {
			t.Fatalf("after the checkpoint the server read %q", got)
		}
		server.Write([]byte("on"))
		if got := readN(t, client, 2); string(got) != "on" {
			t.Fatalf("after the checkpoint the client read %q", got)
		}
	})
}

// TestMigrateSockOpts checks the socket options an application set come
// back on the restored socket.
func TestMigrateSockOpts(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			inNewNetns(t, func() {
				ctx := context.Background()
				opts := &Options{Freezer: testFreezer(t)}
				client, server := pair(t, addr)
				defer client.Close()
				v6 := server.LocalAddr().(*net.TCPAddr).IP.To4() == nil
				fd := fdOf(t, server)
				ipLevel, tos, ttl := unix.IPPROTO_IP, unix.IP_TOS, unix.IP_TTL
				if v6 {
					ipLevel, tos, ttl = unix.IPPROTO_IPV6, unix.IPV6_TCLASS, unix.IPV6_UNICAST_HOPS
				}
				for _, o := range [][3]int{
					{unix.IPPROTO_TCP, unix.TCP_NODELAY, 0},
					{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
					{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 31},
					{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 7},
					{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 4},
					{unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, 9000},
					{ipLevel, tos, 0x20},
					{ipLevel, ttl, 33},
				} {
					if err := unix.SetsockoptInt(fd, o[0], o[1], o[2]); err != nil {
						t.Fatalf("setsockopt %d/%d: %v", o[0], o[1], err)
					}
				}
				want := getSockOpts(fd, v6)

				sess, img := stopGet(ctx, t, server, opts)
				if img.Sock != want {
					t.Fatalf("image socket options %+v, want %+v", img.Sock, want)
				}
				sess.Release()
				server.Close()
				conn := restore(ctx, t, img, opts)
				if got := getSockOpts(fdOf(t, conn), v6); got != want {
					t.Fatalf("restored socket options %+v, want %+v", got, want)
				}
			})
		})
	}
}

// TestRestartAllTwice: a session listed twice is refused, not locked twice.
func TestRestartAllTwice(t *testing.T) {
	s := &Session{fd: -1}
	done := make(chan error, 1)
	go func() { _, err := RestartAll(context.Background(), []*Session{s, s}); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "listed twice") {
			t.Fatalf("RestartAll of a session listed twice: %v, want \"listed twice\"", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RestartAll of a session listed twice hangs")
	}
}

// thawFails is a freezer whose first n Thaws fail.
type thawFails struct {
	Freezer
	n atomic.Int32
}

func (f *thawFails) Thaw(ctx context.Context, t Tuple, kick bool) error {
	if f.n.Add(-1) >= 0 {
		return errors.New("thaw refused")
	}
	return f.Freezer.Thaw(ctx, t, kick)
}

// TestRestartFailureCloses: a restored session that cannot be brought
// back (here its thaw fails) is reported by RestartAll at its position and
// closed — its peer is reset at once, not left waiting — while the other
// sessions of the call are live.
func TestRestartFailureCloses(t *testing.T) {
	inNewNetns(t, func() {
		ctx := context.Background()
		f := testFreezer(t)
		opts := &Options{Freezer: f}
		bad := &Options{Freezer: &thawFails{Freezer: f}}
		bad.Freezer.(*thawFails).n.Store(1)
		var clients []*net.TCPConn
		var ss []*Session
		for i, o := range []*Options{bad, opts} {
			client, server := pair(t, "127.0.0.1:0")
			defer client.Close()
			clients = append(clients, client)
			sess, img := stopGet(ctx, t, server, opts)
			if err := sess.Release(); err != nil {
				t.Fatal(err)
			}
			server.Close()
			img.SendUnsent = []byte(fmt.Sprintf("session %d", i))
			img.WriteSeq += uint32(len(img.SendUnsent))
			s, err := Set(ctx, img, o)
			if err != nil {
				t.Fatal(err)
			}
			ss = append(ss, s)
		}
		conns, err := RestartAll(ctx, ss)
		var e *Error
		if !errors.As(err, &e) || e.Op != OpRestart || e.Session != ss[0].String() || !strings.Contains(err.Error(), "thaw refused") {
			t.Fatalf("RestartAll error %v, want the first session's thaw failure", err)
		}
		if len(conns) != 2 || conns[0] != nil || conns[1] == nil {
			t.Fatalf("conns %v, want [nil live]", conns)
		}
		defer conns[1].Close()
		clients[0].SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, err := clients[0].Read(make([]byte, 64)); !errors.Is(err, unix.ECONNRESET) {
			t.Fatalf("client of the failed session: read %d bytes, %v; want a reset at once", n, err)
		}
		if got := readN(t, clients[1], 9); string(got) != "session 1" {
			t.Fatalf("client of the live session read %q", got)
		}
		conns[1].Write([]byte("on"))
		if got := readN(t, clients[1], 2); string(got) != "on" {
			t.Fatalf("after restart: %q", got)
		}
	})
}
