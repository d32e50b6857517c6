// Restart: a stopped or restored Session becomes a live *net.TCPConn: the
// peer's position is learned, repair mode and the freeze are lifted, and a
// restored session sends what its image still had to send.

package libtcptake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

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
			return nil, opErr(OpRestart, s, errors.New("session listed twice"))
		}
		seen[s] = true
	}
	for _, s := range ss {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.fd < 0 || s.started {
			return nil, opErr(OpRestart, s, errors.New("session is not stopped"))
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

// waitState waits for the socket to reach state: an injected segment is
// processed in softirq, normally before sendto returns, but on a loaded
// node in ksoftirqd, later. It gives up after stateWait.
func waitState(fd int, want State) error {
	deadline := time.Now().Add(stateWait)
	for {
		info, err := getTCPInfo(fd)
		if err != nil {
			return os.NewSyscallError("getsockopt TCP_INFO", err)
		}
		if info.state == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("restored socket did not reach %v %v after the peer's FIN", want, stateWait)
		}
		time.Sleep(time.Millisecond)
	}
}

// stateWait bounds waitState.
const stateWait = time.Second

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
