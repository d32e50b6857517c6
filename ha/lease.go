package ha

import (
	"context"
	"encoding/json"
	"net"
	"time"
)

// Automatic takeover with a lease (Options.AutoTakeover). The active
// serves only while its lease is valid: it asks the standby for it every
// leaseEvery and the lease runs for AutoTakeover from the moment the
// request was sent (on the active's clock). The standby grants by
// answering and promises not to take over before AutoTakeover plus a
// margin after the last request it received (on its own clock, which
// starts later). When the lease lapses, the active freezes its sessions
// and gives up the address; the standby takes over once the margin has
// passed too. So the two are never active at once as long as their
// clocks' rates differ by less than the margin (a quarter of the lease).
//
// An active needs a lease only once a standby has granted it one: a node
// that became the active (at start, by a switchover or a takeover) serves
// unleased until then — no other node can take over from it before it
// granted that node a lease. The price: a dead standby stops the active,
// until the standby is back or an operator (or keepalived) runs
// `tcptakectl node takeover` on the active, which then serves unleased
// until a standby grants again.

type leaseMsg struct {
	N uint64 `json:"n"` // the request, echoed in the grant
}

// leaseEvery is how often the active asks for its lease.
func (n *Node) leaseEvery() time.Duration {
	return min(n.o.HeartbeatInterval, n.o.AutoTakeover/4)
}

// leaseMargin is how much longer than the lease the standby waits.
func (n *Node) leaseMargin() time.Duration { return n.o.AutoTakeover / 4 }

// leaseRequests asks for the lease on l while the node is the active.
func (n *Node) leaseRequests(l *peerLink) {
	tick := time.NewTicker(n.leaseEvery())
	defer tick.Stop()
	for {
		n.mu.Lock()
		var req []byte
		if n.role == RoleActive {
			n.leaseN++
			if n.leaseSent == nil {
				n.leaseSent = map[uint64]time.Time{}
			}
			n.leaseSent[n.leaseN] = time.Now()
			req = encode(leaseMsg{N: n.leaseN})
			for k, at := range n.leaseSent { // unanswered requests are worthless after a lease
				if time.Since(at) > n.o.AutoTakeover {
					delete(n.leaseSent, k)
				}
			}
		}
		n.mu.Unlock()
		if req != nil && n.send(l, msgLeaseReq, req) != nil {
			return
		}
		select {
		case <-l.down:
			return
		case <-tick.C:
		}
	}
}

// leaseRequest is the standby's side: it grants, and notes when.
func (n *Node) leaseRequest(l *peerLink, p []byte) {
	var m leaseMsg
	if json.Unmarshal(p, &m) != nil {
		return
	}
	n.mu.Lock()
	standby := n.role == RoleStandby
	if standby {
		n.lastGrant = time.Now()
	}
	n.mu.Unlock()
	if standby {
		n.send(l, msgLeaseAck, encode(m))
	}
}

// leaseGranted is the active's side: the lease runs from the request.
func (n *Node) leaseGranted(ctx context.Context, p []byte) {
	var m leaseMsg
	if json.Unmarshal(p, &m) != nil {
		return
	}
	n.mu.Lock()
	at, ok := n.leaseSent[m.N]
	delete(n.leaseSent, m.N)
	if ok && at.Add(n.o.AutoTakeover).After(n.leaseUntil) {
		n.leaseUntil = at.Add(n.o.AutoTakeover)
	}
	if ok {
		n.unleased = false // a standby granted: the lease rules
	}
	lapsed := n.lapsed != nil && n.role == RoleActive
	n.mu.Unlock()
	if lapsed && ok {
		n.wg.Go(func() { n.unlapse(ctx) })
	}
}

// leaseWatch runs on both nodes in automatic mode: the active stops
// serving when its lease lapses; the standby takes over once the lease it
// granted last has certainly lapsed.
func (n *Node) leaseWatch(ctx context.Context) {
	every(ctx, max(n.o.AutoTakeover/8, time.Millisecond), func() {
		now := time.Now()
		n.mu.Lock()
		lapse := n.role == RoleActive && !n.unleased && n.lapsed == nil && !n.busy && now.After(n.leaseUntil)
		take := n.role == RoleStandby && !n.lastGrant.IsZero() &&
			now.After(n.lastGrant.Add(n.o.AutoTakeover+n.leaseMargin()))
		n.mu.Unlock()
		switch {
		case lapse:
			n.lapse(ctx)
		case take:
			n.mu.Lock()
			n.lastGrant = time.Time{} // once: a failed takeover waits for an operator
			n.mu.Unlock()
			n.log.Warn("automatic takeover: the active's lease has lapsed", "lease", n.o.AutoTakeover, "margin", n.leaseMargin())
			if _, err := n.Takeover(ctx); err != nil {
				n.log.Error("automatic takeover", "err", err)
			}
		}
	})
}

// every calls f every d (real time: freezes and leases run on the
// kernel's clock) until ctx is done.
func every(ctx context.Context, d time.Duration, f func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f()
		}
	}
}

// lapse stops serving: the sessions are paused and frozen (kept, to
// resume if the lease comes back before the standby takes over) and the
// address goes.
func (n *Node) lapse(ctx context.Context) {
	n.recvMu.Lock()
	defer n.recvMu.Unlock()
	n.mu.Lock()
	if n.role != RoleActive || n.lapsed != nil || n.unleased || time.Now().Before(n.leaseUntil) {
		n.mu.Unlock()
		return
	}
	ts := n.untrackAll()
	n.lapsed = &outgoing{}
	n.mu.Unlock()
	out := n.lapsed
	paused, states := pauseAll(ts)
	conns := make([]*net.TCPConn, len(paused))
	for i, t := range paused {
		conns[i] = t.conn
	}
	if len(conns) > 0 {
		ss, err := n.ops.stopAll(ctx, conns)
		if err != nil {
			n.log.Error("lease lapsed: stop", "err", err)
		}
		out.stopped, out.conns, out.states = ss, conns, states
	}
	if err := n.o.Address.Down(ctx); err != nil {
		n.log.Error("lease lapsed: address down", "err", err)
	}
	n.log.Warn("lease lapsed: not serving, sessions frozen", "sessions", len(out.stopped))
}

// unlapse serves again after the lease came back.
func (n *Node) unlapse(ctx context.Context) {
	n.recvMu.Lock()
	defer n.recvMu.Unlock()
	n.serveAgain(ctx)
}

// serveAgain resumes the sessions a lapsed lease froze; recvMu is held.
func (n *Node) serveAgain(ctx context.Context) {
	n.mu.Lock()
	out := n.lapsed
	n.lapsed = nil
	active := n.role == RoleActive
	n.mu.Unlock()
	if out == nil || !active {
		return
	}
	if err := n.addressUp(ctx); err != nil {
		n.log.Error("lease back: address up", "err", err)
	}
	if out.stopped != nil {
		n.resume(ctx, out)
	} else {
		for i, c := range out.conns { // never stopped: only paused
			n.o.Restore(c, out.states[i])
		}
	}
	n.log.Info("serving again", "sessions", len(out.conns))
}
