//go:build linux

package libtcptake

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// fakeAnswers has every asked peer answer at once.
type fakeAnswers struct{ reads int }

func (f *fakeAnswers) peerSegments(_ context.Context, ts []Tuple, _ time.Time, _ time.Duration) map[Tuple][]Segment {
	f.reads++
	got := make(map[Tuple][]Segment, len(ts))
	for _, t := range ts {
		got[t] = []Segment{{Flags: tcpACK, Ack: 1004}}
	}
	return got
}

// TestProbeAllSlowSend: when sending the probes takes longer than the
// wait (10,000 peers under TCG take seconds), the answers are still read,
// once: the wait counts from the moment every peer was asked. Before, no
// peer answered such a Restart, and each session kept its image's
// position.
func TestProbeAllSlowSend(t *testing.T) {
	var ss []*Session
	for i := range 3 {
		tu := Tuple{Local: netip.MustParseAddrPort("127.0.0.1:9"), Remote: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(40000+i))}
		img := &Image{Tuple: tu, State: StateEstablished, SndUna: 1000, SndNxt: 1004, WriteSeq: 1004, RcvNxt: 1}
		ss = append(ss, &Session{tuple: tu, img: img, fd: -1, opts: Options{Logger: slog.New(slog.DiscardHandler)}})
	}
	pc := &fakeAnswers{}
	answered := map[Tuple]uint32{}
	probeAll(t.Context(), pc, ss, func(s *Session, seg Segment) { answered[s.tuple] = seg.Ack }, time.Nanosecond)
	if len(answered) != 3 || pc.reads != 1 {
		t.Fatalf("%d of 3 peers answered over %d reads, want 3 over 1", len(answered), pc.reads)
	}
	for tu, ack := range answered {
		if ack != 1004 {
			t.Errorf("%s: ack %d, want 1004", tu, ack)
		}
	}
}
