package libtcptake

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestAdjustImage(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := func() *Image {
		return &Image{Tuple: Tuple{Local: netip.MustParseAddrPort("192.0.2.100:80"), Remote: netip.MustParseAddrPort("192.0.2.1:4000")},
			State: StateEstablished, SndUna: 1000, SndNxt: 1100, WriteSeq: 1150, RcvNxt: 5000,
			SendUnacked: bytes.Repeat([]byte{'a'}, 100), SendUnsent: bytes.Repeat([]byte{'b'}, 50),
			RecvQueue: []byte("xyz"), Options: OptTimestamps | OptWScale, SndWScale: 7, TSVal: 40000,
			Window:      &Window{SndWl1: 4990, SndWnd: 1 << 16, MaxWindow: 1 << 16, RcvWnd: 1 << 16, RcvWup: 4990},
			CaptureTime: t0}
	}
	ack := func(seq, ack uint32, tsEcr uint32) Segment {
		return Segment{Seq: seq, Ack: ack, Window: 100, Flags: tcpACK, TSVal: 7, TSEcr: tsEcr}
	}
	for _, tc := range []struct {
		name     string
		segs     []Segment
		want     Adjustment
		una, nxt uint32 // the adjusted snd_una, snd_nxt
		rcvNxt   uint32
		unacked  int
		unsent   int
		tsval    uint32
	}{
		{"no answer", nil, Adjustment{Age: 300 * time.Millisecond, TSValMoved: 300}, 1000, 1100, 5000, 100, 50, 40300},
		{"clean", []Segment{ack(5000, 1000, 40100)}, Adjustment{Answered: true, Age: 300 * time.Millisecond, TSValMoved: 300},
			1000, 1100, 5000, 100, 50, 40300},
		{"prefix acked", []Segment{ack(5000, 1030, 40100)}, Adjustment{Answered: true, Acked: 30, Age: 300 * time.Millisecond, TSValMoved: 300},
			1030, 1100, 5000, 70, 50, 40300},
		{"into the unsent", []Segment{ack(5000, 1120, 40100)}, Adjustment{Answered: true, Acked: 120, Age: 300 * time.Millisecond, TSValMoved: 300},
			1120, 1120, 5000, 0, 30, 40300},
		{"ahead and lost", []Segment{ack(5000+777, 1150+4321, 41000)},
			Adjustment{Answered: true, OutgoingAhead: 4321, IncomingLost: 777, Age: 300 * time.Millisecond, TSValMoved: 1002},
			1150 + 4321, 1150 + 4321, 5777, 0, 0, 41002},
		{"retransmission shows snd_una", []Segment{ack(5900, 1150, 40000), {Seq: 5100, Ack: 1150, Flags: tcpACK, Len: 800, Window: 100}},
			Adjustment{Answered: true, Acked: 150, IncomingLost: 100, Age: 300 * time.Millisecond, TSValMoved: 300},
			1150, 1150, 5100, 0, 0, 40300},
		{"peer's FIN received", []Segment{ack(5001, 1000, 40100)}, Adjustment{Answered: true, Age: 300 * time.Millisecond, TSValMoved: 300},
			1000, 1100, 5000, 100, 50, 40300},
		{"stale ack ignored", []Segment{ack(5000, 900, 0)}, Adjustment{Answered: true, Age: 300 * time.Millisecond, TSValMoved: 300},
			1000, 1100, 5000, 100, 50, 40300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := base()
			if strings.Contains(tc.name, "FIN") {
				img.State = StateCloseWait
			}
			got, adj := adjustImage(img, tc.segs, t0.Add(300*time.Millisecond))
			if adj != tc.want {
				t.Errorf("adjustment %+v, want %+v", adj, tc.want)
			}
			if got.SndUna != tc.una || got.SndNxt != tc.nxt || got.RcvNxt != tc.rcvNxt ||
				len(got.SendUnacked) != tc.unacked || len(got.SendUnsent) != tc.unsent || got.TSVal != tc.tsval {
				t.Errorf("image snd_una %d snd_nxt %d rcv_nxt %d unacked %d unsent %d tsval %d, want %d %d %d %d %d %d",
					got.SndUna, got.SndNxt, got.RcvNxt, len(got.SendUnacked), len(got.SendUnsent), got.TSVal,
					tc.una, tc.nxt, tc.rcvNxt, tc.unacked, tc.unsent, tc.tsval)
			}
			if err := got.validate(); err != nil {
				t.Errorf("adjusted image invalid: %v", err)
			}
			if got.WriteSeq-got.SndUna != uint32(len(got.SendUnacked)+len(got.SendUnsent)) {
				t.Errorf("write_seq %d inconsistent", got.WriteSeq)
			}
			if tc.want.Answered && (got.Window.SndWnd != 100<<7 || got.Window.SndWl1 != got.RcvNxt) {
				t.Errorf("window %+v: want the peer's 100<<7 from rcv_nxt", got.Window)
			}
			if img.SndUna != 1000 || len(img.SendUnacked) != 100 || img.RcvNxt != 5000 || img.Window.SndWnd != 1<<16 {
				t.Errorf("the original image changed")
			}
			if tc.name == "prefix acked" && got.SendUnacked[0] != 'a' || tc.name == "into the unsent" && got.SendUnsent[0] != 'b' {
				t.Errorf("wrong bytes kept")
			}
		})
	}
}
