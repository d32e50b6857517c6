// Set: an Image becomes a restored Session, a new socket of this node in
// repair mode and frozen, in the order the kernel requires.

package libtcptake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

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
			return nil, opErr(OpSet, img, err)
		}
		if !img.State.Migratable() {
			return nil, opErr(OpSet, img, fmt.Errorf("%w: %v", ErrState, img.State))
		}
		if img.MSSClamp == 0 {
			return nil, opErr(OpSet, img, fmt.Errorf("%w: no mss-clamp", ErrBadImage))
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
	undo := func(set []*Session, err error) ([]*Session, error) {
		for _, s := range set {
			s.closeSocket()
		}
		thawAll(context.WithoutCancel(ctx), freezer, tuples, false)
		return nil, err
	}
	for i, s := range ss {
		s.freezer = freezer
		if err := s.set(imgs[i]); err != nil {
			return undo(ss[:i+1], err)
		}
	}
	if err := setKernel(ctx, moduleOf(freezer), ss, imgs); err != nil {
		return undo(ss, err)
	}
	return ss, nil
}

// setKernel seeds the restored sessions' RTT, RTO and congestion state
// through the module, many to a system call, so that none guesses a 1 s
// RTO nor restarts from slow start.
func setKernel(ctx context.Context, mc *Client, ss []*Session, imgs []*Image) error {
	if mc == nil {
		return nil
	}
	var ts []Tuple
	var ks []KernelState
	for i, img := range imgs {
		if img.Kernel != nil {
			ts, ks = append(ts, ss[i].tuple), append(ks, *img.Kernel)
		}
	}
	return errors.Join(mc.c.set(ctx, ts, ks, KernelAll)...)
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
	s.pending, s.queued, s.queueErr = nil, false, nil // a new socket: its send queue is empty
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
		// IP_TRANSPARENT (cleared after connect: a socket in repair mode
		// sends nothing, and Restart runs once the address is the
		// node's, when a route from it needs no privilege).
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
			return opErr(OpSet, t, fmt.Errorf("%w: bind %v: %v (add the address first, or leave Options.NoFreebind off)", ErrNotLocal, t.Local, err))
		}
		return fail("bind", err)
	}
	if img.Options&OptTimestamps != 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_TIMESTAMP, int(int32(img.TSVal))); err != nil {
			return fail("setsockopt TCP_TIMESTAMP", err)
		}
	}
	sndUna := img.SndUna
	if rttProbe(img, moduleOf(s.freezer) != nil) {
		sndUna--
	}
	if err := setQueueSeq(fd, tcpSendQueue, sndUna); err != nil {
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
			return opErr(OpSet, t, fmt.Errorf("%w: another socket of this node has the 4-tuple (%v)", ErrInUse, err))
		}
		return fail("connect", err)
	}
	if !v6 && !s.opts.NoFreebind {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TRANSPARENT, 0); err != nil {
			return fail("setsockopt IP_TRANSPARENT", err)
		}
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
	// Room for the whole send queue, which Restart writes without
	// waiting for the peer.
	if err := fitSendBuffer(fd, len(img.SendUnacked)+len(img.SendUnsent)); err != nil {
		return fail("setsockopt SO_SNDBUFFORCE", err)
	}
	if err := s.adopt(); err != nil {
		return fail("net.FileConn", err)
	}
	// After FileConn, which turns TCP_NODELAY and keepalive on; the
	// buffer sizes wait for the queues (resume).
	if err := s.sock(func(fd int) error { return setSockOpts(fd, v6, &img.Sock, false) }); err != nil {
		return fail("setsockopt", err)
	}
	s.img = img
	s.opts.logger().Debug("tcptake: set", "session", t, "state", img.State,
		"rcvq", len(img.RecvQueue), "sndq", len(img.SendUnacked)+len(img.SendUnsent))
	return nil
}

// maxUserMSS is the largest TCP_MAXSEG the kernel accepts (MAX_TCP_WINDOW).
const maxUserMSS = 32767

// closeSocket closes a restored session's socket, silently while it is in
// repair mode (an application's is the application's to close).
func (s *Session) closeSocket() error {
	var err error
	switch {
	case s.conn != nil:
		err = s.conn.Close()
		s.conn, s.rc = nil, nil
	case s.fd >= 0:
		err = unix.Close(s.fd)
		s.fd = -1
	}
	return err
}

// adopt makes the socket Set built a conn of the Go runtime, before
// Restart: the runtime's registration (a duplicate, the poller, its
// default options) is not paid while the service is down.
func (s *Session) adopt() error {
	f := os.NewFile(uintptr(s.fd), "tcptake "+s.tuple.String())
	c, err := net.FileConn(f)
	f.Close()
	s.fd = -1
	if err != nil {
		return err
	}
	s.conn = c.(*net.TCPConn)
	s.rc, err = s.conn.SyscallConn()
	return err
}

// connFD runs f on conn's descriptor.
func connFD(conn syscall.Conn, f func(fd int) error) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
