//go:build linux

// Package node is the small framework the tcptake examples share: a server
// node runs application sessions on TCP connections and can hand all of
// them, each with its application state, to a peer node (Push/Take in
// wire.go), and move the service IP with them (vip.go).
//
// An application plugs in as a Service: Serve runs one session and, when
// asked to pause, returns the state it needs to continue elsewhere. That
// state travels in the session image (Image.AppState), so the peer resumes
// the byte stream exactly where this node stopped.
package node

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
	"golang.org/x/sys/unix"
)

// ErrPaused is returned by Service.Serve when its context was cancelled
// and the session stopped at a clean point, with the state to resume from.
var ErrPaused = errors.New("session paused")

// A Service runs application sessions.
type Service interface {
	// Serve runs one session on conn. state is nil for a new connection,
	// or what an earlier Serve returned with ErrPaused (possibly on another
	// node). When ctx is done Serve must return promptly with
	// (state, ErrPaused), leave conn open and not use it any more. Any
	// other return means the session is over and Serve closed conn.
	Serve(ctx context.Context, conn *net.TCPConn, state []byte) ([]byte, error)
}

// Node runs a Service's sessions and can stop all of them for a handoff.
type Node struct {
	Name    string
	Service Service
	// Do runs f where this node's sockets live, e.g. on an OS thread in
	// the node's network namespace. tcptake freezes tuples and creates
	// sockets in the calling thread's netns. Nil runs f directly.
	Do func(f func() error) error
	// Options are passed to libtcptake.Stop and Set.
	Options *libtcptake.Options
	Log     *slog.Logger

	mu       sync.Mutex
	sessions map[*session]struct{}
	wg       sync.WaitGroup
}

type session struct {
	conn   *net.TCPConn
	cancel context.CancelFunc
	done   chan struct{}
	state  []byte // valid after done, when err is ErrPaused
	err    error
}

func (n *Node) do(f func() error) error {
	if n.Do == nil {
		return f()
	}
	return n.Do(f)
}

func (n *Node) log() *slog.Logger {
	if n.Log == nil {
		return slog.Default()
	}
	return n.Log.With("node", n.Name)
}

// Serve accepts connections on l and runs a session on each until l is
// closed.
func (n *Node) Serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		n.Adopt(c.(*net.TCPConn), nil)
	}
}

// Adopt runs a session on conn, resuming from state (nil for a new one).
func (n *Node) Adopt(conn *net.TCPConn, state []byte) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{conn: conn, cancel: cancel, done: make(chan struct{})}
	n.mu.Lock()
	if n.sessions == nil {
		n.sessions = make(map[*session]struct{})
	}
	n.sessions[s] = struct{}{}
	n.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		s.state, s.err = n.Service.Serve(ctx, conn, state)
		if !errors.Is(s.err, ErrPaused) {
			n.mu.Lock()
			delete(n.sessions, s)
			n.mu.Unlock()
			if s.err != nil {
				n.log().Warn("session ended", "err", s.err)
			}
		}
		close(s.done)
	}()
}

// Len is the number of live sessions.
func (n *Node) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.sessions)
}

// Wait waits until every session has ended or been handed off.
func (n *Node) Wait() { n.wg.Wait() }

// Stopped is a session frozen by StopAll: its socket in repair mode, its
// image (AppState included) taken.
type Stopped struct {
	Sess *libtcptake.Session
	Img  *libtcptake.Image
	Conn *net.TCPConn
	MSS  uint32 // the session's snd_mss before the stop
}

// StopAll pauses every session, stops (freezes + repair mode) and gets
// each one, and calls each (if not nil) with every image as soon as it is
// taken, so the caller can stream them. A session whose stop or get fails
// is resumed in place and left out.
func (n *Node) StopAll(ctx context.Context, each func(*Stopped) error) ([]*Stopped, error) {
	n.mu.Lock()
	all := make([]*session, 0, len(n.sessions))
	for s := range n.sessions {
		all = append(all, s)
		delete(n.sessions, s)
	}
	n.mu.Unlock()
	for _, s := range all {
		s.cancel()
	}
	var out []*Stopped
	var firstErr error
	for _, s := range all {
		<-s.done
		if !errors.Is(s.err, ErrPaused) {
			continue // it ended on its own meanwhile
		}
		st := &Stopped{Conn: s.conn, MSS: SndMSS(s.conn)}
		err := n.do(func() error {
			sess, err := libtcptake.Stop(ctx, s.conn, n.Options)
			if err != nil {
				return err
			}
			img, err := sess.Get()
			if err != nil {
				if _, rerr := sess.Restart(ctx); rerr != nil {
					n.log().Error("resume after failed get", "err", rerr)
				}
				return err
			}
			img.AppState = s.state
			st.Sess, st.Img = sess, img
			return nil
		})
		if err != nil {
			n.log().Error("stop", "err", err)
			if firstErr == nil {
				firstErr = err
			}
			n.Adopt(s.conn, s.state)
			continue
		}
		out = append(out, st)
		if each != nil && firstErr == nil {
			if err := each(st); err != nil {
				firstErr = err
			}
		}
	}
	return out, firstErr
}

// Resume restarts stopped sessions in place (the handoff was abandoned, or
// this was a checkpoint) and runs them again.
func (n *Node) Resume(ctx context.Context, stopped []*Stopped) error {
	var firstErr error
	for _, st := range stopped {
		var conn *net.TCPConn
		err := n.do(func() (err error) {
			conn, err = st.Sess.Restart(ctx)
			return err
		})
		if err != nil {
			firstErr = errors.Join(firstErr, err)
			continue
		}
		n.Adopt(conn, st.Img.AppState)
	}
	return firstErr
}

// Release closes stopped sessions silently and lifts their freeze: the
// sessions live on another node now.
func (n *Node) Release(ctx context.Context, stopped []*Stopped) error {
	return n.do(func() error {
		var errs error
		for _, st := range stopped {
			errs = errors.Join(errs, st.Sess.Release())
			st.Conn.Close() // Stop worked on a dup: the application's fd goes too, silently (repair mode)
			errs = errors.Join(errs, st.Sess.Thaw(ctx))
		}
		return errs
	})
}

// SndMSS returns the connection's current send MSS (TCP_INFO snd_mss), or
// 0 if it cannot be read.
func SndMSS(c *net.TCPConn) uint32 {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var mss uint32
	rc.Control(func(fd uintptr) {
		if ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			mss = ti.Snd_mss
		}
	})
	return mss
}

// Listen listens on addr with IP_FREEBIND, so a standby can listen on the
// service address before it owns it, and without MPTCP, which tcptake
// cannot move.
func Listen(addr string) (*net.TCPListener, error) {
	lc := net.ListenConfig{Control: func(network, address string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
			if network == "tcp6" && serr == nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	lc.SetMultipathTCP(false)
	l, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	return l.(*net.TCPListener), nil
}

// Dialer returns a dialer for plain TCP (no MPTCP).
func Dialer() *net.Dialer {
	d := &net.Dialer{Timeout: 5 * time.Second}
	d.SetMultipathTCP(false)
	return d
}
