//go:build linux

package vm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcptake/tcptake/ha"
	"github.com/tcptake/tcptake/internal/plainloop"
)

// TestVMSwitchoverBench is make bench's switchover with the kernel module
// (the host has none): TCPTAKE_BENCH_N idle echo sessions (default 200)
// move between two streamd nodes over their sync link, and, in the same
// run, the plain serial TCP_REPAIR dump → close → restore loop
// (internal/plainloop) moves as many loopback sessions of this namespace.
// Every session must echo after the move, byte for byte. Bench lines, with
// the kernel (ratios only: TCG):
//
//	bench: N=<n> blackout_ms=<address down + up + restart> baseline=<the loop> ratio=<…> (kernel, module; address moved …, restart …)
//	bench: N=<n> dump_us=<stop+get per session> baseline=<the loop's dump + close>
//	bench: N=<n> restore_us=<set+restart per session> baseline=<the loop's restore> (…; set …)
func TestVMSwitchoverBench(t *testing.T) {
	streamd := streamdPath(t)
	n := 200
	if v, err := strconv.Atoi(os.Getenv("TCPTAKE_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	lim := unix.Rlimit{Cur: uint64(4*n + 256), Max: uint64(4*n + 256)}
	var old unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &old)
	if old.Cur < lim.Cur {
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatalf("RLIMIT_NOFILE %d: %v", lim.Cur, err)
		}
		defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	}
	kernel := kernelRelease(t)

	// The baseline first, on loopback pairs of this namespace.
	loop := plainLoop(t, n)

	echoAt := netip.AddrPortFrom(vip4, 9000)
	act, sby := startPair(t, streamd, "--echo-listen", echoAt.String(), "--vip", vip4.String()+"/24@eth0")
	waitLinked(ctx, t, act)

	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", echoAt.String())
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	echoAll(t, conns, 0)
	waitFor(t, 20*time.Second, "every session tracked", func() bool {
		resp, err := ha.Control(ctx, act.ctl, ha.ControlRequest{Op: "status"})
		return err == nil && resp.Status != nil && resp.Status.Sessions == n
	})
	resp, err := ha.Control(ctx, act.ctl, ha.ControlRequest{Op: "switchover"})
	if err != nil || resp.Error != "" || resp.Report == nil {
		t.Fatalf("switchover: %v %+v", err, resp)
	}
	r := resp.Report
	if r.Sessions != n || r.Failed != 0 {
		t.Fatalf("switchover moved %d sessions, %d failed; want %d, 0", r.Sessions, r.Failed, n)
	}
	echoAll(t, conns, 1)
	if s, err := ha.Control(ctx, sby.ctl, ha.ControlRequest{Op: "status"}); err != nil || s.Status == nil || s.Status.Sessions != n {
		t.Fatalf("the new active tracks %+v (%v), want %d sessions", s.Status, err, n)
	}

	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(n) }
	line := func(fig string, v, base float64, more string) {
		t.Logf("bench: N=%d %s=%.2f baseline=%.2f ratio=%.3f (%s, module%s)", n, fig, v, base, v/base, kernel, more)
	}
	line("blackout_ms", ms(r.AddressMoved+r.Restart), ms(loop.dump+loop.close+loop.restore),
		fmt.Sprintf("; address moved %.2f ms, restart %.2f ms", ms(r.AddressMoved), ms(r.Restart)))
	line("dump_us", per(r.StopGet), per(loop.dump+loop.close), "")
	line("restore_us", per(r.Set+r.Restart), per(loop.restore), fmt.Sprintf("; set %.2f ms", ms(r.Set)))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

func kernelRelease(t *testing.T) string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(u.Release[:])
}

// echoAll sends round k's message on every conn and checks its echo.
func echoAll(t *testing.T, conns []net.Conn, k int) {
	t.Helper()
	for i, c := range conns {
		msg := fmt.Appendf(nil, "round %d session %d\n", k, i)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("round %d, session %d: %v", k, i, err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("round %d, session %d: echo %q (%v), want %q", k, i, got, err, msg)
		}
		c.SetDeadline(time.Time{})
	}
}

// loopTimes are the plain loop's phases over all its sessions.
type loopTimes struct{ dump, close, restore time.Duration }

// plainLoop makes n loopback sessions (server side on 127.0.0.2), each
// with bytes unread on the server, moves their server sides with the plain
// loop (dump all, close all, restore all) and checks that each then
// delivers the unread bytes and carries new ones both ways.
func plainLoop(t *testing.T, n int) loopTimes {
	t.Helper()
	// An Ethernet MSS: loopback's (65483) is more than TCP_MAXSEG takes,
	// which the loop sets before connect.
	mss := func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG, 1448) })
		return err
	}
	ln, err := (&net.ListenConfig{Control: mss}).Listen(context.Background(), "tcp4", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	clients := make([]net.Conn, n)
	servers := make([]*net.TCPConn, n)
	for i := range n {
		if clients[i], err = (&net.Dialer{Control: mss}).Dial("tcp4", ln.Addr().String()); err != nil {
			t.Fatal(err)
		}
		defer clients[i].Close()
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		servers[i] = c.(*net.TCPConn)
		fmt.Fprintf(clients[i], "unread %d\n", i)
	}
	time.Sleep(50 * time.Millisecond) // the unread bytes in the servers' queues
	imgs := make([]plainloop.Image, n)
	files := make([]*os.File, n)
	var lt loopTimes
	t0 := time.Now()
	for i, s := range servers {
		imgs[i].Local, imgs[i].Remote = plainloop.Sockaddr4(s.LocalAddr()), plainloop.Sockaddr4(s.RemoteAddr())
		if files[i], err = s.File(); err != nil { // a dup: the loop works on a plain fd
			t.Fatal(err)
		}
		if err := plainloop.Dump(int(files[i].Fd()), &imgs[i]); err != nil {
			t.Fatalf("dump %d: %v", i, err)
		}
	}
	t1 := time.Now()
	for i, s := range servers { // in repair mode: a silent close
		s.Close()
		files[i].Close()
	}
	t2 := time.Now()
	restored := make([]*os.File, n)
	for i := range imgs {
		fd, err := plainloop.Restore(&imgs[i])
		if err != nil {
			t.Fatalf("restore %d: %v", i, err)
		}
		restored[i] = os.NewFile(uintptr(fd), "restored")
		defer restored[i].Close()
	}
	lt.dump, lt.close, lt.restore = t1.Sub(t0), t2.Sub(t1), time.Since(t2)
	for i, f := range restored {
		want := fmt.Sprintf("unread %d\n", i)
		got := make([]byte, len(want))
		if err := readFd(f, got); err != nil || string(got) != want {
			t.Fatalf("restored %d read %q (%v), want %q", i, got, err, want)
		}
		if _, err := f.Write([]byte("back\n")); err != nil {
			t.Fatalf("restored %d: %v", i, err)
		}
		clients[i].SetReadDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, 5)
		if _, err := io.ReadFull(clients[i], b); err != nil || string(b) != "back\n" {
			t.Fatalf("client %d read %q (%v) from the restored session", i, b, err)
		}
	}
	return lt
}

// readFd reads len(b) bytes from a non-blocking socket file within 10 s.
func readFd(f *os.File, b []byte) error {
	end := time.Now().Add(10 * time.Second)
	for k := 0; k < len(b); {
		m, err := unix.Read(int(f.Fd()), b[k:])
		switch {
		case err == syscall.EAGAIN && time.Now().Before(end):
			time.Sleep(time.Millisecond)
		case err != nil:
			return err
		case m == 0:
			return io.ErrUnexpectedEOF
		default:
			k += m
		}
	}
	return nil
}
