package libtcptake

import (
	"encoding/binary"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"

	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// TCP header flags.
const (
	tcpFIN = 0x01
	tcpACK = 0x10
)

// segment is a bare TCP segment (no options, no payload) that tcptake
// sends itself, from a raw socket (CAP_NET_RAW), past a freeze: it carries
// the mark the freezers let through (tcptakeh.BypassMark).
type segment struct {
	src, dst netip.AddrPort
	seq, ack uint32
	flags    uint8
	window   uint16
	ifindex  uint32 // scope of a link-local destination
}

// injectFIN delivers the peer's FIN to the restored socket of t, in repair
// mode: TCP_REPAIR cannot mark a FIN as received, so tcptake sends the
// segment the peer sent. The FIN sits at the image's rcv_nxt and
// acknowledges its snd_una.
func injectFIN(t Tuple, img *Image) error {
	win := uint32(0xffff)
	if w := img.Window; w != nil {
		win = min(w.SndWnd>>img.SndWScale, 0xffff)
	}
	return sendSegment(segment{src: t.Remote, dst: t.Local, seq: img.RcvNxt, ack: img.SndUna,
		flags: tcpFIN | tcpACK, window: uint16(win), ifindex: t.IfIndex})
}

// probePeer sends the peer of a restored session an ACK with a sequence
// number it has acknowledged already; the peer answers with an ACK that
// carries its rcv_nxt.
func probePeer(t Tuple, img *Image) error {
	return sendSegment(segment{src: t.Local, dst: t.Remote, seq: img.SndUna - 1, ack: img.RcvNxt,
		flags: tcpACK, window: 0xffff, ifindex: t.IfIndex})
}

func sendSegment(s segment) error {
	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp[0:], s.src.Port())
	binary.BigEndian.PutUint16(tcp[2:], s.dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], s.seq)
	binary.BigEndian.PutUint32(tcp[8:], s.ack)
	tcp[12] = 5 << 4
	tcp[13] = s.flags
	binary.BigEndian.PutUint16(tcp[14:], s.window)
	src, dst := addrBytes(s.src.Addr()), addrBytes(s.dst.Addr())
	binary.BigEndian.PutUint16(tcp[16:], tcpChecksum(src, dst, tcp))

	var (
		pkt []byte
		fam = unix.AF_INET
		sa  unix.Sockaddr
	)
	if s.dst.Addr().Is6() {
		fam = unix.AF_INET6
		pkt = make([]byte, 40, 40+len(tcp))
		pkt[0] = 6 << 4
		binary.BigEndian.PutUint16(pkt[4:], uint16(len(tcp)))
		pkt[6], pkt[7] = unix.IPPROTO_TCP, 64
		copy(pkt[8:], src)
		copy(pkt[24:], dst)
		sa = addrPortSockaddr(netip.AddrPortFrom(s.dst.Addr(), 0), s.ifindex)
	} else {
		pkt = make([]byte, 20, 20+len(tcp))
		pkt[0] = 4<<4 | 5
		binary.BigEndian.PutUint16(pkt[2:], uint16(20+len(tcp)))
		pkt[6] = 0x40 // DF
		pkt[8], pkt[9] = 64, unix.IPPROTO_TCP
		copy(pkt[12:], src)
		copy(pkt[16:], dst)
		sa = &unix.SockaddrInet4{Addr: s.dst.Addr().As4()}
	}
	pkt = append(pkt, tcp...)

	fd, err := unix.Socket(fam, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return os.NewSyscallError("socket raw (tcptake's own segments need CAP_NET_RAW)", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, tcptakeh.BypassMark); err != nil {
		return os.NewSyscallError("setsockopt SO_MARK", err)
	}
	if err := unix.Sendto(fd, pkt, 0, sa); err != nil {
		return os.NewSyscallError("sendto", err)
	}
	return nil
}

// tcpChecksum computes the TCP checksum over the pseudo-header and seg.
func tcpChecksum(src, dst, seg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src)
	add(dst)
	sum += unix.IPPROTO_TCP + uint32(len(seg))
	add(seg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
