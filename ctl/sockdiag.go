package main

// The sock_diag wire format (linux/inet_diag.h), encoded and decoded by
// hand so that this file builds and is tested on every platform. Only
// sockdiag_linux.go talks to the kernel.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"

	"github.com/tcptake/tcptake/libtcptake"
)

const (
	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY
	afInet           = 2  // AF_INET
	afInet6          = 10 // AF_INET6
	ipprotoTCP       = 6  // IPPROTO_TCP

	inetDiagSockIDLen = 48                         // struct inet_diag_sockid
	inetDiagReqV2Len  = 8 + inetDiagSockIDLen      // struct inet_diag_req_v2
	inetDiagMsgLen    = 4 + inetDiagSockIDLen + 20 // struct inet_diag_msg
)

// movableStates is the idiag_states mask of session list: every state
// tcptake can move (ESTABLISHED and the FIN states), that is, all but
// LISTEN, TIME-WAIT, SYN-SENT, SYN-RECV and CLOSE.
var movableStates = func() uint32 {
	var m uint32
	for s := libtcptake.State(1); s < 32; s++ {
		if s.Migratable() {
			m |= 1 << s
		}
	}
	return m
}()

// inetDiagReqV2 encodes a struct inet_diag_req_v2 asking for a dump of the
// TCP sockets of family in the states of the mask.
func inetDiagReqV2(family uint8, states uint32) []byte {
	b := make([]byte, inetDiagReqV2Len)
	b[0] = family     // sdiag_family
	b[1] = ipprotoTCP // sdiag_protocol
	// b[2] idiag_ext = 0: no extensions; b[3] pad.
	binary.NativeEndian.PutUint32(b[4:], states) // idiag_states
	// id: zero, the dump is filtered in user space.
	return b
}

// diagSock is one socket of a sock_diag dump.
type diagSock struct {
	Family  uint8
	State   libtcptake.State
	Local   netip.AddrPort
	Remote  netip.AddrPort
	IfIndex uint32 // bound device (idiag_if)
	Cookie  uint64
	RecvQ   uint32 // bytes not read by the application
	SendQ   uint32 // bytes not acknowledged by the peer
	UID     uint32
	Inode   uint64
}

var errDiagMsg = errors.New("malformed inet_diag_msg")

// parseInetDiagMsg decodes a struct inet_diag_msg and checks the netlink
// attributes that follow it.
//
//	struct inet_diag_msg {
//		__u8  idiag_family, idiag_state, idiag_timer, idiag_retrans;
//		struct inet_diag_sockid {
//			__be16 idiag_sport, idiag_dport;
//			__be32 idiag_src[4], idiag_dst[4];
//			__u32  idiag_if, idiag_cookie[2];
//		} id;
//		__u32 idiag_expires, idiag_rqueue, idiag_wqueue, idiag_uid, idiag_inode;
//	};
func parseInetDiagMsg(b []byte) (diagSock, error) {
	var s diagSock
	if len(b) < inetDiagMsgLen {
		return s, fmt.Errorf("%w: %d bytes, want at least %d", errDiagMsg, len(b), inetDiagMsgLen)
	}
	s.Family = b[0]
	s.State = libtcptake.State(b[1])
	id := b[4 : 4+inetDiagSockIDLen]
	sport := binary.BigEndian.Uint16(id[0:])
	dport := binary.BigEndian.Uint16(id[2:])
	var src, dst netip.Addr
	switch s.Family {
	case afInet:
		src = netip.AddrFrom4([4]byte(id[4:8]))
		dst = netip.AddrFrom4([4]byte(id[20:24]))
	case afInet6:
		src = netip.AddrFrom16([16]byte(id[4:20]))
		dst = netip.AddrFrom16([16]byte(id[20:36]))
	default:
		return s, fmt.Errorf("%w: address family %d", errDiagMsg, s.Family)
	}
	s.Local = netip.AddrPortFrom(src, sport)
	s.Remote = netip.AddrPortFrom(dst, dport)
	s.IfIndex = binary.NativeEndian.Uint32(id[36:])
	s.Cookie = uint64(binary.NativeEndian.Uint32(id[40:])) | uint64(binary.NativeEndian.Uint32(id[44:]))<<32
	rest := b[4+inetDiagSockIDLen:]
	// rest[0:4] is idiag_expires.
	s.RecvQ = binary.NativeEndian.Uint32(rest[4:])
	s.SendQ = binary.NativeEndian.Uint32(rest[8:])
	s.UID = binary.NativeEndian.Uint32(rest[12:])
	s.Inode = uint64(binary.NativeEndian.Uint32(rest[16:]))

	// INET_DIAG_* attributes: none are used, but a broken list means the
	// message is not what we think it is.
	if attrs := b[inetDiagMsgLen:]; len(attrs) > 0 {
		ad, err := netlink.NewAttributeDecoder(attrs)
		if err != nil {
			return s, fmt.Errorf("%w: attributes: %v", errDiagMsg, err)
		}
		for ad.Next() {
		}
		if err := ad.Err(); err != nil {
			return s, fmt.Errorf("%w: attributes: %v", errDiagMsg, err)
		}
	}
	return s, nil
}
