// Stop: an application's socket becomes a stopped Session, frozen (its
// packets dropped both ways) and in repair mode. Release and Thaw end a
// stopped session that moved away.

package libtcptake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

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
		return opErr(OpStop, nil, fmt.Errorf("%w: MPTCP session (TCP_REPAIR covers plain TCP; listen with net.ListenConfig.SetMultipathTCP(false) or GODEBUG=multipathtcp=0)", ErrUnsupported))
	}
	if proto != unix.IPPROTO_TCP {
		return opErr(OpStop, nil, fmt.Errorf("%w: not a TCP socket", ErrUnsupported))
	}
	if s.tuple, err = fdTuple(s.fd); err != nil {
		return opErr(OpStop, nil, err)
	}
	info, err := getTCPInfo(s.fd)
	if err != nil {
		return sockErr(OpStop, s, "getsockopt TCP_INFO", err)
	}
	if !info.state.Migratable() {
		return opErr(OpStop, s, fmt.Errorf("%w: %v", ErrState, info.state))
	}
	return nil
}

// Release closes a stopped session silently (no FIN, no RST: the socket is
// in repair mode). For a session from Stop, the application closes its
// conn as well. The freeze stays until Thaw, so late packets of the peer
// draw no RST while the service address moves.
func (s *Session) Release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return opErr(OpRelease, s, errors.New("session was restarted"))
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
