package ha

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
)

// Options configure a Node. Key, PeerKey and one of SyncListen and
// SyncPeer are required.
type Options struct {
	// Name labels the node in logs and status.
	Name string
	// Role is the role at start. A node that learns from its peer of a
	// higher epoch follows it.
	Role Role
	// Key is this node's private key; PeerKey the peer's public key,
	// the only one its link accepts.
	Key     ed25519.PrivateKey
	PeerKey ed25519.PublicKey
	// SyncListen is the address this node accepts the link on; SyncPeer
	// the address it dials (and redials) instead.
	SyncListen, SyncPeer string
	// Control is the path of the control socket; empty for none.
	Control string
	// MetricsListen is the address Run serves the node's Prometheus
	// metrics on, at /metrics (MetricsHandler); empty for none.
	MetricsListen string
	// Address moves the service address; nil leaves it alone.
	Address AddressManager
	// Restore receives each session restored on this node with its
	// application state: on the new active after a switchover, and on
	// the old one when a switchover is abandoned. It should serve the
	// connection and Track it again. It must not block.
	Restore func(conn *net.TCPConn, state []byte)
	// EpochFile keeps the epoch across restarts; empty keeps it in
	// memory only (then a restarted node may follow a stale peer).
	EpochFile string
	// Session is passed to the libtcptake calls.
	Session *libtcptake.Options
	// HeartbeatInterval is how often each side sends a heartbeat (1s);
	// HeartbeatTimeout how long a silent link lives (3 intervals).
	HeartbeatInterval, HeartbeatTimeout time.Duration
	// HandshakeTimeout bounds a link's TLS handshake and hello (5s).
	HandshakeTimeout time.Duration
	// ReconnectDelay is the pause between the dialer's attempts (1s).
	ReconnectDelay time.Duration
	// StartWait is how long a node that starts as the active waits for
	// its sync link before it takes the service address without it
	// (HandshakeTimeout + ReconnectDelay): a peer that took over while
	// this node was down must be heard first.
	StartWait time.Duration
	// StepTimeout bounds each wait for the peer in a switchover (10s),
	// except the old active's wait for the new one's word that it serves:
	// that one lasts while the link does.
	StepTimeout time.Duration
	// MaxFrame bounds a frame's payload (DefaultMaxFrame).
	MaxFrame uint32
	// BatchSize is how many sessions are stopped, sent and set per batch
	// in a switchover (64).
	BatchSize int
	Logger    *slog.Logger
	Clock     Clock
	// CheckpointInterval is how often the active checkpoints its
	// sessions to the standby (0: only on demand, Node.Checkpoint).
	// Shorter saves more of each session's progress and costs more: a
	// pause of every session and a capture per session each time.
	CheckpointInterval time.Duration
	// Failover receives each session restarted on this node by a
	// takeover, with its checkpointed application state and the
	// adjustment Restart made, and decides: go on (serve it, Track it
	// again, and return Kept or Reconciled) or close it (with a FIN or a
	// RST, its choice; return Closed). It must not block. The default
	// keeps the sessions that are byte-exact (Adjustment.Exact), through
	// Restore, and resets the others.
	Failover func(conn *net.TCPConn, state []byte, adj libtcptake.Adjustment) Outcome
	// AutoTakeover, when not 0, is the lease of the automatic mode: the
	// active serves only while the standby renews its lease, and stops
	// (freezes its sessions, gives up the address) when it lapses; the
	// standby takes over once it has certainly lapsed (a quarter more).
	// 0 (the default) takes over only when told (Takeover).
	AutoTakeover time.Duration
	// Fault is for tests: called at each step of a switchover on this
	// node (see Step for where), an error from it fails the step there;
	// ErrCutLink cuts the sync link there instead.
	Fault func(Step) error
}

// Node is one of the two nodes of a service.
type Node struct {
	o     Options
	log   *slog.Logger
	clock Clock
	ops   sessionOps
	fops  checkpointOps
	tls   *tls.Config
	store epochStore

	// checkCaller admits control callers (peerIsRoot).
	checkCaller func(*net.UnixConn) error

	mu      sync.Mutex
	role    Role
	epoch   uint64
	tracked map[*Tracked]struct{}
	link    *peerLink
	busy    bool
	wg      sync.WaitGroup // every goroutine Run starts
	recvMu  sync.Mutex     // one switchover at a time, either way
	doubt   *outgoing      // a switchover whose outcome the peer must tell
	last    *Report
	lastErr string
	linkErr string

	firstLink     chan struct{} // closed when the first link is admitted
	firstLinkOnce sync.Once
	addrTaken     bool // startActive is done (or moot: the role changed)

	nextID       uint64                         // of tracked sessions, for checkpoints
	ckStore      map[uint64]*stored             // the standby's checkpoints
	frozen       map[libtcptake.Tuple]time.Time // their tuples, frozen here (prefreeze)
	ck           CheckpointStatus               // the last checkpoint sent or received
	ckCount      uint64
	lastTakeover *TakeoverReport
	stats        Stats // the counts and distributions of Status.Stats
	collector    *collector

	// Automatic mode (lease.go).
	leaseN     uint64
	leaseSent  map[uint64]time.Time // requests by number, when sent
	leaseUntil time.Time            // the active's lease
	unleased   bool                 // the active serves without a lease (none granted yet)
	lastGrant  time.Time            // the standby's last grant
	lapsed     *outgoing            // sessions frozen by a lapsed lease
}

// New checks o and makes a Node; Run starts it.
func New(o Options) (*Node, error) {
	if len(o.Key) != ed25519.PrivateKeySize || len(o.PeerKey) != ed25519.PublicKeySize {
		return nil, errors.New("ha: Key and PeerKey are required")
	}
	if (o.SyncListen == "") == (o.SyncPeer == "") {
		return nil, errors.New("ha: exactly one of SyncListen and SyncPeer is required")
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = time.Second
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = 3 * o.HeartbeatInterval
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 5 * time.Second
	}
	if o.ReconnectDelay <= 0 {
		o.ReconnectDelay = time.Second
	}
	if o.StartWait <= 0 {
		o.StartWait = o.HandshakeTimeout + o.ReconnectDelay
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = 10 * time.Second
	}
	if o.MaxFrame == 0 {
		o.MaxFrame = DefaultMaxFrame
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 64
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Address == nil {
		o.Address = Hooks{}
	}
	if o.Restore == nil {
		o.Restore = func(c *net.TCPConn, _ []byte) { c.Close() }
	}
	cfg, err := tlsConfig(o.Key, o.PeerKey)
	if err != nil {
		return nil, err
	}
	n := &Node{
		o: o, log: o.Logger.With("node", o.Name), clock: o.Clock, ops: libOps{o.Session}, fops: libOps{o.Session},
		tls: cfg, store: epochStore{o.EpochFile}, role: o.Role, tracked: map[*Tracked]struct{}{},
		checkCaller: peerIsRoot, firstLink: make(chan struct{}), unleased: true, stats: newStats(),
	}
	n.collector = newCollector(n)
	if n.epoch, err = n.store.load(); err != nil {
		return nil, err
	}
	if n.o.Failover == nil {
		n.o.Failover = n.defaultFailover
	}
	return n, nil
}

// Tracked is a connection the node moves in a switchover.
type Tracked struct {
	n      *Node
	id     uint64
	conn   *net.TCPConn
	pause  func() []byte
	resume func()
	closed atomic.Bool
	// the last image sent on ckLink, for the next delta
	ckLink *peerLink
	ckLast *libtcptake.Image
	// ckAt is the capture time of the last checkpoint sent of it, or
	// when it was tracked (under Node.mu)
	ckAt time.Time
}

// Track hands conn to the node. pause is called when a switchover begins:
// it must stop the application's use of conn (no read or write after it
// returns, conn left open) and return the state to continue from. Call
// Close on the result when the session ends, before closing conn; a
// session that ends while its pause runs must be closed before pause
// returns, and is then left out of the switchover.
func (n *Node) Track(conn *net.TCPConn, pause func() []byte) *Tracked {
	return n.TrackResumable(conn, pause, nil)
}

// TrackResumable is Track for a session that checkpoints include: a
// checkpoint calls pause, captures the session with the state pause
// returned, and calls resume, which must let the application go on with
// conn from that state. resume nil is Track.
func (n *Node) TrackResumable(conn *net.TCPConn, pause func() []byte, resume func()) *Tracked {
	t := &Tracked{n: n, conn: conn, pause: pause, resume: resume}
	n.mu.Lock()
	n.nextID++
	t.id = n.nextID
	t.ckAt = n.clock.Now()
	n.tracked[t] = struct{}{}
	n.mu.Unlock()
	return t
}

// Close stops tracking the session (it ended).
func (t *Tracked) Close() {
	t.closed.Store(true)
	t.n.mu.Lock()
	delete(t.n.tracked, t)
	t.n.mu.Unlock()
}

// Run runs the sync link (listening or dialing), the heartbeats and the
// control socket until ctx is done or a listener fails. A node that
// starts as the standby first makes sure the service address is not here
// (a process that died may have left it); one that starts as the active
// takes it once its first link shows the peer is no newer active, or
// after StartWait without a link.
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	role := n.role
	n.mu.Unlock()
	if role != RoleActive {
		if err := n.o.Address.Down(ctx); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		n.wg.Wait()
	}()
	wg := &n.wg
	errc := make(chan error, 3)
	if n.o.Control != "" {
		cl, err := listenControl(n.o.Control)
		if err != nil {
			return err
		}
		wg.Go(func() { errc <- n.serve(ctx, cl, func(c net.Conn) { n.control(ctx, c.(*net.UnixConn)) }) })
	}
	if n.o.MetricsListen != "" {
		l, err := net.Listen("tcp", n.o.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		wg.Go(func() { errc <- n.serveMetrics(ctx, l) })
	}
	if n.o.SyncListen != "" {
		l, err := net.Listen("tcp", n.o.SyncListen)
		if err != nil {
			return err
		}
		wg.Go(func() { errc <- n.serve(ctx, l, func(c net.Conn) { n.connect(ctx, c, false) }) })
	} else {
		wg.Go(func() { errc <- n.dial(ctx) })
	}
	if n.o.CheckpointInterval > 0 {
		wg.Go(func() { n.checkpointLoop(ctx) })
	}
	if role == RoleActive {
		wg.Go(func() { n.startActive(ctx) })
	}
	if n.o.AutoTakeover > 0 {
		wg.Go(func() { n.leaseWatch(ctx) })
	}
	// the standby's freezes outlive a dead active's checkpoints
	wg.Go(func() { every(ctx, libtcptake.DefaultFreezeTimeout/4, func() { n.prefreeze(ctx) }) })
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err // a listener failed (nil: ctx is done)
	}
}

// startActive takes the service address for a node that starts as the
// active, once its first link shows that the peer has not taken over at a
// newer epoch meanwhile (a restarted old active must not hold the address
// the new one serves), or after StartWait without a link.
func (n *Node) startActive(ctx context.Context) {
	timer := time.NewTimer(n.o.StartWait)
	defer timer.Stop()
	select {
	case <-n.firstLink:
	case <-timer.C:
		n.log.Info("no sync link yet: serving as the active", "waited", n.o.StartWait)
	case <-ctx.Done():
		return
	}
	n.recvMu.Lock() // no switchover or takeover meanwhile
	defer n.recvMu.Unlock()
	n.mu.Lock()
	active := n.role == RoleActive && !n.addrTaken
	n.addrTaken = true
	n.mu.Unlock()
	if active {
		if err := n.addressUp(ctx); err != nil {
			n.log.Error("service address up", "err", err)
		}
	}
}

// hello is this node's hello for a new link. It waits for a switchover
// still running on a lost link to finish, so that it tells the outcome:
// a standby that got the word to take over says so with its new role and
// epoch before anything else.
func (n *Node) hello() hello {
	n.recvMu.Lock()
	defer n.recvMu.Unlock()
	n.mu.Lock()
	defer n.mu.Unlock()
	return hello{Role: n.role, Epoch: n.epoch, Name: n.o.Name}
}

// serve runs handle on every connection l accepts until ctx is done.
func (n *Node) serve(ctx context.Context, l net.Listener, handle func(net.Conn)) error {
	context.AfterFunc(ctx, func() { l.Close() })
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		n.wg.Go(func() { handle(c) })
	}
}

// connect runs the handshake on a connection and serves the link.
func (n *Node) connect(ctx context.Context, c net.Conn, dialer bool) {
	hctx, cancel := context.WithTimeout(ctx, n.o.HandshakeTimeout)
	lk, err := handshake(hctx, c, n.tls, dialer, n.hello(), n.o.MaxFrame)
	cancel()
	if err != nil {
		n.refused(err)
		return
	}
	n.serveLink(ctx, lk)
}

func (n *Node) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: n.o.HandshakeTimeout}
	for ctx.Err() == nil {
		c, err := d.DialContext(ctx, "tcp", n.o.SyncPeer)
		if err == nil {
			n.connect(ctx, c, true)
		} else {
			n.log.Debug("sync link: dial", "peer", n.o.SyncPeer, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(n.o.ReconnectDelay):
		}
	}
	return nil
}

func (n *Node) refused(err error) {
	n.log.Warn("sync link refused", "err", err)
	n.mu.Lock()
	n.linkErr = err.Error()
	n.stats.LinkRefused[RefusalReason(err)]++
	n.mu.Unlock()
}

// frame is one received frame handed to a switchover.
type frame struct {
	typ     msgType
	epoch   uint64
	payload []byte
}

// peerLink is the live link and what the node's procedures read from it.
// Its peer hello is kept up to date under Node.mu: Epoch is the highest
// the peer has sent, Role changes with a switchover.
type peerLink struct {
	*link
	since    time.Time
	rx       chan frame    // the current switchover's messages, under Node.mu
	down     chan struct{} // closed when the link ends
	lastSeen time.Time     // under Node.mu
	stepDown bool          // admit found this node a stale active
	// The round-trip time from the heartbeats (under Node.mu): the last
	// heartbeat the peer sent, when it came, and the last measure.
	peerHB   *heartbeatMsg
	peerHBAt time.Time
	rtt      time.Duration
}

// send sends frames of type typ at the node's epoch, one per payload, in
// writes of up to writeMax bytes of payload (a larger one goes alone).
func (n *Node) send(l *peerLink, typ msgType, payloads ...[]byte) error {
	n.mu.Lock()
	e := n.epoch
	n.mu.Unlock()
	for len(payloads) > 0 {
		k := oneWrite(payloads, writeMax)
		// A peer that takes nothing for a heartbeat timeout (a cut link
		// fills the send buffer) is gone: no write waits longer.
		l.conn.SetWriteDeadline(time.Now().Add(n.o.HeartbeatTimeout))
		if err := l.fc.write(typ, e, payloads[:k]...); err != nil {
			l.abort()
			return &LinkError{Op: "write", Remote: l.remote, Err: err}
		}
		payloads = payloads[k:]
	}
	return nil
}

// oneWrite is how many of payloads (at least one) go in one write of at
// most max bytes of payload.
func oneWrite(payloads [][]byte, max int) int {
	k, size := 1, len(payloads[0])
	for ; k < len(payloads) && size+len(payloads[k]) <= max; k++ {
		size += len(payloads[k])
	}
	return k
}

// writeMax bounds the bytes of one write of frames (a batch of images):
// few system calls, and one write's deadline is a heartbeat timeout.
const writeMax = 1 << 20

// admit applies the roles-by-epoch rules to a new link and makes it the
// node's link; it returns an error when the link must be dropped.
func (n *Node) admit(l *peerLink) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := l.peer
	switch {
	case n.doubt != nil:
		// the peer's epoch tells whether it took the sessions
	case n.role == RoleActive && p.Role == RoleActive && p.Epoch == n.epoch:
		return ErrTwoActives
	case n.role == RoleActive && p.Epoch > n.epoch && p.Role == RoleActive:
		// The peer took over at a newer epoch while this node was cut
		// off (or dead): the newer epoch wins, this node steps down
		// (its sessions, if any, are served there; they go silently).
		l.stepDown = true
		n.addrTaken = true // startActive must not take it
	case n.role == RoleActive && p.Epoch > n.epoch:
		// A standby at a newer epoch: two actives must not both go on;
		// an operator decides.
		return ErrStaleEpoch
	case n.role == RoleStandby && p.Epoch > n.epoch:
		n.epoch = p.Epoch
		if err := n.store.save(n.epoch); err != nil {
			n.log.Error("save epoch", "err", err)
		}
	}
	if n.link != nil {
		n.link.conn.Close()
	}
	n.firstLinkOnce.Do(func() { close(n.firstLink) })
	n.link = l
	l.lastSeen = n.clock.Now()
	n.linkErr = ""
	return nil
}

func (n *Node) serveLink(ctx context.Context, lk *link) {
	l := &peerLink{link: lk, since: n.clock.Now(), rx: make(chan frame, 4096), down: make(chan struct{})}
	defer close(l.down)
	defer l.conn.Close()
	if err := n.admit(l); err != nil {
		n.refused(&LinkError{Op: "hello", Remote: l.remote, Err: err})
		return
	}
	n.log.Info("sync link up", "peer", l.remote, "peer_role", l.peer.Role, "peer_epoch", l.peer.Epoch)
	defer func() {
		n.mu.Lock()
		if n.link == l {
			n.link = nil
		}
		n.mu.Unlock()
		n.log.Warn("sync link down", "peer", l.remote)
	}()
	stop := context.AfterFunc(ctx, func() { l.conn.Close() })
	defer stop()
	n.wg.Go(func() { n.heartbeat(l) })
	if n.o.AutoTakeover > 0 {
		n.wg.Go(func() { n.leaseRequests(l) })
	}
	if l.stepDown {
		n.mu.Lock()
		e := l.peer.Epoch
		n.mu.Unlock()
		n.stepDown(ctx, l, e, false, true)
	}
	n.resolveDoubt(ctx, l)
	n.mu.Lock()
	active := n.role == RoleActive
	sessions := len(n.tracked)
	n.mu.Unlock()
	if active {
		n.send(l, msgSync, encode(syncMsg{Sessions: sessions}))
	}
	for {
		h, p, err := l.fc.read()
		if err != nil {
			if !errClosed(err) {
				n.refused(&LinkError{Op: "read", Remote: l.remote, Err: err})
			}
			return
		}
		n.mu.Lock()
		l.lastSeen = n.clock.Now()
		l.peer.Epoch = max(l.peer.Epoch, h.epoch)
		n.mu.Unlock()
		switch h.typ {
		case msgHeartbeat:
			n.heartbeatIn(l, p)
		case msgSync:
			n.mu.Lock()
			if n.role == RoleStandby && h.epoch > n.epoch {
				n.epoch = h.epoch
				n.store.save(n.epoch)
			}
			n.mu.Unlock()
		case msgCheckpoint:
			n.mu.Lock()
			standby := n.role == RoleStandby
			n.mu.Unlock()
			if !standby {
				continue
			}
			if err := n.applyCheckpoint(p); err != nil {
				n.refused(&LinkError{Op: "read", Remote: l.remote, Err: err})
				return
			}
			n.prefreeze(ctx)
		case msgLeaseReq:
			n.leaseRequest(l, p)
		case msgLeaseAck:
			n.leaseGranted(ctx, p)
		case msgFence:
			e, err := decodeFence(p)
			if err != nil {
				n.refused(&LinkError{Op: "read", Remote: l.remote, Err: err})
				return
			}
			n.wg.Go(func() {
				n.stepDown(ctx, l, e, true, true)
				n.send(l, msgFenced, encode(fencedMsg{Epoch: e}))
			})
		case msgBegin:
			var b beginMsg
			if json.Unmarshal(p, &b) != nil {
				n.refused(&LinkError{Op: "read", Remote: l.remote, Err: ErrBadFrame})
				return
			}
			rx := n.newRx(l)
			n.wg.Go(func() { n.receive(ctx, l, rx, b.ID) })
		default:
			n.mu.Lock()
			rx := l.rx
			n.mu.Unlock()
			select {
			case rx <- frame{h.typ, h.epoch, p}:
			default:
				n.refused(&LinkError{Op: "read", Remote: l.remote, Err: errors.New("switchover messages not consumed")})
				return
			}
		}
	}
}

// heartbeat sends a heartbeat every interval and closes a link silent for
// longer than the timeout.
func (n *Node) heartbeat(l *peerLink) {
	tick, stop := n.clock.NewTicker(n.o.HeartbeatInterval)
	defer stop()
	for {
		select {
		case <-l.down:
			return
		case <-tick:
		}
		n.mu.Lock()
		now := n.clock.Now()
		silent := now.Sub(l.lastSeen)
		hb := heartbeatMsg{T: now.Sub(l.since)}
		if p := l.peerHB; p != nil {
			hb.Echo, hb.Held = p.T, now.Sub(l.peerHBAt)
		}
		n.mu.Unlock()
		if silent > n.o.HeartbeatTimeout {
			n.refused(&LinkError{Op: "read", Remote: l.remote, Err: ErrLinkTimeout})
			l.abort()
			return
		}
		if n.send(l, msgHeartbeat, encode(hb)) != nil {
			return
		}
	}
}

// heartbeatIn notes the peer's heartbeat for the next one this node sends,
// and measures the round-trip time from what it echoes: its age on this
// side's link clock less the time the peer held it. A heartbeat without
// a payload (an older peer) carries nothing.
func (n *Node) heartbeatIn(l *peerLink, p []byte) {
	var hb heartbeatMsg
	if len(p) == 0 || json.Unmarshal(p, &hb) != nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.clock.Now()
	l.peerHB, l.peerHBAt = &hb, now
	if hb.Echo > 0 {
		if rtt := now.Sub(l.since) - hb.Echo - hb.Held; rtt > 0 {
			l.rtt = rtt
		}
	}
}

// Status is a node's state as the control socket reports it.
type Status struct {
	Name     string  `json:"name,omitempty"`
	Role     Role    `json:"role"`
	Epoch    uint64  `json:"epoch"`
	Sessions int     `json:"sessions"`
	Peer     *Peer   `json:"peer"`
	InDoubt  int     `json:"in_doubt,omitempty"`
	LinkErr  string  `json:"link_error,omitempty"`
	Last     *Report `json:"last_switchover,omitempty"`
	LastErr  string  `json:"last_error,omitempty"`
	// Checkpoint: the last one sent (active) or held (standby).
	Checkpoint   *CheckpointStatus `json:"checkpoint,omitempty"`
	LastTakeover *TakeoverReport   `json:"last_takeover,omitempty"`
	// CheckpointAges: of the sessions a takeover would restore; nil
	// without sessions.
	CheckpointAges     *CheckpointAges `json:"checkpoint_ages,omitempty"`
	CheckpointInterval time.Duration   `json:"checkpoint_interval_ns"`
	Stats              Stats           `json:"stats"`
	// Lease is the automatic mode's state: "unleased", "until TIME",
	// "lapsed" on the active, "granted TIME" on the standby.
	Lease string `json:"lease,omitempty"`
}

// Peer is the sync link's state; nil in Status when the link is down.
type Peer struct {
	Address string    `json:"address"`
	Name    string    `json:"name,omitempty"`
	Role    Role      `json:"role"`
	Epoch   uint64    `json:"epoch"`
	Since   time.Time `json:"since"`
	// RTT is the link's round-trip time from the heartbeats; 0 until
	// measured.
	RTT time.Duration `json:"rtt_ns"`
}

// Status returns the node's state.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.clock.Now()
	s := Status{Name: n.o.Name, Role: n.role, Epoch: n.epoch, Sessions: len(n.tracked),
		LinkErr: n.linkErr, Last: n.last, LastErr: n.lastErr, LastTakeover: n.lastTakeover,
		CheckpointAges: n.checkpointAges(now), CheckpointInterval: n.o.CheckpointInterval, Stats: n.stats.clone()}
	if n.ckCount > 0 {
		ck := n.ck
		if n.role == RoleStandby {
			ck.Sessions = len(n.ckStore)
		}
		ck.Interval = n.o.CheckpointInterval
		ck.Age = now.Sub(ck.Last)
		s.Checkpoint = &ck
	}
	if n.doubt != nil {
		s.InDoubt = len(n.doubt.stopped)
	}
	if n.o.AutoTakeover > 0 {
		switch {
		case n.role == RoleActive && n.lapsed != nil:
			s.Lease = "lapsed"
		case n.role == RoleActive && n.unleased:
			s.Lease = "unleased"
		case n.role == RoleActive:
			s.Lease = "until " + n.leaseUntil.UTC().Format(time.RFC3339Nano)
		case !n.lastGrant.IsZero():
			s.Lease = "granted " + n.lastGrant.UTC().Format(time.RFC3339Nano)
		}
	}
	if l := n.link; l != nil {
		s.Peer = &Peer{Address: l.remote, Name: l.peer.Name, Role: l.peer.Role, Epoch: l.peer.Epoch, Since: l.since, RTT: l.rtt}
	}
	return s
}
