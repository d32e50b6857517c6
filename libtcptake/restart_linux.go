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
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Restart leaves repair mode, lifts the freeze and returns the session as
// a *net.TCPConn the Go runtime polls. A restored session then has its
// unacked and unsent bytes in its send queue, going out at once, and, in a
// state where our FIN was sent, its FIN after them. Restart waits on no
// peer beyond the bounded probe (Options.ProbeTimeout, and ctx). A session
// that cannot be brought back is closed (its peer is reset) and its error
// returned with a nil conn.
func (s *Session) Restart(ctx context.Context) (*net.TCPConn, error) {
	cs, err := RestartAll(ctx, []*Session{s})
	if len(cs) == 0 {
		return nil, err
	}
	return cs[0], err
}

// PrepareAll does, ahead of RestartAll, the part of it that needs neither
// the peers nor the node's address, so that RestartAll, called next, has
// that much less to do while the clients wait: each restored session whose
// peer's position was given (PeerAt, answered) gets its send queue
// (queueSend), over the cores; in repair mode and frozen, nothing is sent.
// Other sessions are left for RestartAll, which also prepares again one
// that PeerAt sets anew. A session that cannot be prepared fails with
// the same error in RestartAll. Each session may appear once.
func PrepareAll(ss []*Session) error {
	unlock, err := lockAll(ss)
	if err != nil {
		return err
	}
	defer unlock()
	var ready []*Session
	for _, s := range ss {
		if s.open() && !s.started && s.img != nil && s.peerKnown && !s.opts.Adjust {
			ready = append(ready, s)
		}
	}
	errs := make([]error, len(ready))
	parallel(len(ready), func(i int) { errs[i] = ready[i].queueOnce() })
	return errors.Join(errs...)
}

// lockAll locks every session of ss for a restart, or none when one is
// listed twice (locking it twice would wait forever).
func lockAll(ss []*Session) (unlock func(), err error) {
	seen := make(map[*Session]bool, len(ss))
	for _, s := range ss {
		if seen[s] {
			return nil, opErr(OpRestart, s, errors.New("session listed twice"))
		}
		seen[s] = true
	}
	for _, s := range ss {
		s.mu.Lock()
	}
	return func() {
		for _, s := range ss {
			s.mu.Unlock()
		}
	}, nil
}

// RestartAll restarts many sessions, thawing them in batches where the
// freezer allows it. conns[i] is ss[i]'s conn, or nil when ss[i] could not
// be brought back: that session was closed and its peer reset, and err
// joins the *Error of every such session (errors.Join); the others are
// live. Sessions do not wait for each other: none waits on its peer's
// window. Each session may appear once, and in one call at a time.
func RestartAll(ctx context.Context, ss []*Session) (conns []*net.TCPConn, err error) {
	unlock, err := lockAll(ss)
	if err != nil {
		return nil, err
	}
	defer unlock()
	at := make(map[*Session]int, len(ss))
	for i, s := range ss {
		if !s.open() || s.started {
			return nil, opErr(OpRestart, s, errors.New("session is not stopped"))
		}
		at[s] = i
	}
	conns = make([]*net.TCPConn, len(ss))
	errs := make([]error, len(ss))
	resume := func(s *Session) { // on a worker of shares, each session once
		i := at[s]
		c, err := s.resume()
		if err != nil {
			errs[i] = err
			if c != nil {
				c.SetLinger(0) // close with a RST: the peer must not wait
				c.Close()
			}
			return
		}
		conns[i] = c
	}
	failed := make(map[*Session]error)
	byFreezer := map[Freezer][]*Session{}
	for _, s := range ss {
		byFreezer[s.freezer] = append(byFreezer[s.freezer], s)
	}
	for f, group := range byFreezer {
		leaveRepair(ctx, f, group, failed, resume)
	}
	for i, s := range ss {
		if err := failed[s]; err != nil { // here: abort makes sockets (see shares)
			errs[i] = err
			s.abort(ctx)
		}
	}
	return conns, errors.Join(errs...)
}

// leaveRepair brings stopped or restored sessions back to life, and hands
// each to resume as soon as it is live; the sessions that cannot be are
// recorded in failed, and left in repair mode and frozen for abort:
//
//  1. each restored session with unacked bytes learns how many of them its
//     peer has (learnPeers): when the peer received bytes whose ACKs the
//     freeze dropped, the socket is rebuilt to start after them, so that
//     none of them is sent again;
//  2. a restored session's send queue goes into its socket (queueSend);
//     one that had received the peer's FIN gets it now (the local address
//     is the node's by Restart), then its window;
//  3. thaw and repair off, in batches of thawBatch: a batch's sessions
//     resume, over the cores, while the next is thawed. The module thaws
//     after repair off (of every session, first), with a kick: the live
//     socket sends an ACK and what the freeze held back at once, and a
//     peer in RTO backoff is told to retransmit. Other freezers thaw
//     first, so that the window probe sent at repair off reaches the
//     peer; a batch's sessions leave repair mode with their resume, and
//     held-back bytes are pushed from userspace.
func leaveRepair(ctx context.Context, f Freezer, ss []*Session, failed map[*Session]error, resume func(*Session)) {
	var probing, adjusting []*Session
	for _, s := range ss {
		switch {
		case s.img != nil && s.opts.Adjust:
			adjusting = append(adjusting, s)
		case s.img != nil && len(s.img.SendUnacked) > 0 && !s.peerKnown:
			probing = append(probing, s)
		}
	}
	if len(probing) > 0 {
		learnPeers(ctx, f, probing, failed)
	}
	if len(adjusting) > 0 {
		adjustPeers(ctx, f, adjusting, failed)
	}
	// The send queues over the cores (writing one that goes out as sent
	// is most of a restart's work), then the FINs here: injecting one
	// takes a socket in the caller's network namespace (see shares).
	queued := make([]error, len(ss))
	parallel(len(ss), func(i int) {
		if s := ss[i]; failed[s] == nil && s.img != nil {
			queued[i] = s.queueOnce()
		}
	})
	for i, s := range ss {
		if failed[s] != nil || s.img == nil {
			continue
		}
		if err := queued[i]; err != nil {
			failed[s] = err
		} else if s.img.State.finReceived() {
			if err := s.receiveFIN(); err != nil {
				failed[s] = err
			}
		}
	}
	live := make([]*Session, 0, len(ss))
	for _, s := range ss {
		if failed[s] == nil {
			live = append(live, s)
		}
	}
	if len(live) == 0 {
		return
	}
	errs := make([]error, len(live))
	defer func() {
		for i, err := range errs {
			if err != nil {
				failed[live[i]] = err
			}
		}
	}()
	// A freeze that expired already is no reason to fail. A freeze that
	// cannot be lifted fails its sessions: they can send nothing.
	thaw := func(lo, hi int, kick bool) {
		err := thawAll(ctx, f, sessionTuples(live[lo:hi]), kick)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		for i := lo; i < hi; i++ {
			if errs[i] == nil {
				errs[i] = opErr(OpRestart, live[i], err)
			}
		}
	}
	module := moduleOf(f) != nil
	if module { // its kick, with the thaw, needs the socket live
		parallel(len(live), func(i int) { errs[i] = live[i].repairOff(true) })
	}
	// Without the module's kick, a session with nothing to send that
	// holds what its peer sent into the freeze is made to acknowledge
	// it (ackSegment), on raw sockets opened here, in the caller's
	// network namespace (see shares).
	var raw rawSockets
	defer raw.Close()
	var acking []Tuple
	for _, s := range live {
		if !module && s.acksPeer() {
			acking = append(acking, s.tuple)
		}
	}
	if len(acking) > 0 {
		if err := raw.open(acking); err != nil {
			live[0].opts.logger().Warn("tcptake: the peers' bytes are not acknowledged at once", "err", err)
		}
	}
	batches := (len(live) + thawBatch - 1) / thawBatch
	thawed := make([]chan struct{}, batches)
	for k := range thawed {
		thawed[k] = make(chan struct{})
	}
	var workers sync.WaitGroup
	workers.Go(func() {
		parallel(len(live), func(i int) {
			<-thawed[i/thawBatch]
			if errs[i] != nil { // not thawed: it stays in repair mode for abort
				return
			}
			if !module {
				if errs[i] = live[i].leaveThawed(&raw); errs[i] != nil {
					return
				}
			}
			resume(live[i])
		})
	})
	for k := range thawed { // here, in the caller's network namespace
		thaw(k*thawBatch, min(len(live), (k+1)*thawBatch), module)
		close(thawed[k])
	}
	workers.Wait()
}

// thawBatch is how many sessions leaveRepair thaws at a time (one netlink
// batch of NFTFreezer's).
const thawBatch = nftTuplesPerBatch

// repairOff takes a thawed session out of repair mode, or, with the
// module (whose kick follows the thaw), a frozen one.
func (s *Session) repairOff(module bool) error {
	// Leaving repair sends a window probe, except with the module (its
	// kick follows the thaw) and before a restored session's first data
	// segment, which carries the same ACK and window (a peer whose window
	// was closed still gets the probe: its answer opens ours).
	mode := unix.TCP_REPAIR_OFF
	if module || len(s.pending) > 0 && (s.img.Window == nil || s.img.Window.SndWnd > 0) {
		mode = unix.TCP_REPAIR_OFF_NO_WP
	}
	if err := s.sock(func(fd int) error { return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, mode) }); err != nil {
		return sockErr(OpRestart, s, "setsockopt TCP_REPAIR", err)
	}
	s.started = true
	if !module && s.orig != nil { // a restored session's sends follow in resume
		s.sock(pushPending)
	}
	return nil
}

// leaveThawed takes a thawed session out of repair mode, and has it
// acknowledge at once, on raw, what its peer sent into the freeze when
// it is to (acksPeer).
func (s *Session) leaveThawed(raw *rawSockets) error {
	if err := s.repairOff(false); err != nil {
		return err
	}
	if s.acksPeer() {
		if err := raw.send(ackSegment(s.tuple, s.img)); err != nil {
			s.opts.logger().Warn("tcptake: the peer's bytes are not acknowledged at once", "session", s.tuple, "err", err)
		}
	}
	return nil
}

// acksPeer reports whether the session, once out of repair mode, is to be
// made to acknowledge what its peer sent into the freeze: without the
// module's kick (which does it), nor data of its own to carry the ACK, a
// socket does so only when asked.
func (s *Session) acksPeer() bool {
	return s.ackPeer && len(s.pending) == 0
}

// learnPeers finds how many of its unacked bytes the peer of each restored
// session already has, and rebuilds the sessions whose peers are ahead of
// their image (peerAcks).
//
// A peer that never answers keeps the image's position (see queueSend for
// why any ACK it sends is still valid).
func learnPeers(ctx context.Context, f Freezer, ss []*Session, failed map[*Session]error) {
	acks, answered, _ := peerAcks(ctx, moduleOf(f), ss)
	for i, s := range ss {
		if !answered[i] {
			s.opts.logger().Warn("tcptake: the peer did not answer: its position is the image's",
				"session", s.tuple, "unacked", len(s.img.SendUnacked))
			continue
		}
		if seqAfter(acks[i], s.img.SndUna) {
			if err := s.rebuild(acks[i]); err != nil {
				failed[s] = err
			}
		}
	}
}

// peerAcks finds how far the peer of each session (its tuple and img)
// acknowledged: acks[i], when answered[i]. Its sources are every segment
// of the peer the module (mc, when it freezes the tuples) recorded while
// the tuple was frozen on this node, and the peer's answers to window
// probes, sent again to the peers that have not answered (lost probes
// and answers are normal on a real link) until ProbeTimeout. An ACK
// outside the image's send sequence is ignored (plausibleAck). exact[i]:
// the peer's answer to a probe says it holds nothing beyond acks[i]
// (answersProbe).
func peerAcks(ctx context.Context, mc *Client, ss []*Session) (acks []uint32, answered, exact []bool) {
	acks, answered, exact = make([]uint32, len(ss)), make([]bool, len(ss)), make([]bool, len(ss))
	index := make(map[*Session]int, len(ss))
	for i, s := range ss {
		index[s] = i
	}
	note := func(s *Session, seg Segment) {
		i := index[s]
		if !plausibleAck(s.img, seg.Ack) {
			s.opts.logger().Debug("tcptake: implausible ack from the peer", "session", s.tuple,
				"ack", seg.Ack, "snd_una", s.img.SndUna, "write_seq", s.img.WriteSeq)
			return
		}
		if !answered[i] || seqAfter(seg.Ack, acks[i]) {
			acks[i], answered[i], exact[i] = seg.Ack, true, false
		}
		if seg.Ack == acks[i] && answersProbe(seg, s.img) {
			exact[i] = true
		}
	}
	if mc != nil {
		for _, s := range ss {
			segs, err := mc.PeerSegments(ctx, s.tuple)
			if err != nil {
				continue // no record: the probes still tell
			}
			for _, seg := range segs {
				if seg.Flags&tcpACK != 0 {
					note(s, seg)
				}
			}
		}
	}
	probePeers(ctx, mc, ss, note)
	return acks, answered, exact
}

// plausibleAck reports whether a peer's ack lies from img's snd_una to all
// the node wrote (+1 for our FIN). A peer may have more than snd_nxt says
// when a previous owner of the session sent more than the one the image
// is of.
func plausibleAck(img *Image, ack uint32) bool {
	end := img.WriteSeq
	if img.State.finSent() {
		end++
	}
	return !seqAfter(img.SndUna, ack) && !seqAfter(ack, end)
}

// PeerWatch keeps, from the moment it is opened, what the peers of this
// node's sessions send, off the packet taps (AF_PACKET, before netfilter):
// the segments the freeze of a stopped session drops. Open it before the
// sessions are stopped; Positions reads it. It needs CAP_NET_RAW.
type PeerWatch struct{ pc *peerCapture }

// WatchPeers opens a PeerWatch in the caller's network namespace.
func WatchPeers() (*PeerWatch, error) {
	pc, err := openCapture(packetSnap)
	if err != nil {
		return nil, opErr(OpStop, nil, err)
	}
	return &PeerWatch{pc: pc}, nil
}

// Close ends the watch.
func (w *PeerWatch) Close() error {
	if w == nil {
		return nil
	}
	return w.pc.Close()
}

// Positions asks the peers of stopped sessions, from the node that
// stopped them and still holds their addresses, how far they acknowledged,
// and takes from the watch what they sent into the freeze, so that the
// node that restores the sessions need not ask (Session.PeerAt) while
// its clients wait, and the peers need not send it again. imgs are the
// sessions' images (Get; their queues are not needed); only the peers of
// sessions with unacked data are asked (the others acknowledged all). A
// peer that did not answer within Options.ProbeTimeout (or ctx) is asked
// again by Restart. The positions are exact as long as the sessions stay
// stopped: nothing reaches the peers after them. w may be nil: no
// Received then.
func (w *PeerWatch) Positions(ctx context.Context, imgs []*Image, o *Options) []PeerPosition {
	pos := make([]PeerPosition, len(imgs))
	w.Received(imgs, pos)
	var ss []*Session // probe targets: an image's tuple on the wire, and its position
	var at []int
	for i, img := range imgs {
		if img.SndNxt == img.SndUna { // the peer acknowledged all we sent
			pos[i].Answered, pos[i].Ack = true, img.SndUna
			continue
		}
		ss = append(ss, &Session{tuple: wireTuple(img.Tuple), img: img, opts: copyOpts(o), fd: -1})
		at = append(at, i)
	}
	if len(ss) > 0 {
		var mc *Client // the module's record, when it froze the sessions
		if f, err := o.getFreezer(); err == nil {
			mc = moduleOf(f)
		}
		acks, answered, exact := peerAcks(ctx, mc, ss)
		for k, i := range at {
			pos[i].Answered, pos[i].Ack, pos[i].Exact = answered[k], acks[k], exact[k]
		}
	}
	w.Received(imgs, pos) // and what came meanwhile
	return pos
}

// Received reads what the watch kept since the last call (or Positions)
// and adds to pos[i].Received the bytes of imgs[i]'s peer that follow on
// from the image's rcv_nxt and what pos[i].Received has, within the
// window the image advertised. Positions calls it; call it again, on the
// positions Positions returned, for what the peers sent later while the
// sessions stayed stopped (package ha does, just before the address
// leaves the node).
func (w *PeerWatch) Received(imgs []*Image, pos []PeerPosition) {
	if w == nil {
		return
	}
	index := make(map[Tuple]int, len(imgs))
	for i, img := range imgs {
		t := wireTuple(img.Tuple)
		index[Tuple{Local: t.Local, Remote: t.Remote}] = i
	}
	buf := make([]byte, packetSnap)
	for {
		n, from, err := unix.Recvfrom(w.pc.fd, buf, 0)
		if err != nil { // EAGAIN: all read
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		t, seg, data, ok := parsePacket(buf[:n])
		if !ok || len(data) == 0 || len(data) != int(seg.Len) {
			continue
		}
		if i, ok := index[t]; ok {
			pos[i].take(imgs[i], seg, data)
		}
	}
}

// take adds to p.Received what of a peer's segment (seg, its payload
// data) follows on from it, after img's rcv_nxt, within the window img
// advertised.
func (p *PeerPosition) take(img *Image, seg Segment, data []byte) {
	next := img.RcvNxt + uint32(len(p.Received))
	end := seg.Seq + uint32(len(data))
	if w := img.Window; w != nil && seqAfter(end, w.RcvWup+w.RcvWnd) {
		return // beyond the window: not ours to take
	}
	if seqAfter(seg.Seq, next) || !seqAfter(end, next) {
		return // a gap before it (the peer sends it again), or nothing new
	}
	p.Received = append(p.Received, data[next-seg.Seq:]...)
}

// PeerAt tells a restored session, before Restart, where its peer is, as
// the node that stopped it saw after the stop (PeerWatch.Positions): what
// the peer sent into the freeze joins the receive queue, and Restart does
// not ask an answered peer. A peer ahead of the image, or a longer
// receive queue, has the session's socket set again.
func (s *Session) PeerAt(p PeerPosition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.img == nil || s.started || !s.open() {
		return opErr(OpSet, s, errors.New("not a restored session waiting for Restart"))
	}
	if p.Answered && !plausibleAck(s.img, p.Ack) {
		return opErr(OpSet, s, fmt.Errorf("peer ack %d outside the image's send sequence %d..%d", p.Ack, s.img.SndUna, s.img.WriteSeq))
	}
	img := *s.img
	changed := len(p.Received) > 0
	s.ackPeer = s.ackPeer || changed
	if changed {
		img.RecvQueue = concat(img.RecvQueue, p.Received)
		img.RcvNxt += uint32(len(p.Received))
		s.opts.logger().Debug("tcptake: the peer's bytes the freeze dropped are received", "session", s.tuple, "bytes", len(p.Received))
	}
	if p.Answered {
		s.peerKnown, s.peerExact = true, p.Exact
		if have := dropAcked(&img, p.Ack); have > 0 {
			s.opts.logger().Debug("tcptake: the peer has part of the send queue", "session", s.tuple, "bytes", have)
			changed = true
		}
	}
	if changed {
		return s.reset(&img)
	}
	return nil
}

// probePeers probes the peers of ss (probeAll), reading their answers
// through a capture of its own, or, where packet sockets are not to be
// had, from the module's record of the frozen tuples' segments (mc, when
// the module freezes them); a node with neither logs why and learns
// nothing.
func probePeers(ctx context.Context, mc *Client, ss []*Session, note func(*Session, Segment)) {
	wait := probeWait(ctx, &ss[0].opts)
	pc, err := openPeerCapture()
	switch {
	case err == nil:
		probeAll(ctx, pc, ss, note, wait)
		go pc.Close() // a packet socket's close waits for an RCU grace period
	case mc != nil:
		probeAll(ctx, moduleRecord{mc}, ss, note, wait)
	default:
		ss[0].opts.logger().Warn("tcptake: cannot probe the peers", "err", err)
	}
}

// answers are where probeAll reads the peers' answers: peerSegments waits
// up to wait and returns the segments of the tuples' peers that came since
// the probes went out at sent.
type answers interface {
	peerSegments(ctx context.Context, ts []Tuple, sent time.Time, wait time.Duration) map[Tuple][]Segment
}

// moduleRecord reads the answers from the module's record of the segments
// its freeze dropped (PEER-GET): those that came after the probes.
type moduleRecord struct{ c *Client }

func (r moduleRecord) peerSegments(ctx context.Context, ts []Tuple, sent time.Time, wait time.Duration) map[Tuple][]Segment {
	select {
	case <-ctx.Done():
	case <-time.After(wait):
	}
	// A segment's age is counted in jiffies: up to one more than it is
	// (10 ms at HZ=100).
	since := time.Since(sent) + ageResolution
	got := make(map[Tuple][]Segment, len(ts))
	for _, t := range ts {
		segs, err := r.c.PeerSegments(ctx, t)
		if err != nil {
			continue
		}
		for _, seg := range segs {
			if seg.Age <= since {
				got[t] = append(got[t], seg)
			}
		}
	}
	return got
}

// ageResolution is the most a PEER-GET age may exceed the real one.
const ageResolution = 10 * time.Millisecond

// probeAll sends each session's peer a window probe, and again to the
// peers that have not answered, at growing intervals, until all answered
// or wait, counted from when every peer was asked, ran out; the answers
// are read at least once. Every segment of an answering peer is passed to
// note.
func probeAll(ctx context.Context, pc answers, ss []*Session, note func(*Session, Segment), wait time.Duration) {
	byTuple := make(map[Tuple]*Session, len(ss))
	for _, s := range ss {
		byTuple[s.tuple] = s
	}
	// The wait starts once every peer was asked: sending 10,000 probes
	// can take longer than wait (seconds under TCG), and the answers to
	// the first are then already in.
	var deadline time.Time
	interval := probeInterval
	// The raw sockets are made here, in the caller's network namespace
	// (see shares), and shared.
	var raw rawSockets
	defer raw.Close()
	if err := raw.open(sessionTuples(ss)); err != nil {
		ss[0].opts.logger().Warn("tcptake: probe", "err", err)
	}
	for pending := ss; len(pending) > 0 && ctx.Err() == nil; interval = min(2*interval, maxProbeInterval) {
		sent := time.Now()
		shares(len(pending), func(lo, hi int) {
			for _, s := range pending[lo:hi] {
				if err := raw.send(probeSegment(s.tuple, s.img)); err != nil {
					s.opts.logger().Warn("tcptake: probe", "session", s.tuple, "err", err)
				}
			}
		})
		if deadline.IsZero() {
			deadline = time.Now().Add(wait)
		}
		left := max(0, time.Until(deadline))
		got := pc.peerSegments(ctx, sessionTuples(pending), sent, min(interval, left))
		for t, segs := range got {
			for _, seg := range segs {
				note(byTuple[t], seg)
			}
		}
		next := pending[:0:0]
		for _, s := range pending {
			if _, answered := got[s.tuple]; !answered {
				next = append(next, s)
			}
		}
		pending = next
		if left == 0 {
			return
		}
	}
}

// The window probe is sent again after probeInterval, then at doubling
// intervals up to maxProbeInterval, within Options.ProbeTimeout.
const (
	probeInterval    = 10 * time.Millisecond
	maxProbeInterval = 160 * time.Millisecond
)

// rebuild recreates a restored session whose peer acknowledged up to ack:
// the socket (in repair mode, so closing it is silent) is set again from
// the image without the bytes the peer has.
func (s *Session) rebuild(ack uint32) error {
	img := *s.img
	if have := dropAcked(&img, ack); have > 0 {
		s.opts.logger().Debug("tcptake: the peer has part of the send queue", "session", s.tuple, "bytes", have)
	}
	return s.reset(&img)
}

// reset sets the socket of a restored session again, from img: the old
// one, in repair mode, closes silently.
func (s *Session) reset(img *Image) error {
	s.closeSocket()
	return s.set(img)
}

// queueOnce runs queueSend once per socket.
func (s *Session) queueOnce() error {
	if !s.queued {
		s.queued, s.queueErr = true, s.queueSend()
	}
	return s.queueErr
}

// queueSend puts a restored session's send queue into its socket, still
// in repair mode. The unacked bytes are the delicate part: the peer may
// have received some of them after it answered the probe (they were on
// their way), and an ACK for bytes the socket has not sent is dropped by
// the kernel — the session would stall. So:
//
//   - when the peer's position was given and is exact (PeerAt, Exact: the
//     node that stopped the session asked after the stop, behind every
//     byte it had sent, nothing left it since, and the peer's answer
//     showed no byte beyond its ACK), the peer has none of them, and they
//     are sent again as new data with the unsent bytes at resume;
//   - so are they when they fit in the restored socket's first flight
//     (its congestion window and the peer's window): the flight has
//     passed whatever the peer acknowledges by the time its ACKs return;
//   - otherwise they go into the queue as sent, so that any ACK of the
//     peer is valid; those the peer lacks go out again when its SACKs or
//     the retransmission timer show them lost (without the module's RTT,
//     a second or more: the first loss probe, or the kernel's 3 s
//     fallback timeout).
//
// The unsent bytes are sent as new data at resume, without waiting.
//
// Set made the send buffer large enough for all of them (fitSendBuffer).
func (s *Session) queueSend() error {
	img := s.img
	if rttProbe(img, moduleOf(s.freezer) != nil) { // Set started one byte early
		s.pending = []byte{0}
		return nil
	}
	if s.peerExact || len(img.SendUnacked) <= firstFlight(img) {
		s.pending = concat(img.SendUnacked, img.SendUnsent)
		return nil
	}
	s.pending = img.SendUnsent
	if err := s.sock(func(fd int) error { return writeQueue(fd, tcpSendQueue, img.SendUnacked) }); err != nil {
		return sockErr(OpRestart, s, "write send queue", err)
	}
	return nil
}

// rttProbe reports whether a restored session is to take an RTT sample at
// Restart, by sending again the last byte its peer acknowledged (Set puts
// its send sequence one byte early). Without the module's SET, a restored
// socket has no RTT estimate: its first retransmission timeout is the
// kernel's fallback, 3 s (tcp_init_metrics), unless the node kept metrics
// for the peer. A session with bytes to send at Restart takes its sample
// from their ACK. An idle one sends nothing until its application does,
// and if that segment is lost on the way, the peer waits those 3 s. So an
// idle session sends the one byte: the peer, which has it, drops it
// unread and acknowledges it at once (a duplicate segment), and that ACK
// is the sample, and carries the window. The byte's value is not kept in
// the image and does not matter (0).
//
// Only an established session with a window open (its FIN, or a closed
// window, would change the sequence the byte takes) does so; one whose
// image holds the module's state is given its RTT by SET.
func rttProbe(img *Image, module bool) bool {
	return (!module || img.Kernel == nil) && img.State == StateEstablished &&
		len(img.SendUnacked) == 0 && len(img.SendUnsent) == 0 &&
		img.Window != nil && img.Window.SndWnd > 0
}

// concat is a followed by b, without a copy when one is empty (pending
// bytes are only read).
func concat(a, b []byte) []byte {
	switch {
	case len(b) == 0:
		return a
	case len(a) == 0:
		return b
	}
	return append(append(make([]byte, 0, len(a)+len(b)), a...), b...)
}

// firstFlight is how many bytes a socket restored from img sends at once:
// its congestion window (the image's with the module, else the kernel's
// initial one) of segments, within the peer's window.
func firstFlight(img *Image) int {
	mss := int(img.MSSClamp)
	if img.Options&OptTimestamps != 0 {
		mss -= tcpolenTimestampAligned
	}
	cwnd := initCwnd
	if img.Kernel != nil && img.Kernel.SndCwnd > 0 {
		cwnd = int(img.Kernel.SndCwnd)
	}
	n := cwnd * mss
	if img.Window != nil {
		n = min(n, int(img.Window.SndWnd))
	}
	return n
}

// The kernel's initial congestion window (TCP_INIT_CWND) and the room the
// timestamp option takes in every segment (TCPOLEN_TSTAMP_ALIGNED).
const (
	initCwnd                = 10
	tcpolenTimestampAligned = 12
)

// receiveFIN delivers the peer's FIN to a restored session in repair mode
// and then sets its window.
func (s *Session) receiveFIN() error {
	if err := injectFIN(s.tuple, s.img); err != nil {
		return opErr(OpRestart, s, err)
	}
	if err := s.sock(func(fd int) error { return waitState(fd, StateCloseWait) }); err != nil {
		return opErr(OpRestart, s, err)
	}
	if w := s.img.Window; w != nil {
		if err := s.sock(func(fd int) error { return setRepairWindow(fd, w) }); err != nil {
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
func pushPending(fd int) error {
	nodelay, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
	if err != nil {
		return err
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if nodelay == 0 {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 0)
	}
	return nil
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

// resume hands a session out of repair mode to the application. A
// restored session's remaining bytes go into its send queue first, without
// waiting for the peer (sendPending); its conn is the one Set made.
func (s *Session) resume() (*net.TCPConn, error) {
	if s.orig != nil {
		s.rc = nil
		s.opts.logger().Debug("tcptake: restarted", "session", s.tuple)
		return s.orig, nil
	}
	conn := s.conn
	s.conn, s.rc = nil, nil
	if len(s.pending) > 0 {
		if err := connFD(conn, func(fd int) error { return sendPending(fd, s.pending) }); err != nil {
			return conn, sockErr(OpRestart, s, "write (the restored send queue)", err)
		}
		s.pending = nil
	}
	// The buffer sizes the application locked, after the queues (the
	// other options were set in Set).
	if err := connFD(conn, func(fd int) error { return setSockOpts(fd, s.tuple.Is6(), &s.img.Sock, true) }); err != nil {
		return conn, opErr(OpRestart, s, err)
	}
	if s.img.State.finSent() {
		if err := conn.CloseWrite(); err != nil {
			return conn, opErr(OpRestart, s, err)
		}
	}
	s.img = nil
	s.opts.logger().Debug("tcptake: restarted", "session", s.tuple)
	return conn, nil
}

// abort closes a session that could not be brought back, still in repair
// mode and frozen: the socket goes silently, the freeze is lifted, and a
// window probe draws the peer's ACK, which this node — without a socket
// for the tuple now — answers with a RST. The peer learns at once that the
// session is gone instead of waiting on it.
func (s *Session) abort(ctx context.Context) {
	if s.orig != nil && s.rc != nil {
		// An application's session: live again, so that closing its
		// conn (the application's to close) ends it with a FIN or RST.
		s.sock(repairOffNoProbe)
		s.rc = nil
	}
	s.closeSocket()
	s.started = true
	s.freezer.Thaw(context.WithoutCancel(ctx), s.tuple, false)
	img := s.img
	if img == nil {
		return
	}
	probePeer(s.tuple, img)
	s.opts.logger().Warn("tcptake: session closed", "session", s.tuple)
}
