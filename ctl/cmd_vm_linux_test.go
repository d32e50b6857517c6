package main

// tcptakectl against the real module. Runs only inside the test VM
// (ci/vmtest.sh: TCPTAKE_VMTEST=1 /ctl.test -test.run VM), as root, with
// tcptake.ko loaded. The session is a loopback pair in a fresh network
// namespace, which every command reaches with -n /proc/self/fd/N: a freeze
// of the client's tuple drops both directions there.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// vmPair is a connected loopback pair in its own network namespace.
type vmPair struct {
	ns   string // -n argument
	c, s *net.TCPConn
	l, r string // the client's ends, ADDR:PORT
}

func newVMPair(t *testing.T) *vmPair {
	t.Helper()
	if os.Getenv("TCPTAKE_VMTEST") != "1" {
		t.Skip("needs the test VM with the tcptake module (TCPTAKE_VMTEST=1)")
	}
	type result struct {
		ns   *os.File
		c, s *net.TCPConn
		err  error
	}
	done := make(chan result)
	// The thread enters the new namespace and is never given back: the Go
	// runtime ends a locked thread whose goroutine returns.
	go func() {
		runtime.LockOSThread()
		var res result
		defer func() { done <- res }()
		if res.err = unix.Unshare(unix.CLONE_NEWNET); res.err != nil {
			return
		}
		if res.ns, res.err = os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())); res.err != nil {
			return
		}
		if res.err = loUp(); res.err != nil {
			return
		}
		ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if res.err = err; err != nil {
			return
		}
		defer ln.Close()
		if res.c, res.err = net.DialTCP("tcp4", nil, ln.Addr().(*net.TCPAddr)); res.err != nil {
			return
		}
		res.s, res.err = ln.AcceptTCP()
	}()
	res := <-done
	if res.err != nil {
		t.Fatalf("loopback pair in a new netns: %v", res.err)
	}
	t.Cleanup(func() { res.c.Close(); res.s.Close(); res.ns.Close() })
	return &vmPair{
		ns: fmt.Sprintf("/proc/self/fd/%d", res.ns.Fd()),
		c:  res.c, s: res.s,
		l: res.c.LocalAddr().String(), r: res.c.RemoteAddr().String(),
	}
}

// loUp brings lo up in the calling thread's namespace.
func loUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// ctl runs tcptakectl -n p.ns ARGS and wants exit status code.
func (p *vmPair) ctl(t *testing.T, code int, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, got := runCtl(t, nil, append([]string{"-n", p.ns}, args...)...)
	if got != code {
		t.Fatalf("tcptakectl %s: exit status %d, want %d\nstdout: %s\nstderr: %s",
			strings.Join(args, " "), got, code, stdout, stderr)
	}
	return stdout, stderr
}

// ctlJSON runs tcptakectl -j -n p.ns ARGS, wants success and decodes stdout.
func (p *vmPair) ctlJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out, _ := p.ctl(t, 0, append([]string{"-j"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("tcptakectl -j %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func readExactly(t *testing.T, conn *net.TCPConn, want string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != want {
		t.Fatalf("read %q, %v; want %q", buf, err, want)
	}
}

// on is the command line OBJECT VERB TUPLE ARGS... for the client's tuple.
func (p *vmPair) on(object, verb string, args ...string) []string {
	return append([]string{object, verb, "local", p.l, "remote", p.r}, args...)
}

// TestVMCtl drives every module verb of tcptakectl against the module:
// module status, session list through the GET dump, session get (with the
// queue bytes), freeze add, show, peer and del with kick, session set in
// repair mode, and the errors the module reports.
func TestVMCtl(t *testing.T) {
	p := newVMPair(t)
	lp := netip.MustParseAddrPort(p.l).Port()
	rp := netip.MustParseAddrPort(p.r).Port()

	out, _ := p.ctl(t, 0, "module", "status")
	if !strings.HasPrefix(out, "module tcptake loaded\nversion ") || !strings.Contains(out, "freezes 0\n") {
		t.Errorf("module status:\n%s", out)
	}

	// Both ends through the GET dump; the client's view mirrors the server's.
	if _, err := p.s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // delivered and acked over lo
	var list []sessionJSON
	p.ctlJSON(t, &list, "session", "list")
	byPort := map[uint16]sessionJSON{}
	for _, s := range list {
		if s.Source != "module" || s.ModuleJSON == nil {
			t.Fatalf("session list entry not from the module: %+v", s)
		}
		byPort[s.Tuple.LocalPort] = s
	}
	cs, ss := byPort[lp], byPort[rp]
	if len(list) != 2 || cs.ModuleJSON == nil || ss.ModuleJSON == nil {
		t.Fatalf("session list: %d entries, want the client (%d) and server (%d): %+v", len(list), lp, rp, list)
	}
	if cs.RecvQ != 5 || cs.RcvNxt != ss.WriteSeq || cs.SndUna != ss.RcvNxt {
		t.Errorf("client recv_q %d rcv_nxt %d snd_una %d; server write_seq %d rcv_nxt %d; want 5 and equal seqs",
			cs.RecvQ, cs.RcvNxt, cs.SndUna, ss.WriteSeq, ss.RcvNxt)
	}

	var img sessionImageJSON
	p.ctlJSON(t, &img, p.on("session", "get", "buffers")...)
	if img.State != "established" || img.Tuple.LocalPort != lp || img.Tuple.RemotePort != rp ||
		img.RcvNxt != cs.RcvNxt || img.Rcvq != "68656c6c6f" || img.SRTTus == nil {
		t.Errorf("session get buffers: %+v, want established %d->%d rcv_nxt %d rcvq \"hello\" with srtt",
			img, lp, rp, cs.RcvNxt)
	}

	p.ctl(t, 0, p.on("freeze", "add", "timeout", "20s")...)
	_, stderr := p.ctl(t, 1, p.on("freeze", "add")...)
	if !strings.Contains(stderr, "tuple already frozen") || !strings.Contains(stderr, "add 'replace'") {
		t.Errorf("freeze twice: %q", stderr)
	}
	if _, err := p.s.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	var segs []segmentJSON
	for end := time.Now().Add(3 * time.Second); ; {
		p.ctlJSON(t, &segs, p.on("freeze", "peer")...)
		if len(segs) > 0 || time.Now().After(end) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(segs) == 0 || segs[0].Len != 4 || segs[0].Seq != cs.RcvNxt || segs[0].Ack != cs.SndUna {
		t.Errorf("freeze peer: %+v, want the server's pong: len 4 seq %d ack %d", segs, cs.RcvNxt, cs.SndUna)
	}
	var frozen []freezeJSON
	p.ctlJSON(t, &frozen, "freeze", "show", "remote", p.r)
	if len(frozen) != 1 || frozen[0].Tuple.LocalPort != lp || frozen[0].Tuple.RemotePort != rp ||
		frozen[0].DroppedIn < uint64(len(segs)) {
		t.Errorf("freeze show: %+v, want %d->%d with dropped_in at least %d", frozen, lp, rp, len(segs))
	}

	p.ctl(t, 0, p.on("freeze", "del", "kick")...)
	readExactly(t, p.c, "hellopong")
	_, stderr = p.ctl(t, 1, p.on("freeze", "del")...)
	if !strings.Contains(stderr, "the tuple is not frozen") {
		t.Errorf("freeze del twice: %q", stderr)
	}

	// A freeze names a tuple, not a socket.
	ghost := []string{"local", "127.0.0.1:9", "remote", "127.0.0.1:10"}
	p.ctl(t, 0, append([]string{"freeze", "add"}, ghost...)...)
	p.ctlJSON(t, &frozen, "freeze", "show", "local", ":9")
	if len(frozen) != 1 || frozen[0].Tuple.LocalPort != 9 || frozen[0].Tuple.RemotePort != 10 {
		t.Errorf("freeze show local :9: %+v, want the socketless tuple 127.0.0.1:9 127.0.0.1:10", frozen)
	}
	p.ctl(t, 0, append([]string{"freeze", "del"}, ghost...)...)

	_, stderr = p.ctl(t, 1, p.on("session", "set", "cwnd", "20")...)
	if !strings.Contains(stderr, "socket not in repair mode") || !strings.Contains(stderr, "put the socket in TCP_REPAIR mode first") {
		t.Errorf("set outside repair mode: %q", stderr)
	}
	repair := func(on int) {
		rc, err := p.c.SyscallConn()
		if err == nil {
			rc.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_REPAIR, on) })
		}
		if err != nil {
			t.Fatalf("TCP_REPAIR %d: %v", on, err)
		}
	}
	repair(1)
	p.ctl(t, 0, p.on("session", "set", "cwnd", "20", "ssthresh", "30")...)
	p.ctlJSON(t, &img, p.on("session", "get")...)
	if img.SndCwnd == nil || *img.SndCwnd != 20 || img.SndSsthresh == nil || *img.SndSsthresh != 30 {
		t.Errorf("session get after set: snd_cwnd %v snd_ssthresh %v, want 20 and 30", img.SndCwnd, img.SndSsthresh)
	}
	repair(0)
	if _, err := p.c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	readExactly(t, p.s, "ping")
}
