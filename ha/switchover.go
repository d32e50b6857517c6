package ha

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
)

// Step is a step of a switchover. Options.Fault is called on the active
// at StepStop (before each image is sent), StepSet (after the standby's
// confirmation), StepAddressDown (before the address goes), StepAddressUp
// (after telling the standby to take it) and StepRestart (after the
// standby says it serves, before the sockets are released); on the
// standby at StepSet (after the last image), StepAddressUp (before the
// address comes) and StepRestart (after it came, before the restart).
type Step int

const (
	StepStop        Step = 1 // the active stops, gets and streams its sessions
	StepSet         Step = 2 // the standby sets them and confirms
	StepAddressDown Step = 3 // the active gives up the service address
	StepAddressUp   Step = 4 // the standby takes it
	StepRestart     Step = 5 // the standby restarts the sessions, the old active releases
)

func (s Step) String() string {
	switch s {
	case StepStop:
		return "step 1 (stop and get)"
	case StepSet:
		return "step 2 (set on the standby)"
	case StepAddressDown:
		return "step 3 (address down)"
	case StepAddressUp:
		return "step 4 (address up)"
	case StepRestart:
		return "step 5 (restart)"
	}
	return fmt.Sprintf("step %d", int(s))
}

// Report is what a switchover did. Durations of the active's steps are
// measured on the active, the standby's on the standby; Blackout runs on
// the active's clock from the first stop to the standby's word that it
// serves (so it includes one trip over the link).
type Report struct {
	Sessions     int           `json:"sessions"`
	Failed       int           `json:"failed"` // sessions the standby could not restart
	StopGet      time.Duration `json:"stop_get_ns"`
	Transfer     time.Duration `json:"transfer_ns"`
	Set          time.Duration `json:"set_ns"`
	AddressMoved time.Duration `json:"address_moved_ns"`
	Restart      time.Duration `json:"restart_ns"`
	Blackout     time.Duration `json:"blackout_ns"`
}

// outgoing is the active's side of a switchover.
type outgoing struct {
	stopped   []session
	positions []*libtcptake.Image // what the peers' positions are asked from (image)
	conns     []*net.TCPConn      // the application's conns, closed at release
	states    [][]byte
}

func (n *Node) faultAt(s Step) error {
	if n.o.Fault == nil {
		return nil
	}
	err := n.o.Fault(s)
	if errors.Is(err, ErrCutLink) {
		n.mu.Lock()
		if l := n.link; l != nil {
			l.conn.Close()
		}
		n.mu.Unlock()
		return nil
	}
	return err
}

// Switchover moves every tracked session to the standby and makes this
// node the standby; it returns once the standby serves them. On error
// the *StepError says whether the sessions resumed here.
func (n *Node) Switchover(ctx context.Context) (*Report, error) {
	// An incoming switchover that made this node the active finishes
	// first (its sessions are tracked again as they restart).
	l, err := n.lockActive()
	if err != nil {
		return nil, err
	}
	defer n.recvMu.Unlock()
	n.busy = true
	ts := n.untrackAll()
	n.mu.Unlock()
	rep, err := n.switchover(ctx, l, ts)
	n.mu.Lock()
	n.busy = false
	n.stats.switchoverDone(rep)
	if err != nil {
		n.lastErr = err.Error()
	} else {
		n.last, n.lastErr = rep, ""
	}
	n.mu.Unlock()
	return rep, err
}

func (n *Node) switchover(ctx context.Context, l *peerLink, ts []*Tracked) (*Report, error) {
	var idb [8]byte
	rand.Read(idb[:])
	id := binary.BigEndian.Uint64(idb[:])
	rx := n.newRx(l)
	out := &outgoing{}
	rep := &Report{}
	t0 := n.clock.Now()
	keep := n.keepFrozen(ctx)
	defer keep.stop()
	fail := func(step Step, err error) (*Report, error) {
		keep.stop()
		if !errors.Is(err, ErrRefused) {
			n.send(l, msgAbort, encode(abortMsg{ID: id, Reason: err.Error()}))
		}
		rerr := n.resume(ctx, out)
		n.log.Error("switchover abandoned, sessions resumed here", "step", step, "err", err)
		return nil, &StepError{Step: step, Err: errors.Join(err, rerr), Resumed: true}
	}
	if err := n.send(l, msgBegin, encode(beginMsg{ID: id})); err != nil {
		n.retrack(ts)
		return nil, &StepError{Step: StepStop, Err: err, Resumed: true}
	}
	// What the peers send into the freezes, kept from before the first
	// stop (without it, the standby asks the peers at restart).
	watch, werr := n.ops.watchPeers()
	if werr != nil {
		n.log.Warn("switchover: the peers' segments are not kept", "err", werr)
	}
	closeWatch := func() {
		if watch != nil {
			go watch.Close() // a packet socket's close waits for an RCU grace period
			watch = nil
		}
	}
	defer closeWatch()
	// Step 1, batch by batch: the standby sets one batch while the next
	// is stopped and sent; the sessions of the slowest paths last
	// (byPath). Sessions the application tracks meanwhile (accepted
	// late) go in the last batches.
	byPath(ts, func(t *Tracked) time.Duration { return n.ops.pathRTO(t.conn) })
	for {
		if len(ts) == 0 {
			if ts = n.takeTracked(); len(ts) == 0 {
				break
			}
		}
		batch, states := pauseAll(ts[:min(len(ts), n.o.BatchSize)])
		ts = ts[min(len(ts), n.o.BatchSize):]
		if len(batch) == 0 {
			continue
		}
		conns := make([]*net.TCPConn, len(batch))
		for i, t := range batch {
			conns[i] = t.conn
		}
		tp := n.clock.Now()
		ss, err := n.ops.stopAll(ctx, conns)
		n.log.Debug("switchover: batch stopped", "sessions", len(conns), "pause", tp.Sub(t0), "stop", n.clock.Now().Sub(tp))
		if err != nil {
			n.retrack(ts)
			for i, c := range conns { // StopAll left none stopped
				n.o.Restore(c, states[i])
			}
			return fail(StepStop, err)
		}
		out.stopped = append(out.stopped, ss...)
		out.conns = append(out.conns, conns...)
		out.states = append(out.states, states...)
		tg := n.clock.Now()
		got, err := n.ops.getAll(ctx, ss)
		if err != nil {
			n.retrack(ts)
			return fail(StepStop, err)
		}
		te := n.clock.Now()
		keep.add(got)
		imgs := make([][]byte, len(ss))
		for i, img := range got {
			err := n.faultAt(StepStop)
			if err == nil {
				imgs[i], err = image(img, states[i], &out.positions)
			}
			if err != nil {
				n.retrack(ts)
				return fail(StepStop, err)
			}
		}
		ts0 := n.clock.Now()
		if err := n.send(l, msgImage, imgs...); err != nil { // the batch in one write
			n.retrack(ts)
			return fail(StepStop, err)
		}
		n.log.Debug("switchover: batch sent", "sessions", len(ss), "get", te.Sub(tg), "encode", ts0.Sub(te), "send", n.clock.Now().Sub(ts0))
		if f, ok := peek(rx); ok && f.typ == msgAbort {
			n.retrack(ts)
			return fail(StepSet, refusal(f))
		}
	}
	rep.Sessions = len(out.stopped)
	// The peers' positions, asked here while the address is ours, so
	// that the standby need not ask them while the clients wait, and what
	// they sent into the freezes, so that they need not send it again.
	end := endMsg{ID: id, Sessions: rep.Sessions}
	var watched []*libtcptake.Image // and pos: what the peers send after them follows with go
	var pos []libtcptake.PeerPosition
	if watch != nil {
		tw := n.clock.Now()
		watched, pos = out.positions, watch.positions(ctx, out.positions)
		n.log.Debug("switchover: peers asked", "sessions", len(pos), "took", n.clock.Now().Sub(tw))
		end.PeerAcks = make([]uint32, len(pos))
		for i, p := range pos {
			end.PeerAcks[i] = p.Ack
			if !p.Answered {
				end.Unanswered = append(end.Unanswered, i)
			}
			if p.Exact {
				end.Exact = append(end.Exact, i)
			}
			if len(p.Received) > 0 {
				if end.Received == nil {
					end.Received = make(map[int][]byte)
				}
				end.Received[i] = p.Received
			}
		}
	}
	out.positions = nil
	rep.StopGet = n.clock.Now().Sub(t0)
	end.StopGet = rep.StopGet
	if err := n.send(l, msgEnd, encode(end)); err != nil {
		return fail(StepStop, err)
	}
	// Step 2: the standby confirms.
	var ready readyMsg
	if err := n.expect(ctx, l, rx, msgReady, id, &ready, n.o.StepTimeout); err != nil {
		return fail(StepSet, err)
	}
	if err := n.faultAt(StepSet); err != nil {
		return fail(StepSet, err)
	}
	rep.Transfer, rep.Set = ready.Transfer, ready.Set
	// Step 3: what the peers sent meanwhile (read before, not in, the
	// blackout: at 10,000 sessions the watch holds thousands of
	// segments), then the address goes.
	var g goMsg
	if watch != nil {
		g.Received = receivedSince(watch, watched, pos)
		closeWatch()
	}
	keep.renew() // and the freezes re-armed, not in the blackout either
	t := n.clock.Now()
	err := n.faultAt(StepAddressDown)
	if err == nil {
		err = n.o.Address.Down(ctx)
	}
	if err != nil {
		return fail(StepAddressDown, errors.Join(err, n.addressUp(ctx)))
	}
	g.ID, g.IPDown = id, n.clock.Now().Sub(t)
	if err := n.send(l, msgGo, encode(g)); err != nil {
		return n.inDoubt(out, err)
	}
	// Steps 4 and 5 run on the standby.
	var serving servingMsg
	err = n.faultAt(StepAddressUp)
	if err == nil {
		// No timeout: a standby that is alive (the heartbeats say so)
		// answers, however long its restart takes; a lost link makes
		// the outcome unknown.
		err = n.expect(ctx, l, rx, msgServing, id, &serving, 0)
	}
	var ref *refusedError
	switch {
	case errors.As(err, &ref):
		// The standby gave the address back before restarting anything.
		n.raiseEpoch()
		rerr := errors.Join(n.addressUp(ctx), n.resume(ctx, out))
		return nil, &StepError{Step: StepAddressUp, Err: errors.Join(err, rerr), Resumed: true}
	case err != nil:
		return n.inDoubt(out, err)
	}
	// The standby serves: from here on, never resume here.
	ferr := n.faultAt(StepRestart)
	rep.Blackout = n.clock.Now().Sub(t0)
	rep.AddressMoved = g.IPDown + serving.IPUp
	rep.Restart, rep.Failed = serving.Restart, serving.Failed
	keep.stop()
	rerr := n.release(ctx, out)
	n.closeLate()
	n.demote(l)
	n.send(l, msgDone, encode(doneMsg{ID: id}))
	n.log.Info("switchover done", "sessions", rep.Sessions, "failed", rep.Failed, "blackout", rep.Blackout)
	if ferr != nil {
		return rep, &StepError{Step: StepRestart, Err: ferr}
	}
	return rep, rerr
}

// receivedSince is what the peers of imgs sent since pos (w's positions
// of them) was taken: per session index, the bytes that follow on from
// pos[i].Received.
func receivedSince(w peerWatch, imgs []*libtcptake.Image, pos []libtcptake.PeerPosition) map[int][]byte {
	had := make([]int, len(pos))
	for i, p := range pos {
		had[i] = len(p.Received)
	}
	w.received(imgs, pos)
	var m map[int][]byte
	for i, p := range pos {
		if len(p.Received) > had[i] {
			if m == nil {
				m = make(map[int][]byte)
			}
			m[i] = p.Received[had[i]:]
		}
	}
	return m
}

// lockActive takes n.recvMu (no incoming switchover or takeover runs
// meanwhile) and n.mu, in that order, and returns the active link; the
// caller releases both. On error neither is held.
func (n *Node) lockActive() (*peerLink, error) {
	n.recvMu.Lock()
	n.mu.Lock()
	l, err := n.activeLink()
	if err != nil {
		n.mu.Unlock()
		n.recvMu.Unlock()
	}
	return l, err
}

// activeLink is the link of an active node free to send its sessions to
// its standby; n.mu is held.
func (n *Node) activeLink() (*peerLink, error) {
	switch {
	case n.role != RoleActive:
		return nil, ErrNotActive
	case n.busy || n.doubt != nil:
		return nil, ErrBusy
	case n.link == nil:
		return nil, ErrNoPeer
	}
	return n.link, nil
}

// untrackAll takes every tracked session out of the node; n.mu is held.
func (n *Node) untrackAll() []*Tracked {
	ts := make([]*Tracked, 0, len(n.tracked))
	for t := range n.tracked {
		ts = append(ts, t)
	}
	clear(n.tracked)
	return ts
}

// pauseAll pauses the applications' use of their conns, concurrently,
// and returns the sessions still open with their states.
func pauseAll(ts []*Tracked) ([]*Tracked, [][]byte) {
	states := make([][]byte, len(ts))
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Go(func() { states[i] = t.pause() })
	}
	wg.Wait()
	var open []*Tracked
	var openStates [][]byte
	for i, t := range ts {
		if !t.closed.Load() {
			open = append(open, t)
			openStates = append(openStates, states[i])
		}
	}
	return open, openStates
}

// image encodes a stopped session's image with its application state,
// and appends its position (the image without its queues) to pos.
func image(img *libtcptake.Image, state []byte, pos *[]*libtcptake.Image) ([]byte, error) {
	img.AppState = state
	b, err := img.MarshalBinary()
	img.RecvQueue, img.SendUnacked, img.SendUnsent, img.AppState = nil, nil, nil, nil
	*pos = append(*pos, img)
	return b, err
}

// takeTracked takes the tracked sessions out of the node's set.
func (n *Node) takeTracked() []*Tracked {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.untrackAll()
}

// closeLate resets the sessions the application tracked after the last
// batch left: the service address is gone from this node, so they cannot
// be served here, and they did not move. Their peers learn it at once.
func (n *Node) closeLate() {
	for _, t := range n.takeTracked() {
		t.pause()
		n.log.Warn("switchover: a session tracked after the last batch is closed", "remote", t.conn.RemoteAddr())
		t.conn.SetLinger(0)
		t.conn.Close()
	}
}

// retrack tracks again sessions a failed switchover had not reached.
func (n *Node) retrack(ts []*Tracked) {
	n.mu.Lock()
	for _, t := range ts {
		n.tracked[t] = struct{}{}
	}
	n.mu.Unlock()
}

// resume restarts the stopped sessions in place and hands them back to
// the application.
func (n *Node) resume(ctx context.Context, out *outgoing) error {
	if len(out.stopped) == 0 {
		return nil
	}
	conns, err := n.ops.restartAll(ctx, out.stopped)
	for i, c := range conns {
		if c != out.conns[i] {
			// Restart handed back another conn than the application's
			// (or none): the application's descriptor goes.
			out.conns[i].Close()
		}
		if c == nil { // lost: closed, and its peer told so by the next segment
			out.stopped[i].Release()
			out.stopped[i].Thaw(ctx)
			continue
		}
		n.o.Restore(c, out.states[i])
	}
	if err != nil {
		n.log.Error("resume in place: sessions lost", "err", err)
	}
	return err
}

// release closes the stopped sessions silently: they live on the peer.
func (n *Node) release(ctx context.Context, out *outgoing) error {
	var errs error
	for i, s := range out.stopped {
		errs = errors.Join(errs, s.Release())
		out.conns[i].Close() // in repair mode: no FIN, no RST
		errs = errors.Join(errs, s.Thaw(ctx))
	}
	return errs
}

// inDoubt keeps the sessions stopped when the active cannot know whether
// the standby took them: the next link's hello tells (resolveDoubt).
func (n *Node) inDoubt(out *outgoing, err error) (*Report, error) {
	n.mu.Lock()
	n.doubt = out
	n.mu.Unlock()
	n.log.Error("switchover in doubt: sessions held frozen until the peer says who serves them", "err", err)
	return nil, &StepError{Step: StepAddressUp, Err: fmt.Errorf("in doubt: %w", err)}
}

// resolveDoubt settles an in-doubt switchover on a new link: a peer that
// serves as the active at a higher epoch took the sessions; otherwise
// (it restarted, or never took over) they resume here.
func (n *Node) resolveDoubt(ctx context.Context, l *peerLink) {
	n.mu.Lock()
	out := n.doubt
	n.doubt = nil
	took := l.peer.Role == RoleActive && l.peer.Epoch > n.epoch
	n.mu.Unlock()
	if out == nil {
		return
	}
	if took {
		n.log.Info("in-doubt switchover: the peer serves the sessions", "peer_epoch", l.peer.Epoch)
		n.release(ctx, out)
		n.demote(l)
		return
	}
	n.log.Info("in-doubt switchover: the peer did not take over, resuming here")
	n.raiseEpoch()
	if err := n.addressUp(ctx); err != nil {
		n.log.Error("address up", "err", err)
	}
	n.resume(ctx, out)
}

// demote makes this node the standby of the peer, at its epoch.
func (n *Node) demote(l *peerLink) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.role = RoleStandby
	n.epoch = max(n.epoch, l.peer.Epoch)
	n.store.save(n.epoch)
	l.peer.Role = RoleActive
}

// raiseEpoch starts a new epoch for this node serving as the active,
// above its own and its peer's.
func (n *Node) raiseEpoch() uint64 {
	n.mu.Lock()
	floor := n.epoch + 1
	if l := n.link; l != nil {
		floor = max(floor, l.peer.Epoch+1)
	}
	n.mu.Unlock()
	return n.takeEpoch(floor)
}

// takeEpoch makes this node the active at epoch e, or above its own.
func (n *Node) takeEpoch(e uint64) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.epoch = max(n.epoch+1, e)
	if err := n.store.save(n.epoch); err != nil {
		n.log.Error("save epoch", "err", err)
	}
	n.role = RoleActive
	n.ckStore, n.frozen = nil, nil // checkpoints are the standby's; Restart thaws
	n.lastGrant, n.unleased = time.Time{}, true
	return n.epoch
}

type refusedError struct{ reason string }

func (e *refusedError) Error() string { return "peer refused: " + e.reason }
func (e *refusedError) Unwrap() error { return ErrRefused }

func refusal(f frame) error {
	var a abortMsg
	json.Unmarshal(f.payload, &a)
	return &refusedError{a.Reason}
}

func peek(rx chan frame) (frame, bool) {
	select {
	case f := <-rx:
		return f, true
	default:
		return frame{}, false
	}
}

// expect waits for the message typ of switchover id; an abort becomes a
// *refusedError, a lost link or the timeout (if not 0) an error.
func (n *Node) expect(ctx context.Context, l *peerLink, rx chan frame, typ msgType, id uint64, v any, timeout time.Duration) error {
	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	for {
		select {
		case f := <-rx:
			var hdr struct {
				ID uint64 `json:"id"`
			}
			if json.Unmarshal(f.payload, &hdr) != nil || hdr.ID != id {
				continue // of another switchover
			}
			if f.typ == msgAbort {
				return refusal(f)
			}
			if f.typ != typ {
				return fmt.Errorf("%w: got %v, want %v", ErrBadFrame, f.typ, typ)
			}
			return json.Unmarshal(f.payload, v)
		case <-l.down:
			return ErrNoPeer
		case <-expired:
			return fmt.Errorf("no %v from the peer within %v", typ, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// receive is the standby's side of switchover id; rx holds its messages.
// A switchover begun while the previous one still winds down waits for it.
func (n *Node) receive(ctx context.Context, l *peerLink, rx chan frame, id uint64) {
	n.recvMu.Lock()
	defer n.recvMu.Unlock()
	n.mu.Lock()
	role := n.role
	n.mu.Unlock()
	if role != RoleStandby {
		n.send(l, msgAbort, encode(abortMsg{ID: id, Reason: "not a standby"}))
		return
	}
	in := &incoming{n: n, ctx: ctx, keep: n.keepFrozen(ctx)}
	defer in.keep.stop()
	err := n.take(ctx, l, rx, id, in)
	if err != nil {
		n.log.Error("switchover refused", "err", err)
		n.mu.Lock()
		n.lastErr = err.Error()
		n.mu.Unlock()
	}
}

// incoming is the standby's side of a switchover: images are set batch by
// batch as they arrive.
type incoming struct {
	n    *Node
	ctx  context.Context
	mu   sync.Mutex
	imgs []*libtcptake.Image // set, in the order of sets
	sets []session
	err  error
	set  time.Duration
	keep *keeper // the sets' freezes, until restart or release
}

func (in *incoming) setBatch(imgs []*libtcptake.Image) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.err != nil {
		return
	}
	t := in.n.clock.Now()
	ss, err := in.n.ops.setAll(in.ctx, imgs)
	in.set += in.n.clock.Now().Sub(t)
	if err != nil {
		in.err = err
		return
	}
	in.imgs = append(in.imgs, imgs...)
	in.sets = append(in.sets, ss...)
	in.keep.add(imgs)
}

// peerAt gives each set session its peer's position as the active saw it
// after the stop (endMsg), so that Restart need not ask again.
func (in *incoming) peerAt(end endMsg) error {
	if len(end.PeerAcks) != len(in.sets) {
		return fmt.Errorf("%w: %d peer positions for %d sessions", ErrBadFrame, len(end.PeerAcks), len(in.sets))
	}
	pos := make([]libtcptake.PeerPosition, len(in.sets))
	for i, ack := range end.PeerAcks {
		pos[i] = libtcptake.PeerPosition{Answered: true, Ack: ack}
	}
	for _, i := range end.Unanswered {
		if i < 0 || i >= len(pos) {
			return fmt.Errorf("%w: unanswered session %d of %d", ErrBadFrame, i, len(pos))
		}
		pos[i].Answered = false // Restart asks
	}
	for _, i := range end.Exact {
		if i < 0 || i >= len(pos) {
			return fmt.Errorf("%w: exact session %d of %d", ErrBadFrame, i, len(pos))
		}
		pos[i].Exact = true
	}
	for i, b := range end.Received {
		if i < 0 || i >= len(pos) {
			return fmt.Errorf("%w: received bytes of session %d of %d", ErrBadFrame, i, len(pos))
		}
		pos[i].Received = b
	}
	for i, s := range in.sets {
		if err := s.PeerAt(pos[i]); err != nil {
			return err
		}
	}
	return nil
}

// later gives the set sessions what their peers sent after the bytes of
// endMsg, read on the active just before its address went (goMsg).
func (in *incoming) later(received map[int][]byte) error {
	for i, b := range received {
		if i < 0 || i >= len(in.sets) {
			return fmt.Errorf("%w: later bytes of session %d of %d", ErrBadFrame, i, len(in.sets))
		}
		if err := in.sets[i].PeerAt(libtcptake.PeerPosition{Received: b}); err != nil {
			return err
		}
	}
	return nil
}

func (in *incoming) releaseAll() {
	in.keep.stop()
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, s := range in.sets {
		s.Release()
		s.Thaw(in.ctx)
	}
	in.sets = nil
}

func (n *Node) take(ctx context.Context, l *peerLink, rx chan frame, id uint64, in *incoming) error {
	abort := func(err error) error {
		in.releaseAll()
		n.send(l, msgAbort, encode(abortMsg{ID: id, Reason: err.Error()}))
		return err
	}
	// Steps 1 and 2: receive and set, one SetAll per batch of images.
	var t0 time.Time
	var batch []*libtcptake.Image
	var setter sync.WaitGroup
	flush := func() {
		b := batch
		batch = nil
		setter.Wait() // batches are set in order, one at a time
		setter.Go(func() { in.setBatch(b) })
	}
	// StepTimeout bounds each wait for the next frame, not the whole
	// transfer, which grows with the sessions.
	timer := time.NewTimer(n.o.StepTimeout)
	defer timer.Stop()
	var end endMsg
recv:
	for {
		select {
		case f := <-rx:
			timer.Reset(n.o.StepTimeout)
			switch f.typ {
			case msgImage:
				if t0.IsZero() {
					t0 = n.clock.Now()
				}
				img := new(libtcptake.Image)
				if err := img.UnmarshalBinary(f.payload); err != nil {
					setter.Wait()
					return abort(err)
				}
				batch = append(batch, img)
				if len(batch) >= n.o.BatchSize || len(rx) == 0 {
					flush()
				}
			case msgEnd:
				if err := json.Unmarshal(f.payload, &end); err != nil || end.ID != id {
					setter.Wait()
					return abort(fmt.Errorf("%w: end", ErrBadFrame))
				}
				break recv
			case msgAbort:
				setter.Wait()
				in.releaseAll()
				return refusal(f)
			default:
				setter.Wait()
				return abort(fmt.Errorf("%w: unexpected %v", ErrBadFrame, f.typ))
			}
		case <-l.down:
			setter.Wait()
			in.releaseAll()
			return ErrNoPeer
		case <-timer.C:
			setter.Wait()
			return abort(errors.New("images stopped coming"))
		}
	}
	if len(batch) > 0 {
		flush()
	}
	setter.Wait()
	transfer := n.clock.Now().Sub(t0)
	if in.err == nil && len(in.sets) != end.Sessions {
		in.err = fmt.Errorf("got %d sessions, the active sent %d", len(in.sets), end.Sessions)
	}
	if in.err == nil && end.PeerAcks != nil {
		in.err = in.peerAt(end)
	}
	if in.err == nil { // before ready: the address is still the active's
		in.err = n.ops.prepareAll(in.sets)
	}
	if in.err == nil {
		in.err = n.faultAt(StepSet)
	}
	if in.err != nil {
		return abort(in.err)
	}
	in.keep.renew() // now, not in the restart (keeper)
	gcOn := holdGC()
	defer gcOn()
	if err := n.send(l, msgReady, encode(readyMsg{ID: id, Transfer: transfer, Set: in.set})); err != nil {
		in.releaseAll()
		return err
	}
	var g goMsg
	if err := n.expect(ctx, l, rx, msgGo, id, &g, n.o.StepTimeout); err != nil {
		var ref *refusedError
		if errors.As(err, &ref) {
			in.releaseAll()
			return err
		}
		return abort(err)
	}
	if err := in.later(g.Received); err != nil {
		return abort(err)
	}
	// Step 4: the new epoch, persisted first (a restarted node never
	// claims an older one), then the address. Until it is up here,
	// nothing restarted: a failure gives everything back to the active.
	t := n.clock.Now()
	epoch := n.raiseEpoch()
	err := n.faultAt(StepAddressUp)
	if err == nil {
		err = n.addressUp(ctx)
	}
	if err != nil {
		n.mu.Lock()
		n.role = RoleStandby
		n.mu.Unlock()
		return abort(errors.Join(err, n.o.Address.Down(ctx)))
	}
	ipUp := n.clock.Now().Sub(t)
	n.log.Info("now the active", "epoch", epoch)
	// Step 5, last stopped first (byPath): the sessions of the slowest
	// paths, stopped last, are also restarted and handed over first.
	if err := n.faultAt(StepRestart); err != nil {
		n.log.Error("restart", "err", err)
	}
	slices.Reverse(in.sets)
	slices.Reverse(in.imgs)
	in.keep.stop()
	t = n.clock.Now()
	conns, rerr := n.ops.restartAll(ctx, in.sets)
	restart := n.clock.Now().Sub(t)
	gcOn()
	failed := 0
	for i, c := range conns {
		if c == nil { // lost: closed, and its peer told so by the next segment
			failed++
			in.sets[i].Release()
			in.sets[i].Thaw(ctx)
			continue
		}
		n.o.Restore(c, in.imgs[i].AppState)
	}
	if rerr != nil {
		n.log.Error("restart: sessions lost", "failed", failed, "err", rerr)
	}
	n.mu.Lock()
	l.peer.Role = RoleStandby
	n.mu.Unlock()
	return n.send(l, msgServing, encode(servingMsg{ID: id, IPUp: ipUp, Restart: restart, Failed: failed}))
}

// holdGC holds the garbage collector off, after the collection in
// progress, until gcOn is called (once or more), which brings back the
// application's setting. The standby holds it from its Ready to the end of
// its restart, so that its blackout runs no collection and no scavenging
// of the memory the images freed: with 10,000 sessions on two cores they
// took up to a tenth of the restart's CPU (profiled). What the blackout
// allocates is small; GOMEMLIMIT still applies.
func holdGC() (gcOn func()) {
	old := debug.SetGCPercent(-1) // returns once no collection runs
	return sync.OnceFunc(func() { debug.SetGCPercent(old) })
}

// newRx gives the link a fresh channel for the messages of a new
// switchover, so that none of an earlier one is read in it.
func (n *Node) newRx(l *peerLink) chan frame {
	n.mu.Lock()
	defer n.mu.Unlock()
	l.rx = make(chan frame, 4096)
	return l.rx
}

// addressUp takes the service address; an address that is up but could
// not be announced is only logged.
func (n *Node) addressUp(ctx context.Context) error {
	err := n.o.Address.Up(ctx)
	var ae *AnnounceError
	if errors.As(err, &ae) {
		n.log.Warn("service address up but not announced", "err", err)
		return nil
	}
	return err
}

// keeper keeps the freezes of the sessions a switchover holds stopped or
// set: it freezes them again every renewEvery until stop, which re-arms
// their timeouts, and at once when asked (renew), just before the
// blackout, so that none of its renewals falls in it (at 10,000 sessions
// one takes a tenth of the blackout's CPU). A freeze lapses by itself (so
// that a node that dies strands nothing), but a switchover of many
// sessions on a slow machine can outlast it, and a lapsed freeze lets the
// peer's segments reach a stopped socket and fails its thaw.
type keeper struct {
	mu   sync.Mutex
	ts   []libtcptake.Tuple
	now  chan chan struct{} // renew: re-arm at once, and start the period anew
	done chan struct{}      // closed when the keeper ends
	stop func()             // idempotent; once it returns, nothing is frozen again
}

// renewEvery is how often a keeper re-arms its freezes (a variable for
// the tests).
var renewEvery = libtcptake.DefaultFreezeTimeout / 4

func (n *Node) keepFrozen(ctx context.Context) *keeper {
	k := &keeper{now: make(chan chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(ctx)
	renew := func() {
		k.mu.Lock()
		ts := k.ts
		k.mu.Unlock()
		if len(ts) == 0 {
			return
		}
		if err := n.fops.freeze(ctx, ts, true); err != nil && ctx.Err() == nil {
			n.log.Warn("switchover: freezes not renewed", "sessions", len(ts), "err", err)
		}
	}
	go func() {
		defer close(k.done)
		tick := time.NewTicker(renewEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				renew()
			case renewed := <-k.now:
				renew()
				tick.Reset(renewEvery)
				close(renewed)
			}
		}
	}()
	k.stop = sync.OnceFunc(func() {
		cancel()
		<-k.done
	})
	return k
}

// renew re-arms the freezes at once and returns when they are (or when
// the keeper was stopped).
func (k *keeper) renew() {
	renewed := make(chan struct{})
	select {
	case k.now <- renewed:
		<-renewed
	case <-k.done:
	}
}

// add keeps the freezes of the images' tuples.
func (k *keeper) add(imgs []*libtcptake.Image) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, img := range imgs {
		if img != nil {
			k.ts = append(k.ts, img.Tuple)
		}
	}
}
