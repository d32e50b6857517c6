package libtcptake

import (
	"context"
	"errors"
	"net"
	"syscall"
)

// Session is a TCP session in repair mode on this node, with its packets
// dropped: either an application's session stopped by Stop, or one
// recreated from an image by Set.
type Session struct {
	tuple Tuple
	fd    int
	opts  *Options
}

// Tuple returns the session's 4-tuple.
func (s *Session) Tuple() Tuple { return s.tuple }

// Stop freezes the session of conn (drops its packets in both directions)
// and puts its socket in repair mode. conn stays owned by the caller, but
// must not be used until Restart.
func Stop(ctx context.Context, conn syscall.Conn, o *Options) (*Session, error) {
	return nil, errors.ErrUnsupported
}

// Get reads the stopped session's image, queue bytes included.
func (s *Session) Get() (*Image, error) { return nil, errors.ErrUnsupported }

// Set recreates the session of img on a new socket of this node, in repair
// mode and frozen, ready for Restart.
func Set(ctx context.Context, img *Image, o *Options) (*Session, error) {
	return nil, errors.ErrUnsupported
}

// Restart leaves repair mode, lifts the freeze and returns the session as
// a *net.TCPConn the Go runtime polls. Unsent bytes go out at once.
func (s *Session) Restart(ctx context.Context) (*net.TCPConn, error) {
	return nil, errors.ErrUnsupported
}

// Release closes a stopped session silently (no FIN, no RST). The freeze
// stays until the caller thaws the tuple (the service address usually
// moves first).
func (s *Session) Release() error { return errors.ErrUnsupported }
