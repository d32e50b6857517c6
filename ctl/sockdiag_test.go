package main

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/tcptake/tcptake/libtcptake"
)

// diagMsg encodes a struct inet_diag_msg as the kernel sends it.
func diagMsg(family uint8, state libtcptake.State, local, remote netip.AddrPort, rq, wq, uid, inode uint32) []byte {
	b := make([]byte, inetDiagMsgLen)
	b[0], b[1] = family, uint8(state)
	id := b[4:]
	binary.BigEndian.PutUint16(id[0:], local.Port())
	binary.BigEndian.PutUint16(id[2:], remote.Port())
	if family == afInet {
		l, r := local.Addr().As4(), remote.Addr().As4()
		copy(id[4:], l[:])
		copy(id[20:], r[:])
	} else {
		l, r := local.Addr().As16(), remote.Addr().As16()
		copy(id[4:], l[:])
		copy(id[20:], r[:])
	}
	binary.NativeEndian.PutUint32(id[36:], 3)          // idiag_if
	binary.NativeEndian.PutUint32(id[40:], 0xdeadbeef) // cookie low
	binary.NativeEndian.PutUint32(id[44:], 1)          // cookie high
	rest := b[4+inetDiagSockIDLen:]
	binary.NativeEndian.PutUint32(rest[4:], rq)
	binary.NativeEndian.PutUint32(rest[8:], wq)
	binary.NativeEndian.PutUint32(rest[12:], uid)
	binary.NativeEndian.PutUint32(rest[16:], inode)
	return b
}

// diagAttrs are INET_DIAG_SHUTDOWN (u8, padded) and INET_DIAG_CGROUP_ID (u64).
func diagAttrs() []byte {
	b := make([]byte, 8+12)
	binary.NativeEndian.PutUint16(b[0:], 5) // nla_len: header and one byte
	binary.NativeEndian.PutUint16(b[2:], 8)
	binary.NativeEndian.PutUint16(b[8:], 12)
	binary.NativeEndian.PutUint16(b[10:], 15)
	return b
}

func TestParseInetDiagMsg(t *testing.T) {
	l4, r4 := netip.MustParseAddrPort("127.0.0.1:22"), netip.MustParseAddrPort("10.1.2.3:40000")
	l6, r6 := netip.MustParseAddrPort("[::ffff:127.0.0.1]:443"), netip.MustParseAddrPort("[2001:db8::9]:1")
	v4 := diagMsg(afInet, libtcptake.StateEstablished, l4, r4, 5, 6, 1000, 4242)
	s, err := parseInetDiagMsg(append(v4, diagAttrs()...))
	if err != nil {
		t.Fatal(err)
	}
	want := diagSock{Family: afInet, State: libtcptake.StateEstablished, Local: l4, Remote: r4,
		IfIndex: 3, Cookie: 0x1_deadbeef, RecvQ: 5, SendQ: 6, UID: 1000, Inode: 4242}
	if s != want {
		t.Errorf("v4:\n got %+v\nwant %+v", s, want)
	}
	s, err = parseInetDiagMsg(diagMsg(afInet6, libtcptake.StateLastAck, l6, r6, 0, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if s.Local != l6 || s.Remote != r6 || s.State != libtcptake.StateLastAck {
		t.Errorf("v6: %+v", s)
	}

	for name, b := range map[string][]byte{
		"empty":      nil,
		"short":      v4[:inetDiagMsgLen-1],
		"family":     append([]byte{7}, v4[1:]...),
		"bad attrs":  append(v4, 0xff, 0xff, 0, 0),
		"short attr": append(v4, 8, 0, 8),
	} {
		if _, err := parseInetDiagMsg(b); !errors.Is(err, errDiagMsg) {
			t.Errorf("%s: err %v, want errDiagMsg", name, err)
		}
	}
}

func TestInetDiagReqV2(t *testing.T) {
	b := inetDiagReqV2(afInet6, movableStates)
	if len(b) != 56 || b[0] != afInet6 || b[1] != ipprotoTCP || b[2] != 0 {
		t.Fatalf("request % x", b)
	}
	// ESTABLISHED(1) FIN-WAIT-1(4) FIN-WAIT-2(5) CLOSE-WAIT(8) LAST-ACK(9) CLOSING(11).
	const want = 1<<1 | 1<<4 | 1<<5 | 1<<8 | 1<<9 | 1<<11
	if got := binary.NativeEndian.Uint32(b[4:]); got != want || movableStates != want {
		t.Errorf("states %#x, want %#x", got, want)
	}
}

// FuzzParseInetDiagMsg checks that no input makes the decoder panic and
// that what it accepts is self-consistent.
func FuzzParseInetDiagMsg(f *testing.F) {
	l, r := netip.MustParseAddrPort("127.0.0.1:22"), netip.MustParseAddrPort("127.0.0.1:40000")
	v4 := diagMsg(afInet, libtcptake.StateEstablished, l, r, 1, 2, 3, 4)
	f.Add(v4)
	f.Add(append(v4, diagAttrs()...))
	f.Add(diagMsg(afInet6, libtcptake.StateCloseWait,
		netip.MustParseAddrPort("[fe80::1]:1"), netip.MustParseAddrPort("[fe80::2]:2"), 0, 0, 0, 0))
	f.Add([]byte{})
	f.Add(v4[:10])
	f.Add(append(v4, 4, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseInetDiagMsg(b)
		if err != nil {
			return
		}
		if len(b) < inetDiagMsgLen {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if s.Family != afInet && s.Family != afInet6 {
			t.Fatalf("accepted family %d", s.Family)
		}
		if s.Local.Addr().Is4() != (s.Family == afInet) || s.Remote.Addr().Is4() != (s.Family == afInet) {
			t.Fatalf("family %d with addresses %v %v", s.Family, s.Local, s.Remote)
		}
		// What is printed must not panic either.
		_ = printSessions(discard{}, []diagSock{s})
		_ = newSessionJSON(s)
	})
}

type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }
