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
// repair mode). Stop uses conn's descriptor and does not duplicate it.
func Stop(ctx context.Context, conn syscall.Conn, o *Options) (*Session, error) {
	ss, err := StopAll(ctx, []syscall.Conn{conn}, o)
	if err != nil {
		return nil, err
	}
	return ss[0], nil
}

// StopAll stops many sessions, freezing them in one batch. On error no
// session is left stopped. The sessions use the conns' own descriptors
// (no duplicates): a conn must stay open until its session is released
// or restarted.
func StopAll(ctx context.Context, conns []syscall.Conn, o *Options) ([]*Session, error) {
	freezer, err := o.getFreezer()
	if err != nil {
		return nil, err
	}
	ss := make([]*Session, len(conns))
	for i, conn := range conns {
		s := &Session{fd: -1, opts: copyOpts(o), freezer: freezer}
		s.orig, _ = conn.(*net.TCPConn)
		if s.rc, err = conn.SyscallConn(); err != nil {
			return nil, opErr(OpStop, nil, err)
		}
		if err := s.sock(s.check); err != nil {
			return nil, err
		}
		ss[i] = s
	}
	tuples := sessionTuples(ss)
	if err := freezeAll(ctx, freezer, tuples); err != nil {
		return nil, err
	}
	for i, s := range ss {
		if err := s.sock(repairOn); err != nil {
			for _, done := range ss[:i] {
				done.sock(repairOffNoProbe)
			}
			thawAll(context.WithoutCancel(ctx), freezer, tuples, false)
			return nil, sockErr(OpStop, s, "setsockopt TCP_REPAIR", err)
		}
	}
	ss[0].opts.logger().Debug("tcptake: stopped", "sessions", len(ss))
	return ss, nil
}

func repairOn(fd int) error {
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, unix.TCP_REPAIR_ON)
}

// repairOffNoProbe leaves repair mode without the window probe.
func repairOffNoProbe(fd int) error {
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, unix.TCP_REPAIR_OFF_NO_WP)
}

// check makes sure the socket fd is a plain TCP session tcptake can move
// and reads its tuple.
func (s *Session) check(fd int) error {
	proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil {
		return sockErr(OpStop, nil, "getsockopt SO_PROTOCOL", err)
	}
	if proto == unix.IPPROTO_MPTCP {
		return opErr(OpStop, nil, fmt.Errorf("%w: MPTCP session (TCP_REPAIR covers plain TCP; listen with net.ListenConfig.SetMultipathTCP(false) or GODEBUG=multipathtcp=0)", ErrUnsupported))
	}
	if proto != unix.IPPROTO_TCP {
		return opErr(OpStop, nil, fmt.Errorf("%w: not a TCP socket", ErrUnsupported))
	}
	var ok bool
	if s.tuple, ok = connTuple(s.orig); !ok {
		if s.tuple, err = fdTuple(fd); err != nil {
			return opErr(OpStop, nil, err)
		}
	}
	info, err := getTCPInfo(fd)
	if err != nil {
		return sockErr(OpStop, s, "getsockopt TCP_INFO", err)
	}
	if !info.state.Migratable() {
		return opErr(OpStop, s, fmt.Errorf("%w: %v", ErrState, info.state))
	}
	return nil
}

// connTuple is the tuple of c from the addresses the runtime keeps (no
// system call), when c is a *net.TCPConn whose addresses need no scope.
func connTuple(c *net.TCPConn) (Tuple, bool) {
	if c == nil {
		return Tuple{}, false
	}
	la, ok1 := c.LocalAddr().(*net.TCPAddr)
	ra, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 || la.Zone != "" || ra.Zone != "" {
		return Tuple{}, false
	}
	return Tuple{Local: la.AddrPort(), Remote: ra.AddrPort()}.unmap(), true
}

// Release closes a stopped session silently (no FIN, no RST: the socket is
// in repair mode). A session from Stop is the application's conn: Release
// lets it go, and the application's conn.Close closes it. The freeze
// stays until Thaw, so late packets of the peer draw no RST while the
// service address moves.
func (s *Session) Release() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return opErr(OpRelease, s, errors.New("session was restarted"))
	}
	if s.orig != nil { // the application's descriptor: its conn.Close ends it
		s.rc = nil
		return nil
	}
	return opErr(OpRelease, s, s.closeSocket())
}

// Thaw lifts the session's freeze on this node (after Release, once the
// service address has moved).
func (s *Session) Thaw(ctx context.Context) error {
	return s.freezer.Thaw(ctx, s.tuple, false)
}
