package libtcptake

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// ipv4Segment builds an IPv4 packet carrying a TCP segment with the
// timestamp option (after two no-ops) and n bytes of data.
func ipv4Segment(seq, ack, tsval, tsecr uint32, flags uint8, n int) []byte {
	tcp := make([]byte, 32, 32+n)
	binary.BigEndian.PutUint16(tcp[0:], 8080)
	binary.BigEndian.PutUint16(tcp[2:], 40000)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12], tcp[13] = 8<<4, flags
	binary.BigEndian.PutUint16(tcp[14:], 501)
	tcp[20], tcp[21], tcp[22], tcp[23] = 1, 1, 8, 10
	binary.BigEndian.PutUint32(tcp[24:], tsval)
	binary.BigEndian.PutUint32(tcp[28:], tsecr)
	tcp = append(tcp, make([]byte, n)...)
	ip := make([]byte, 20, 20+len(tcp))
	ip[0], ip[9] = 0x45, 6
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(tcp)))
	copy(ip[12:], []byte{192, 0, 2, 1})
	copy(ip[16:], []byte{192, 0, 2, 100})
	return append(ip, tcp...)
}

func TestParseSegment(t *testing.T) {
	b := ipv4Segment(1000, 2000, 77, 88, tcpACK, 300)
	tu, seg, ok := parseSegment(b[:100]) // the capture keeps the headers only
	want := Segment{Seq: 1000, Ack: 2000, Window: 501, TSVal: 77, TSEcr: 88, Flags: tcpACK, Len: 300}
	if !ok || seg != want {
		t.Fatalf("got %+v %v, want %+v", seg, ok, want)
	}
	if tu.Local != netip.MustParseAddrPort("192.0.2.100:40000") || tu.Remote != netip.MustParseAddrPort("192.0.2.1:8080") {
		t.Errorf("tuple %v", tu)
	}
	if _, _, ok := parseSegment(ipv4Segment(1, 2, 3, 4, tcpACK|0x04, 0)); ok {
		t.Error("a RST was taken")
	}
	// The payload, and not the Ethernet padding after the IP packet.
	b = append(ipv4Segment(1000, 2000, 77, 88, tcpACK, 3), 0, 0, 0)
	copy(b[52:], "abc")
	if _, seg, data, ok := parsePacket(b); !ok || seg.Len != 3 || string(data) != "abc" {
		t.Errorf("parsePacket: %+v %q %v, want 3 bytes abc", seg, data, ok)
	}
}

// withOptions is an IPv4 segment (seq, ack, no data) whose TCP options
// are opts (a multiple of 4 bytes).
func withOptions(seq, ack uint32, opts []byte) []byte {
	tcp := make([]byte, 20, 20+len(opts))
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12], tcp[13] = byte((20+len(opts))/4)<<4, tcpACK
	tcp = append(tcp, opts...)
	ip := make([]byte, 20, 20+len(tcp))
	ip[0], ip[9] = 0x45, 6
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(tcp)))
	return append(ip, tcp...)
}

// sackOption is the options of a Linux ACK with timestamps and SACK
// blocks (start, end pairs).
func sackOption(blocks ...uint32) []byte {
	o := []byte{1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 1, 5, byte(2 + 4*len(blocks))}
	for _, b := range blocks {
		o = binary.BigEndian.AppendUint32(o, b)
	}
	return o
}

// TestAnswersProbe: only an answer whose one SACK block is the D-SACK of
// the probe's byte (snd_una-1) says the peer holds nothing beyond its ACK.
func TestAnswersProbe(t *testing.T) {
	img := &Image{SndUna: 5000}
	for _, c := range []struct {
		name string
		opts []byte
		want bool
	}{
		{"the probe's D-SACK alone", sackOption(4999, 5000), true},
		{"and a block received out of order", sackOption(4999, 5000, 6000, 7000), false},
		{"another D-SACK", sackOption(4000, 4100), false},
		{"no SACK", []byte{1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9}, false},
		{"a truncated SACK option", []byte{1, 1, 5, 6, 0, 0, 19, 135}, false},
	} {
		_, seg, ok := parseSegment(withOptions(1, 5000, c.opts))
		if !ok {
			t.Fatalf("%s: not parsed", c.name)
		}
		if seg.TSVal != 0 && (seg.TSVal != 7 || seg.TSEcr != 9) {
			t.Errorf("%s: timestamps %d %d, want 7 9", c.name, seg.TSVal, seg.TSEcr)
		}
		if got := answersProbe(seg, img); got != c.want {
			t.Errorf("%s: answersProbe = %v (%d blocks, first %v), want %v", c.name, got, seg.SACKBlocks, seg.SACK, c.want)
		}
	}
}

// TestPeerPositionTake: what a peer sent into a freeze is taken from the
// image's rcv_nxt on, in order, once, within the advertised window.
func TestPeerPositionTake(t *testing.T) {
	img := &Image{RcvNxt: 1000, Window: &Window{RcvWup: 900, RcvWnd: 200}} // the window ends at 1100
	var p PeerPosition
	for _, c := range []struct {
		seq  uint32
		data string
		want string
	}{
		{990, "0123456789", ""},         // all before rcv_nxt: the socket has it
		{1005, "fghij", ""},             // a gap before it
		{995, "56789abcde", "abcde"},    // overlaps rcv_nxt: its new part
		{1000, "abcde", "abcde"},        // again: nothing new
		{1003, "defghij", "abcdefghij"}, // overlaps the end: its new part
		{1010, "klmnopqrst", "abcdefghijklmnopqrst"},
		{1095, "0123456789", "abcdefghijklmnopqrst"}, // beyond the window (and a gap)
	} {
		p.take(img, Segment{Seq: c.seq, Len: uint32(len(c.data))}, []byte(c.data))
		if string(p.Received) != c.want {
			t.Fatalf("after seq %d %q: received %q, want %q", c.seq, c.data, p.Received, c.want)
		}
	}
	full := &Image{RcvNxt: 1000, Window: &Window{RcvWup: 1000, RcvWnd: 4}}
	var q PeerPosition
	if q.take(full, Segment{Seq: 1000, Len: 5}, []byte("12345")); len(q.Received) != 0 {
		t.Errorf("took %q beyond a 4-byte window", q.Received)
	}
}

func FuzzParseSegment(f *testing.F) {
	f.Add(ipv4Segment(1000, 2000, 77, 88, tcpACK, 0))
	f.Add(make([]byte, 60))
	f.Add(withOptions(1, 5000, sackOption(4999, 5000, 6000, 7000)))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, seg, data, ok := parsePacket(b)
		if ok && len(data) > int(seg.Len) {
			t.Fatalf("payload of %d bytes, segment length %d", len(data), seg.Len)
		}
		var p PeerPosition
		p.take(&Image{RcvNxt: seg.Seq + 1, Window: &Window{RcvWnd: 1 << 20}}, seg, data)
		if len(p.Received) > len(data) {
			t.Fatalf("took %d bytes of %d", len(p.Received), len(data))
		}
	})
}
