package ha

import (
	"context"
	"net"
	"syscall"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
)

// sessionOps are the libtcptake calls a node makes; the tests substitute
// a fake that needs no privileges and counts every call.
type sessionOps interface {
	stopAll(ctx context.Context, conns []*net.TCPConn) ([]session, error)
	// getAll reads stopped sessions' images (libtcptake.GetAll).
	getAll(ctx context.Context, ss []session) ([]*libtcptake.Image, error)
	setAll(ctx context.Context, imgs []*libtcptake.Image) ([]session, error)
	// prepareAll does ahead of restartAll what needs neither the peers
	// nor the address (libtcptake.PrepareAll).
	prepareAll(ss []session) error
	// restartAll returns one entry per session, nil where it failed,
	// and an error joining the failures.
	restartAll(ctx context.Context, ss []session) ([]*net.TCPConn, error)
	// watchPeers keeps what the peers send into the freezes from now on
	// (libtcptake.WatchPeers).
	watchPeers() (peerWatch, error)
	// pathRTO is the retransmission timeout of a live session's path
	// (byPath).
	pathRTO(c *net.TCPConn) time.Duration
}

// peerWatch is a libtcptake.PeerWatch with the node's options.
type peerWatch interface {
	// positions are where the peers of stopped sessions are.
	positions(ctx context.Context, imgs []*libtcptake.Image) []libtcptake.PeerPosition
	// received adds to pos what the peers sent since positions.
	received(imgs []*libtcptake.Image, pos []libtcptake.PeerPosition)
	Close() error
}

// session is a stopped or set libtcptake session.
type session interface {
	Release() error
	Thaw(ctx context.Context) error
	PeerAt(p libtcptake.PeerPosition) error
}

type libOps struct{ o *libtcptake.Options }

func (l libOps) stopAll(ctx context.Context, conns []*net.TCPConn) ([]session, error) {
	cs := make([]syscall.Conn, len(conns))
	for i, c := range conns {
		cs[i] = c
	}
	ss, err := libtcptake.StopAll(ctx, cs, l.o)
	return sessions(ss), err
}

func (l libOps) getAll(ctx context.Context, ss []session) ([]*libtcptake.Image, error) {
	return libtcptake.GetAll(ctx, libSessions(ss))
}

func (l libOps) setAll(ctx context.Context, imgs []*libtcptake.Image) ([]session, error) {
	ss, err := libtcptake.SetAll(ctx, imgs, l.o)
	return sessions(ss), err
}

func (l libOps) prepareAll(ss []session) error { return libtcptake.PrepareAll(libSessions(ss)) }

// restartAll returns one entry per session, nil for a session that could
// not be brought back (libtcptake closed it and reset its peer), and nil
// for all when RestartAll refused the call as a whole.
func (l libOps) restartAll(ctx context.Context, ss []session) ([]*net.TCPConn, error) {
	conns, err := libtcptake.RestartAll(ctx, libSessions(ss))
	out := make([]*net.TCPConn, len(ss))
	copy(out, conns)
	return out, err
}

func libSessions(ss []session) []*libtcptake.Session {
	ls := make([]*libtcptake.Session, len(ss))
	for i, s := range ss {
		ls[i] = s.(*libtcptake.Session)
	}
	return ls
}

func (l libOps) pathRTO(c *net.TCPConn) time.Duration { return connRTO(c) }

func (l libOps) watchPeers() (peerWatch, error) {
	w, err := libtcptake.WatchPeers()
	if err != nil {
		return nil, err
	}
	return libWatch{w, l.o}, nil
}

type libWatch struct {
	*libtcptake.PeerWatch
	o *libtcptake.Options
}

func (w libWatch) positions(ctx context.Context, imgs []*libtcptake.Image) []libtcptake.PeerPosition {
	return w.Positions(ctx, imgs, w.o)
}

func (w libWatch) received(imgs []*libtcptake.Image, pos []libtcptake.PeerPosition) {
	w.Received(imgs, pos)
}

func sessions(ss []*libtcptake.Session) []session {
	out := make([]session, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
