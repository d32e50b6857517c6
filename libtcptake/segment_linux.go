// The raw TCP segments of the data path: the bare segments tcptake sends
// itself past a freeze (the window probe, the peer's FIN), and the capture
// that reads the peers' answers off the packet taps.

package libtcptake

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"time"

	"github.com/tcptake/tcptake/internal/tcptakeh"
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

func openPeerCapture() (*peerCapture, error) { return openCapture(headerSnap) }

// openCapture opens a capture of the incoming packets, their first snap
// bytes.
func openCapture(snap uint32) (*peerCapture, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return nil, os.NewSyscallError("socket AF_PACKET (learning the peer's position needs CAP_NET_RAW)", err)
	}
	// Room for the answers of a large batch (the default buffer drops
	// some, and their probes go again a round later), and only incoming
	// packets: best effort, the readers filter anyway.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
	prog := incoming(snap)
	unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{
		Len: uint16(len(prog)), Filter: &prog[0]})
	return &peerCapture{fd: fd}, nil
}

// The snap lengths of the captures: IP and TCP headers (the probes'
// answers), whole packets (what peers send into a freeze).
const (
	headerSnap = 128
	packetSnap = 65535
)

// SKF_AD_OFF + SKF_AD_PKTTYPE: a classic BPF load of the packet type.
const (
	skfAdOff     = 0xfffff000
	skfAdPktType = 4
)

// incoming is a classic BPF program that drops the packets the node sends
// and keeps the first snap bytes of the others.
func incoming(snap uint32) []unix.SockFilter {
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdOff + skfAdPktType},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: unix.PACKET_OUTGOING, Jt: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: snap},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
	}
}

func (c *peerCapture) Close() error { return unix.Close(c.fd) }

// peerSegments waits up to wait for a segment (with ACK set) from the
// peer of each tuple and returns every segment of the peers seen
// meanwhile, in arrival order.
func (c *peerCapture) peerSegments(ctx context.Context, ts []Tuple, _ time.Time, wait time.Duration) map[Tuple][]Segment {
	want := make(map[Tuple]bool, len(ts))
	for _, t := range ts {
		want[Tuple{Local: t.Local, Remote: t.Remote}] = true
	}
	got := make(map[Tuple][]Segment, len(ts))
	acked := 0
	deadline := time.Now().Add(wait)
	buf := make([]byte, headerSnap) // IP and TCP headers are enough
	for acked < len(want) && ctx.Err() == nil {
		// Answers that arrived are read even past the deadline: a large
		// batch's take longer to read than to come.
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err == unix.EAGAIN {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			unix.Poll([]unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}, int(left.Milliseconds())+1)
			continue
		}
		if err != nil {
			break
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		t, seg, ok := parseSegment(buf[:n])
		if !ok || !want[t] || seg.Flags&tcpACK == 0 {
			continue
		}
		if len(got[t]) == 0 {
			acked++
		}
		got[t] = append(got[t], seg)
	}
	segs := make(map[Tuple][]Segment, len(got)) // keyed by the caller's tuples (with IfIndex)
	for _, t := range ts {
		if s, ok := got[Tuple{Local: t.Local, Remote: t.Remote}]; ok {
			segs[t] = s
		}
	}
	return segs
}

// parseSegment reads an IPv4 or IPv6 packet carrying a TCP segment (at
// least its headers) and returns its tuple as the
// receiver sees it and the segment: sequence and acknowledgment numbers,
// flags, window, payload length and timestamps. RST segments are left out.
func parseSegment(b []byte) (Tuple, Segment, bool) {
	t, seg, _, ok := parsePacket(b)
	return t, seg, ok
}

// parsePacket is parseSegment that also returns the segment's payload (as
// much of it as b holds).
func parsePacket(b []byte) (Tuple, Segment, []byte, bool) {
	var src, dst netip.Addr
	var tcp []byte
	var ipLen int
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		ihl := int(b[0]&0xf) * 4
		if b[9] != unix.IPPROTO_TCP || ihl < 20 || len(b) < ihl+20 {
			return Tuple{}, Segment{}, nil, false
		}
		src, dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		tcp, ipLen = b[ihl:], int(binary.BigEndian.Uint16(b[2:]))-ihl
	case len(b) >= 60 && b[0]>>4 == 6:
		if b[6] != unix.IPPROTO_TCP { // extension headers are not followed
			return Tuple{}, Segment{}, nil, false
		}
		src, dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		tcp, ipLen = b[40:], int(binary.BigEndian.Uint16(b[4:]))
	default:
		return Tuple{}, Segment{}, nil, false
	}
	const flagRST = 0x04
	doff := int(tcp[12]>>4) * 4
	if tcp[13]&flagRST != 0 || doff < 20 {
		return Tuple{}, Segment{}, nil, false
	}
	t := Tuple{
		Local:  netip.AddrPortFrom(dst, binary.BigEndian.Uint16(tcp[2:])),
		Remote: netip.AddrPortFrom(src, binary.BigEndian.Uint16(tcp[0:])),
	}
	seg := Segment{
		Seq: binary.BigEndian.Uint32(tcp[4:]), Ack: binary.BigEndian.Uint32(tcp[8:]),
		Flags: tcp[13], Window: uint32(binary.BigEndian.Uint16(tcp[14:])),
		Len: uint32(max(ipLen-doff, 0)),
	}
	var payload []byte
	if len(tcp) >= doff {
		parseOptions(tcp[20:doff], &seg)
		payload = tcp[doff:min(len(tcp), doff+int(seg.Len))]
	}
	return t, seg, payload, true
}

// parseOptions takes the timestamp option (kind 8, length 10) and the
// SACK option (kind 5: its blocks of 8 bytes) from a TCP header's options.
func parseOptions(opts []byte, seg *Segment) {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case 0: // end of options
			return
		case 1: // no-op
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			return
		}
		switch o := opts[i : i+int(opts[i+1])]; {
		case o[0] == 8 && len(o) == 10:
			seg.TSVal, seg.TSEcr = binary.BigEndian.Uint32(o[2:]), binary.BigEndian.Uint32(o[6:])
		case o[0] == 5 && len(o) >= 10 && (len(o)-2)%8 == 0:
			seg.SACKBlocks = uint8((len(o) - 2) / 8)
			seg.SACK = [2]uint32{binary.BigEndian.Uint32(o[2:]), binary.BigEndian.Uint32(o[6:])}
		}
		i += int(opts[i+1])
	}
}

// answersProbe reports whether seg is the peer's answer to probeSegment
// of img, and says the peer holds nothing beyond its ACK: the D-SACK of
// the probe's byte (snd_una-1, which the peer had) is its only SACK
// block, no block of bytes received out of order follows. A Linux peer
// with SACK answers so (tcp_send_dupack); any other answer is not taken
// as one.
func answersProbe(seg Segment, img *Image) bool {
	return seg.SACKBlocks == 1 && seg.SACK == [2]uint32{img.SndUna - 1, img.SndUna}
}

// ackSegment makes the restored socket of t acknowledge all its receive
// queue holds (PeerAt put there what the peer sent into the freeze, which
// the peer still counts as unacknowledged): tcptake sends it this bare
// segment from the peer just below its window, which it answers with a
// duplicate ACK carrying its rcv_nxt, window and timestamps (the first
// such answer of a socket is not rate-limited).
func ackSegment(t Tuple, img *Image) segment {
	wup := img.RcvNxt - uint32(len(img.RecvQueue)) // TCP_QUEUE_SEQ's rcv_wup
	if w := img.Window; w != nil {
		wup = w.RcvWup
	}
	return segment{src: t.Remote, dst: t.Local, seq: wup - 1, ack: img.SndUna,
		flags: tcpACK, window: peerWindow(img), ifindex: t.IfIndex}
}

// peerWindow is the window field of the peer's segments, as the image
// last saw it.
func peerWindow(img *Image) uint16 {
	win := uint32(0xffff)
	if w := img.Window; w != nil {
		win = min(w.SndWnd>>img.SndWScale, 0xffff)
	}
	return uint16(win)
}

// segment is a TCP segment without options that tcptake sends itself,
// from a raw socket (CAP_NET_RAW), past a freeze: it carries the mark the
// freezers let through (tcptakeh.BypassMark).
type segment struct {
	src, dst netip.AddrPort
	seq, ack uint32
	payload  []byte
	flags    uint8
	window   uint16
	ifindex  uint32 // scope of a link-local destination
}

// injectFIN delivers the peer's FIN to the restored socket of t, in repair
// mode: TCP_REPAIR cannot mark a FIN as received, so tcptake sends the
// segment the peer sent. The FIN sits at the image's rcv_nxt and
// acknowledges its snd_una.
func injectFIN(t Tuple, img *Image) error {
	return sendSegment(segment{src: t.Remote, dst: t.Local, seq: img.RcvNxt, ack: img.SndUna,
		flags: tcpFIN | tcpACK, window: peerWindow(img), ifindex: t.IfIndex})
}

// probePeer sends the peer of a restored session a segment it has had
// already: one byte at snd_una-1, below the peer's rcv_nxt, which it
// discards and answers with an ACK that carries its rcv_nxt. The byte
// matters: a segment without data and out of the window is answered at
// most twice a second (tcp_invalid_ratelimit), so a second probe after a
// lost one would go unanswered; a duplicate data segment is answered
// every time.
func probePeer(t Tuple, img *Image) error { return sendSegment(probeSegment(t, img)) }

func probeSegment(t Tuple, img *Image) segment {
	return segment{src: t.Local, dst: t.Remote, seq: img.SndUna - 1, ack: img.RcvNxt,
		flags: tcpACK, window: 0xffff, ifindex: t.IfIndex, payload: []byte{0}}
}

// sendSegment sends one segment on raw sockets of its own.
func sendSegment(s segment) error {
	var r rawSockets
	defer r.Close()
	return r.send(s)
}

// rawSockets send tcptake's own segments: one raw socket per address
// family, opened on first use and reused (a batch of probes costs one
// sendto each).
type rawSockets struct {
	fds [2]int // AF_INET, AF_INET6; 0: not open
	// opened: the sockets were opened beforehand, none is opened on use
	// (from goroutines that may be in another network namespace).
	opened bool
}

// open opens the sockets for the families of ts, here, and no more later.
func (r *rawSockets) open(ts []Tuple) error {
	var errs []error
	for _, t := range ts {
		if _, err := r.socket(t.Is6()); err != nil && len(errs) == 0 {
			errs = append(errs, err)
		}
	}
	r.opened = true
	return errors.Join(errs...)
}

func (r *rawSockets) Close() {
	for i, fd := range r.fds {
		if fd > 0 {
			unix.Close(fd)
			r.fds[i] = 0
		}
	}
}

func (r *rawSockets) socket(v6 bool) (int, error) {
	i, fam := 0, unix.AF_INET
	if v6 {
		i, fam = 1, unix.AF_INET6
	}
	if r.fds[i] > 0 {
		return r.fds[i], nil
	}
	if r.opened {
		return -1, errors.New("no raw socket for the address family")
	}
	fd, err := unix.Socket(fam, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return -1, os.NewSyscallError("socket raw (tcptake's own segments need CAP_NET_RAW)", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, tcptakeh.BypassMark); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt SO_MARK", err)
	}
	r.fds[i] = fd
	return fd, nil
}

func (r *rawSockets) send(s segment) error {
	tcp := make([]byte, 20, 20+len(s.payload))
	binary.BigEndian.PutUint16(tcp[0:], s.src.Port())
	binary.BigEndian.PutUint16(tcp[2:], s.dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], s.seq)
	binary.BigEndian.PutUint32(tcp[8:], s.ack)
	tcp[12] = 5 << 4
	tcp[13] = s.flags
	binary.BigEndian.PutUint16(tcp[14:], s.window)
	tcp = append(tcp, s.payload...)
	src, dst := addrBytes(s.src.Addr()), addrBytes(s.dst.Addr())
	binary.BigEndian.PutUint16(tcp[16:], tcpChecksum(src, dst, tcp))

	var (
		pkt []byte
		sa  unix.Sockaddr
	)
	if s.dst.Addr().Is6() {
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

	fd, err := r.socket(s.dst.Addr().Is6())
	if err != nil {
		return err
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
