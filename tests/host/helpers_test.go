//go:build linux

// Package host is the host tier of tcptake's tests: real TCP sessions
// between network namespaces of one host (see topo), moved from an active
// to a standby node with libtcptake while curl, socat or Go clients use
// them, checked byte for byte, for RSTs on the client's link and for the
// restored MSS. Run by ci/hosttest.sh (make hosttest) as root, with
// TCPTAKE_HOSTTEST=1; the tests skip otherwise.
//
//	TestTopology          the test bed: service address moves with GARP/NA
//	TestStreamdSwitchover (a, b) two streamd nodes linked over TCP: curl over
//	                      IPv4 and IPv6 and socat echo, switchover and back,
//	                      with 3 and with 101 sessions
//	TestStreamdFaults     (g) SIGKILL of either streamd at each switchover step
//	TestStreamdMetrics    both streamd nodes' metrics scraped through a
//	                      switchover and a takeover
//	TestQueues            (c) receive, unacked and unsent queues at the stop
//	TestZeroWindow        (c) unsent bytes behind a zero window
//	TestLostACKs          (c) unacked bytes the client already has
//	TestStates            (d) every movable TCP state, then a clean close
//	TestEndurance         (e) 100 MB echoed through 25 switchovers, per family
//	TestCheckpoint        stop, get, restart in place
//	TestFailSafe          (g) ErrBadImage, ErrNotLocal, ErrPermission, ErrInUse
//
// Every migration test also asserts rule (f): no RST and no reset
// counter on the client; the direct moves also check the restored snd_mss
// equal to the original.
package host

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tcptake/tcptake/ha"
	"github.com/tcptake/tcptake/libtcptake"
	"github.com/tcptake/tcptake/tests/host/topo"
	"golang.org/x/sys/unix"
)

// env is one test's topology plus the client-side watchers every
// migration test asserts on (rule f): no RST on the client's link, no
// reset counted by the client's stack.
type env struct {
	t *testing.T
	*topo.Topology
	sniff    *topo.Sniffer
	counters map[string]int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, Topology: topo.New(t)}
	var err error
	if e.sniff, err = e.Cli.SniffRST(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rsts, _ := e.sniff.Stop()
		if t.Failed() && len(rsts) > 0 {
			t.Logf("RSTs on the client's link: %s", strings.Join(rsts, "; "))
		}
	})
	if e.counters, err = e.Cli.Counters(); err != nil {
		t.Fatal(err)
	}
	return e
}

// checkNoRST asserts that the client saw no RST and its stack counted no
// reset since newEnv.
func (e *env) checkNoRST() {
	e.t.Helper()
	rsts, segs := e.sniff.Stop()
	if len(rsts) > 0 {
		e.t.Errorf("client link saw %d RST segments (of %d TCP segments): %s", len(rsts), segs, strings.Join(rsts, "; "))
	}
	if segs == 0 {
		e.t.Errorf("the RST sniffer on the client saw no TCP at all: the probe is broken")
	}
	now, err := e.Cli.Counters()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range []string{"TcpOutRsts", "TcpEstabResets", "TcpExtTCPAbortOnData", "TcpExtTCPAbortOnClose", "TcpExtTCPAbortOnTimeout"} {
		if _, ok := now[c]; !ok {
			e.t.Errorf("counter %s missing from the client's /proc/net", c)
			continue
		}
		if d := now[c] - e.counters[c]; d != 0 {
			e.t.Errorf("client counter %s went up by %d", c, d)
		}
	}
}

// freezer returns an nftables freezer bound to n (one per namespace: the
// test process works in several).
func freezer(t *testing.T, n *topo.Netns) *libtcptake.NFTFreezer {
	t.Helper()
	fd, err := unix.Open("/run/netns/"+n.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	f, err := libtcptake.NewNFTFreezer(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func opts(t *testing.T, n *topo.Netns) *libtcptake.Options {
	return &libtcptake.Options{Freezer: freezer(t, n), Logger: testLogger(t)}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// dial connects from n to addr.
func dial(t *testing.T, n *topo.Netns, addr netip.AddrPort) *net.TCPConn {
	t.Helper()
	var c net.Conn
	err := n.Do(func() (err error) {
		c, err = dialer().Dial("tcp", addr.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func vip(v6 bool, port uint16) netip.AddrPort {
	if v6 {
		return netip.AddrPortFrom(topo.VIP6, port)
	}
	return netip.AddrPortFrom(topo.VIP4, port)
}

func family(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// pattern is the deterministic byte stream of a test, shifted by seed so
// that the two directions differ: splitmix64 of each 8-byte word's index.
func pattern(seed, off int64, n int) []byte {
	p := make([]byte, n)
	b := p
	off += seed << 40
	var w [8]byte
	for len(b) > 0 {
		x := uint64(off/8) + 0x9e3779b97f4a7c15
		x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
		x = (x ^ x>>27) * 0x94d049bb133111eb
		binary.LittleEndian.PutUint64(w[:], x^x>>31)
		k := copy(b, w[off%8:])
		b, off = b[k:], off+int64(k)
	}
	return p
}

// listenFree listens on addr in n (IP_FREEBIND, no MPTCP).
func listenFree(t *testing.T, n *topo.Netns, addr netip.AddrPort) *net.TCPListener {
	t.Helper()
	var l *net.TCPListener
	if err := n.Do(func() (err error) { l, err = ha.Listen(context.Background(), addr.String()); return err }); err != nil {
		t.Fatal(err)
	}
	return l
}

// dialer dials plain TCP (no MPTCP, which tcptake cannot move).
func dialer() *net.Dialer {
	d := &net.Dialer{Timeout: 5 * time.Second}
	d.SetMultipathTCP(false)
	return d
}

// sndMSS is the connection's send MSS (TCP_INFO snd_mss).
func sndMSS(c *net.TCPConn) uint32 {
	if ti := tcpInfo(c); ti != nil {
		return ti.Snd_mss
	}
	return 0
}

// verifier checks a received stream against pattern(seed, ...) as it
// arrives, without keeping it.
type verifier struct {
	seed int64
	off  int64
	bad  error
}

func (v *verifier) Write(p []byte) (int, error) {
	if v.bad == nil {
		want := pattern(v.seed, v.off, len(p))
		for i := range p {
			if p[i] != want[i] {
				v.bad = fmt.Errorf("byte %d is %#02x, want %#02x", v.off+int64(i), p[i], want[i])
				break
			}
		}
	}
	v.off += int64(len(p))
	return len(p), nil
}

// readAll reads c to EOF and reports a reset or timeout as an error.
func readAll(c net.Conn, d time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	if err == nil {
		return b, nil
	}
	if errors.Is(err, unix.ECONNRESET) {
		return b, fmt.Errorf("connection reset after %d bytes: %w", len(b), err)
	}
	return b, err
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// connTuple is c's tuple as the server side sees it.
func connTuple(c *net.TCPConn) (local, remote netip.AddrPort) {
	return c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort()
}

func unmap(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// tcpInfo reads TCP_INFO of c.
func tcpInfo(c *net.TCPConn) *unix.TCPInfo {
	rc, _ := c.SyscallConn()
	var ti *unix.TCPInfo
	rc.Control(func(fd uintptr) { ti, _ = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
	return ti
}

// waitFor polls cond until it is true, and fails the test if d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !eventually(d, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// eventually polls cond until it is true (true) or d passes (false).
func eventually(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// diagnose logs the TCP sockets and the tcptake freezes of every node.
func (e *env) diagnose(t *testing.T) {
	for _, n := range []*topo.Netns{e.Cli, e.Act, e.Sby} {
		out, _ := n.Try("ss", "-tinoea")
		t.Logf("%s: ss -tinoea:\n%s", n.Role, out)
		out, _ = n.Try("nft", "list", "table", "inet", "tcptake")
		t.Logf("%s: nft list table inet tcptake:\n%s", n.Role, out)
		out, _ = n.Try("ip", "addr", "show", "dev", topo.Dev)
		t.Logf("%s: ip addr:\n%s", n.Role, out)
		if c, err := n.Counters(); err == nil {
			var nz []string
			for k, v := range c {
				if v != 0 && (strings.HasPrefix(k, "TcpExt") || strings.HasPrefix(k, "Tcp")) {
					nz = append(nz, fmt.Sprintf("%s=%d", k, v))
				}
			}
			sort.Strings(nz)
			t.Logf("%s: counters: %s", n.Role, strings.Join(nz, " "))
		}
	}
	out, _ := e.Cli.Try("ip", "neigh", "show")
	t.Logf("cli: ip neigh:\n%s", out)
}
