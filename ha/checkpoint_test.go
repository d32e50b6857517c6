package ha

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
)

// TestCheckpointUnchanged: a session whose TCP state has not moved since
// the last checkpoint (the library hands back the image sent) costs a
// "same" entry; when its application state moved, the standby gets the
// new one, and the image sent before is left as it was.
func TestCheckpointUnchanged(t *testing.T) {
	act, sby := pair(t)
	ctx := context.Background()
	st := "one"
	act.TrackResumable(tcpConn(t), func() []byte { return []byte(st) }, func() {})
	stored := func() string {
		sby.Node.mu.Lock()
		defer sby.Node.mu.Unlock()
		for _, s := range sby.ckStore {
			return string(s.img.AppState)
		}
		return ""
	}
	if _, err := act.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first checkpoint on the standby", func() bool { return stored() == "one" })
	var first *libtcptake.Image
	act.Node.mu.Lock()
	for tr := range act.tracked {
		first = tr.ckLast
	}
	act.Node.mu.Unlock()
	st2, err := act.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st2.Bytes != 12+9 {
		t.Errorf("an unchanged session's checkpoint took %d bytes, want 21", st2.Bytes)
	}
	st = "two"
	if _, err := act.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new application state on the standby", func() bool { return stored() == "two" })
	if string(first.AppState) != "one" {
		t.Errorf("the image sent first now holds %q", first.AppState)
	}
}

// TestCheckpointDelta: the active's checkpoint entries decode on the
// standby into exactly the images captured — full, then a delta (acked
// bytes dropped, new ones appended, both queues), an unchanged image in
// 9 bytes, a session not captured keeping its previous checkpoint, and a
// session no longer listed removed.
func TestCheckpointDelta(t *testing.T) {
	tuple := func(port uint16) libtcptake.Tuple {
		return libtcptake.Tuple{Local: netip.MustParseAddrPort("192.0.2.100:80"), Remote: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port)}
	}
	mk := func(port uint16, una uint32, unacked, unsent, rcvq string, rcvNxt uint32, state string, tsval uint32) *libtcptake.Image {
		return &libtcptake.Image{Tuple: tuple(port), State: libtcptake.StateEstablished, SndUna: una,
			SndNxt: una + uint32(len(unacked)), WriteSeq: una + uint32(len(unacked)+len(unsent)),
			SendUnacked: []byte(unacked), SendUnsent: []byte(unsent), RecvQueue: []byte(rcvq), RcvNxt: rcvNxt,
			MSSClamp: 1460, TSVal: tsval, AppState: []byte(state), Window: &libtcptake.Window{SndWnd: 1000}}
	}
	sby := &Node{clock: realClock{}, stats: newStats()}
	l := &peerLink{}
	t1, t2 := &Tracked{id: 1}, &Tracked{id: 2}
	round := func(entries ...func(*bytes.Buffer) error) int {
		t.Helper()
		var buf bytes.Buffer
		for _, e := range entries {
			if err := e(&buf); err != nil {
				t.Fatal(err)
			}
		}
		hdr := make([]byte, 12)
		binary.BigEndian.PutUint32(hdr, uint32(len(entries)))
		binary.BigEndian.PutUint64(hdr[4:], uint64(time.Now().UnixNano()))
		if err := sby.applyCheckpoint(append(hdr, buf.Bytes()...)); err != nil {
			t.Fatalf("apply: %v", err)
		}
		return buf.Len()
	}
	entry := func(tr *Tracked, img *libtcptake.Image) func(*bytes.Buffer) error {
		return func(b *bytes.Buffer) error { return tr.ckEncode(b, img, l) }
	}
	check := func(id uint64, want *libtcptake.Image) {
		t.Helper()
		got := sby.ckStore[id]
		if want == nil {
			if got != nil {
				t.Fatalf("session %d still held", id)
			}
			return
		}
		g := got.img
		if g.SndUna != want.SndUna || g.SndNxt != want.SndNxt || g.WriteSeq != want.WriteSeq || g.RcvNxt != want.RcvNxt ||
			!bytes.Equal(g.SendUnacked, want.SendUnacked) || !bytes.Equal(g.SendUnsent, want.SendUnsent) ||
			!bytes.Equal(g.RecvQueue, want.RecvQueue) || !bytes.Equal(g.AppState, want.AppState) || g.Tuple != want.Tuple {
			t.Fatalf("session %d: got una %d nxt %d write %d rcv %d %q|%q rq %q state %q, want una %d nxt %d write %d rcv %d %q|%q rq %q state %q",
				id, g.SndUna, g.SndNxt, g.WriteSeq, g.RcvNxt, g.SendUnacked, g.SendUnsent, g.RecvQueue, g.AppState,
				want.SndUna, want.SndNxt, want.WriteSeq, want.RcvNxt, want.SendUnacked, want.SendUnsent, want.RecvQueue, want.AppState)
		}
	}
	big := strings.Repeat("q", 20000)
	a1, b1 := mk(1000, 100, "ab"+big, "de", "xy", 500, "s1", 7), mk(1001, 9, "", "", "", 42, "b", 7)
	round(entry(t1, a1), entry(t2, b1))
	check(1, a1)
	check(2, b1)
	a2 := mk(1000, 102, big+"de", "fg", "yz", 501, "s2", 9)
	full, _ := a2.MarshalBinary()
	n := round(entry(t1, a2), entry(t2, mk(1001, 9, "", "", "", 42, "b", 99)))
	check(1, a2)
	check(2, b1)
	if n > 400 {
		t.Errorf("delta frame of %d bytes, want at most 400 (a full image is %d)", n, len(full))
	}
	if n := round(entry(t1, mk(1000, 102, big+"de", "fg", "yz", 501, "s2", 50)), entry(t2, nil)); n != 18 {
		t.Errorf("two unchanged sessions took %d bytes, want 18", n)
	}
	check(1, a2)
	check(2, b1)
	// all acked and read, more sent: the old streams are gone entirely
	a3 := mk(1000, 200, "hi", "", "", 600, "s3", 60)
	round(entry(t1, a3))
	check(1, a3)
	check(2, nil)
	// a delta against a session the standby lacks is refused
	t3 := &Tracked{id: 3, ckLink: l, ckLast: a3}
	var buf bytes.Buffer
	t3.ckEncode(&buf, mk(1000, 201, "i", "", "", 600, "s4", 60), l)
	hdr := make([]byte, 12)
	binary.BigEndian.PutUint32(hdr, 1)
	if err := sby.applyCheckpoint(append(hdr, buf.Bytes()...)); !errors.Is(err, ErrBadFrame) {
		t.Errorf("delta of an unknown session: %v, want ErrBadFrame", err)
	}
}

func FuzzDecodeCheckpoint(f *testing.F) {
	img := &libtcptake.Image{Tuple: libtcptake.Tuple{Local: netip.MustParseAddrPort("192.0.2.100:80"), Remote: netip.MustParseAddrPort("192.0.2.1:9")},
		State: libtcptake.StateEstablished, SndUna: 1, SndNxt: 2, WriteSeq: 3, SendUnacked: []byte("a"), SendUnsent: []byte("b"), MSSClamp: 1460}
	var buf bytes.Buffer
	(&Tracked{id: 1}).ckEncode(&buf, img, &peerLink{})
	hdr := make([]byte, 12)
	binary.BigEndian.PutUint32(hdr, 1)
	f.Add(append(hdr, buf.Bytes()...))
	f.Add(append(hdr, 0, 0, 0, 0, 0, 0, 0, 1, ckDelta, 0, 0, 0, 1))
	f.Fuzz(func(t *testing.T, p []byte) {
		n := &Node{clock: realClock{}, stats: newStats()}
		n.ckStore = map[uint64]*stored{1: {img: img}}
		n.applyCheckpoint(p)
	})
}
