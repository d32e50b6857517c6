package libtcptake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"

	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// This file holds the codec of the "tuple" attribute set, shared by the
// image codec (the session nest) and the module client (request tuples,
// freeze entries, dump filters).
//
// Wire format (uapi/tcptake.yaml, attribute set "tuple"):
//
//	family       u16, host order: AF_INET or AF_INET6
//	local-addr   binary, 4 (AF_INET) or 16 (AF_INET6) bytes
//	local-port   u16, big-endian
//	remote-addr  binary, 4 or 16 bytes
//	remote-port  u16, big-endian
//	ifindex      u32, host order; sent only when nonzero
//
// A tuple of v4-mapped IPv6 addresses (::ffff:a.b.c.d, as Go reports a
// dual-stack socket's IPv4 session) is sent as the AF_INET tuple it is on
// the wire: the module rejects v4-mapped addresses under AF_INET6, and
// its freezes match packets, which are IPv4. Decoding accepts either
// form and returns plain IPv4 addresses for both. Address zones are not encoded:
// IfIndex carries the scope.

// Address families on the wire: Linux's AF_INET and AF_INET6 (the
// protocol is Linux's, whatever platform encodes it).
const (
	afInet  = 2
	afInet6 = 10
)

// errTuple is the root of the tuple validation errors.
var errTuple = errors.New("invalid 4-tuple")

// tupleFamily checks that t is a complete 4-tuple and returns its address
// family.
func tupleFamily(t Tuple) (uint16, error) {
	la, ra := t.Local.Addr().Unmap(), t.Remote.Addr().Unmap()
	switch {
	case !la.IsValid() || !ra.IsValid():
		return 0, fmt.Errorf("%w: %s: missing address", errTuple, t)
	case la.Is4() != ra.Is4():
		return 0, fmt.Errorf("%w: %s: mixed address families", errTuple, t)
	case t.Local.Port() == 0 || t.Remote.Port() == 0:
		return 0, fmt.Errorf("%w: %s: port 0", errTuple, t)
	}
	return addrFamily(la), nil
}

// addrFamily is AF_INET for an IPv4 (or v4-mapped) address, else AF_INET6.
func addrFamily(a netip.Addr) uint16 {
	if a.Unmap().Is4() {
		return afInet
	}
	return afInet6
}

// addrBytes returns the wire form of a: 4 bytes for IPv4, 16 for IPv6
// (including v4-mapped). The zone is dropped.
func addrBytes(a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		return b[:]
	}
	b := a.As16()
	return b[:]
}

// encodePort appends a big-endian u16 attribute (byte-order: big-endian in
// the spec). The NLA_F_NET_BYTEORDER flag is not set: the kernel's policy
// type (NLA_BE16) already says the byte order.
func encodePort(ae *netlink.AttributeEncoder, typ uint16, port uint16) {
	ae.Bytes(typ, binary.BigEndian.AppendUint16(nil, port))
}

// encodeTupleNest writes t as the nest typ (a "tuple" set).
func encodeTupleNest(ae *netlink.AttributeEncoder, typ uint16, t Tuple) {
	ae.Nested(typ, func(nae *netlink.AttributeEncoder) error {
		encodeTuple(nae, t)
		return nil
	})
}

// encodeTuple writes the attributes of the "tuple" set (the content of a
// tuple nest) for t into ae. An incomplete tuple (missing address, mixed families, port 0) makes
// ae.Encode fail with an error wrapping the problem.
func encodeTuple(ae *netlink.AttributeEncoder, t Tuple) {
	fam, err := tupleFamily(t)
	if err != nil {
		ae.Do(tcptakeh.ATupleFamily, func() ([]byte, error) { return nil, err })
		return
	}
	ae.Uint16(tcptakeh.ATupleFamily, fam)
	ae.Bytes(tcptakeh.ATupleLocalAddr, addrBytes(t.Local.Addr().Unmap()))
	encodePort(ae, tcptakeh.ATupleLocalPort, t.Local.Port())
	ae.Bytes(tcptakeh.ATupleRemoteAddr, addrBytes(t.Remote.Addr().Unmap()))
	encodePort(ae, tcptakeh.ATupleRemotePort, t.Remote.Port())
	if t.IfIndex != 0 {
		ae.Uint32(tcptakeh.ATupleIfindex, t.IfIndex)
	}
}

// decodeTuple reads the attributes of a "tuple" nest (ad iterates over the
// nest's content) into t. Unknown attributes are skipped. It fails, without
// panicking, on a malformed attribute or an incomplete or inconsistent
// tuple; the error wraps ErrBadImage. decodeTuple checks ad.Err itself.
func decodeTuple(ad *netlink.AttributeDecoder, t *Tuple) error {
	var (
		fam           uint16
		lb, rb        []byte
		lport, rport  uint16
		hasLP, hasRP  bool
		ifindex       uint32
		sawFam, sawLA bool
		sawRA         bool
	)
	port := func(p *uint16, seen *bool) func([]byte) error {
		return func(b []byte) error {
			if len(b) != 2 {
				return fmt.Errorf("port attribute of %d bytes", len(b))
			}
			*p = binary.BigEndian.Uint16(b)
			*seen = true
			return nil
		}
	}
	for ad.Next() {
		switch ad.Type() {
		case tcptakeh.ATupleFamily:
			fam = ad.Uint16()
			sawFam = true
		case tcptakeh.ATupleLocalAddr:
			lb = append(lb[:0], ad.Bytes()...)
			sawLA = true
		case tcptakeh.ATupleLocalPort:
			ad.Do(port(&lport, &hasLP))
		case tcptakeh.ATupleRemoteAddr:
			rb = append(rb[:0], ad.Bytes()...)
			sawRA = true
		case tcptakeh.ATupleRemotePort:
			ad.Do(port(&rport, &hasRP))
		case tcptakeh.ATupleIfindex:
			ifindex = ad.Uint32()
		}
	}
	if err := ad.Err(); err != nil {
		return fmt.Errorf("%w: tuple: %v", ErrBadImage, err)
	}
	switch {
	case !sawFam:
		return fmt.Errorf("%w: tuple: no family", ErrBadImage)
	case !sawLA || !sawRA:
		return fmt.Errorf("%w: tuple: no address", ErrBadImage)
	case !hasLP || !hasRP:
		return fmt.Errorf("%w: tuple: no port", ErrBadImage)
	}
	alen := 0
	switch fam {
	case afInet:
		alen = 4
	case afInet6:
		alen = 16
	default:
		return fmt.Errorf("%w: tuple: address family %d", ErrBadImage, fam)
	}
	if len(lb) != alen || len(rb) != alen {
		return fmt.Errorf("%w: tuple: %d- and %d-byte addresses for family %d", ErrBadImage, len(lb), len(rb), fam)
	}
	if lport == 0 || rport == 0 {
		return fmt.Errorf("%w: tuple: port 0", ErrBadImage)
	}
	la, _ := netip.AddrFromSlice(lb)
	ra, _ := netip.AddrFromSlice(rb)
	if la.Is4In6() && ra.Is4In6() { // the AF_INET tuple it is
		la, ra = la.Unmap(), ra.Unmap()
	}
	*t = Tuple{
		Local:   netip.AddrPortFrom(la, lport),
		Remote:  netip.AddrPortFrom(ra, rport),
		IfIndex: ifindex,
	}
	return nil
}
