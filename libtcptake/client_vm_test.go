//go:build linux

package libtcptake

// Tests of the Client against the real module. They run only inside the
// test VM (ci/vmtest.sh: TCPTAKE_VMTEST=1 /libtcptake.test -test.run VM),
// as root, with tcptake.ko and veth.ko loaded; the guest has no iproute2,
// so namespaces and links are made here through rtnetlink.
//
// Topology of each test (fresh namespaces, RFC 5737 and RFC 3849
// addresses; IPv6 DAD off, so that every address, the link-local ones
// too, is usable at once):
//
//	┌──── netns A (client) ────┐        ┌──── netns B (server) ────┐
//	│ va 192.0.2.1/24          │ veth   │          vb 192.0.2.2/24 │
//	│    2001:db8:1::a/64      ├────────┤        2001:db8:1::b/64  │
//	│ Client, freezes, conn c  │        │ listener, conn s         │
//	└──────────────────────────┘        └──────────────────────────┘
//
// Freezes are made in A, so B's packets reach A's hooks (as a remote peer's
// would) and are dropped and recorded there.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// needVM skips the test outside the test VM.
func needVM(t *testing.T) {
	t.Helper()
	if os.Getenv("TCPTAKE_VMTEST") != "1" {
		t.Skip("needs the test VM with the tcptake module (TCPTAKE_VMTEST=1)")
	}
}

var (
	vmAddrA  = netip.MustParseAddr("192.0.2.1")
	vmAddrB  = netip.MustParseAddr("192.0.2.2")
	vmAddrA6 = netip.MustParseAddr("2001:db8:1::a")
	vmAddrB6 = netip.MustParseAddr("2001:db8:1::b")
)

// vmNet is two fresh network namespaces joined by a veth pair.
type vmNet struct {
	A, B int // namespace file descriptors
}

// newVMNet builds the topology above; the namespaces go away with the test.
func newVMNet(t *testing.T) *vmNet {
	t.Helper()
	n := &vmNet{A: vmNewNetns(t), B: vmNewNetns(t)}
	ra := vmRtnl(t, n.A)
	rb := vmRtnl(t, n.B)
	vmRtnlDo(t, ra, unix.RTM_NEWLINK, netlink.Create|netlink.Excl, vmIfinfo(0, 0), func(ae *netlink.AttributeEncoder) {
		ae.String(unix.IFLA_IFNAME, "va")
		ae.Nested(unix.IFLA_LINKINFO, func(li *netlink.AttributeEncoder) error {
			li.String(unix.IFLA_INFO_KIND, "veth")
			li.Nested(unix.IFLA_INFO_DATA, func(d *netlink.AttributeEncoder) error {
				const vethInfoPeer = 1
				d.Do(vethInfoPeer, func() ([]byte, error) {
					pe := netlink.NewAttributeEncoder()
					pe.String(unix.IFLA_IFNAME, "vb")
					pe.Uint32(unix.IFLA_NET_NS_FD, uint32(n.B))
					b, err := pe.Encode()
					return append(vmIfinfo(0, 0), b...), err
				})
				return nil
			})
			return nil
		})
	})
	ready := make(map[*netlink.Conn]int) // a side's rtnetlink: its link's index
	for _, side := range []struct {
		c     *netlink.Conn
		ns    int
		name  string
		addrs []netip.Prefix
	}{
		{ra, n.A, "va", []netip.Prefix{netip.PrefixFrom(vmAddrA, 24), netip.PrefixFrom(vmAddrA6, 64)}},
		{rb, n.B, "vb", []netip.Prefix{netip.PrefixFrom(vmAddrB, 24), netip.PrefixFrom(vmAddrB6, 64)}},
	} {
		var idx int
		n.in(t, side.ns, func() {
			ifi, err := net.InterfaceByName(side.name)
			if err != nil {
				t.Fatalf("%s: %v", side.name, err)
			}
			idx = ifi.Index
		})
		for _, p := range side.addrs {
			ifa := make([]byte, unix.SizeofIfAddrmsg)
			ifa[0], ifa[1] = unix.AF_INET, byte(p.Bits())
			if p.Addr().Is6() {
				ifa[0], ifa[2] = unix.AF_INET6, unix.IFA_F_NODAD
			}
			binary.NativeEndian.PutUint32(ifa[4:], uint32(idx))
			vmRtnlDo(t, side.c, unix.RTM_NEWADDR, netlink.Create|netlink.Excl, ifa, func(ae *netlink.AttributeEncoder) {
				ae.Bytes(unix.IFA_LOCAL, p.Addr().AsSlice())
				ae.Bytes(unix.IFA_ADDRESS, p.Addr().AsSlice())
			})
		}
		vmRtnlDo(t, side.c, unix.RTM_NEWLINK, 0, vmIfinfo(idx, unix.IFF_UP), nil)
		vmRtnlDo(t, side.c, unix.RTM_NEWLINK, 0, vmIfinfo(1, unix.IFF_UP), nil) // lo
		ready[side.c] = idx
	}
	for c, idx := range ready {
		vmWaitLinkLocal(t, c, idx)
	}
	return n
}

// vmWaitLinkLocal waits until link idx has a usable IPv6 link-local
// address: IPv6 saw the carrier, which the kernel may report up to a
// second after the link went up; before that a first IPv6 SYN can be
// lost and retransmitted a second later.
func vmWaitLinkLocal(t *testing.T, c *netlink.Conn, idx int) {
	t.Helper()
	ifa := make([]byte, unix.SizeofIfAddrmsg)
	ifa[0] = unix.AF_INET6
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		msgs, err := c.Execute(netlink.Message{
			Header: netlink.Header{Type: unix.RTM_GETADDR, Flags: netlink.Request | netlink.Dump},
			Data:   ifa,
		})
		if err != nil {
			t.Fatalf("rtnetlink addresses: %v", err)
		}
		for _, m := range msgs {
			if len(m.Data) < unix.SizeofIfAddrmsg || int(binary.NativeEndian.Uint32(m.Data[4:])) != idx {
				continue
			}
			flags := uint32(m.Data[2])
			var addr netip.Addr
			ad, err := netlink.NewAttributeDecoder(m.Data[unix.SizeofIfAddrmsg:])
			if err != nil {
				t.Fatal(err)
			}
			for ad.Next() {
				switch ad.Type() {
				case unix.IFA_ADDRESS:
					addr, _ = netip.AddrFromSlice(ad.Bytes())
				case unix.IFA_FLAGS:
					flags = ad.Uint32()
				}
			}
			if err := ad.Err(); err != nil {
				t.Fatal(err)
			}
			if addr.IsLinkLocalUnicast() && flags&unix.IFA_F_TENTATIVE == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("link %d: no usable IPv6 link-local address within 5 s", idx)
		}
	}
}

// vmNewNetns returns a new network namespace, without entering it, with
// IPv6 DAD off for the links made in it.
func vmNewNetns(t *testing.T) int {
	t.Helper()
	fd := -1
	onThreadIn(t, func() error { return unix.Unshare(unix.CLONE_NEWNET) }, func() {
		// /proc/sys/net is the namespace of the thread that opens it.
		for _, c := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+c+"/accept_dad", []byte("0"), 0); err != nil {
				t.Error(err)
				return
			}
		}
		var err error
		if fd, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			t.Error(err)
		}
	})
	if fd < 0 {
		t.FailNow()
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// in runs fn on a thread in namespace ns: sockets fn creates stay there.
func (n *vmNet) in(t *testing.T, ns int, fn func()) {
	t.Helper()
	onThreadIn(t, func() error { return unix.Setns(ns, unix.CLONE_NEWNET) }, fn)
}

// onThreadIn runs fn on the calling goroutine's thread, locked, after
// enter moved the thread to another network namespace, and moves it back.
func onThreadIn(t *testing.T, enter func() error, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(orig)
	if err := enter(); err != nil {
		t.Fatalf("entering a network namespace: %v", err)
	}
	defer func() {
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			panic("cannot return to the original network namespace: " + err.Error())
		}
	}()
	fn()
}

func vmRtnl(t *testing.T, ns int) *netlink.Conn {
	t.Helper()
	c, err := netlink.Dial(unix.NETLINK_ROUTE, &netlink.Config{NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func vmIfinfo(index int, flags uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:], uint32(int32(index)))
	binary.NativeEndian.PutUint32(b[8:], flags)
	binary.NativeEndian.PutUint32(b[12:], flags) // change mask
	return b
}

// vmRtnlDo sends one rtnetlink request and waits for its ack.
func vmRtnlDo(t *testing.T, c *netlink.Conn, typ uint16, flags netlink.HeaderFlags, hdr []byte, fn func(ae *netlink.AttributeEncoder)) {
	t.Helper()
	data := hdr
	if fn != nil {
		ae := netlink.NewAttributeEncoder()
		fn(ae)
		b, err := ae.Encode()
		if err != nil {
			t.Fatal(err)
		}
		data = append(append([]byte(nil), hdr...), b...)
	}
	_, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | netlink.Acknowledge | flags},
		Data:   data,
	})
	if err != nil {
		t.Fatalf("rtnetlink %d: %v", typ, err)
	}
}

// client opens a module Client in namespace ns.
func (n *vmNet) client(t *testing.T, ns int) *Client {
	t.Helper()
	c, err := NewWithOptions(ClientOptions{NetNS: ns})
	if err != nil {
		t.Fatalf("module client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tcpPair connects a client socket in A to a server in B over IPv4 and
// returns the tuple as A sees it. Both are plain TCP (no MPTCP).
func (n *vmNet) tcpPair(t *testing.T) (c, s *net.TCPConn, tu Tuple) {
	t.Helper()
	return n.tcpPairFamily(t, false)
}

// tcpPairFamily is tcpPair over IPv6 if v6.
func (n *vmNet) tcpPairFamily(t *testing.T, v6 bool) (c, s *net.TCPConn, tu Tuple) {
	t.Helper()
	network, addrB := "tcp4", vmAddrB
	if v6 {
		network, addrB = "tcp6", vmAddrB6
	}
	var ln net.Listener
	n.in(t, n.B, func() {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		var err error
		ln, err = lc.Listen(context.Background(), network, netip.AddrPortFrom(addrB, 0).String())
		if err != nil {
			t.Fatal(err)
		}
	})
	defer ln.Close()
	n.in(t, n.A, func() {
		d := net.Dialer{Timeout: 5 * time.Second}
		d.SetMultipathTCP(false)
		conn, err := d.Dial(network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c = conn.(*net.TCPConn)
	})
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s = conn.(*net.TCPConn)
	t.Cleanup(func() { c.Close(); s.Close() })
	la := c.LocalAddr().(*net.TCPAddr).AddrPort()
	ra := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	tu = Tuple{
		Local:  netip.AddrPortFrom(la.Addr().Unmap(), la.Port()),
		Remote: netip.AddrPortFrom(ra.Addr().Unmap(), ra.Port()),
	}
	return c, s, tu
}

// expectSilence checks that nothing arrives on conn for a while.
func expectSilence(t *testing.T, conn *net.TCPConn, what string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
	defer conn.SetReadDeadline(time.Time{})
	var b [64]byte
	n, err := conn.Read(b[:])
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: read %q, %v while frozen; want a timeout", what, b[:n], err)
	}
}

// expectData reads exactly want from conn within a few seconds.
func expectData(t *testing.T, conn *net.TCPConn, want []byte, what string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	got := make([]byte, len(want))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: read %q, want %q", what, got, want)
	}
}

// getQueued GETs the session of tu with its buffers until its receive
// queue holds n bytes (or 15 s pass) and returns the last image.
func getQueued(ctx context.Context, t *testing.T, mc *Client, tu Tuple, n int) *Image {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		img, err := mc.Get(ctx, tu, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(img.RecvQueue) >= n || time.Now().After(deadline) {
			return img
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func vmCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestVMInfo(t *testing.T) {
	needVM(t)
	n := newVMNet(t)
	mc := n.client(t, n.A)
	mi, err := mc.Info(vmCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("module %+v", *mi)
	if mi.Version == "" || mi.MaxFreezes == 0 || mi.Freezes != 0 {
		t.Fatalf("info %+v: want a version, a freeze table and no freezes in a new namespace", *mi)
	}
	// The default client works in the test's own namespace too.
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Info(vmCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestVMFreezeThaw(t *testing.T) {
	needVM(t)
	ctx := vmCtx(t)
	n := newVMNet(t)
	mc := n.client(t, n.A)
	c, s, tu := n.tcpPair(t)

	evctx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	events, err := mc.Events(evctx)
	if err != nil {
		t.Fatal(err)
	}

	before, err := mc.Get(ctx, tu, true)
	if err != nil {
		t.Fatal(err)
	}

	if err := mc.Freeze(ctx, tu, FreezeOptions{Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := mc.Freeze(ctx, tu, FreezeOptions{}); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("second freeze without replace: %v, want EEXIST", err)
	}
	if err := mc.Freeze(ctx, tu, FreezeOptions{Timeout: 30 * time.Second, Replace: true}); err != nil {
		t.Fatalf("second freeze with replace: %v", err)
	}
	if mi, err := mc.Info(ctx); err != nil || mi.Freezes != 1 {
		t.Fatalf("info while frozen: %+v, %v; want 1 freeze", mi, err)
	}

	// The peer's data and ours are both dropped.
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	expectSilence(t, c, "client")
	expectSilence(t, s, "server")

	fz, err := mc.Freezes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(fz) != 1 || fz[0].Tuple != tu {
		t.Fatalf("freezes %+v, want just %s", fz, tu)
	}
	if fz[0].Expires <= 0 || fz[0].Expires > 30*time.Second || fz[0].DroppedIn == 0 || fz[0].DroppedOut == 0 {
		t.Errorf("freeze %+v: want 0 < expires <= 30s and drops both ways", fz[0])
	}

	// The peer's first segment: "hello" at our rcv_nxt, acking our snd_nxt.
	segs, err := mc.PeerSegments(ctx, tu)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("peer segments %+v", segs)
	found := false
	for _, sg := range segs {
		if sg.Len == 5 {
			found = true
			if sg.Seq != before.RcvNxt || sg.Ack != before.SndNxt || sg.Flags&0x10 == 0 {
				t.Errorf("data segment %+v: want seq %d ack %d with ACK", sg, before.RcvNxt, before.SndNxt)
			}
			break
		}
	}
	if !found {
		t.Errorf("no 5-byte segment among %+v", segs)
	}

	if err := mc.Thaw(ctx, tu, true); err != nil {
		t.Fatal(err)
	}
	expectData(t, c, []byte("hello"), "client after thaw")
	expectData(t, s, []byte("ping"), "server after thaw")
	if err := mc.Thaw(ctx, tu, false); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("thaw of a thawed tuple: %v, want os.ErrNotExist", err)
	}
	if fz, err := mc.Freezes(ctx); err != nil || len(fz) != 0 {
		t.Fatalf("freezes after thaw: %+v, %v", fz, err)
	}

	// Notifications: frozen ... thawed, for our tuple.
	var seen []EventType
	timeout := time.After(5 * time.Second)
	for len(seen) == 0 || seen[len(seen)-1] != EventThawed {
		select {
		case ev := <-events:
			if ev.Err != nil {
				t.Fatalf("event stream: %v", ev.Err)
			}
			if ev.Freeze.Tuple == tu {
				seen = append(seen, ev.Type)
			}
		case <-timeout:
			t.Fatalf("events %v: no thawed event", seen)
		}
	}
	if seen[0] != EventFrozen {
		t.Errorf("events %v: want frozen first", seen)
	}
	stopEvents()
	for range events { // the channel closes
	}
}

// TestVMFreezeAllParts freezes and thaws 3,000 tuples, one call each:
// executeAll cuts the requests in parts, each on a socket of its own at
// the same time. Every answer reaches its own tuple, in every part: the
// tuples frozen already (without Replace) fail with EEXIST, exactly
// those; the module then holds all 3,000; a second ThawAll fails exactly
// the tuples thawed already (ENOENT); none is left.
func TestVMFreezeAllParts(t *testing.T) {
	needVM(t)
	ctx := vmCtx(t)
	n := newVMNet(t)
	mc := n.client(t, n.A)
	const total = 3000
	ts := make([]Tuple, total)
	for i := range ts {
		ts[i] = Tuple{Local: netip.AddrPortFrom(vmAddrA, 80),
			Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 250)}), uint16(1024+i))}
	}
	pre := []int{0, 7, 1499, 1500, 2998} // in the first, middle and last parts
	for _, i := range pre {
		if err := mc.Freeze(ctx, ts[i], FreezeOptions{Timeout: 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	at := make(map[string]int, total)
	for i, tu := range ts {
		at[tu.String()] = i
	}
	failedOf := func(err error, want syscall.Errno) []int {
		if err == nil {
			return nil
		}
		var got []int
		joined, _ := err.(interface{ Unwrap() []error })
		if joined == nil {
			t.Fatalf("error %v, want the joined errors of tuples", err)
		}
		for _, e := range joined.Unwrap() {
			var te *Error
			if !errors.As(e, &te) || !errors.Is(e, want) {
				t.Fatalf("error %v, want a tuple's %v", e, want)
			}
			got = append(got, at[te.Session])
		}
		slices.Sort(got)
		return got
	}
	err := mc.FreezeAll(ctx, ts, FreezeOptions{Timeout: 30 * time.Second})
	if got := failedOf(err, syscall.EEXIST); !slices.Equal(got, pre) {
		t.Fatalf("FreezeAll failed tuples %v, want exactly the ones frozen before, %v", got, pre)
	}
	if mi, err := mc.Info(ctx); err != nil || mi.Freezes != total {
		t.Fatalf("info: %+v, %v; want %d freezes", mi, err, total)
	}
	thawed := []int{3, 1000, 2999}
	for _, i := range thawed {
		if err := mc.Thaw(ctx, ts[i], false); err != nil {
			t.Fatal(err)
		}
	}
	if got := failedOf(mc.ThawAll(ctx, ts, false), syscall.ENOENT); !slices.Equal(got, thawed) {
		t.Fatalf("ThawAll failed tuples %v, want exactly the ones thawed before, %v", got, thawed)
	}
	if mi, err := mc.Info(ctx); err != nil || mi.Freezes != 0 {
		t.Fatalf("info after ThawAll: %+v, %v; want no freeze", mi, err)
	}
}

func TestVMFreezeExpires(t *testing.T) {
	needVM(t)
	ctx := vmCtx(t)
	n := newVMNet(t)
	mc := n.client(t, n.A)
	tu := Tuple{Local: netip.MustParseAddrPort("192.0.2.1:1000"), Remote: netip.MustParseAddrPort("192.0.2.2:2000")}
	// No socket needs to exist.
	if err := mc.Freeze(ctx, tu, FreezeOptions{Timeout: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		fz, err := mc.Freezes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(fz) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("freeze of 200ms still there: %+v", fz)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := mc.Thaw(ctx, tu, false); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("thaw after expiry: %v", err)
	}
}

func TestVMGet(t *testing.T) {
	needVM(t)
	ctx := vmCtx(t)
	n := newVMNet(t)
	mc := n.client(t, n.A)
	c, s, tu := n.tcpPair(t)

	// More than a chunk, written by the server and left unread.
	payload := make([]byte, 50000)
	for i := range payload {
		payload[i] = byte(i*7 + i/251)
	}
	if _, err := s.Write(payload); err != nil {
		t.Fatal(err)
	}
	img := getQueued(ctx, t, mc, tu, len(payload))
	if !bytes.Equal(img.RecvQueue, payload) {
		t.Fatalf("receive queue: %d bytes, want the %d written (equal: %v)", len(img.RecvQueue), len(payload), bytes.Equal(img.RecvQueue[:min(len(img.RecvQueue), len(payload))], payload[:min(len(img.RecvQueue), len(payload))]))
	}
	if img.Tuple != tu || img.State != StateEstablished || len(img.SendUnacked)+len(img.SendUnsent) != 0 {
		t.Fatalf("image %s state %s send queue %d+%d, want %s ESTABLISHED and an empty send queue",
			img.Tuple, img.State, len(img.SendUnacked), len(img.SendUnsent), tu)
	}
	if img.Kernel == nil || img.Kernel.SndCwnd == 0 || img.Kernel.RTOus == 0 {
		t.Errorf("kernel state %+v", img.Kernel)
	}

	// Without buffers: the same sequence numbers, no bytes.
	hdr, err := mc.Get(ctx, tu, false)
	if err != nil {
		t.Fatal(err)
	}
	if hdr.RecvQueue != nil || hdr.RcvNxt != img.RcvNxt || hdr.SndNxt != img.SndNxt {
		t.Errorf("get without buffers: rcv_nxt %d snd_nxt %d, %d queue bytes; want %d %d, none",
			hdr.RcvNxt, hdr.SndNxt, len(hdr.RecvQueue), img.RcvNxt, img.SndNxt)
	}

	// Our own bytes while frozen stay in the send queue.
	if err := mc.Freeze(ctx, tu, FreezeOptions{Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("queued")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	frozen, err := mc.Get(ctx, tu, true)
	if err != nil {
		t.Fatal(err)
	}
	if q := append(append([]byte(nil), frozen.SendUnacked...), frozen.SendUnsent...); string(q) != "queued" {
		t.Errorf("send queue while frozen %q, want %q", q, "queued")
	}
	if frozen.WriteSeq != img.WriteSeq+6 {
		t.Errorf("write_seq %d, want %d", frozen.WriteSeq, img.WriteSeq+6)
	}

	// The dump finds it, alone under a filter, and among all otherwise.
	imgs, err := mc.Sessions(ctx, SessionFilter{LocalAddr: tu.Local.Addr(), LocalPort: tu.Local.Port()}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].Tuple != tu || !bytes.Equal(imgs[0].RecvQueue, payload) {
		t.Fatalf("filtered dump: %d sessions %v", len(imgs), imgs)
	}
	all, err := mc.Sessions(ctx, SessionFilter{}, false)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, im := range all {
		found = found || im.Tuple == tu
	}
	if !found {
		t.Fatalf("dump of %d sessions lacks %s", len(all), tu)
	}
	if none, err := mc.Sessions(ctx, SessionFilter{RemotePort: 1}, false); err != nil || len(none) != 0 {
		t.Fatalf("dump filtered on remote port 1: %v, %v", none, err)
	}

	if err := mc.Thaw(ctx, tu, true); err != nil {
		t.Fatal(err)
	}
	expectData(t, s, []byte("queued"), "server after thaw")

	// A tuple without a session.
	bogus := tu
	bogus.Remote = netip.AddrPortFrom(tu.Remote.Addr(), 1)
	_, err = mc.Get(ctx, bogus, false)
	var e *Error
	if !errors.Is(err, os.ErrNotExist) || !errors.As(err, &e) {
		t.Fatalf("get of %s: %v, want os.ErrNotExist", bogus, err)
	}
	t.Logf("get of a missing session: %v", err)
}

// setRepair turns TCP_REPAIR on or off on conn.
func setRepair(t *testing.T, conn *net.TCPConn, on bool) {
	t.Helper()
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	v := 0
	if on {
		v = 1
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_REPAIR, v)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatalf("TCP_REPAIR=%d: %v", v, serr)
	}
}

func TestVMSet(t *testing.T) {
	needVM(t)
	ctx := vmCtx(t)
	n := newVMNet(t)
	mc := n.client(t, n.A)
	c, _, tu := n.tcpPair(t)

	ks := KernelState{TSRecent: 12345, SRTTus: 8000, MDEVus: 2000, RTOus: 300000, SndCwnd: 33, SndSsthresh: 77}
	if err := mc.Set(ctx, tu, ks, KernelAll); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("set on a socket not in repair mode: %v, want EBUSY", err)
	} else {
		t.Logf("set outside repair mode: %v", err)
	}

	if err := mc.Freeze(ctx, tu, FreezeOptions{Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	defer mc.Thaw(ctx, tu, false)
	setRepair(t, c, true)
	if err := mc.Set(ctx, tu, ks, KernelAll); err != nil {
		t.Fatal(err)
	}
	img, err := mc.Get(ctx, tu, false)
	if err != nil {
		t.Fatal(err)
	}
	if img.Kernel == nil || *img.Kernel != ks {
		t.Fatalf("kernel state after set: %+v, want %+v", img.Kernel, ks)
	}

	// Only the selected fields change.
	if err := mc.Set(ctx, tu, KernelState{SndCwnd: 44}, KernelSndCwnd); err != nil {
		t.Fatal(err)
	}
	img, err = mc.Get(ctx, tu, false)
	if err != nil {
		t.Fatal(err)
	}
	want := ks
	want.SndCwnd = 44
	if img.Kernel == nil || *img.Kernel != want {
		t.Fatalf("kernel state after setting snd_cwnd: %+v, want %+v", img.Kernel, want)
	}

	// Out of the spec's range: rejected by the policy, with extack.
	err = mc.Set(ctx, tu, KernelState{RTOus: 200000000}, KernelRTO)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, syscall.ERANGE) || e.Message == "" {
		t.Fatalf("rto-us 200 s: %#v, want ERANGE with a message", err)
	}
	t.Logf("rto-us 200 s: %v", err)
	// snd-cwnd's minimum (1) is the spec's, so the policy's too.
	if err := mc.Set(ctx, tu, KernelState{}, KernelSndCwnd); !errors.Is(err, syscall.ERANGE) {
		t.Fatalf("snd-cwnd 0: %v, want ERANGE", err)
	}
	setRepair(t, c, false)
}

// TestVMGetLarge gets a session whose queue does not fit a GET reply: the
// client falls back to a dump that continues it over several messages.
func TestVMGetLarge(t *testing.T) {
	needVM(t)
	ctx := vmCtx(t)
	n := newVMNet(t)
	mc := n.client(t, n.A)
	c, s, tu := n.tcpPair(t)
	if err := c.SetReadBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 200000) // > 64 KiB: one nest cannot hold it
	for i := range payload {
		payload[i] = byte(i ^ i>>8)
	}
	go s.Write(payload)
	img := getQueued(ctx, t, mc, tu, len(payload))
	if !bytes.Equal(img.RecvQueue, payload) {
		t.Fatalf("receive queue of %d bytes, want the %d written", len(img.RecvQueue), len(payload))
	}
	imgs, err := mc.Sessions(ctx, SessionFilter{LocalPort: tu.Local.Port()}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || !bytes.Equal(imgs[0].RecvQueue, payload) {
		t.Fatalf("dump: %d sessions", len(imgs))
	}
	// The bytes are still there for the application.
	expectData(t, c, payload, "client")
}
