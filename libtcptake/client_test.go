package libtcptake

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"

	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// Tests of the platform-independent codecs (tuple, segment, freeze) and
// of the public types. The genltest fakes of the client live in
// client_linux_test.go.

// attrs marshals netlink attributes or fails the test.
func attrs(t testing.TB, as ...netlink.Attribute) []byte {
	t.Helper()
	b, err := netlink.MarshalAttributes(as)
	if err != nil {
		t.Fatalf("marshal attributes: %v", err)
	}
	return b
}

func u16(v uint16) []byte   { return binary.NativeEndian.AppendUint16(nil, v) }
func u16be(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte   { return binary.NativeEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte   { return binary.NativeEndian.AppendUint64(nil, v) }

func mustTuple(t testing.TB, local, remote string) Tuple {
	t.Helper()
	return Tuple{Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote)}
}

// tupleAttrs is the expected wire form of a tuple nest's content.
func tupleAttrs(t testing.TB, tu Tuple) []netlink.Attribute {
	t.Helper()
	fam := uint16(afInet)
	if tu.Local.Addr().Is6() {
		fam = afInet6
	}
	la, ra := tu.Local.Addr().AsSlice(), tu.Remote.Addr().AsSlice()
	as := []netlink.Attribute{
		{Type: tcptakeh.ATupleFamily, Data: u16(fam)},
		{Type: tcptakeh.ATupleLocalAddr, Data: la},
		{Type: tcptakeh.ATupleLocalPort, Data: u16be(tu.Local.Port())},
		{Type: tcptakeh.ATupleRemoteAddr, Data: ra},
		{Type: tcptakeh.ATupleRemotePort, Data: u16be(tu.Remote.Port())},
	}
	if tu.IfIndex != 0 {
		as = append(as, netlink.Attribute{Type: tcptakeh.ATupleIfindex, Data: u32(tu.IfIndex)})
	}
	return as
}

func TestEncodeTupleBytes(t *testing.T) {
	tu := mustTuple(t, "10.0.0.1:80", "192.0.2.7:40000")
	ae := netlink.NewAttributeEncoder()
	encodeTuple(ae, tu)
	got, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := attrs(t,
		netlink.Attribute{Type: tcptakeh.ATupleFamily, Data: u16(afInet)},
		netlink.Attribute{Type: tcptakeh.ATupleLocalAddr, Data: []byte{10, 0, 0, 1}},
		netlink.Attribute{Type: tcptakeh.ATupleLocalPort, Data: []byte{0, 80}},
		netlink.Attribute{Type: tcptakeh.ATupleRemoteAddr, Data: []byte{192, 0, 2, 7}},
		netlink.Attribute{Type: tcptakeh.ATupleRemotePort, Data: []byte{0x9c, 0x40}},
	)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("encoded tuple (-want +got):\n%s", diff)
	}
}

func TestTupleRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		t    Tuple
		wire Tuple // what goes on the wire and decodes; t when zero
	}{
		{name: "ipv4", t: mustTuple(t, "10.0.0.1:80", "192.0.2.7:40000")},
		{name: "ipv6", t: mustTuple(t, "[2001:db8::1]:443", "[2001:db8::2]:1")},
		{name: "v4-mapped", t: mustTuple(t, "[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.2]:65535"),
			wire: mustTuple(t, "10.0.0.1:80", "10.0.0.2:65535")},
		{name: "half v4-mapped", t: mustTuple(t, "[::ffff:10.0.0.1]:80", "10.0.0.2:8"),
			wire: mustTuple(t, "10.0.0.1:80", "10.0.0.2:8")},
		{name: "link-local", t: Tuple{
			Local:   netip.MustParseAddrPort("[fe80::1]:22"),
			Remote:  netip.MustParseAddrPort("[fe80::2]:50000"),
			IfIndex: 7,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wire == (Tuple{}) {
				tt.wire = tt.t
			}
			ae := netlink.NewAttributeEncoder()
			encodeTuple(ae, tt.t)
			b, err := ae.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(attrs(t, tupleAttrs(t, tt.wire)...), b); diff != "" {
				t.Fatalf("encoded tuple (-want +got):\n%s", diff)
			}
			ad, err := netlink.NewAttributeDecoder(b)
			if err != nil {
				t.Fatal(err)
			}
			var got Tuple
			if err := decodeTuple(ad, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wire, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
				t.Fatalf("decoded tuple (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncodeTupleInvalid(t *testing.T) {
	for _, tu := range []Tuple{
		{},
		mustTuple(t, "10.0.0.1:80", "[2001:db8::2]:80"),
		mustTuple(t, "10.0.0.1:0", "10.0.0.2:80"),
		mustTuple(t, "10.0.0.1:1", "10.0.0.2:0"),
	} {
		ae := netlink.NewAttributeEncoder()
		encodeTuple(ae, tu)
		if _, err := ae.Encode(); !errors.Is(err, errTuple) {
			t.Errorf("encode %v: err = %v, want errTuple", tu, err)
		}
	}
}

func TestDecodeTupleV4Mapped(t *testing.T) {
	// An AF_INET6 tuple of v4-mapped addresses decodes as the IPv4 tuple.
	b := attrs(t,
		netlink.Attribute{Type: tcptakeh.ATupleFamily, Data: u16(afInet6)},
		netlink.Attribute{Type: tcptakeh.ATupleLocalAddr, Data: netip.MustParseAddr("::ffff:10.0.0.1").AsSlice()},
		netlink.Attribute{Type: tcptakeh.ATupleLocalPort, Data: u16be(80)},
		netlink.Attribute{Type: tcptakeh.ATupleRemoteAddr, Data: netip.MustParseAddr("::ffff:10.0.0.2").AsSlice()},
		netlink.Attribute{Type: tcptakeh.ATupleRemotePort, Data: u16be(81)},
	)
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		t.Fatal(err)
	}
	var got Tuple
	if err := decodeTuple(ad, &got); err != nil {
		t.Fatal(err)
	}
	if want := mustTuple(t, "10.0.0.1:80", "10.0.0.2:81"); got != want {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestDecodeTupleInvalid(t *testing.T) {
	good := tupleAttrs(t, mustTuple(t, "10.0.0.1:80", "10.0.0.2:81"))
	without := func(typ uint16) []netlink.Attribute {
		var as []netlink.Attribute
		for _, a := range good {
			if a.Type != typ {
				as = append(as, a)
			}
		}
		return as
	}
	with := func(typ uint16, data []byte) []netlink.Attribute {
		as := append([]netlink.Attribute(nil), good...)
		for i := range as {
			if as[i].Type == typ {
				as[i].Data = data
			}
		}
		return as
	}
	tests := map[string][]netlink.Attribute{
		"no family":      without(tcptakeh.ATupleFamily),
		"no local addr":  without(tcptakeh.ATupleLocalAddr),
		"no remote port": without(tcptakeh.ATupleRemotePort),
		"bad family":     with(tcptakeh.ATupleFamily, u16(7)),
		"short family":   with(tcptakeh.ATupleFamily, []byte{2}),
		"v6 len in v4":   with(tcptakeh.ATupleRemoteAddr, make([]byte, 16)),
		"3-byte port":    with(tcptakeh.ATupleLocalPort, []byte{0, 0, 80}),
		"port 0":         with(tcptakeh.ATupleLocalPort, []byte{0, 0}),
	}
	for name, as := range tests {
		t.Run(name, func(t *testing.T) {
			ad, err := netlink.NewAttributeDecoder(attrs(t, as...))
			if err != nil {
				t.Fatal(err)
			}
			var got Tuple
			if err := decodeTuple(ad, &got); !errors.Is(err, ErrBadImage) {
				t.Fatalf("err = %v, want ErrBadImage", err)
			}
		})
	}
}

func FuzzDecodeTuple(f *testing.F) {
	for _, tu := range []Tuple{
		mustTuple(f, "10.0.0.1:80", "192.0.2.7:40000"),
		mustTuple(f, "[2001:db8::1]:443", "[2001:db8::2]:1"),
		{Local: netip.MustParseAddrPort("[fe80::1]:22"), Remote: netip.MustParseAddrPort("[fe80::2]:5"), IfIndex: 3},
	} {
		f.Add(attrs(f, tupleAttrs(f, tu)...))
	}
	f.Add([]byte{})
	f.Add([]byte{4, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ad, err := netlink.NewAttributeDecoder(b)
		if err != nil {
			return
		}
		var tu Tuple
		if err := decodeTuple(ad, &tu); err != nil {
			return
		}
		// A tuple that decodes re-encodes to a tuple that decodes the same.
		ae := netlink.NewAttributeEncoder()
		encodeTuple(ae, tu)
		b2, err := ae.Encode()
		if err != nil {
			t.Fatalf("re-encode %v: %v", tu, err)
		}
		ad2, err := netlink.NewAttributeDecoder(b2)
		if err != nil {
			t.Fatal(err)
		}
		var tu2 Tuple
		if err := decodeTuple(ad2, &tu2); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if tu != tu2 {
			t.Fatalf("round trip: %v != %v", tu, tu2)
		}
	})
}

func FuzzDecodeSegment(f *testing.F) {
	f.Add(attrs(f,
		netlink.Attribute{Type: tcptakeh.ASegmentSeq, Data: u32(100)},
		netlink.Attribute{Type: tcptakeh.ASegmentAck, Data: u32(200)},
		netlink.Attribute{Type: tcptakeh.ASegmentWindow, Data: u32(512)},
		netlink.Attribute{Type: tcptakeh.ASegmentTsval, Data: u32(7)},
		netlink.Attribute{Type: tcptakeh.ASegmentTsecr, Data: u32(8)},
		netlink.Attribute{Type: tcptakeh.ASegmentFlags, Data: []byte{0x18}},
		netlink.Attribute{Type: tcptakeh.ASegmentLen, Data: u32(5)},
		netlink.Attribute{Type: tcptakeh.ASegmentAgeMs, Data: u32(1500)},
	))
	f.Add([]byte{})
	f.Add(attrs(f, netlink.Attribute{Type: tcptakeh.ASegmentFlags, Data: u32(1)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ad, err := netlink.NewAttributeDecoder(b)
		if err != nil {
			return
		}
		var s Segment
		if err := decodeSegment(ad, &s); err != nil {
			return
		}
		if s.Age < 0 || s.Age%time.Millisecond != 0 {
			t.Fatalf("age %v", s.Age)
		}
	})
}

func FuzzDecodeFreeze(f *testing.F) {
	tu := mustTuple(f, "10.0.0.1:80", "10.0.0.2:81")
	f.Add(attrs(f,
		netlink.Attribute{Type: netlink.Nested | tcptakeh.AFreezeTuple, Data: attrs(f, tupleAttrs(f, tu)...)},
		netlink.Attribute{Type: tcptakeh.AFreezeExpiresMs, Data: u32(9000)},
		netlink.Attribute{Type: tcptakeh.AFreezeDroppedIn, Data: u64(3)},
		netlink.Attribute{Type: tcptakeh.AFreezeDroppedOut, Data: u64(4)},
		netlink.Attribute{Type: tcptakeh.AFreezeEvent, Data: u32(tcptakeh.EventExpired)},
	))
	f.Add([]byte{})
	f.Add(attrs(f, netlink.Attribute{Type: tcptakeh.AFreezeTuple, Data: []byte{4, 0, 1, 0}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ad, err := netlink.NewAttributeDecoder(b)
		if err != nil {
			return
		}
		var fi FreezeInfo
		if _, err := decodeFreeze(ad, &fi); err != nil {
			return
		}
		if _, err := tupleFamily(fi.Tuple); err != nil {
			t.Fatalf("decoded an invalid tuple %v: %v", fi.Tuple, err)
		}
	})
}

func TestSameSession(t *testing.T) {
	a := mustTuple(t, "10.0.0.1:80", "10.0.0.2:81")
	for _, tt := range []struct {
		b    Tuple
		want bool
	}{
		{a, true},
		{mustTuple(t, "[::ffff:10.0.0.1]:80", "[::ffff:10.0.0.2]:81"), true},
		{Tuple{Local: a.Local, Remote: a.Remote, IfIndex: 3}, true},
		{mustTuple(t, "10.0.0.1:80", "10.0.0.2:82"), false},
		{mustTuple(t, "10.0.0.2:81", "10.0.0.1:80"), false},
	} {
		if got := sameSession(a, tt.b); got != tt.want {
			t.Errorf("sameSession(%v, %v) = %v", a, tt.b, got)
		}
	}
	ll := Tuple{Local: netip.MustParseAddrPort("[fe80::1]:1"), Remote: netip.MustParseAddrPort("[fe80::2]:2"), IfIndex: 2}
	other := ll
	other.IfIndex = 3
	if sameSession(ll, other) {
		t.Error("different scopes match")
	}
}
