//go:build linux

// Package vm holds the VM tier's cluster tests: two streamd nodes with the
// tcptake kernel module loaded switch their sessions over and back, and
// fail over from their checkpoints, as in the host tier, but with the
// module's FREEZE, GET, SET and THAW kick instead of nftables. ci/vmtest.sh runs it in qemu on every kernel
// (TCPTAKE_VMTEST=1, streamd at $TCPTAKE_STREAMD or /streamd).
//
//	this process (the client)           act (netns)         sby (netns)
//	br0 192.0.2.1/24 2001:db8::1/64 ─┬─ act0 ── eth0 .2      │
//	                                 └─ sby0 ────────────── eth0 .3
//	service address 192.0.2.100, 2001:db8::100: on act, then sby, then act
package vm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/jsimonetti/rtnetlink/v2/driver"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/tcptake/tcptake/ha"
	"github.com/tcptake/tcptake/libtcptake"
)

// childEnv marks a re-executed test binary that becomes a node: in its
// new namespace it turns IPv6 DAD off (an address, the link-local one
// too, must be usable at once), says so, waits until the parent has set
// the namespace up, then execs streamd.
const childEnv = "TCPTAKE_VM_NODE"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		for _, c := range []string{"all", "default"} {
			os.WriteFile("/proc/sys/net/ipv6/conf/"+c+"/accept_dad", []byte("0"), 0)
		}
		os.NewFile(4, "started").Close()
		io.Copy(io.Discard, os.NewFile(3, "ready")) // EOF: eth0 is configured
		err := syscall.Exec(os.Args[1], os.Args[1:], os.Environ())
		fmt.Fprintln(os.Stderr, "exec streamd:", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

func streamdPath(t *testing.T) string {
	t.Helper()
	if os.Getenv("TCPTAKE_VMTEST") != "1" {
		t.Skip("VM tier only (ci/vmtest.sh sets TCPTAKE_VMTEST=1)")
	}
	c, err := libtcptake.New()
	if err != nil {
		t.Skipf("the tcptake module is not loaded: %v", err)
	}
	c.Close()
	for _, p := range []string{os.Getenv("TCPTAKE_STREAMD"), "/streamd"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Fatal("no streamd binary: set TCPTAKE_STREAMD")
	return ""
}

var (
	vip4 = netip.MustParseAddr("192.0.2.100")
	vip6 = netip.MustParseAddr("2001:db8::100")
)

// TestVMSwitchover: an HTTP download over IPv4 and an echo session over
// IPv6 run through a switchover act → sby and one back; every byte arrives
// once, in order; and both nodes froze and thawed the sessions through the
// module (its FREEZE and THAW events in each node's namespace).
func TestVMSwitchover(t *testing.T) {
	streamd := streamdPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	act, sby := startPair(t, streamd, "--listen", netip.AddrPortFrom(vip4, 8080).String(),
		"--echo-listen", netip.AddrPortFrom(vip6, 9000).String(),
		"--vip", vip4.String()+"/24@eth0", "--vip", vip6.String()+"/64@eth0", "-v")
	waitLinked(ctx, t, act)
	events := map[string]*eventLog{"act": watchEvents(ctx, t, act), "sby": watchEvents(ctx, t, sby)}

	const size, rate = 3 << 20, 1 << 20
	dl := startDownload(ctx, t, size, rate)
	echo := startEcho(ctx, t)
	for i, from := range []*node{act, sby} {
		waitFor(t, 10*time.Second, "the download to progress", func() bool { return dl.got() >= int64((i+1)*size/4) })
		resp, err := ha.Control(ctx, from.ctl, ha.ControlRequest{Op: "switchover"})
		if err != nil || resp.Error != "" || resp.Report == nil {
			t.Fatalf("switchover on %s: %v %+v", from.name, err, resp)
		}
		r := resp.Report
		if r.Sessions != 2 || r.Failed != 0 {
			t.Fatalf("switchover on %s moved %d sessions, %d failed; want 2, 0", from.name, r.Sessions, r.Failed)
		}
		t.Logf("switchover %s: stop+get %v, transfer %v, set %v, address %v, restart %v, blackout %v",
			from.name, r.StopGet, r.Transfer, r.Set, r.AddressMoved, r.Restart, r.Blackout)
	}
	if err := dl.wait(30 * time.Second); err != nil {
		t.Fatalf("download: %v", err)
	}
	if err := echo.finish(10 * time.Second); err != nil {
		t.Fatalf("echo: %v", err)
	}
	for _, n := range []string{"act", "sby"} {
		for _, tu := range []string{dl.tuple, echo.tuple} {
			if got := events[n].count(tu); got < 2 {
				t.Errorf("%s: module events for %s: %v; want a freeze and a thaw", n, tu, events[n].of(tu))
			}
		}
	}
}

// newCluster is what a cluster test starts from: a directory, the client's
// rtnetlink connection and bridge (makeBridge), and the public keys of
// the nodes act and sby, whose private keys are in dir/NAME.key.
func newCluster(t *testing.T) (dir string, rt *rtnetlink.Conn, br uint32, pubs [2]string) {
	t.Helper()
	dir = t.TempDir()
	rt = dialRtnl(t, -1)
	br = makeBridge(t, rt)
	for i, name := range []string{"act", "sby"} {
		pub, err := ha.GenerateKey(filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		pubs[i] = ha.FormatPublicKey(pub)
	}
	return dir, rt, br, pubs
}

// startPair starts a cluster (newCluster) of two streamd nodes with args:
// act, the active, at 192.0.2.2 and sby, the standby, at .3, each with its
// key, its peer's and a control socket.
func startPair(t *testing.T, streamd string, args ...string) (act, sby *node) {
	t.Helper()
	dir, rt, br, pubs := newCluster(t)
	start := func(name, peerKey string, host int, role ...string) *node {
		a := append([]string{streamd}, args...)
		a = append(a, "--key", filepath.Join(dir, name+".key"), "--peer-key", peerKey,
			"--control", filepath.Join(dir, name+".ctl"))
		return startNode(t, rt, br, name, host, append(a, role...))
	}
	act = start("act", pubs[1], 2, "--role", "active", "--sync-listen", "192.0.2.2:7000")
	sby = start("sby", pubs[0], 3, "--role", "standby", "--sync-peer", "192.0.2.2:7000")
	return act, sby
}

// node is a streamd process in a namespace of its own.
type node struct {
	name, ctl string
	pid       int
	ns        int // an open fd of its network namespace
}

func dialRtnl(t *testing.T, ns int) *rtnetlink.Conn {
	t.Helper()
	cfg := &netlink.Config{}
	if ns >= 0 {
		cfg.NetNS = ns
	}
	c, err := rtnetlink.Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func linkIndex(t *testing.T, c *rtnetlink.Conn, name string) uint32 {
	t.Helper()
	links, err := c.Link.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Attributes != nil && l.Attributes.Name == name {
			return l.Index
		}
	}
	t.Fatalf("no link %s", name)
	return 0
}

func linkUp(t *testing.T, c *rtnetlink.Conn, index uint32, master uint32) {
	t.Helper()
	msg := &rtnetlink.LinkMessage{Index: index, Flags: unix.IFF_UP, Change: unix.IFF_UP}
	if master != 0 {
		msg.Attributes = &rtnetlink.LinkAttributes{Master: &master}
	}
	if err := c.Link.Set(msg); err != nil {
		t.Fatalf("link %d up: %v", index, err)
	}
}

func addAddr(t *testing.T, c *rtnetlink.Conn, index uint32, prefix string) {
	t.Helper()
	p := netip.MustParsePrefix(prefix)
	fam, flags := unix.AF_INET, uint32(0)
	if p.Addr().Is6() {
		fam, flags = unix.AF_INET6, unix.IFA_F_NODAD
	}
	ip := net.IP(p.Addr().AsSlice())
	err := c.Address.New(&rtnetlink.AddressMessage{
		Family: uint8(fam), PrefixLength: uint8(p.Bits()), Index: index,
		Attributes: &rtnetlink.AddressAttributes{Address: ip, Local: ip, Flags: flags},
	})
	if err != nil {
		t.Fatalf("address %s: %v", prefix, err)
	}
}

// makeBridge makes br0 in this namespace, the client's, with the client's
// addresses.
func makeBridge(t *testing.T, c *rtnetlink.Conn) uint32 {
	t.Helper()
	err := c.Link.New(&rtnetlink.LinkMessage{Attributes: &rtnetlink.LinkAttributes{
		Name: "br0", Info: &rtnetlink.LinkInfo{Kind: "bridge", Data: &driver.Bridge{}}}})
	if err != nil {
		t.Fatalf("bridge: %v", err)
	}
	br := linkIndex(t, c, "br0")
	t.Cleanup(func() { c.Link.Delete(br) })
	linkUp(t, c, linkIndex(t, c, "lo"), 0)
	linkUp(t, c, br, 0)
	addAddr(t, c, br, "192.0.2.1/24")
	addAddr(t, c, br, "2001:db8::1/64")
	return br
}

// startNode starts the test binary in a new network namespace, joins it
// to the bridge with a veth (eth0 inside, <name>0 on the bridge), gives it
// 192.0.2.<host>/24 and 2001:db8::<host>/64, and lets it exec args
// (streamd). The process is killed with the test.
func startNode(t *testing.T, rt *rtnetlink.Conn, br uint32, name string, host int, args []string) *node {
	t.Helper()
	ready, signal, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	started, hello, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer started.Close()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	cmd.ExtraFiles = []*os.File{ready, hello}
	cmd.Stdout, cmd.Stderr = prefixed(t, name), prefixed(t, name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET, Pdeathsig: unix.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready.Close()
	hello.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	io.Copy(io.Discard, started) // EOF: DAD is off in the child's namespace
	n := &node{name: name, ctl: args[indexOf(args, "--control")+1], pid: cmd.Process.Pid}
	if n.ns, err = unix.Open("/proc/"+strconv.Itoa(n.pid)+"/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(n.ns) })

	pid := uint32(n.pid)
	err = rt.Link.New(&rtnetlink.LinkMessage{Attributes: &rtnetlink.LinkAttributes{
		Name: name + "0",
		Info: &rtnetlink.LinkInfo{Kind: "veth", Data: &driver.Veth{PeerInfo: &rtnetlink.LinkMessage{
			Attributes: &rtnetlink.LinkAttributes{Name: "eth0", NetNS: rtnetlink.NetNSForPID(pid)}}}}}})
	if err != nil {
		t.Fatalf("veth for %s: %v", name, err)
	}
	// Deleted here, not with the namespace: a dying namespace takes its
	// veth pairs away later, in a workqueue, and the next test would find
	// <name>0 still there.
	outside := linkIndex(t, rt, name+"0")
	t.Cleanup(func() { rt.Link.Delete(outside) })
	linkUp(t, rt, outside, br)
	in := dialRtnl(t, n.ns)
	linkUp(t, in, linkIndex(t, in, "lo"), 0)
	eth := linkIndex(t, in, "eth0")
	linkUp(t, in, eth, 0)
	addAddr(t, in, eth, fmt.Sprintf("192.0.2.%d/24", host))
	addAddr(t, in, eth, fmt.Sprintf("2001:db8::%d/64", host))
	signal.Close() // the child execs streamd
	return n
}

func indexOf(args []string, s string) int {
	for i, a := range args {
		if a == s {
			return i
		}
	}
	return -1
}

// prefixed logs a process's output lines with its name.
func prefixed(t *testing.T, name string) io.Writer {
	r, w := io.Pipe()
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			t.Logf("%s: %s", name, sc.Text())
		}
	}()
	t.Cleanup(func() { w.Close() })
	return w
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

func waitLinked(ctx context.Context, t *testing.T, n *node) {
	t.Helper()
	waitFor(t, 20*time.Second, n.name+"'s sync link", func() bool {
		resp, err := ha.Control(ctx, n.ctl, ha.ControlRequest{Op: "status"})
		return err == nil && resp.Status != nil && resp.Status.Peer != nil
	})
}

// eventLog keeps the module's freeze events of one namespace by tuple.
type eventLog struct {
	mu sync.Mutex
	by map[string][]libtcptake.EventType
}

func watchEvents(ctx context.Context, t *testing.T, n *node) *eventLog {
	t.Helper()
	c, err := libtcptake.NewWithOptions(libtcptake.ClientOptions{NetNS: n.ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l := &eventLog{by: map[string][]libtcptake.EventType{}}
	go func() {
		for ev := range ch {
			if ev.Err == nil {
				l.mu.Lock()
				k := tupleKey(ev.Freeze.Tuple.Local.String(), ev.Freeze.Tuple.Remote.String())
				l.by[k] = append(l.by[k], ev.Type)
				l.mu.Unlock()
			}
		}
	}()
	return l
}

func (l *eventLog) of(tu string) []libtcptake.EventType {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]libtcptake.EventType(nil), l.by[tu]...)
}

func (l *eventLog) count(tu string) int { return len(l.of(tu)) }

// tupleKey names a session as the server sees it.
func tupleKey(local, remote string) string { return local + " " + remote }

func serverTuple(c net.Conn) string {
	return tupleKey(c.RemoteAddr().String(), c.LocalAddr().String())
}

// download is one GET /stream, its body checked line by line as it comes.
type download struct {
	tuple string
	mu    sync.Mutex
	n     int64
	done  chan error
}

func startDownload(ctx context.Context, t *testing.T, size, rate int) *download {
	t.Helper()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(vip4, 8080).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /stream?bytes=%d&rate=%d HTTP/1.1\r\nHost: vm\r\n\r\n", size, rate)
	dl := &download{tuple: serverTuple(c), done: make(chan error, 1)}
	go func() { dl.done <- dl.read(c, size) }()
	return dl
}

func (dl *download) read(c net.Conn, size int) error {
	r := bufio.NewReader(c)
	status, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
		return fmt.Errorf("status %q: %v", status, err)
	}
	for {
		h, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if h == "\r\n" {
			break
		}
		if v, ok := strings.CutPrefix(strings.ToLower(h), "content-length: "); ok && strings.TrimSpace(v) != strconv.Itoa(size) {
			return fmt.Errorf("content-length %s, want %d", strings.TrimSpace(v), size)
		}
	}
	buf := make([]byte, 16)
	for k := int64(0); k*16 < int64(size); k++ {
		want := []byte(fmt.Sprintf("%015d\n", k))[:min(16, int64(size)-k*16)]
		if _, err := io.ReadFull(r, buf[:len(want)]); err != nil {
			return fmt.Errorf("line %d: %w", k, err)
		}
		if string(buf[:len(want)]) != string(want) {
			return fmt.Errorf("line %d is %q, want %q", k, buf[:len(want)], want)
		}
		dl.mu.Lock()
		dl.n += int64(len(want))
		dl.mu.Unlock()
	}
	return nil
}

func (dl *download) got() int64 {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	return dl.n
}

func (dl *download) wait(d time.Duration) error {
	select {
	case err := <-dl.done:
		return err
	case <-time.After(d):
		return fmt.Errorf("not done after %v: %d bytes", d, dl.got())
	}
}

// echo writes a counting pattern to the echo service and checks that it
// comes back, byte for byte.
type echo struct {
	tuple string
	c     net.Conn
	stop  chan struct{}
	wrote chan int64
	read  chan error
}

func startEcho(ctx context.Context, t *testing.T) *echo {
	t.Helper()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(vip6, 9000).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e := &echo{tuple: serverTuple(c), c: c, stop: make(chan struct{}), wrote: make(chan int64, 1), read: make(chan error, 1)}
	total := make(chan int64, 1)
	go func() {
		var n int64
		defer func() { e.wrote <- n; total <- n }()
		for {
			select {
			case <-e.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			b := echoBytes(n, 512)
			if _, err := c.Write(b); err != nil {
				return
			}
			n += int64(len(b))
		}
	}()
	go func() {
		var n int64
		buf := make([]byte, 4096)
		want := int64(-1)
		for want < 0 || n < want {
			select {
			case w := <-total:
				want = w
				if n >= want {
					break
				}
			default:
			}
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			m, err := c.Read(buf)
			if string(buf[:m]) != string(echoBytes(n, m)) {
				e.read <- fmt.Errorf("echo byte %d on differs", n)
				return
			}
			n += int64(m)
			if err != nil && !os.IsTimeout(err) {
				e.read <- fmt.Errorf("after %d bytes: %w", n, err)
				return
			}
		}
		e.read <- nil
	}()
	return e
}

func echoBytes(off int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + int64(i)) % 251)
	}
	return b
}

func (e *echo) finish(d time.Duration) error {
	close(e.stop)
	n := <-e.wrote
	select {
	case err := <-e.read:
		if err == nil && n == 0 {
			return fmt.Errorf("nothing was echoed")
		}
		return err
	case <-time.After(d):
		return fmt.Errorf("the %d bytes written did not all come back in %v", n, d)
	}
}
