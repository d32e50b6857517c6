package libtcptake

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kernel constants golang.org/x/sys/unix lacks.
const (
	tcpRecvQueue = 1 // TCP_RECV_QUEUE
	tcpSendQueue = 2 // TCP_SEND_QUEUE

	tcpoptMSS       = 2 // TCPOPT_MSS
	tcpoptWindow    = 3 // TCPOPT_WINDOW
	tcpoptSACKPerm  = 4 // TCPOPT_SACK_PERM
	tcpoptTimestamp = 8 // TCPOPT_TIMESTAMP

	tcpiOptTimestamps = 1  // TCPI_OPT_TIMESTAMPS
	tcpiOptSACK       = 2  // TCPI_OPT_SACK
	tcpiOptWScale     = 4  // TCPI_OPT_WSCALE
	tcpiOptECN        = 8  // TCPI_OPT_ECN
	tcpiOptUsecTS     = 64 // TCPI_OPT_USEC_TS (6.7+)
)

// getsockoptBytes reads a binary socket option into b and returns its length.
func getsockoptBytes(fd, level, opt int, b []byte) (int, error) {
	l := uint32(len(b))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return 0, e
	}
	return int(l), nil
}

// tcpInfo is the part of struct tcp_info tcptake reads.
type tcpInfo struct {
	state     State
	options   uint8
	sndWScale uint8
	rcvWScale uint8
}

func getTCPInfo(fd int) (tcpInfo, error) {
	var b [8]byte
	n, err := getsockoptBytes(fd, unix.IPPROTO_TCP, unix.TCP_INFO, b[:])
	if err != nil {
		return tcpInfo{}, err
	}
	if n < 7 {
		return tcpInfo{}, unix.EINVAL
	}
	// Byte 5 is tcpi_options, byte 6 holds tcpi_snd_wscale:4, tcpi_rcv_wscale:4.
	return tcpInfo{state: State(b[0]), options: b[5], sndWScale: b[6] & 0xf, rcvWScale: b[6] >> 4}, nil
}

func getRepairWindow(fd int) (*Window, error) {
	var b [20]byte
	if _, err := getsockoptBytes(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_WINDOW, b[:]); err != nil {
		return nil, err
	}
	u := func(i int) uint32 { return binary.NativeEndian.Uint32(b[4*i:]) }
	return &Window{SndWl1: u(0), SndWnd: u(1), MaxWindow: u(2), RcvWnd: u(3), RcvWup: u(4)}, nil
}

func setRepairWindow(fd int, w *Window) error {
	var b [20]byte
	for i, v := range []uint32{w.SndWl1, w.SndWnd, w.MaxWindow, w.RcvWnd, w.RcvWup} {
		binary.NativeEndian.PutUint32(b[4*i:], v)
	}
	return unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_WINDOW, string(b[:]))
}

// setRepairOptions sets struct tcp_repair_opt pairs (code, value).
func setRepairOptions(fd int, opts [][2]uint32) error {
	b := make([]byte, 0, 8*len(opts))
	for _, o := range opts {
		b = binary.NativeEndian.AppendUint32(b, o[0])
		b = binary.NativeEndian.AppendUint32(b, o[1])
	}
	return unix.SetsockoptString(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_OPTIONS, string(b))
}

// queueSeq selects queue q and reads its sequence number (write_seq for
// the send queue, rcv_nxt for the receive queue).
func queueSeq(fd, q int) (uint32, error) {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, q); err != nil {
		return 0, err
	}
	v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUEUE_SEQ)
	return uint32(v), err
}

func setQueueSeq(fd, q int, seq uint32) error {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, q); err != nil {
		return err
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUEUE_SEQ, int(int32(seq)))
}

// peekQueue copies the n bytes of the queue queueSeq selected without
// consuming them.
func peekQueue(fd, n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	// One byte more than expected shows a queue that grew.
	b := make([]byte, n+1)
	got, _, err := unix.Recvfrom(fd, b, unix.MSG_PEEK|unix.MSG_DONTWAIT)
	if err != nil {
		return nil, err
	}
	return b[:got], nil
}

// writeQueue writes b into the selected repair queue in chunks, halving
// the chunk on ENOMEM as the kernel allocates one skb per call.
func writeQueue(fd, q int, b []byte) error {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, q); err != nil {
		return err
	}
	chunk := 1 << 16
	for len(b) > 0 {
		n, err := unix.Write(fd, b[:min(chunk, len(b))])
		switch {
		case err == unix.ENOMEM && chunk > 1024:
			chunk /= 2
			continue
		case err != nil:
			return err
		}
		b = b[n:]
	}
	return nil
}

func getBool(fd, level, opt int) bool {
	v, err := unix.GetsockoptInt(fd, level, opt)
	return err == nil && v != 0
}

func getU32(fd, level, opt int) uint32 {
	v, err := unix.GetsockoptInt(fd, level, opt)
	if err != nil || v < 0 {
		return 0
	}
	return uint32(v)
}

// sysctlInt reads an integer sysctl of the caller's namespace, or def.
func sysctlInt(path string, def int) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return def
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return def
	}
	return v
}

// getSockOpts reads the options an application may have set. TTL counts
// only when it differs from the namespace's default (64 needs no look-up). Buffer sizes are not
// read: without the kernel module, whether the application locked them is
// unknown, and a restored socket autotunes them.
func getSockOpts(fd int, v6 bool) SockOpts {
	so := SockOpts{
		NoDelay:     getBool(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY),
		KeepAlive:   getBool(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE),
		KeepIdle:    getU32(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE),
		KeepIntvl:   getU32(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL),
		KeepCnt:     getU32(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT),
		UserTimeout: getU32(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT),
	}
	if v6 {
		so.TOS = uint8(getU32(fd, unix.IPPROTO_IPV6, unix.IPV6_TCLASS))
		hops := getU32(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS)
		if hops != 64 && int(hops) != sysctlInt("/proc/sys/net/ipv6/conf/default/hop_limit", 64) {
			so.TTL = uint8(hops)
		}
		so.V6Only = getBool(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
	} else {
		so.TOS = uint8(getU32(fd, unix.IPPROTO_IP, unix.IP_TOS))
		ttl := getU32(fd, unix.IPPROTO_IP, unix.IP_TTL)
		if ttl != 64 && int(ttl) != sysctlInt("/proc/sys/net/ipv4/ip_default_ttl", 64) {
			so.TTL = uint8(ttl)
		}
	}
	return so
}

// setSockOpts applies so to a restored socket: TCP_NODELAY and keepalive
// always, the others when the image has them; the buffer sizes only with
// buffers, and only them (they are set after the queues are).
func setSockOpts(fd int, v6 bool, so *SockOpts, buffers bool) error {
	type opt struct {
		level, name, val int
		when             bool
	}
	opts := []opt{
		{unix.IPPROTO_TCP, unix.TCP_NODELAY, int(b2u8(so.NoDelay)), true},
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, int(b2u8(so.KeepAlive)), true},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(so.KeepIdle), so.KeepIdle != 0},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(so.KeepIntvl), so.KeepIntvl != 0},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, int(so.KeepCnt), so.KeepCnt != 0},
		{unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(so.UserTimeout), so.UserTimeout != 0},
		{unix.SOL_SOCKET, unix.SO_RCVBUF, int(so.RcvBuf / 2), so.RcvBuf != 0},
		{unix.SOL_SOCKET, unix.SO_SNDBUF, int(so.SndBuf / 2), so.SndBuf != 0},
	}
	if v6 {
		opts = append(opts,
			opt{unix.IPPROTO_IPV6, unix.IPV6_TCLASS, int(so.TOS), so.TOS != 0},
			opt{unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, int(so.TTL), so.TTL != 0})
	} else {
		opts = append(opts,
			opt{unix.IPPROTO_IP, unix.IP_TOS, int(so.TOS), so.TOS != 0},
			opt{unix.IPPROTO_IP, unix.IP_TTL, int(so.TTL), so.TTL != 0})
	}
	for _, o := range opts {
		buf := o.level == unix.SOL_SOCKET && (o.name == unix.SO_RCVBUF || o.name == unix.SO_SNDBUF)
		if !o.when || buf != buffers {
			continue
		}
		if err := unix.SetsockoptInt(fd, o.level, o.name, o.val); err != nil {
			return err
		}
	}
	return nil
}

// sockErr turns a syscall failure into a typed error naming the call.
func sockErr(op Op, t fmt.Stringer, call string, err error) error {
	return opErr(op, t, os.NewSyscallError(call, err))
}

// fdTuple reads the socket's local and remote address.
func fdTuple(fd int) (Tuple, error) {
	la, err := unix.Getsockname(fd)
	if err != nil {
		return Tuple{}, os.NewSyscallError("getsockname", err)
	}
	ra, err := unix.Getpeername(fd)
	if err != nil {
		return Tuple{}, os.NewSyscallError("getpeername", err)
	}
	l, lif := sockaddrAddrPort(la)
	r, _ := sockaddrAddrPort(ra)
	return Tuple{Local: l, Remote: r, IfIndex: lif}.unmap(), nil
}

func sockaddrAddrPort(sa unix.Sockaddr) (netip.AddrPort, uint32) {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)), 0
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)), sa.ZoneId
	}
	return netip.AddrPort{}, 0
}

func addrPortSockaddr(ap netip.AddrPort, scope uint32) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	if ap.Addr().IsLinkLocalUnicast() {
		sa.ZoneId = scope
	}
	return sa
}

// fitSendBuffer makes the send buffer of fd large enough for n more bytes
// beside what it holds: a restored session's send queue goes in at once,
// and must not wait for the peer to acknowledge its first bytes. The new
// socket's buffer starts at tcp_wmem's default; when it is too small, it
// is set (SO_SNDBUFFORCE, past wmem_max) to hold them, and so locked at
// that size like an application's SO_SNDBUF.
func fitSendBuffer(fd, n int) error {
	if n == 0 {
		return nil
	}
	have, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		return err
	}
	queued, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return err
	}
	// The buffer counts each segment's overhead against its bytes; the
	// kernel sets (and reports) twice the size it is given for that. One
	// more skb may overshoot it.
	want := 2*(queued+n) + 1<<16
	if have >= want {
		return nil
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, want/2)
}

// sendPending writes b into the send queue of the live socket fd
// (non-blocking): queueSend made room for it, so it never waits for the
// peer.
//
// The write is a raw system call, which the Go scheduler does not see:
// it cannot block, and it takes tens of µs (the segments' transmission,
// and on a veth the receiver's softirq too). A write that long, seen,
// lets the runtime hand the caller's P to another thread, and the
// restarting goroutines then hop from thread to thread on each write,
// which the kernel stacks on one core while the other idles (profiled
// with 10,000 sessions over two cores: a fifth of the restart idle).
func sendPending(fd int, b []byte) error {
	for len(b) > 0 {
		n, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if errno != 0 {
			return errno // EAGAIN: the buffer was not made large enough
		}
		b = b[n:]
	}
	return nil
}
