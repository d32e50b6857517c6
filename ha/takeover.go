package ha

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
)

// Takeover (failover): the standby serves the sessions of an active that
// died — or that an operator or keepalived declared dead — from their last
// checkpoints, each adjusted to where its peer really is.

// Outcome is what became of a session after a takeover.
type Outcome string

const (
	// Kept: the application went on with the session as it was.
	Kept Outcome = "kept"
	// Reconciled: the application went on after reconciling its state
	// with the adjustment (skipping OutgoingAhead bytes, say).
	Reconciled Outcome = "reconciled"
	// Closed: the application closed the session (a conflict it cannot
	// reconcile, or a peer that did not answer).
	Closed Outcome = "closed"
	// Failed: the node could not set or restart the session.
	Failed Outcome = "failed"
)

// SessionReport is one session of a takeover.
type SessionReport struct {
	Session    string                 `json:"session"`
	Outcome    Outcome                `json:"outcome"`
	Age        time.Duration          `json:"checkpoint_age_ns"`
	Adjustment *libtcptake.Adjustment `json:"adjustment,omitempty"`
	Error      string                 `json:"error,omitempty"`
}

// TakeoverReport is what a takeover did.
type TakeoverReport struct {
	Epoch      uint64 `json:"epoch"`
	Sessions   int    `json:"sessions"`
	Kept       int    `json:"kept"`
	Reconciled int    `json:"reconciled"`
	Closed     int    `json:"closed"`
	NoAnswer   int    `json:"no_answer"` // peers that did not answer the probe (counted in their outcome too)
	Failed     int    `json:"failed"`
	// Fenced: the old active was reachable, sent a last checkpoint and
	// stopped before this node took over.
	Fenced bool `json:"fenced"`
	// AlreadyActive: the node was the active; nothing was done.
	AlreadyActive bool            `json:"already_active,omitempty"`
	Set           time.Duration   `json:"set_ns"`
	AddressUp     time.Duration   `json:"address_up_ns"`
	Restart       time.Duration   `json:"restart_ns"` // probes and adjustment included
	Total         time.Duration   `json:"total_ns"`
	Results       []SessionReport `json:"results"`
}

type fenceMsg struct {
	Epoch uint64 `json:"epoch"` // the epoch the standby takes over at
}

type fencedMsg struct {
	Epoch uint64 `json:"epoch"`
}

// Takeover makes this standby the active from the last checkpoints. If
// the old active is still linked, it is told to stop first: it sends a
// last checkpoint of its paused sessions and stops them silently. Then the
// node raises the epoch (persisted), sets every checkpointed session with
// its tuple frozen (libtcptake.SetAll, adjustment on), takes and announces
// the service address, and restarts them: each learns where its peer
// really is, and Options.Failover decides whether it goes on.
func (n *Node) Takeover(ctx context.Context) (*TakeoverReport, error) {
	n.recvMu.Lock()
	defer n.recvMu.Unlock()
	n.mu.Lock()
	if n.role == RoleActive {
		// An operator or keepalived says this node serves: a lapsed
		// lease (a dead standby) no longer stops it.
		rep := &TakeoverReport{Epoch: n.epoch, AlreadyActive: true}
		n.unleased = true
		n.mu.Unlock()
		n.serveAgain(ctx)
		return rep, nil
	}
	l := n.link
	n.mu.Unlock()
	t0 := n.clock.Now()
	rep := &TakeoverReport{}
	var fenced uint64 // the epoch the fenced active stepped down for
	if l != nil && l.peer.Role == RoleActive {
		fenced, rep.Fenced = n.fence(ctx, l)
	}
	n.mu.Lock()
	now := n.clock.Now() // after the fenced active's last checkpoint
	ids := make([]uint64, 0, len(n.ckStore))
	for id := range n.ckStore {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	imgs := make([]*libtcptake.Image, len(ids))
	ages := make([]time.Duration, len(ids))
	for i, id := range ids {
		imgs[i] = n.ckStore[id].img
		ages[i] = now.Sub(imgs[i].CaptureTime)
	}
	n.ckStore = nil
	n.mu.Unlock()
	if rep.Fenced {
		n.mu.Lock()
		l.peer.Role = RoleStandby
		n.mu.Unlock()
		rep.Epoch = n.takeEpoch(fenced)
	} else {
		rep.Epoch = n.raiseEpoch()
	}
	n.log.Info("taking over", "epoch", rep.Epoch, "sessions", len(imgs), "fenced", rep.Fenced)
	rep.Sessions = len(imgs)
	rep.Results = make([]SessionReport, len(imgs))
	for i, img := range imgs {
		rep.Results[i] = SessionReport{Session: img.Tuple.String(), Age: ages[i]}
	}
	fail := func(i int, err error) {
		rep.Results[i].Outcome, rep.Results[i].Error = Failed, err.Error()
	}
	t := n.clock.Now()
	var ss []session
	if len(imgs) > 0 {
		var err error
		ss, err = n.fops.setAdjusted(ctx, imgs)
		if err != nil {
			n.log.Error("takeover: sessions not set", "err", err)
		}
	}
	rep.Set = n.clock.Now().Sub(t)
	t = n.clock.Now()
	if err := n.addressUp(ctx); err != nil {
		// Without the address nothing can be served here: give up
		// the sessions (silently) and stay the standby.
		for _, s := range ss {
			if s != nil {
				s.Release()
				s.Thaw(ctx)
			}
		}
		n.mu.Lock()
		n.role = RoleStandby
		n.lastErr = "takeover: " + err.Error()
		n.stats.takeoverDone(nil)
		n.mu.Unlock()
		return nil, &StepError{Step: StepAddressUp, Err: err}
	}
	rep.AddressUp = n.clock.Now().Sub(t)
	var live []session
	var at []int
	for i, s := range ss {
		if s == nil {
			fail(i, errors.New("could not be set"))
			continue
		}
		live = append(live, s)
		at = append(at, i)
	}
	t = n.clock.Now()
	var conns []*net.TCPConn
	if len(live) > 0 {
		var err error
		conns, err = n.ops.restartAll(ctx, live)
		if err != nil {
			n.log.Error("takeover: sessions lost", "err", err)
		}
	}
	rep.Restart = n.clock.Now().Sub(t)
	for k, c := range conns {
		i, s := at[k], live[k]
		if c == nil {
			s.Release()
			s.Thaw(ctx)
			fail(i, errors.New("could not be restarted"))
			continue
		}
		var adj libtcptake.Adjustment
		if a, ok := s.(interface{ Adjustment() *libtcptake.Adjustment }); ok && a.Adjustment() != nil {
			adj = *a.Adjustment()
		}
		rep.Results[i].Adjustment = &adj
		rep.Results[i].Outcome = n.o.Failover(c, imgs[i].AppState, adj)
	}
	for _, r := range rep.Results {
		switch r.Outcome {
		case Kept:
			rep.Kept++
		case Reconciled:
			rep.Reconciled++
		case Closed:
			rep.Closed++
		default:
			rep.Failed++
		}
		if r.Adjustment != nil && !r.Adjustment.Answered {
			rep.NoAnswer++
		}
	}
	rep.Total = n.clock.Now().Sub(t0)
	n.mu.Lock()
	n.lastTakeover, n.lastErr = rep, ""
	n.stats.takeoverDone(rep)
	n.mu.Unlock()
	n.log.Info("took over", "epoch", rep.Epoch, "sessions", rep.Sessions, "kept", rep.Kept,
		"reconciled", rep.Reconciled, "closed", rep.Closed, "no_answer", rep.NoAnswer, "failed", rep.Failed, "total", rep.Total)
	return rep, nil
}

// defaultFailover keeps a session only when it is byte-exact.
func (n *Node) defaultFailover(c *net.TCPConn, state []byte, adj libtcptake.Adjustment) Outcome {
	if !adj.Exact() {
		c.SetLinger(0)
		c.Close()
		return Closed
	}
	n.o.Restore(c, state)
	return Kept
}

// fence tells the linked old active to stop: it sends a last checkpoint of
// its paused sessions, stops them silently, gives up the address, follows
// the epoch this node is to take and answers. It returns that epoch and
// whether the answer came in time.
func (n *Node) fence(ctx context.Context, l *peerLink) (uint64, bool) {
	rx := n.newRx(l)
	n.mu.Lock()
	epoch := max(n.epoch, l.peer.Epoch) + 1
	n.mu.Unlock()
	if n.send(l, msgFence, encode(fenceMsg{Epoch: epoch})) != nil {
		return 0, false
	}
	// A live active answers within milliseconds, and sends heartbeats
	// every interval; one that died may not have been noticed yet: the
	// wait ends two intervals after it was last heard of.
	n.mu.Lock()
	silent := n.clock.Now().Sub(l.lastSeen)
	n.mu.Unlock()
	wait := min(n.o.StepTimeout, 2*n.o.HeartbeatInterval-silent)
	if wait <= 0 {
		n.log.Info("takeover: the old active is silent, not fenced", "silent", silent)
		return 0, false
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case f := <-rx:
			if f.typ == msgFenced {
				return epoch, true
			}
		case <-l.down:
			return 0, false
		case <-timer.C:
			n.log.Warn("takeover: the old active did not confirm it stopped", "waited", wait)
			return 0, false
		case <-ctx.Done():
			return 0, false
		}
	}
}

// stepDown is the old active's side of a fence, of meeting an active at a
// newer epoch, or of Standby: the sessions are paused and (on a link)
// checkpointed a last time, stopped and released silently — the peer
// serves them, or will by a takeover — and the address goes. peerActive
// says the peer is the active now.
func (n *Node) stepDown(ctx context.Context, l *peerLink, epoch uint64, last, peerActive bool) {
	n.recvMu.Lock()
	defer n.recvMu.Unlock()
	n.mu.Lock()
	if n.role != RoleActive {
		n.mu.Unlock()
		return
	}
	ts := n.untrackAll()
	n.busy = true
	lapsed := n.lapsed
	n.lapsed = nil
	n.mu.Unlock()
	if lapsed != nil && lapsed.stopped != nil { // frozen by a lapsed lease: the peer serves them
		n.release(ctx, lapsed)
	}
	paused, states := pauseAll(ts)
	if last {
		if _, err := n.checkpoint(ctx, l, paused, states); err != nil {
			n.log.Warn("last checkpoint", "err", err)
		}
	}
	conns := make([]*net.TCPConn, len(paused))
	for i, t := range paused {
		conns[i] = t.conn
	}
	var stopped []session
	if len(conns) > 0 {
		var err error
		if stopped, err = n.ops.stopAll(ctx, conns); err != nil {
			n.log.Error("step down: stop", "err", err)
		}
	}
	if err := n.o.Address.Down(ctx); err != nil {
		n.log.Error("step down: address down", "err", err)
	}
	if stopped != nil {
		n.release(ctx, &outgoing{stopped: stopped, conns: conns})
	} else if len(conns) > 0 {
		// Closing them would reset their peers, served by the new
		// active now: they stay open and paused.
		n.log.Error("step down: sessions left paused, not stopped", "sessions", len(conns))
	}
	n.mu.Lock()
	n.busy = false
	n.role = RoleStandby
	if l != nil && peerActive {
		l.peer.Role = RoleActive
	}
	n.epoch = max(n.epoch, epoch)
	n.store.save(n.epoch)
	n.mu.Unlock()
	n.log.Info("stepped down: the peer serves", "epoch", epoch, "sessions", len(paused))
}

func decodeFence(p []byte) (uint64, error) {
	var f fenceMsg
	if err := json.Unmarshal(p, &f); err != nil {
		return 0, ErrBadFrame
	}
	return f.Epoch, nil
}

// Standby makes this node stop serving, if it is the active: what an
// external manager (keepalived's BACKUP or FAULT) says when this node no
// longer holds the service address. Its sessions are stopped and released
// silently (the peer may serve them now), the address goes, and the node
// waits as the standby at its epoch.
func (n *Node) Standby(ctx context.Context) {
	n.mu.Lock()
	l, e := n.link, n.epoch
	n.mu.Unlock()
	n.stepDown(ctx, l, e, l != nil, false)
}
