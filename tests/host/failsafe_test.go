//go:build linux

package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tcptake/tcptake/ha"
	"github.com/tcptake/tcptake/libtcptake"
	"github.com/tcptake/tcptake/tests/host/topo"
)

// TestCheckpoint: Stop, Get, Restart on the original session resumes it
// in place; data flows both ways afterwards, exactly once, and the freeze
// is gone.
func TestCheckpoint(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(family(v6), func(t *testing.T) {
			e := newEnv(t)
			p := newPair(t, e, v6, 8200, nil)
			a, b := pattern(11, 0, 2000), pattern(12, 0, 3000)
			p.cli.Write(a)
			p.srv.Write(b)
			got := collect(p.cli, len(b))
			got.waitMark(t)
			sess, img := p.stop(t, opts(t, e.Act))
			resume(t, e.Act, sess, p)
			if !bytes.Equal(img.RecvQueue, a) {
				t.Errorf("image receive queue %d bytes, want %d", len(img.RecvQueue), len(a))
			}
			checkAlive(t, p, p.srv, a, got, b)
			e.checkNoRST()
		})
	}
}

// resume restarts a stopped session in place and checks its freeze is gone.
func resume(t *testing.T, n *topo.Netns, sess *libtcptake.Session, p *pair) {
	t.Helper()
	var conn *net.TCPConn
	if err := n.Do(func() (err error) { conn, err = sess.Restart(context.Background()); return err }); err != nil {
		t.Fatalf("restart in place: %v", err)
	}
	if conn != p.srv {
		t.Errorf("Restart of a stopped original returned a new conn, want the original")
	}
	l, r := p.tuple()
	if f, err := n.Frozen(l, r); err != nil || len(f) > 0 {
		t.Errorf("after restart in place, tuple still frozen in %s: %v %v", n.Name, f, err)
	}
}

// checkAlive checks that the session still carries bytes both ways: the
// server (srv) reads the client's earlier bytes sent (exactly), then an
// exchange in both directions, then a clean close.
func checkAlive(t *testing.T, p *pair, srv *net.TCPConn, sentBefore []byte, got *collector, recvBefore []byte) {
	t.Helper()
	a2, b2 := pattern(13, 0, 1000), pattern(14, 0, 1000)
	if _, err := p.cli.Write(a2); err != nil {
		t.Fatalf("client write: %v", err)
	}
	p.cli.CloseWrite()
	if _, err := srv.Write(b2); err != nil {
		t.Fatalf("server write: %v", err)
	}
	srv.CloseWrite()
	fromCli, err := readAll(srv, 10*time.Second)
	if err != nil {
		t.Errorf("server read: %v", err)
	}
	if want := append(append([]byte{}, sentBefore...), a2...); !bytes.Equal(fromCli, want) {
		t.Errorf("server read %d bytes, want %d exactly", len(fromCli), len(want))
	}
	toCli, err := got.wait(t)
	if err != nil {
		t.Errorf("client read: %v", err)
	}
	if want := append(append([]byte{}, recvBefore...), b2...); !bytes.Equal(toCli, want) {
		t.Errorf("client read %d bytes, want %d exactly", len(toCli), len(want))
	}
	srv.Close()
	p.cli.Close()
	time.Sleep(50 * time.Millisecond)
}

// nothingLeft asserts that n has no socket and no freeze for the tuple.
func nothingLeft(t *testing.T, n *topo.Netns, l, r netip.AddrPort, sockets int) {
	t.Helper()
	if s := n.Sockets(l, r); len(s) != sockets {
		t.Errorf("%s: %d sockets on %v %v, want %d: %q", n.Role, len(s), l, r, sockets, s)
	}
	f, err := n.Frozen(l, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) > 0 {
		t.Errorf("%s: tuple %v %v still in tcptake's nftables: %q", n.Role, l, r, f)
	}
}

// TestFailSafe (g): each failure is the documented error, and leaves
// nothing half-created: no socket on the tuple, no freeze, and the
// original session still works.
func TestFailSafe(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(family(v6), func(t *testing.T) { testFailSafe(t, v6) })
	}
}

func testFailSafe(t *testing.T, v6 bool) {
	e := newEnv(t)
	ctx := context.Background()
	p := newPair(t, e, v6, 8300, nil)
	a, b := pattern(15, 0, 1000), pattern(16, 0, 1000)
	p.cli.Write(a)
	p.srv.Write(b)
	got := collect(p.cli, len(b))
	got.waitMark(t)
	l, r := p.tuple()
	sess, img := p.stop(t, opts(t, e.Act))
	// The probes nothingLeft relies on must see a stopped session.
	if f, err := e.Act.Frozen(l, r); err != nil || len(f) != 1 {
		t.Fatalf("stopped session: %d tcptake nftables entries for the tuple (%q, %v), want 1", len(f), f, err)
	}
	if s := e.Act.Sockets(l, r); len(s) != 1 {
		t.Fatalf("stopped session: ss shows %q, want 1 socket", s)
	}
	raw, err := img.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("BadImage", func(t *testing.T) {
		for _, n := range []int{0, 1, 15, 16, len(raw) / 2, len(raw) - 1} {
			var img2 libtcptake.Image
			if err := img2.UnmarshalBinary(raw[:n]); !errors.Is(err, libtcptake.ErrBadImage) {
				t.Errorf("image truncated to %d of %d bytes: %v, want ErrBadImage", n, len(raw), err)
			}
			if _, err := libtcptake.ReadImage(bytes.NewReader(raw[:n])); n > 0 && !errors.Is(err, libtcptake.ErrBadImage) {
				t.Errorf("ReadImage of %d of %d bytes: %v, want ErrBadImage", n, len(raw), err)
			}
		}
		for _, i := range []int{0, 5, 13, 20, len(raw) / 2, len(raw) - 1} {
			bad := bytes.Clone(raw)
			bad[i] ^= 0x40
			var img2 libtcptake.Image
			if err := img2.UnmarshalBinary(bad); !errors.Is(err, libtcptake.ErrBadImage) {
				t.Errorf("image with byte %d flipped: %v, want ErrBadImage", i, err)
			}
		}
		// A well-formed but inconsistent image: one unacked byte missing.
		bad := *img
		bad.SendUnacked = append([]byte{}, img.SendUnacked...)
		bad.SndNxt++
		err := e.Sby.Do(func() error {
			s, err := libtcptake.Set(ctx, &bad, opts(t, e.Sby))
			if err == nil {
				s.Release()
				s.Thaw(ctx)
			}
			return err
		})
		if !errors.Is(err, libtcptake.ErrBadImage) {
			t.Errorf("Set of an inconsistent image: %v, want ErrBadImage", err)
		}
		nothingLeft(t, e.Sby, l, r, 0)
	})

	t.Run("NotLocal", func(t *testing.T) {
		o := opts(t, e.Sby)
		o.NoFreebind = true
		err := e.Sby.Do(func() error {
			s, err := libtcptake.Set(ctx, img, o)
			if err == nil {
				s.Release()
				s.Thaw(ctx)
			}
			return err
		})
		if !errors.Is(err, libtcptake.ErrNotLocal) {
			t.Errorf("Set without freebind of an address sby lacks: %v, want ErrNotLocal", err)
		}
		nothingLeft(t, e.Sby, l, r, 0)
	})

	t.Run("Permission", func(t *testing.T) {
		needTool(t, "setpriv")
		file := filepath.Join(t.TempDir(), "img")
		if err := os.WriteFile(file, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		// Re-exec this test binary in sby without CAP_NET_ADMIN.
		cmd := e.Sby.Command(ctx, "setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", "--",
			os.Args[0], "-test.run=^TestPermissionHelper$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "TCPTAKE_PERM_HELPER_IMAGE="+file)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "PERM-HELPER-OK") {
			t.Errorf("unprivileged helper: %v\n%s", err, out)
		}
		nothingLeft(t, e.Sby, l, r, 0)
	})

	// The session resumes in place after all that; then its tuple is in use.
	resume(t, e.Act, sess, p)
	t.Run("InUse", func(t *testing.T) {
		err := e.Act.Do(func() error {
			s, err := libtcptake.Set(ctx, img, opts(t, e.Act))
			if err == nil {
				s.Release()
				s.Thaw(ctx)
			}
			return err
		})
		if !errors.Is(err, libtcptake.ErrInUse) {
			t.Errorf("Set of a tuple in use: %v, want ErrInUse", err)
		}
		nothingLeft(t, e.Act, l, r, 1)
	})
	checkAlive(t, p, p.srv, a, got, b)
	e.checkNoRST()
}

// TestPermissionHelper runs only as the unprivileged child of
// TestFailSafe/Permission: without CAP_NET_ADMIN, Set and Stop must fail
// with ErrPermission and leave a plain session untouched.
func TestPermissionHelper(t *testing.T) {
	file := os.Getenv("TCPTAKE_PERM_HELPER_IMAGE")
	if file == "" {
		t.Skip("helper of TestFailSafe/Permission")
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var img libtcptake.Image
	if err := img.UnmarshalBinary(raw); err != nil {
		t.Fatal(err)
	}
	// Make sure the capability is really gone (CAP_NET_ADMIN is bit 12).
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		var eff uint64
		if _, err := fmt.Sscanf(line, "CapEff:\t%x", &eff); err == nil && eff&(1<<12) != 0 {
			t.Fatalf("helper still has CAP_NET_ADMIN (CapEff %#x)", eff)
		}
	}
	ctx := context.Background()
	if s, err := libtcptake.Set(ctx, &img, nil); !errors.Is(err, libtcptake.ErrPermission) {
		if s != nil {
			s.Release()
		}
		t.Fatalf("unprivileged Set: %v, want ErrPermission", err)
	}
	// Stop of a plain loopback session.
	l, err := ha.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := dialer().Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if sess, err := libtcptake.Stop(ctx, s, nil); !errors.Is(err, libtcptake.ErrPermission) {
		if sess != nil {
			sess.Restart(ctx)
		}
		t.Fatalf("unprivileged Stop: %v, want ErrPermission", err)
	}
	// The session is untouched.
	s.Write([]byte("ping"))
	buf := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(buf); err != nil || string(buf) != "ping" {
		t.Fatalf("session after a failed Stop: %q %v", buf, err)
	}
	fmt.Println("PERM-HELPER-OK")
}
