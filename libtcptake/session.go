// The data path of one session, and the file of each step:
//
//	socket ──Stop──▶ stopped ──Get──▶ Image ──Set──▶ restored ──Restart──▶ socket
//	        stop_linux.go    get_linux.go    set_linux.go      restart_linux.go
//
// An Image crosses from node to node as a frame (frame.go) whose payload is
// the "session" attribute set (attrs.go). A Session is either end of the
// path on one node: a socket of this node in repair mode, frozen.

package libtcptake

import (
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Session is a TCP session in repair mode on this node with its packets
// dropped: an application's session stopped by Stop, or one recreated from
// an image by Set. Its methods are safe for concurrent use.
type Session struct {
	mu    sync.Mutex
	tuple Tuple
	fd    int // a restored session's descriptor while Set builds it; else -1
	// rc is the session's socket once it is a conn: the application's
	// (Stop), borrowed, not duplicated (10,000 sessions must not need
	// 20,000 descriptors), or conn's. nil once released or restarted.
	rc syscall.RawConn
	// conn is a restored session's socket, a conn from the end of Set
	// on, so that Restart does not pay for the runtime's registration.
	conn    *net.TCPConn
	opts    Options
	freezer Freezer
	orig    *net.TCPConn // the application's conn (Stop), if it was one
	// pending is what a restored session sends at Restart as new data
	// (queueSend); queued says queueSend ran on this socket (a second run
	// would queue the bytes twice), with queueErr its error.
	pending  []byte
	queued   bool
	queueErr error
	// img is a restored session's image, for what Restart does: learn
	// the peer's position (and rebuild the socket if the peer has part of
	// the send queue already), deliver the peer's FIN, send ours.
	img     *Image
	gen     uint64
	started bool // Restart done
	// peerKnown: the peer's position was given (PeerAt); Restart
	// does not ask it.
	peerKnown bool
	// peerExact: and the peer holds nothing beyond it (PeerPosition.Exact).
	peerExact bool
	// ackPeer: the receive queue holds bytes the peer sent into the
	// freeze (PeerAt), which Restart has the socket acknowledge.
	ackPeer bool
	// adj is what Restart learned and changed (Options.Adjust).
	adj *Adjustment
}

// Options tune the session operations. The zero value is usable.
type Options struct {
	// Freezer drops the session's packets while it is stopped. When nil,
	// DefaultFreezer() is used.
	Freezer Freezer
	// Logger receives debug and warning records; nil means slog.Default().
	Logger *slog.Logger
	// NoFreebind makes Set fail with ErrNotLocal when the image's local
	// address is not on this node yet, instead of binding it with
	// IP_FREEBIND before the service address arrives.
	NoFreebind bool
	// ProbeTimeout bounds how long Restart waits for the peers of restored
	// sessions to answer the window probe (their answer says how much of
	// the send queue they already have), from when it has asked them all;
	// 0 means DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// Adjust restores images that may be stale — a failover checkpoint
	// the dead node went on from: Restart learns where each peer really
	// is and re-aligns the session on it (see Adjustment) instead of
	// trusting the image's position.
	Adjust bool
}

// DefaultProbeTimeout is the default Options.ProbeTimeout. Peers answer
// within a round trip; the timeout matters only for a peer whose probes
// or answers are all lost.
const DefaultProbeTimeout = 500 * time.Millisecond

func (o *Options) logger() *slog.Logger {
	if o == nil || o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

// Tuple returns the session's 4-tuple.
func (s *Session) Tuple() Tuple { return s.tuple }

func (s *Session) String() string { return s.tuple.String() }

func (o *Options) getFreezer() (Freezer, error) {
	if o != nil && o.Freezer != nil {
		return o.Freezer, nil
	}
	return DefaultFreezer()
}

func copyOpts(o *Options) Options {
	if o == nil {
		return Options{}
	}
	return *o
}

// open reports whether the session still has its socket.
func (s *Session) open() bool { return s.fd >= 0 || s.rc != nil }

// sock runs f on the session's socket: a restored session's descriptor,
// or the application's, through its RawConn, which keeps the descriptor
// from being closed while f runs.
func (s *Session) sock(f func(fd int) error) error {
	if s.rc == nil {
		return f(s.fd)
	}
	var ferr error
	if err := s.rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// parallel runs f(0), …, f(n-1) on up to GOMAXPROCS goroutines (see
// shares).
func parallel(n int, f func(i int)) {
	shares(n, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			f(i)
		}
	})
}

// shares splits [0, n) into chunks of minShare and runs f on each, in up
// to GOMAXPROCS goroutines that take the next chunk as they finish one:
// per-session work that is mostly the kernel's spreads over the cores,
// and a goroutine slowed by other load leaves no core idle at the end. f
// must make no socket: its goroutines run on threads that need not be in
// the caller's network namespace (a caller may have locked its thread
// into another).
func shares(n int, f func(lo, hi int)) {
	chunks := (n + minShare - 1) / minShare
	w := min(runtime.GOMAXPROCS(0), chunks)
	if w <= 1 {
		f(0, n)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w {
		wg.Go(func() {
			for c := int(next.Add(1) - 1); c < chunks; c = int(next.Add(1) - 1) {
				f(c*minShare, min(n, (c+1)*minShare))
			}
		})
	}
	wg.Wait()
}

const minShare = 32

// PeerPosition is where the peer of a stopped session is, as the node that
// stopped it saw after the stop.
type PeerPosition struct {
	// Answered: Ack is how far the peer acknowledged; else Restart asks.
	Answered bool   `json:"answered,omitempty"`
	Ack      uint32 `json:"ack,omitempty"`
	// Exact: the peer's answer to the probe showed it holds no byte
	// beyond Ack (its D-SACK of the probe's byte was its only SACK
	// block), and, the session stopped, none can reach it: Restart sends
	// every unacked byte again as new data at once. Otherwise bytes more
	// than a first flight go into the socket as sent, and those the peer
	// lacks wait for its SACKs, a loss probe or a retransmission timeout
	// (without the module's RTT, a second or more).
	Exact bool `json:"exact,omitempty"`
	// Received is what the peer sent from the image's rcv_nxt on, which
	// the freeze dropped: the restored session has it in its receive
	// queue and acknowledges it, instead of the peer sending it again.
	Received []byte `json:"received,omitempty"`
}
