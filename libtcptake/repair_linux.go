package libtcptake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Session is a TCP session in repair mode on this node with its packets
// dropped: an application's session stopped by Stop, or one recreated from
// an image by Set. Its methods are safe for concurrent use.
type Session struct {
	mu      sync.Mutex
	tuple   Tuple
	fd      int // our own descriptor of the socket; -1 once closed
	opts    Options
	freezer Freezer
	orig    *net.TCPConn // the application's conn (Stop), if it was one
	// pending is the send queue a restored session sends at Restart:
	// the unacked and the unsent bytes of the image, resent as new data.
	pending []byte
	// img is a restored session's image, for what Restart does: learn
	// the peer's position (and rebuild the socket if the peer has part of
	// the send queue already), deliver the peer's FIN, send ours.
	img     *Image
	gen     uint64
	started bool // Restart done
}

// Tuple returns the session's 4-tuple.
func (s *Session) Tuple() Tuple { return s.tuple }

func (s *Session) String() string { return s.tuple.String() }

func (o *Options) getFreezer() (Freezer, error) {
	if o != nil && o.Freezer != nil {
		return o.Freezer, nil
	}
	return DefaultFreezer()
}

func copyOpts(o *Options) Options {
	if o == nil {
		return Options{}
	}
	return *o
}

// sockErr turns a syscall failure into a typed error naming the call.
func sockErr(op Op, t fmt.Stringer, call string, err error) error {
	return opErr(op, t, os.NewSyscallError(call, err))
}

// Stop freezes the session of conn (its packets are dropped in both
// directions) and puts its socket in repair mode. conn stays the
// application's, but must not be used until Restart; a session that moves
// away ends with Release, then conn.Close (silent: the socket stays in
// repair mode).
func Stop(ctx context.Context, conn syscall.Conn, o *Options) (*Session, error) {
	ss, err := StopAll(ctx, []syscall.Conn{conn}, o)
	if err != nil {
		return nil, err
	}
	return ss[0], nil
}

// StopAll stops many sessions, freezing them in one batch. On error no
// session is left stopped.
func StopAll(ctx context.Context, conns []syscall.Conn, o *Options) ([]*Session, error) {
	ss := make([]*Session, 0, len(conns))
	closeAll := func() {
		for _, s := range ss {
			unix.Close(s.fd)
		}
	}
	freezer, err := o.getFreezer()
	if err != nil {
		return nil, err
	}
	for _, conn := range conns {
		s := &Session{fd: -1, opts: copyOpts(o), freezer: freezer}
		s.orig, _ = conn.(*net.TCPConn)
		if s.fd, err = dupConn(conn); err != nil {
			closeAll()
			return nil, opErr(OpStop, nil, err)
		}
		ss = append(ss, s)
		if err := s.check(); err != nil {
			closeAll()
			return nil, err
		}
	}
	tuples := sessionTuples(ss)
	if err := freezeAll(ctx, freezer, tuples); err != nil {
		closeAll()
		return nil, err
	}
	for i, s := range ss {
		if err := unix.SetsockoptInt(s.fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, unix.TCP_REPAIR_ON); err != nil {
			for _, done := range ss[:i] {
				unix.SetsockoptInt(done.fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, unix.TCP_REPAIR_OFF_NO_WP)
			}
			thawAll(context.WithoutCancel(ctx), freezer, tuples, false)
			closeAll()
			return nil, sockErr(OpStop, s, "setsockopt TCP_REPAIR", err)
		}
	}
	ss[0].opts.logger().Debug("tcptake: stopped", "sessions", len(ss))
	return ss, nil
}

func dupConn(conn syscall.Conn) (int, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(f uintptr) {
		fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	return fd, derr
}

// check makes sure the socket is a plain TCP session tcptake can move and
// reads its tuple.
func (s *Session) check() error {
	proto, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil {
		return sockErr(OpStop, nil, "getsockopt SO_PROTOCOL", err)
	}
	if proto == unix.IPPROTO_MPTCP {
		return &Error{Op: OpStop, Err: fmt.Errorf("%w: MPTCP session (TCP_REPAIR covers plain TCP; listen with net.ListenConfig.SetMultipathTCP(false) or GODEBUG=multipathtcp=0)", ErrUnsupported)}
	}
	if proto != unix.IPPROTO_TCP {
		return &Error{Op: OpStop, Err: fmt.Errorf("%w: not a TCP socket", ErrUnsupported)}
	}
	if s.tuple, err = fdTuple(s.fd); err != nil {
		return opErr(OpStop, nil, err)
	}
	info, err := getTCPInfo(s.fd)
	if err != nil {
		return sockErr(OpStop, s, "getsockopt TCP_INFO", err)
	}
	if !info.state.Migratable() {
		return &Error{Op: OpStop, Session: s.String(), Err: fmt.Errorf("%w: %v", ErrState, info.state)}
	}
	return nil
}

func sessionTuples(ss []*Session) []Tuple {
	ts := make([]Tuple, len(ss))
	for i, s := range ss {
		ts[i] = s.tuple
	}
	return ts
}

// BatchFreezer is a Freezer that can change many tuples in one request.
type BatchFreezer interface {
	Freezer
	FreezeAll(ctx context.Context, ts []Tuple) error
	ThawAll(ctx context.Context, ts []Tuple) error
}

func freezeAll(ctx context.Context, f Freezer, ts []Tuple) error {
	if bf, ok := f.(BatchFreezer); ok {
		return bf.FreezeAll(ctx, ts)
	}
	for i, t := range ts {
		if err := f.Freeze(ctx, t); err != nil {
			thawAll(context.WithoutCancel(ctx), f, ts[:i], false)
			return err
		}
	}
	return nil
}

// thawAll thaws ts; batch freezers cannot kick and ignore kick.
func thawAll(ctx context.Context, f Freezer, ts []Tuple, kick bool) error {
	if bf, ok := f.(BatchFreezer); ok {
		return bf.ThawAll(ctx, ts)
	}
	var first error
	for _, t := range ts {
		if err := f.Thaw(ctx, t, kick); err != nil && first == nil {
			first = err
		}
	}
	return first
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

// Get reads the stopped session's image, queue bytes included. The
// session stays stopped: Get may be called again.
func (s *Session) Get() (*Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 || s.started {
		return nil, &Error{Op: OpGet, Session: s.String(), Err: errors.New("session is not stopped")}
	}
	if s.img != nil { // restored: its send queue is still to be written
		img := *s.img
		return &img, nil
	}
	img, err := getImage(s.fd, s.tuple)
	if err != nil {
		return nil, err
	}
	if mc := moduleOf(s.freezer); mc != nil {
		// What TCP_REPAIR cannot read: RTT, RTO, congestion state,
		// ts_recent, and the buffer sizes the application locked.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		k, err := mc.Get(ctx, s.tuple, false)
		cancel()
		if err != nil {
			return nil, err
		}
		img.Kernel = k.Kernel
		img.Sock.RcvBuf, img.Sock.SndBuf = k.Sock.RcvBuf, k.Sock.SndBuf
	}
	s.gen++
	img.Generation = s.gen
	return img, nil
}

// getImage dumps a socket in repair mode whose packets are dropped.
func getImage(fd int, t Tuple) (*Image, error) {
	fail := func(call string, err error) (*Image, error) { return nil, sockErr(OpGet, t, call, err) }
	info, err := getTCPInfo(fd)
	if err != nil {
		return fail("getsockopt TCP_INFO", err)
	}
	if !info.state.Migratable() {
		return nil, &Error{Op: OpGet, Session: t.String(), Err: fmt.Errorf("%w: %v", ErrState, info.state)}
	}
	img := &Image{Tuple: t, State: info.state, CaptureTime: time.Now().UTC()}
	// Repair-mode peeks honour SO_PEEK_OFF on newer kernels: turn it off.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEEK_OFF, -1)

	outq, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return fail("ioctl SIOCOUTQ", err)
	}
	unsent, err := unix.IoctlGetInt(fd, unix.SIOCOUTQNSD)
	if err != nil {
		return fail("ioctl SIOCOUTQNSD", err)
	}
	writeSeq, err := queueSeq(fd, tcpSendQueue)
	if err != nil {
		return fail("getsockopt TCP_QUEUE_SEQ", err)
	}
	sndq, err := peekQueue(fd, tcpSendQueue, outq)
	if err != nil {
		return fail("recv send queue", err)
	}
	rcvNxt, err := queueSeq(fd, tcpRecvQueue)
	if err != nil {
		return fail("getsockopt TCP_QUEUE_SEQ", err)
	}
	inq, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	if err != nil {
		return fail("ioctl SIOCINQ", err)
	}
	rcvq, err := peekQueue(fd, tcpRecvQueue, inq)
	if err != nil {
		return fail("recv receive queue", err)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR_QUEUE, 0)

	// The kernel's write_seq and queue counts include our FIN, rcv_nxt
	// the peer's; the image's sequence numbers cover data only.
	dataEnd := writeSeq
	if img.State.finSent() {
		dataEnd--
	}
	sndUna := writeSeq - uint32(outq)
	sndNxt := writeSeq - uint32(unsent)
	if seqAfter(sndUna, dataEnd) { // FIN acked (FIN-WAIT-2)
		sndUna = dataEnd
	}
	if seqAfter(sndNxt, dataEnd) { // FIN sent
		sndNxt = dataEnd
	}
	if uint32(len(sndq)) != dataEnd-sndUna {
		return nil, &Error{Op: OpGet, Session: t.String(), Err: fmt.Errorf("send queue holds %d bytes, sequence numbers say %d: is the session frozen?", len(sndq), dataEnd-sndUna)}
	}
	img.SndUna, img.SndNxt, img.WriteSeq = sndUna, sndNxt, dataEnd
	img.SendUnacked, img.SendUnsent = sndq[:sndNxt-sndUna], sndq[sndNxt-sndUna:]
	img.RcvNxt = rcvNxt
	if img.State.finReceived() {
		img.RcvNxt--
	}
	if len(rcvq) > inq {
		return nil, &Error{Op: OpGet, Session: t.String(), Err: fmt.Errorf("receive queue grew while reading: is the session frozen?")}
	}
	img.RecvQueue = rcvq

	if info.options&tcpiOptSACK != 0 {
		img.Options |= OptSACK
	}
	if info.options&tcpiOptWScale != 0 {
		img.Options |= OptWScale
		img.SndWScale, img.RcvWScale = info.sndWScale, info.rcvWScale
	}
	if info.options&tcpiOptECN != 0 {
		img.Options |= OptECN
	}
	if info.options&tcpiOptUsecTS != 0 {
		img.Options |= OptUsecTS
	}
	if info.options&tcpiOptTimestamps != 0 {
		img.Options |= OptTimestamps
		ts, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_TIMESTAMP)
		if err != nil {
			return fail("getsockopt TCP_TIMESTAMP", err)
		}
		img.TSVal = uint32(ts)
	}
	mss, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG) // mss_clamp in repair mode
	if err != nil {
		return fail("getsockopt TCP_MAXSEG", err)
	}
	img.MSSClamp = uint32(mss)
	if img.Window, err = getRepairWindow(fd); err != nil {
		return fail("getsockopt TCP_REPAIR_WINDOW", err)
	}
	img.Sock = getSockOpts(fd, t.Is6())
	return img, nil
}

// maxUserMSS is the largest TCP_MAXSEG the kernel accepts (MAX_TCP_WINDOW).
const maxUserMSS = 32767

// seqAfter reports whether sequence number a comes after b (RFC 1982).
func seqAfter(a, b uint32) bool { return int32(b-a) < 0 }

// Set recreates the session of img on a new socket of this node, in repair
// mode and frozen, ready for Restart. The local address need not be on
// this node before Restart (IP_TRANSPARENT, IPV6_FREEBIND) unless
// Options.NoFreebind is set. On failure nothing is left behind: no socket,
// no freeze.
func Set(ctx context.Context, img *Image, o *Options) (*Session, error) {
	ss, err := SetAll(ctx, []*Image{img}, o)
	if err != nil {
		return nil, err
	}
	return ss[0], nil
}

// SetAll recreates many sessions, freezing their tuples in one batch
// first: the peers' segments must meet neither a half-built socket nor,
// before it exists, a RST. On error nothing is left behind.
func SetAll(ctx context.Context, imgs []*Image, o *Options) ([]*Session, error) {
	ss := make([]*Session, 0, len(imgs))
	for _, img := range imgs {
		if err := img.validate(); err != nil {
			return nil, &Error{Op: OpSet, Session: img.String(), Err: err}
		}
		if !img.State.Migratable() {
			return nil, &Error{Op: OpSet, Session: img.String(), Err: fmt.Errorf("%w: %v", ErrState, img.State)}
		}
		if img.MSSClamp == 0 {
			return nil, &Error{Op: OpSet, Session: img.String(), Err: fmt.Errorf("%w: no mss-clamp", ErrBadImage)}
		}
		ss = append(ss, &Session{fd: -1, tuple: img.Tuple.unmap(), opts: copyOpts(o), gen: img.Generation})
	}
	freezer, err := o.getFreezer()
	if err != nil {
		return nil, err
	}
	tuples := sessionTuples(ss)
	if err := freezeAll(ctx, freezer, tuples); err != nil {
		return nil, err
	}
	for i, s := range ss {
		s.freezer = freezer
		if err := s.set(imgs[i]); err != nil {
			for _, s := range ss[:i+1] {
				if s.fd >= 0 {
					unix.Close(s.fd)
				}
			}
			thawAll(context.WithoutCancel(ctx), freezer, tuples, false)
			return nil, err
		}
	}
	return ss, nil
}

func (s *Session) set(img *Image) error {
	t := s.tuple
	fail := func(call string, err error) error { return sockErr(OpSet, t, call, err) }
	family, v6 := unix.AF_INET, t.Is6()
	if v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return fail("socket", err)
	}
	s.fd = fd
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, unix.TCP_REPAIR_ON); err != nil {
		return fail("setsockopt TCP_REPAIR", err)
	}
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, int(b2u8(img.Sock.V6Only))); err != nil {
			return fail("setsockopt IPV6_V6ONLY", err)
		}
	}
	if !s.opts.NoFreebind {
		// IPv6 binds and connects from an address the node does not have
		// yet with IPV6_FREEBIND; IPv4 connects from one only with
		// IP_TRANSPARENT (cleared at Restart).
		level, opt, name := unix.IPPROTO_IPV6, unix.IPV6_FREEBIND, "IPV6_FREEBIND"
		if !v6 {
			level, opt, name = unix.IPPROTO_IP, unix.IP_TRANSPARENT, "IP_TRANSPARENT"
		}
		if err := unix.SetsockoptInt(fd, level, opt, 1); err != nil {
			return fail("setsockopt "+name, err)
		}
	}
	if err := unix.Bind(fd, addrPortSockaddr(t.Local, t.IfIndex)); err != nil {
		if err == unix.EADDRNOTAVAIL {
			return &Error{Op: OpSet, Session: t.String(), Err: fmt.Errorf("%w: bind %v: %v (add the address first, or leave Options.NoFreebind off)", ErrNotLocal, t.Local, err)}
		}
		return fail("bind", err)
	}
	if img.Options&OptTimestamps != 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_TIMESTAMP, int(int32(img.TSVal))); err != nil {
			return fail("setsockopt TCP_TIMESTAMP", err)
		}
	}
	// The unacked bytes are resent as new data at Restart, so the send
	// queue starts empty at snd_una.
	if err := setQueueSeq(fd, tcpSendQueue, img.SndUna); err != nil {
		return fail("setsockopt TCP_QUEUE_SEQ (send)", err)
	}
	if err := setQueueSeq(fd, tcpRecvQueue, img.RcvNxt-uint32(len(img.RecvQueue))); err != nil {
		return fail("setsockopt TCP_QUEUE_SEQ (receive)", err)
	}
	// Without this, connect sizes the MSS from the default clamp (536)
	// and the session runs at MSS 524. TCP_MAXSEG takes at most 32767
	// (loopback clamps are larger); it is cleared again after connect.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG, int(min(img.MSSClamp, maxUserMSS))); err != nil {
		return fail("setsockopt TCP_MAXSEG", err)
	}
	if err := unix.Connect(fd, addrPortSockaddr(t.Remote, t.IfIndex)); err != nil {
		if err == unix.EADDRNOTAVAIL || err == unix.EADDRINUSE {
			return &Error{Op: OpSet, Session: t.String(), Err: fmt.Errorf("%w: another socket of this node has the 4-tuple (%v)", ErrInUse, err)}
		}
		return fail("connect", err)
	}
	if err := writeQueue(fd, tcpRecvQueue, img.RecvQueue); err != nil {
		return fail("write receive queue", err)
	}
	opts := [][2]uint32{{tcpoptMSS, img.MSSClamp}}
	if img.Options&OptWScale != 0 {
		opts = append(opts, [2]uint32{tcpoptWindow, uint32(img.SndWScale) | uint32(img.RcvWScale)<<16})
	}
	if img.Options&OptSACK != 0 {
		opts = append(opts, [2]uint32{tcpoptSACKPerm, 0})
	}
	if img.Options&OptTimestamps != 0 {
		opts = append(opts, [2]uint32{tcpoptTimestamp, 0})
	}
	if err := setRepairOptions(fd, opts); err != nil {
		return fail("setsockopt TCP_REPAIR_OPTIONS", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG, 0); err != nil {
		return fail("setsockopt TCP_MAXSEG", err)
	}
	// A received FIN is delivered at Restart, when the local address is
	// the node's; the window, validated against rcv_nxt, follows it.
	if w := img.Window; w != nil && !img.State.finReceived() {
		if err := setRepairWindow(fd, w); err != nil {
			return fail("setsockopt TCP_REPAIR_WINDOW", err)
		}
	}
	if mc := moduleOf(s.freezer); mc != nil && img.Kernel != nil {
		// Seed RTT, RTO and congestion state, so the restored session
		// neither guesses a 1 s RTO nor restarts from slow start.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := mc.Set(ctx, t, *img.Kernel, KernelAll)
		cancel()
		if err != nil {
			return err
		}
	}
	s.pending = append(append([]byte(nil), img.SendUnacked...), img.SendUnsent...)
	s.img = img
	s.opts.logger().Debug("tcptake: set", "session", t, "state", img.State,
		"rcvq", len(img.RecvQueue), "sndq", len(s.pending))
	return nil
}

// waitState waits briefly for the socket to reach state (an injected
// segment is processed in softirq, normally before sendto returns).
func waitState(fd int, want State) error {
	for range 100 {
		info, err := getTCPInfo(fd)
		if err != nil {
			return os.NewSyscallError("getsockopt TCP_INFO", err)
		}
		if info.state == want {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("restored socket did not reach %v after the peer's FIN", want)
}

// Restart leaves repair mode, lifts the freeze and returns the session as
// a *net.TCPConn the Go runtime polls. A restored session then sends its
// unacked and unsent bytes at once and, in a state where our FIN was
// sent, sends it again after them. ctx bounds that sending.
func (s *Session) Restart(ctx context.Context) (*net.TCPConn, error) {
	cs, err := RestartAll(ctx, []*Session{s})
	if len(cs) == 0 {
		return nil, err
	}
	return cs[0], err
}

// RestartAll restarts many sessions, thawing them in one batch where the
// freezer allows it. It returns the conns restarted so far with the first
// error. Each session may appear once, and in one call at a time.
func RestartAll(ctx context.Context, ss []*Session) ([]*net.TCPConn, error) {
	seen := make(map[*Session]bool, len(ss))
	for _, s := range ss {
		if seen[s] { // locking it twice would wait forever
			return nil, &Error{Op: OpRestart, Session: s.String(), Err: errors.New("session listed twice")}
		}
		seen[s] = true
	}
	for _, s := range ss {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.fd < 0 || s.started {
			return nil, &Error{Op: OpRestart, Session: s.String(), Err: errors.New("session is not stopped")}
		}
	}
	byFreezer := map[Freezer][]*Session{}
	for _, s := range ss {
		byFreezer[s.freezer] = append(byFreezer[s.freezer], s)
	}
	for f, group := range byFreezer {
		if err := leaveRepair(ctx, f, group); err != nil {
			return nil, err
		}
	}
	conns := make([]*net.TCPConn, 0, len(ss))
	for _, s := range ss {
		c, err := s.resume(ctx)
		if c != nil {
			conns = append(conns, c)
		}
		if err != nil {
			return conns, err
		}
	}
	return conns, nil
}

// leaveRepair brings stopped or restored sessions back to life:
//
//  1. each restored session with bytes to send probes its peer, still
//     frozen (tcptake's probe passes the freeze; the answer is read off
//     the packet taps before the freeze drops it). The answer carries the
//     peer's rcv_nxt: when the peer received bytes whose ACKs the freeze
//     dropped, the socket is rebuilt to start after them — otherwise the
//     peer's ACKs would acknowledge data the socket never sent, and be
//     dropped, and the session would stall;
//  2. a restored session that had received the peer's FIN gets it now
//     (the local address is the node's by Restart), then its window;
//  3. thaw and repair off. The module thaws after repair off, with a
//     kick: the live socket sends an ACK and what the freeze held back at
//     once, and a peer in RTO backoff is told to retransmit. Other
//     freezers thaw first, so the window probe sent at repair off reaches
//     the peer; held-back bytes are pushed from userspace.
func leaveRepair(ctx context.Context, f Freezer, ss []*Session) error {
	var probing []*Session
	for _, s := range ss {
		if s.img != nil && len(s.pending) > 0 {
			probing = append(probing, s)
		}
	}
	if len(probing) > 0 {
		if err := learnPeers(ctx, probing); err != nil {
			return err
		}
	}
	for _, s := range ss {
		if s.img != nil && s.img.State.finReceived() {
			if err := s.receiveFIN(); err != nil {
				return err
			}
		}
	}
	off := func(mode int) error {
		for _, s := range ss {
			if err := unix.SetsockoptInt(s.fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, mode); err != nil {
				return sockErr(OpRestart, s, "setsockopt TCP_REPAIR", err)
			}
			s.started = true
			if s.img != nil && !s.tuple.Is6() { // s.tuple: the socket's family (an image may be v4-mapped)
				unix.SetsockoptInt(s.fd, unix.IPPROTO_IP, unix.IP_TRANSPARENT, 0)
			}
		}
		return nil
	}
	// A freeze that expired already is no reason to fail.
	thaw := func(kick bool) error {
		if err := thawAll(ctx, f, sessionTuples(ss), kick); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if moduleOf(f) != nil {
		if err := off(unix.TCP_REPAIR_OFF_NO_WP); err != nil {
			return err
		}
		return thaw(true)
	}
	if err := thaw(false); err != nil {
		return err
	}
	if err := off(unix.TCP_REPAIR_OFF); err != nil {
		return err
	}
	for _, s := range ss {
		pushPending(s.fd)
	}
	return nil
}

// learnPeers probes the peers of restored sessions and rebuilds the
// sessions whose peers have part of their send queue.
func learnPeers(ctx context.Context, ss []*Session) error {
	pc, err := openPeerCapture()
	if err != nil {
		return opErr(OpRestart, ss[0], err)
	}
	defer pc.Close()
	for _, s := range ss {
		if err := probePeer(s.tuple, s.img); err != nil {
			return opErr(OpRestart, s, err)
		}
	}
	acks := pc.peerAcks(ctx, sessionTuples(ss), probeWait(ctx, &ss[0].opts))
	for _, s := range ss {
		ack, ok := acks[s.tuple]
		if !ok || !seqAfter(ack, s.img.SndUna) {
			continue
		}
		if err := s.rebuild(ack); err != nil {
			return err
		}
	}
	return nil
}

// rebuild recreates a restored session whose peer acknowledged up to ack:
// the socket (in repair mode, so closing it is silent) is set again from
// the image without the bytes the peer has.
func (s *Session) rebuild(ack uint32) error {
	img := *s.img
	// Our FIN, acked too, takes one sequence number past the data.
	have := min(ack-img.SndUna, uint32(len(img.SendUnacked)+len(img.SendUnsent)))
	s.opts.logger().Debug("tcptake: the peer has part of the send queue", "session", s.tuple, "bytes", have)
	if n := uint32(len(img.SendUnacked)); have <= n {
		img.SendUnacked = img.SendUnacked[have:]
	} else {
		img.SendUnacked, img.SendUnsent = nil, img.SendUnsent[have-n:]
	}
	img.SndUna += have
	img.SndNxt = img.SndUna + uint32(len(img.SendUnacked))
	unix.Close(s.fd)
	s.fd = -1
	return s.set(&img)
}

// receiveFIN delivers the peer's FIN to a restored session in repair mode
// and then sets its window.
func (s *Session) receiveFIN() error {
	if err := injectFIN(s.tuple, s.img); err != nil {
		return opErr(OpRestart, s, err)
	}
	if err := waitState(s.fd, StateCloseWait); err != nil {
		return opErr(OpRestart, s, err)
	}
	if w := s.img.Window; w != nil {
		if err := setRepairWindow(s.fd, w); err != nil {
			return sockErr(OpRestart, s, "setsockopt TCP_REPAIR_WINDOW", err)
		}
	}
	return nil
}

// pushPending sends what the freeze held back in the socket's queue (a
// transmission dropped by the freeze leaves the bytes unsent until a
// timer): setting TCP_NODELAY pushes pending frames.
func pushPending(fd int) {
	nodelay, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
	if err != nil {
		return
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if nodelay == 0 {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 0)
	}
}

// probeWait is how long Restart waits for peers to answer the window probe.
func probeWait(ctx context.Context, o *Options) time.Duration {
	d := o.ProbeTimeout
	if d == 0 {
		d = DefaultProbeTimeout
	}
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	return d
}

// resume hands a session out of repair mode to the Go runtime and sends
// what a restored session still has to send.
func (s *Session) resume(ctx context.Context) (*net.TCPConn, error) {
	conn := s.orig
	if conn == nil {
		f := os.NewFile(uintptr(s.fd), "tcptake "+s.tuple.String())
		c, err := net.FileConn(f)
		f.Close()
		s.fd = -1
		if err != nil {
			return nil, opErr(OpRestart, s, err)
		}
		conn = c.(*net.TCPConn)
		// After FileConn, which turns TCP_NODELAY and keepalive on.
		if err := setConnOpts(conn, s.tuple.Is6(), &s.img.Sock); err != nil {
			return conn, opErr(OpRestart, s, err)
		}
	} else {
		unix.Close(s.fd)
		s.fd = -1
	}
	if len(s.pending) > 0 {
		if dl, ok := ctx.Deadline(); ok {
			conn.SetWriteDeadline(dl)
		}
		_, err := conn.Write(s.pending)
		conn.SetWriteDeadline(time.Time{})
		if err != nil {
			return conn, opErr(OpRestart, s, fmt.Errorf("sending the restored send queue: %w", err))
		}
		s.pending = nil
	}
	if s.img != nil && s.img.State.finSent() {
		if err := conn.CloseWrite(); err != nil {
			return conn, opErr(OpRestart, s, err)
		}
	}
	s.img = nil
	s.opts.logger().Debug("tcptake: restarted", "session", s.tuple)
	return conn, nil
}

// Checkpoint takes the image of a live session without moving it, for a
// standby to restore should this node die. With the kernel module it is
// one atomic GET under the socket lock: the session does not stop. Without
// it, the session is stopped, read and restarted in place (a freeze of
// microseconds). The caller numbers checkpoints (Image.Generation) and
// adds its own state (Image.AppState).
func Checkpoint(ctx context.Context, conn syscall.Conn, o *Options) (*Image, error) {
	f, err := o.getFreezer()
	if err != nil {
		return nil, err
	}
	mc := moduleOf(f)
	if mc == nil {
		s, err := Stop(ctx, conn, o)
		if err != nil {
			return nil, err
		}
		img, err := s.Get()
		if _, rerr := s.Restart(ctx); err == nil {
			err = rerr
		}
		return img, err
	}
	fd, err := dupConn(conn)
	if err != nil {
		return nil, opErr(OpCheckpoint, nil, err)
	}
	s := &Session{fd: fd}
	err = s.check()
	unix.Close(fd)
	if err != nil {
		return nil, err
	}
	img, err := mc.Get(ctx, s.tuple, true)
	if err != nil {
		return nil, err
	}
	img.Tuple = s.tuple
	return img, nil
}

func setConnOpts(conn *net.TCPConn, v6 bool, so *SockOpts) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = setSockOpts(int(fd), v6, so) }); err != nil {
		return err
	}
	return serr
}

// Release closes a stopped session silently (no FIN, no RST: the socket is
// in repair mode). For a session from Stop, the application closes its
// conn as well. The freeze stays until Thaw, so late packets of the peer
// draw no RST while the service address moves.
func (s *Session) Release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return &Error{Op: OpRelease, Session: s.String(), Err: errors.New("session was restarted")}
	}
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return opErr(OpRelease, s, err)
}

// Thaw lifts the session's freeze on this node (after Release, once the
// service address has moved).
func (s *Session) Thaw(ctx context.Context) error {
	return s.freezer.Thaw(ctx, s.tuple, false)
}
