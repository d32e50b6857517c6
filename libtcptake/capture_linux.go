package libtcptake

import (
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// peerCapture reads the segments peers send to this node's sessions, off
// the packet taps (AF_PACKET), which see them before netfilter: it works
// while the tuples are still frozen. Restart uses it to learn each peer's
// rcv_nxt from its answer to the window probe. It needs CAP_NET_RAW.
type peerCapture struct{ fd int }

// htons is v in network byte order, as the socket call reads a native u16.
func htons(v uint16) uint16 {
	return binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v))
}

func openPeerCapture() (*peerCapture, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, os.NewSyscallError("socket AF_PACKET (learning the peer's position needs CAP_NET_RAW)", err)
	}
	return &peerCapture{fd: fd}, nil
}

func (c *peerCapture) Close() error { return unix.Close(c.fd) }

// peerAcks waits up to wait for an ACK from the peer of each tuple and
// returns the highest acknowledgment number seen per tuple.
func (c *peerCapture) peerAcks(ctx context.Context, ts []Tuple, wait time.Duration) map[Tuple]uint32 {
	want := make(map[Tuple]bool, len(ts))
	for _, t := range ts {
		want[Tuple{Local: t.Local, Remote: t.Remote}] = true
	}
	got := make(map[Tuple]uint32, len(ts))
	deadline := time.Now().Add(wait)
	buf := make([]byte, 128) // IP and TCP headers are enough
	for len(got) < len(want) && ctx.Err() == nil {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err == unix.EAGAIN {
			unix.Poll([]unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}, int(left.Milliseconds())+1)
			continue
		}
		if err != nil {
			break
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		t, ack, ok := parseAck(buf[:n])
		if !ok || !want[t] {
			continue
		}
		if prev, seen := got[t]; !seen || seqAfter(ack, prev) {
			got[t] = ack
		}
	}
	acks := make(map[Tuple]uint32, len(got)) // keyed by the caller's tuples (with IfIndex)
	for _, t := range ts {
		if ack, ok := got[Tuple{Local: t.Local, Remote: t.Remote}]; ok {
			acks[t] = ack
		}
	}
	return acks
}

// parseAck reads an IPv4 or IPv6 packet carrying a TCP segment with ACK
// set and returns its tuple as the receiver sees it and its ack number.
func parseAck(b []byte) (Tuple, uint32, bool) {
	var src, dst netip.Addr
	var tcp []byte
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		ihl := int(b[0]&0xf) * 4
		if b[9] != unix.IPPROTO_TCP || ihl < 20 || len(b) < ihl+20 {
			return Tuple{}, 0, false
		}
		src, dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		tcp = b[ihl:]
	case len(b) >= 60 && b[0]>>4 == 6:
		if b[6] != unix.IPPROTO_TCP { // extension headers are not followed
			return Tuple{}, 0, false
		}
		src, dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		tcp = b[40:]
	default:
		return Tuple{}, 0, false
	}
	const flagACK, flagRST = 0x10, 0x04
	if tcp[13]&flagACK == 0 || tcp[13]&flagRST != 0 {
		return Tuple{}, 0, false
	}
	t := Tuple{
		Local:  netip.AddrPortFrom(dst, binary.BigEndian.Uint16(tcp[2:])),
		Remote: netip.AddrPortFrom(src, binary.BigEndian.Uint16(tcp[0:])),
	}
	return t, binary.BigEndian.Uint32(tcp[8:]), true
}
