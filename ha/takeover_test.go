package ha

import (
	"context"
	"maps"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
)

func (f *fakeOps) checkpointAll(_ context.Context, conns []*net.TCPConn, prev []*libtcptake.Image) ([]*libtcptake.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*libtcptake.Image, len(conns))
	for i, c := range conns {
		f.checkpoints++
		tuple := libtcptake.Tuple{
			Local:  c.LocalAddr().(*net.TCPAddr).AddrPort(),
			Remote: c.RemoteAddr().(*net.TCPAddr).AddrPort(),
		}
		if prev[i] != nil { // idle sessions: the TCP state has not moved
			f.prevGiven++
			if prev[i].Tuple != tuple {
				f.t.Errorf("checkpoint of %s given the previous image of %s", tuple, prev[i].Tuple)
			}
			out[i] = prev[i]
			continue
		}
		out[i] = &libtcptake.Image{
			Tuple: tuple,
			State: libtcptake.StateEstablished, SndUna: 100, SndNxt: 100, WriteSeq: 100, RcvNxt: 7, MSSClamp: 1460,
		}
	}
	return out, nil
}

func (f *fakeOps) setAdjusted(ctx context.Context, imgs []*libtcptake.Image) ([]session, error) {
	return f.setAll(ctx, imgs)
}

func (f *fakeOps) freeze(_ context.Context, ts []libtcptake.Tuple, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on && f.addrUp != nil {
		f.frozeUp = append(f.frozeUp, f.addrUp())
	}
	if f.frozen == nil {
		f.frozen = map[libtcptake.Tuple]bool{}
	}
	for _, t := range ts {
		if on {
			f.frozen[t] = true
			if f.freezes == nil {
				f.freezes = map[libtcptake.Tuple]int{}
			}
			f.freezes[t]++
		} else {
			delete(f.frozen, t)
			if f.thaws == nil {
				f.thaws = map[libtcptake.Tuple]int{}
			}
			f.thaws[t]++
		}
	}
	return nil
}

func (f *fakeOps) frozenCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.frozen)
}

// trackResumable tracks n sessions that checkpoints include; resumes
// counts the resume calls.
func (tn *testNode) trackResumable(t *testing.T, n int, resumes *int) ([]string, []*Tracked) {
	var want []string
	var ts []*Tracked
	for i := range n {
		st := "state-" + string(rune('a'+i))
		want = append(want, st)
		ts = append(ts, tn.TrackResumable(tcpConn(t), func() []byte { return []byte(st) }, func() {
			tn.mu.Lock()
			*resumes++
			tn.mu.Unlock()
		}))
	}
	return want, ts
}

// TestTakeoverFromCheckpoints: the active checkpoints its sessions (each
// paused, captured and resumed); the standby holds one checkpoint per
// session with its tuple frozen, and drops an ended one. A takeover with
// the active still linked fences it (it stops its sessions silently,
// gives up the address and becomes the standby at the new epoch) and
// restarts every session; Options.Failover's default keeps the exact ones
// and closes those with a gap, and the report says so.
func TestTakeoverFromCheckpoints(t *testing.T) {
	act, sby := pair(t)
	ctx := context.Background()
	resumes := 0
	want, ts := act.trackResumable(t, 4, &resumes)
	if _, err := act.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "4 checkpoints on the standby, their tuples frozen", func() bool {
		s := sby.Status()
		return s.Checkpoint != nil && s.Checkpoint.Sessions == 4 && sby.ops.frozenCount() == 4
	})
	act.mu.Lock()
	if resumes != 4 {
		t.Errorf("%d sessions resumed after the checkpoint, want 4", resumes)
	}
	act.mu.Unlock()
	ts[3].Close() // ended: gone from the next checkpoint
	want = want[:3]
	if _, err := act.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	act.ops.mu.Lock()
	if act.ops.prevGiven != 3 {
		t.Errorf("the second checkpoint was given %d previous images, want 3", act.ops.prevGiven)
	}
	act.ops.mu.Unlock()
	eventually(t, "the ended session removed on the standby", func() bool {
		s := sby.Status()
		return s.Checkpoint.Sessions == 3 && sby.ops.frozenCount() == 3
	})
	// Freezes older than half their timeout are frozen again, which
	// re-arms them, and never thawed meanwhile.
	sby.mu.Lock()
	for tp := range sby.frozen {
		sby.frozen[tp] = time.Now().Add(-libtcptake.DefaultFreezeTimeout / 2)
	}
	sby.mu.Unlock()
	sby.ops.mu.Lock()
	before := maps.Clone(sby.ops.freezes)
	thawed := len(sby.ops.thaws)
	sby.ops.mu.Unlock()
	sby.prefreeze(ctx)
	sby.ops.mu.Lock()
	for tp := range sby.ops.frozen {
		if sby.ops.freezes[tp] != before[tp]+1 || sby.ops.thaws[tp] != 0 {
			t.Errorf("%v: frozen %d times and thawed %d after a renewal, want %d and 0", tp, sby.ops.freezes[tp], sby.ops.thaws[tp], before[tp]+1)
		}
	}
	if len(sby.ops.frozen) != 3 || len(sby.ops.thaws) != thawed {
		t.Errorf("after a renewal: %d frozen, thaws of %d tuples (was %d), want 3 and no new thaw", len(sby.ops.frozen), len(sby.ops.thaws), thawed)
	}
	sby.ops.mu.Unlock()
	if _, err := sby.Checkpoint(ctx); err != ErrNotActive {
		t.Errorf("checkpoint on the standby: %v, want ErrNotActive", err)
	}
	sby.ops.mu.Lock()
	sby.ops.adjust = map[string]libtcptake.Adjustment{"state-b": {Answered: true, IncomingLost: 5}}
	sby.ops.mu.Unlock()
	rep, err := sby.Takeover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Fenced || rep.Sessions != 3 || rep.Kept != 2 || rep.Closed != 1 || rep.Failed != 0 || rep.Epoch != 1 {
		t.Fatalf("takeover report %+v", rep)
	}
	for _, r := range rep.Results {
		if r.Adjustment == nil || (r.Outcome == Closed) != (r.Adjustment.IncomingLost == 5) {
			t.Errorf("%s: %s with %+v", r.Session, r.Outcome, r.Adjustment)
		}
	}
	if got := sby.takeRestored(); !sameSet(got, []string{"state-a", "state-c"}) {
		t.Errorf("restored %q, want state-a and state-c", got)
	}
	if a, s := act.Status(), sby.Status(); a.Role != RoleStandby || a.Epoch != 1 || s.Role != RoleActive || s.Epoch != 1 ||
		s.LastTakeover == nil {
		t.Fatalf("after the takeover: act %s epoch %d, sby %s epoch %d", a.Role, a.Epoch, s.Role, s.Epoch)
	}
	if act.addr.isUp() || !sby.addr.isUp() {
		t.Error("the address did not move")
	}
	if stops, _, _ := act.ops.count(); stops != 3 {
		t.Errorf("the fenced active stopped %d sessions, want 3", stops)
	}
	if act.ops.releases != 3 {
		t.Errorf("the fenced active released %d sessions, want 3", act.ops.releases)
	}
	// Takeover on the active does nothing.
	if rep, err := sby.Takeover(ctx); err != nil || !rep.AlreadyActive {
		t.Errorf("takeover on the active: %+v, %v", rep, err)
	}
	// The new active checkpoints to the old one (2 kept sessions).
	if _, err := sby.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new standby's checkpoints", func() bool {
		s := act.Status()
		return s.Checkpoint != nil && s.Checkpoint.Sessions == 2
	})
	if !strings.Contains(rep.Results[0].Session, "127.0.0.1") {
		t.Errorf("session named %q", rep.Results[0].Session)
	}
}
