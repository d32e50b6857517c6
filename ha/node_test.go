package ha

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
)

// fakeOps stands in for libtcptake: it counts every call and needs no
// privileges.
type fakeOps struct {
	t        *testing.T
	mu       sync.Mutex
	stops    int
	sets     int
	prepares int
	restarts int
	releases int
	// peerAcked counts the peer positions given to set sessions (peerExact
	// the exact ones), and peerLater what they were given of what their
	// peers sent later.
	peerAcked, peerExact, peerLater int
	failSet                         error
	// failRestart makes restartAll fail every session whose state is
	// in it, as the library does: a nil entry and a joined error.
	failRestart map[string]bool
	// Failover: checkpoints taken, the adjustment of each state, and
	// the tuples frozen and thawed by the standby's prefreeze.
	checkpoints int
	prevGiven   int // previous images given with them
	adjust      map[string]libtcptake.Adjustment
	frozen      map[libtcptake.Tuple]bool
	// rto is each conn's path RTO (0 when absent), and stopped the
	// conns stopped, in order.
	rto     map[*net.TCPConn]time.Duration
	stopped []*net.TCPConn
	// stopDelay is how long each stopAll takes, and freezes and thaws
	// how many times each tuple was frozen (freeze, on) and thawed.
	stopDelay time.Duration
	freezes   map[libtcptake.Tuple]int
	thaws     map[libtcptake.Tuple]int
	// addrUp, when set, is the node's address state, recorded in
	// frozeUp at each freeze (on) call.
	addrUp  func() bool
	frozeUp []bool
}

type fakeSession struct {
	ops *fakeOps
	img *libtcptake.Image
}

func (s *fakeSession) Get() (*libtcptake.Image, error) { c := *s.img; return &c, nil }
func (s *fakeSession) Release() error {
	s.ops.mu.Lock()
	s.ops.releases++
	s.ops.mu.Unlock()
	return nil
}
func (s *fakeSession) Thaw(context.Context) error { return nil }
func (s *fakeSession) PeerAt(p libtcptake.PeerPosition) error {
	s.ops.mu.Lock()
	defer s.ops.mu.Unlock()
	late := "late " + s.img.Tuple.String()
	switch {
	case p.Answered && p.Ack == s.img.SndUna && (!p.Exact && string(p.Received) == late || p.Exact && string(p.Received) == late+" exact"):
		s.ops.peerAcked++
		if p.Exact {
			s.ops.peerExact++
		}
	case !p.Answered && string(p.Received) == " later":
		s.ops.peerLater++
	default:
		return fmt.Errorf("peer position %+v, image's snd_una %d, tuple %v", p, s.img.SndUna, s.img.Tuple)
	}
	return nil
}
func (s *fakeSession) Adjustment() *libtcptake.Adjustment {
	s.ops.mu.Lock()
	defer s.ops.mu.Unlock()
	a, ok := s.ops.adjust[string(s.img.AppState)]
	if !ok {
		a = libtcptake.Adjustment{Answered: true}
	}
	return &a
}

func (f *fakeOps) stopAll(_ context.Context, conns []*net.TCPConn) ([]session, error) {
	f.mu.Lock()
	d := f.stopDelay
	f.mu.Unlock()
	time.Sleep(d)
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]session, len(conns))
	f.stopped = append(f.stopped, conns...)
	for i, c := range conns {
		f.stops++
		img := &libtcptake.Image{
			Tuple: libtcptake.Tuple{
				Local:  c.LocalAddr().(*net.TCPAddr).AddrPort(),
				Remote: c.RemoteAddr().(*net.TCPAddr).AddrPort(),
			},
			State: libtcptake.StateEstablished,
		}
		out[i] = &fakeSession{f, img}
	}
	return out, nil
}

func (f *fakeOps) getAll(_ context.Context, ss []session) ([]*libtcptake.Image, error) {
	imgs := make([]*libtcptake.Image, len(ss))
	for i, s := range ss {
		imgs[i], _ = s.(*fakeSession).Get()
	}
	return imgs, nil
}

func (f *fakeOps) setAll(_ context.Context, imgs []*libtcptake.Image) ([]session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failSet != nil {
		return nil, f.failSet
	}
	out := make([]session, len(imgs))
	for i, img := range imgs {
		f.sets++
		out[i] = &fakeSession{f, img}
	}
	return out, nil
}

func (f *fakeOps) prepareAll(ss []session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prepares += len(ss)
	return nil
}

func (f *fakeOps) restartAll(_ context.Context, ss []session) ([]*net.TCPConn, error) {
	f.mu.Lock()
	f.restarts += len(ss)
	f.mu.Unlock()
	out := make([]*net.TCPConn, len(ss))
	var errs error
	for i, s := range ss {
		if st := string(s.(*fakeSession).img.AppState); f.failRestart[st] {
			errs = errors.Join(errs, &libtcptake.Error{Op: libtcptake.OpRestart, Err: errors.New("cannot " + st)})
			continue
		}
		out[i] = tcpConn(f.t)
	}
	return out, errs
}

// watchPeers' peers acknowledged all they were sent, and sent "late "
// and their session's tuple into the freeze, then " later".
func (f *fakeOps) watchPeers() (peerWatch, error) { return fakeWatch{}, nil }

func (f *fakeOps) pathRTO(c *net.TCPConn) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rto[c]
}

type fakeWatch struct{}

func (fakeWatch) positions(_ context.Context, imgs []*libtcptake.Image) []libtcptake.PeerPosition {
	pos := make([]libtcptake.PeerPosition, len(imgs))
	for i, img := range imgs {
		pos[i] = libtcptake.PeerPosition{Answered: true, Ack: img.SndUna, Received: []byte("late " + img.Tuple.String())}
		if i%2 == 0 { // and the standby knows which
			pos[i].Exact, pos[i].Received = true, append(pos[i].Received, " exact"...)
		}
	}
	return pos
}

func (fakeWatch) received(_ []*libtcptake.Image, pos []libtcptake.PeerPosition) {
	for i := range pos {
		pos[i].Received = append(pos[i].Received, " later"...)
	}
}

func (fakeWatch) Close() error { return nil }

func (f *fakeOps) count() (stops, sets, restarts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stops, f.sets, f.restarts
}

// loopback returns both ends of a loopback TCP connection, closed when
// the test ends; nil ones after an error (it may run outside the test's
// goroutine, in a fake session operation).
func loopback(t *testing.T) (client, server *net.TCPConn) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Error(err)
		return nil, nil
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Error(err)
		return nil, nil
	}
	s, err := l.Accept()
	if err != nil {
		c.Close()
		t.Error(err)
		return nil, nil
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// tcpConn returns the server end of a loopback TCP connection.
func tcpConn(t *testing.T) *net.TCPConn {
	_, s := loopback(t)
	return s
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// testNode is a node with fake sessions that records what it restores.
type testNode struct {
	*Node
	ops      *fakeOps
	addr     *fakeAddress
	mu       sync.Mutex
	restored []string
}

type fakeAddress struct {
	mu sync.Mutex
	up bool
}

func (a *fakeAddress) Up(context.Context) error { a.mu.Lock(); a.up = true; a.mu.Unlock(); return nil }
func (a *fakeAddress) Down(context.Context) error {
	a.mu.Lock()
	a.up = false
	a.mu.Unlock()
	return nil
}
func (a *fakeAddress) isUp() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.up }

func newTestNode(t *testing.T, name string, o Options) *testNode {
	t.Helper()
	tn := &testNode{ops: &fakeOps{t: t}, addr: &fakeAddress{up: o.Role == RoleActive}}
	o.Name = name
	o.Address = tn.addr
	o.Logger = slog.New(slog.NewTextHandler(testWriter{t, name}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.StepTimeout == 0 {
		o.StepTimeout = 2 * time.Second
	}
	o.ReconnectDelay = 20 * time.Millisecond
	o.BatchSize = 2
	o.Restore = func(c *net.TCPConn, state []byte) {
		tn.mu.Lock()
		tn.restored = append(tn.restored, string(state))
		tn.mu.Unlock()
		tn.TrackResumable(c, func() []byte { return state }, func() {})
	}
	n, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	n.ops, n.fops = tn.ops, tn.ops
	tn.Node = n
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return tn
}

func (tn *testNode) takeRestored() []string {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	r := tn.restored
	tn.restored = nil
	return r
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// pair makes an active listening and a standby dialing.
func pair(t *testing.T) (act, sby *testNode) { return pairWith(t, 0) }

// pairWith is pair with both nodes' StepTimeout (0: newTestNode's).
func pairWith(t *testing.T, stepTimeout time.Duration) (act, sby *testNode) {
	ak, sk := testKeys(t)
	addr := freePort(t)
	act = newTestNode(t, "act", Options{Role: RoleActive, Key: ak, PeerKey: pub(sk), SyncListen: addr, StepTimeout: stepTimeout})
	sby = newTestNode(t, "sby", Options{Role: RoleStandby, Key: sk, PeerKey: pub(ak), SyncPeer: addr, StepTimeout: stepTimeout})
	eventually(t, "the link", func() bool { return act.Status().Peer != nil && sby.Status().Peer != nil })
	return act, sby
}

func (tn *testNode) trackN(t *testing.T, n int) []string {
	var want []string
	for i := range n {
		st := fmt.Sprintf("state-%d", i)
		want = append(want, st)
		tn.Track(tcpConn(t), func() []byte { return []byte(st) })
	}
	return want
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

func TestSwitchoverAndBack(t *testing.T) {
	act, sby := pair(t)
	want := act.trackN(t, 5)
	ctx := context.Background()
	rep, err := act.Switchover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sessions != 5 || rep.Failed != 0 {
		t.Fatalf("report %+v", rep)
	}
	if got := sby.takeRestored(); !sameSet(got, want) {
		t.Fatalf("standby restored %q, want %q", got, want)
	}
	// The active asked the peers; the standby's sessions were told, and
	// prepared for the restart.
	sby.ops.mu.Lock()
	acked, exact, later, prepared := sby.ops.peerAcked, sby.ops.peerExact, sby.ops.peerLater, sby.ops.prepares
	sby.ops.mu.Unlock()
	if acked != 5 || exact != 3 || later != 5 || prepared != 5 {
		t.Fatalf("standby: %d sessions told their peer's position (%d exact), %d what it sent later, %d prepared; want 5 (3), 5, 5",
			acked, exact, later, prepared)
	}
	if s := act.Status(); s.Role != RoleStandby || s.Epoch != 1 || s.Sessions != 0 {
		t.Fatalf("old active: %+v", s)
	}
	if s := sby.Status(); s.Role != RoleActive || s.Epoch != 1 || s.Sessions != 5 {
		t.Fatalf("new active: %+v", s)
	}
	if act.addr.isUp() || !sby.addr.isUp() {
		t.Fatal("the address did not move")
	}
	if _, err := act.Switchover(ctx); !errors.Is(err, ErrNotActive) {
		t.Fatalf("switchover on the standby: %v", err)
	}
	// and back
	if _, err := sby.Switchover(ctx); err != nil {
		t.Fatal(err)
	}
	if got := act.takeRestored(); !sameSet(got, want) {
		t.Fatalf("back: restored %q, want %q", got, want)
	}
	if a, s := act.Status(), sby.Status(); a.Role != RoleActive || a.Epoch != 2 || s.Role != RoleStandby || s.Epoch != 2 {
		t.Fatalf("after the second switchover: %+v / %+v", a, s)
	}
	if !act.addr.isUp() || sby.addr.isUp() {
		t.Fatal("the address did not move back")
	}
}

// TestSwitchoverFaults fails each step and checks that exactly one node
// serves every session afterwards.
// TestSwitchoverLong: a switchover longer than StepTimeout and than a
// freeze's renewal period, with frames coming all the while. The standby
// waits (StepTimeout bounds each wait for the next frame, not the
// transfer), and both nodes re-arm the freezes of the sessions they hold
// until they restart or release them, and not after.
func TestSwitchoverLong(t *testing.T) {
	old := renewEvery
	renewEvery = 40 * time.Millisecond
	defer func() { renewEvery = old }()
	act, sby := pairWith(t, 500*time.Millisecond)
	want := act.trackN(t, 8)
	act.ops.mu.Lock()
	act.ops.stopDelay = 200 * time.Millisecond // 4 batches of 2: 800 ms
	act.ops.mu.Unlock()
	if _, err := act.Switchover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sby.takeRestored(); !sameSet(got, want) {
		t.Fatalf("standby restored %q, want %q", got, want)
	}
	act.ops.mu.Lock()
	first := act.ops.stopped[0]
	act.ops.mu.Unlock()
	tu := libtcptake.Tuple{Local: first.LocalAddr().(*net.TCPAddr).AddrPort(), Remote: first.RemoteAddr().(*net.TCPAddr).AddrPort()}
	freezes := func(tn *testNode) int {
		tn.ops.mu.Lock()
		defer tn.ops.mu.Unlock()
		return tn.ops.freezes[tu]
	}
	// The first session stopped is held ~800 ms by the active, ~600 by
	// the standby.
	a, s := freezes(act), freezes(sby)
	if a < 5 || s < 3 {
		t.Fatalf("the first session's freeze re-armed %d times on the active, %d on the standby; want at least 5 and 3", a, s)
	}
	time.Sleep(5 * renewEvery)
	if a2, s2 := freezes(act), freezes(sby); a2 != a || s2 != s {
		t.Fatalf("freezes re-armed after the switchover: active %d → %d, standby %d → %d", a, a2, s, s2)
	}
}

// TestSwitchoverRenewsBeforeBlackout: with a renewal period longer than
// the switchover, each node re-arms the freezes once, just before the
// blackout: the active with the address still up, the standby before it
// takes it; so that no renewal falls in the blackout.
func TestSwitchoverRenewsBeforeBlackout(t *testing.T) {
	old := renewEvery
	renewEvery = time.Hour
	defer func() { renewEvery = old }()
	act, sby := pair(t)
	for _, tn := range []*testNode{act, sby} {
		tn.ops.mu.Lock()
		tn.ops.addrUp = tn.addr.isUp
		tn.ops.mu.Unlock()
	}
	want := act.trackN(t, 5)
	if _, err := act.Switchover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := sby.takeRestored(); !sameSet(got, want) {
		t.Fatalf("standby restored %q, want %q", got, want)
	}
	for _, c := range []struct {
		tn     *testNode
		wantUp bool
	}{{act, true}, {sby, false}} {
		c.tn.ops.mu.Lock()
		if len(c.tn.ops.freezes) != len(want) {
			t.Errorf("%s: %d tuples re-armed, want %d", c.tn.o.Name, len(c.tn.ops.freezes), len(want))
		}
		for tu, k := range c.tn.ops.freezes {
			if k != 1 {
				t.Errorf("%s: %v re-armed %d times, want once", c.tn.o.Name, tu, k)
			}
		}
		if !slices.Equal(c.tn.ops.frozeUp, []bool{c.wantUp}) {
			t.Errorf("%s: re-armed with its address up: %v, want [%v] (one call, before the blackout)", c.tn.o.Name, c.tn.ops.frozeUp, c.wantUp)
		}
		c.tn.ops.mu.Unlock()
	}
}

func TestSwitchoverFaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		onStandby bool
		step      Step
		resumed   bool // the sessions stay on the active
	}{
		{"active stop", false, StepStop, true},
		{"active after ready", false, StepSet, true},
		{"active address down", false, StepAddressDown, true},
		{"standby set", true, StepSet, true},
		{"standby address up", true, StepAddressUp, true},
		{"active release", false, StepRestart, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			act, sby := pair(t)
			faulty := act
			if tc.onStandby {
				faulty = sby
			}
			faulty.o.Fault = func(s Step) error {
				if s == tc.step {
					return errors.New("injected")
				}
				return nil
			}
			want := act.trackN(t, 5)
			_, err := act.Switchover(context.Background())
			var se *StepError
			if !errors.As(err, &se) || se.Resumed != tc.resumed || se.Step != tc.step {
				t.Fatalf("want a StepError at %v with Resumed %v, got %v", tc.step, tc.resumed, err)
			}
			if !tc.resumed {
				// the standby serves them, the old active stands by
				if got := sby.takeRestored(); !sameSet(got, want) || len(act.takeRestored()) != 0 {
					t.Fatalf("standby restored %q, want %q, and nothing on the active", got, want)
				}
				if a, s := act.Status(), sby.Status(); a.Role != RoleStandby || s.Role != RoleActive || !sby.addr.isUp() || act.addr.isUp() {
					t.Fatalf("roles: %+v / %+v", a, s)
				}
				return
			}
			got := act.takeRestored()
			if len(got) == 0 || len(got) > len(want) {
				t.Fatalf("active resumed %q, want some of %q", got, want)
			}
			if _, _, r := sby.ops.count(); r != 0 {
				t.Fatalf("standby restarted %d sessions too", r)
			}
			eventually(t, "standby releasing", func() bool {
				sby.ops.mu.Lock()
				defer sby.ops.mu.Unlock()
				return sby.ops.releases == sby.ops.sets
			})
			if !act.addr.isUp() || sby.addr.isUp() {
				t.Fatal("the address is not on the active alone")
			}
			if a, s := act.Status(), sby.Status(); a.Role != RoleActive || s.Role != RoleStandby || a.Sessions != 5 {
				t.Fatalf("roles after the fault: %+v / %+v", a, s)
			}
			// and the next switchover works
			act.o.Fault, sby.o.Fault = nil, nil
			if _, err := act.Switchover(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := sby.takeRestored(); !sameSet(got, want) {
				t.Fatalf("after the fault: restored %q", got)
			}
		})
	}
}

func TestSwitchoverSetFails(t *testing.T) {
	act, sby := pair(t)
	sby.ops.failSet = errors.New("set refused")
	act.trackN(t, 3)
	_, err := act.Switchover(context.Background())
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("want ErrRefused, got %v", err)
	}
	if got := act.takeRestored(); len(got) != 3 {
		t.Fatalf("active resumed %d sessions, want 3", len(got))
	}
}

// TestNodeRefusesBadPeers connects a wrong key, a plaintext client and
// garbage: each is refused at the handshake, and no session operation is
// made.
func TestNodeRefusesBadPeers(t *testing.T) {
	ak, sk := testKeys(t)
	other, _ := testKeys(t)
	addr := freePort(t)
	act := newTestNode(t, "act", Options{Role: RoleActive, Key: ak, PeerKey: pub(sk), SyncListen: addr, HandshakeTimeout: 200 * time.Millisecond})
	act.trackN(t, 2)
	dial := func() net.Conn {
		var c net.Conn
		eventually(t, "the listener", func() bool {
			var err error
			c, err = net.Dial("tcp", addr)
			return err == nil
		})
		return c
	}
	// a client with the wrong key
	cfg, err := tlsConfig(other, pub(ak))
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(dial(), cfg)
	c.Handshake()
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err == nil {
		t.Fatal("wrong key: the node answered")
	}
	c.Close()
	for _, junk := range []string{"GET / HTTP/1.1\r\n\r\n", "\x16\x03\x01\x00", "\xff\xfe garbage garbage garbage"} {
		c := dial()
		c.Write([]byte(junk))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, err := c.Read(buf); err == nil && n > 0 && junk[0] != 0x16 && buf[0] != 0x15 {
			t.Fatalf("%q: the node answered %x", junk, buf[:n])
		}
		c.Close()
	}
	// each is counted: the wrong key as such, the others as "other"
	eventually(t, "the refusals counted", func() bool {
		r := act.Status().Stats.LinkRefused
		return r["bad_key"]+r["other"] == 4
	})
	if s := act.Status(); s.Peer != nil || s.LinkErr == "" || s.Stats.LinkRefused["bad_key"] != 1 {
		t.Fatalf("after the bad peers: peer %+v, error %q, refused %v", s.Peer, s.LinkErr, s.Stats.LinkRefused)
	}
	if st, se, re := act.ops.count(); st+se+re != 0 {
		t.Fatalf("session operations after bad peers: %d stops, %d sets, %d restarts", st, se, re)
	}
}

// fakeClock ticks when told to.
type fakeClock struct {
	mu   sync.Mutex
	now  time.Time
	tick chan time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) NewTicker(time.Duration) (<-chan time.Time, func()) {
	return c.tick, func() {}
}
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	c.tick <- c.now
}

func TestHeartbeatTimeoutAndReconnect(t *testing.T) {
	ak, sk := testKeys(t)
	addr := freePort(t)
	clk := &fakeClock{now: time.Unix(1000, 0), tick: make(chan time.Time)}
	act := newTestNode(t, "act", Options{Role: RoleActive, Key: ak, PeerKey: pub(sk), SyncListen: addr,
		Clock: clk, HeartbeatInterval: time.Second, HeartbeatTimeout: 3 * time.Second})
	sclk := &fakeClock{now: time.Unix(0, 0), tick: make(chan time.Time)} // never ticks: the standby stays silent
	sby := newTestNode(t, "sby", Options{Role: RoleStandby, Key: sk, PeerKey: pub(ak), SyncPeer: addr, Clock: sclk})
	eventually(t, "the link", func() bool { return act.Status().Peer != nil })
	first := act.Status().Peer.Since
	clk.advance(2 * time.Second) // within the timeout: a heartbeat goes out
	if act.Status().Peer == nil {
		t.Fatal("link dropped within the timeout")
	}
	clk.advance(2 * time.Second) // 4 s of silence
	// The link dropped and the standby dialed again by itself: a new
	// link, admitted at the fake clock's new time.
	eventually(t, "a new link", func() bool {
		p := act.Status().Peer
		return p != nil && p.Since.Equal(first.Add(4*time.Second)) && sby.Status().Peer != nil
	})
}

type testWriter struct {
	t    *testing.T
	name string
}

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(w.name + ": " + string(b))
	return len(b), nil
}

// TestSwitchoverLinkCut cuts the sync link at each step, on either side:
// once the standby has redialed, exactly one node serves every session
// and holds the address.
func TestSwitchoverLinkCut(t *testing.T) {
	for _, tc := range []struct {
		onStandby bool
		step      Step
		movedTo   string // "act" when the sessions stay (resume), "sby" when they moved
	}{
		{false, StepStop, "act"},
		{false, StepSet, "act"},
		{false, StepAddressDown, "act"},
		{false, StepAddressUp, "sby"},
		{false, StepRestart, "sby"},
		{true, StepSet, "act"},
		{true, StepAddressUp, "sby"},
		{true, StepRestart, "sby"},
	} {
		side := "active"
		if tc.onStandby {
			side = "standby"
		}
		t.Run(fmt.Sprintf("%s-%v", side, tc.step), func(t *testing.T) {
			act, sby := pair(t)
			cutter := act
			if tc.onStandby {
				cutter = sby
			}
			var once sync.Once
			cutter.o.Fault = func(s Step) (err error) {
				if s == tc.step {
					once.Do(func() { err = ErrCutLink })
				}
				return err
			}
			want := act.trackN(t, 5)
			rep, err := act.Switchover(context.Background())
			t.Logf("switchover: %+v, %v", rep, err)
			on, off := act, sby
			if tc.movedTo == "sby" {
				on, off = sby, act
			}
			eventually(t, "the sessions on "+tc.movedTo, func() bool {
				s := on.Status()
				return s.Sessions == len(want) && s.Role == RoleActive && off.Status().Sessions == 0
			})
			// those paused were restored; on the active, the others
			// were never paused
			if got := on.takeRestored(); len(got) == 0 || len(got) > len(want) || (tc.movedTo == "sby" && !sameSet(got, want)) {
				t.Fatalf("restored %q, want (some of) %q", got, want)
			}
			if got := off.takeRestored(); len(got) != 0 {
				t.Fatalf("the other node restored %q too", got)
			}
			eventually(t, "the link back, the other node standing by", func() bool {
				s := off.Status()
				return act.Status().Peer != nil && sby.Status().Peer != nil && s.Role == RoleStandby && s.InDoubt == 0
			})
			if !on.addr.isUp() || off.addr.isUp() {
				t.Fatalf("address: on %v, off %v", on.addr.isUp(), off.addr.isUp())
			}
			if e1, e2 := act.Status().Epoch, sby.Status().Epoch; on.Status().Epoch < off.Status().Epoch {
				t.Fatalf("epochs: act %d sby %d: the active is behind", e1, e2)
			}
		})
	}
}

// TestSwitchoverRestartFails: sessions the standby cannot restart are
// reported, released and left out; the others are served.
func TestSwitchoverRestartFails(t *testing.T) {
	act, sby := pair(t)
	want := act.trackN(t, 5)
	sby.ops.failRestart = map[string]bool{"state-1": true, "state-3": true}
	rep, err := act.Switchover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sessions != 5 || rep.Failed != 2 {
		t.Fatalf("report %+v, want 5 sessions, 2 failed", rep)
	}
	if got := sby.takeRestored(); !sameSet(got, []string{want[0], want[2], want[4]}) {
		t.Fatalf("restored %q", got)
	}
	if s := sby.Status(); s.Role != RoleActive || s.Sessions != 3 {
		t.Fatalf("new active: %+v", s)
	}
	sby.ops.mu.Lock()
	defer sby.ops.mu.Unlock()
	if sby.ops.releases != 2 {
		t.Fatalf("%d sessions released on the standby, want the 2 that failed", sby.ops.releases)
	}
}

// TestNodeRefusesBadFrames: an authenticated peer sends a switchover's
// begin and then an oversize frame, a replayed frame (another
// connection's id, or a sequence number again) or a frame from an older
// epoch: the standby drops the link, says why, and makes no session
// operation.
func TestNodeRefusesBadFrames(t *testing.T) {
	image := func() []byte {
		img := &libtcptake.Image{State: libtcptake.StateEstablished, AppState: []byte("x"), Tuple: libtcptake.Tuple{
			Local:  netip.MustParseAddrPort("192.0.2.100:80"),
			Remote: netip.MustParseAddrPort("192.0.2.1:40000"),
		}}
		b, err := img.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()
	for _, tc := range []struct {
		name string
		want error
		send func(fc *frameConn) error
	}{
		{"oversize", ErrFrameTooBig, func(fc *frameConn) error {
			var h [headerLen]byte
			(&frameHeader{typ: msgImage, epoch: 5, seq: 2, connID: fc.connID, length: 1 << 20}).marshal(h[:])
			_, err := fc.rw.Write(h[:])
			return err
		}},
		{"replay-other-connection", ErrReplay, func(fc *frameConn) error {
			other := &frameConn{rw: fc.rw, connID: fc.connID, sendSeq: 1}
			other.connID[0] ^= 1
			return other.write(msgImage, 5, image)
		}},
		{"replay-same-sequence", ErrReplay, func(fc *frameConn) error {
			fc.sendSeq = 0 // the begin's sequence number again
			return fc.write(msgImage, 5, image)
		}},
		{"old-epoch", ErrStaleEpoch, func(fc *frameConn) error {
			return fc.write(msgImage, 4, image)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ak, sk := testKeys(t)
			addr := freePort(t)
			sby := newTestNode(t, "sby", Options{Role: RoleStandby, Key: sk, PeerKey: pub(ak), SyncListen: addr, MaxFrame: 64 << 10})
			cfg, err := tlsConfig(ak, pub(sk))
			if err != nil {
				t.Fatal(err)
			}
			var lk *link
			eventually(t, "a link", func() bool {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					return false
				}
				lk, err = handshake(context.Background(), c, cfg, true, hello{Role: RoleActive, Epoch: 5}, DefaultMaxFrame)
				return err == nil
			})
			defer lk.conn.Close()
			if err := lk.fc.write(msgBegin, 5, encode(beginMsg{ID: 7})); err != nil {
				t.Fatal(err)
			}
			if err := tc.send(lk.fc); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the refusal", func() bool {
				s := sby.Status()
				return s.Peer == nil && strings.Contains(s.LinkErr, tc.want.Error())
			})
			// counted once, by its reason
			reason := RefusalReason(tc.want)
			for r, k := range sby.Status().Stats.LinkRefused {
				if want := uint64(map[bool]int{true: 1}[r == reason]); k != want {
					t.Errorf("%d refused for %s, want %d", k, r, want)
				}
			}
			// the link is gone: the fake active reads EOF
			lk.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				if _, _, err := lk.fc.read(); err != nil {
					break
				}
			}
			if st, se, re := sby.ops.count(); st+se+re != 0 {
				t.Fatalf("session operations: %d stops, %d sets, %d restarts", st, se, re)
			}
		})
	}
}

// TestSwitchoverLateSessions: a session tracked while the batches are
// still going moves with them; one tracked after the last batch left is
// closed (reset), not left on a node without the service address.
func TestSwitchoverLateSessions(t *testing.T) {
	act, sby := pair(t)
	want := act.trackN(t, 3)
	client, late := loopback(t)
	var tooLate *net.TCPConn
	var once1, once2 sync.Once
	act.o.Fault = func(s Step) error {
		switch s {
		case StepStop:
			once1.Do(func() { act.Track(tcpConn(t), func() []byte { return []byte("late") }) })
		case StepSet:
			once2.Do(func() {
				tooLate = late
				act.Track(late, func() []byte { return []byte("too late") })
			})
		}
		return nil
	}
	rep, err := act.Switchover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sessions != 4 {
		t.Fatalf("moved %d sessions, want the 3 and the late one", rep.Sessions)
	}
	if got := sby.takeRestored(); !sameSet(got, append(want, "late")) {
		t.Fatalf("standby restored %q", got)
	}
	if tooLate == nil {
		t.Fatal("no session was tracked after the last batch")
	}
	client.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the client of the session tracked too late: %v, want a reset", err)
	}
}
