package ha

import (
	"context"
	"net"
	"runtime/debug"
	"slices"
	"testing"
	"time"
)

// TestByPath orders sessions by their path's RTO, shortest first, and
// keeps the order of ties.
func TestByPath(t *testing.T) {
	ts := make([]*Tracked, 6)
	for i := range ts {
		ts[i] = &Tracked{id: uint64(i)}
	}
	rto := map[uint64]time.Duration{0: 9 * time.Millisecond, 1: 50 * time.Microsecond, 2: 0, 3: 50 * time.Microsecond, 4: 2 * time.Millisecond, 5: 0}
	byPath(ts, func(t *Tracked) time.Duration { return rto[t.id] })
	var got []uint64
	for _, t := range ts {
		got = append(got, t.id)
	}
	if want := []uint64{2, 5, 1, 3, 4, 0}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

// TestHoldGC holds the collector off and gives the setting back, once.
func TestHoldGC(t *testing.T) {
	old := debug.SetGCPercent(73)
	defer debug.SetGCPercent(old)
	gcOn := holdGC()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("held: GC percent %d, want -1", p)
	}
	gcOn()
	if p := debug.SetGCPercent(73); p != 73 {
		t.Errorf("after gcOn: GC percent %d, want 73", p)
	}
	debug.SetGCPercent(11)
	gcOn() // a second call changes nothing
	if p := debug.SetGCPercent(73); p != 11 {
		t.Errorf("after a second gcOn: GC percent %d, want 11", p)
	}
}

// TestSwitchoverByPath checks the active stops its sessions by their
// path's RTO, shortest first, across batches.
func TestSwitchoverByPath(t *testing.T) {
	act, sby := pair(t)
	rtos := []time.Duration{30 * time.Millisecond, 40 * time.Microsecond, 2 * time.Millisecond, 0, 400 * time.Microsecond}
	act.ops.rto = map[*net.TCPConn]time.Duration{}
	conns := make([]*net.TCPConn, len(rtos))
	for i, rto := range rtos {
		conns[i] = tcpConn(t)
		act.ops.rto[conns[i]] = rto
		act.Track(conns[i], func() []byte { return []byte{byte(i)} })
	}
	if _, err := act.Switchover(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []*net.TCPConn{conns[3], conns[1], conns[4], conns[2], conns[0]}
	if !slices.Equal(act.ops.stopped, want) {
		t.Errorf("stop order %v, want %v", act.ops.stopped, want)
	}
	// Last stopped, first restarted and handed over.
	if got, want := sby.takeRestored(), []string{"\x00", "\x02", "\x04", "\x01", "\x03"}; !slices.Equal(got, want) {
		t.Errorf("standby restored %q, want %q", got, want)
	}
}
