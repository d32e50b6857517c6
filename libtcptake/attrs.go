package libtcptake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"

	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// The codecs of every attribute set of uapi/tcptake.yaml, shared by the
// image (frame.go: the "session" set is the image) and the module client
// (client_linux.go): tuple, session with its kernel state and window,
// segment, freeze, info, and the dump filter.
//
// The "tuple" set, used by requests, freeze entries and dump filters:
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

// tuplesCompact is ts as the value of a tuples-compact attribute, a struct
// tuple-compact each: a fraction of the work of a nest each, to build and
// for the module to parse. The tuples are whole (tupleFamily checked).
func tuplesCompact(ts []Tuple) []byte {
	const size = tcptakeh.TupleCompactSize
	b := make([]byte, len(ts)*size)
	for i, t := range ts {
		e := b[i*size : (i+1)*size]
		la, ra := t.Local.Addr().Unmap(), t.Remote.Addr().Unmap()
		if la.Is4() {
			l, r := la.As4(), ra.As4()
			copy(e[tcptakeh.TupleCompactOffLocalAddr:], l[:])
			copy(e[tcptakeh.TupleCompactOffRemoteAddr:], r[:])
		} else {
			l, r := la.As16(), ra.As16()
			copy(e[tcptakeh.TupleCompactOffLocalAddr:], l[:])
			copy(e[tcptakeh.TupleCompactOffRemoteAddr:], r[:])
		}
		binary.NativeEndian.PutUint32(e[tcptakeh.TupleCompactOffIfindex:], t.IfIndex)
		binary.NativeEndian.PutUint16(e[tcptakeh.TupleCompactOffFamily:], addrFamily(la))
		binary.BigEndian.PutUint16(e[tcptakeh.TupleCompactOffLocalPort:], t.Local.Port())
		binary.BigEndian.PutUint16(e[tcptakeh.TupleCompactOffRemotePort:], t.Remote.Port())
	}
	return b
}

// decodeTuple reads the attributes of a "tuple" nest (ad iterates over the
// nest's content) into t. Unknown attributes are skipped. It fails, without
// panicking, on a malformed attribute or an incomplete or inconsistent
// tuple; the error wraps ErrBadImage. decodeTuple checks ad.Err itself.
func decodeTuple(ad *netlink.AttributeDecoder, t *Tuple) error {
	var (
		fam           uint16
		lb, rb        [16]byte
		ln, rn        int
		lport, rport  uint16
		hasLP, hasRP  bool
		ifindex       uint32
		sawFam, sawLA bool
		sawRA         bool
	)
	// addr and port read the message's own bytes (ad.Bytes would copy).
	addr := func(dst *[16]byte, n *int, seen *bool) {
		ad.Do(func(b []byte) error {
			if len(b) > len(dst) {
				return fmt.Errorf("address attribute of %d bytes", len(b))
			}
			*n, *seen = copy(dst[:], b), true
			return nil
		})
	}
	port := func(p *uint16, seen *bool) {
		ad.Do(func(b []byte) error {
			if len(b) != 2 {
				return fmt.Errorf("port attribute of %d bytes", len(b))
			}
			*p = binary.BigEndian.Uint16(b)
			*seen = true
			return nil
		})
	}
	for ad.Next() {
		switch ad.Type() {
		case tcptakeh.ATupleFamily:
			fam = ad.Uint16()
			sawFam = true
		case tcptakeh.ATupleLocalAddr:
			addr(&lb, &ln, &sawLA)
		case tcptakeh.ATupleLocalPort:
			port(&lport, &hasLP)
		case tcptakeh.ATupleRemoteAddr:
			addr(&rb, &rn, &sawRA)
		case tcptakeh.ATupleRemotePort:
			port(&rport, &hasRP)
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
	return makeTuple(t, fam, lb[:ln], rb[:rn], lport, rport, ifindex)
}

// addrLen is the length of a family's addresses on the wire.
func addrLen(fam uint16) (int, error) {
	switch fam {
	case afInet:
		return 4, nil
	case afInet6:
		return 16, nil
	}
	return 0, fmt.Errorf("%w: tuple: address family %d", ErrBadImage, fam)
}

// makeTuple checks a tuple's values (from a tuple nest or a compact
// struct) and sets t. The error wraps ErrBadImage.
func makeTuple(t *Tuple, fam uint16, lb, rb []byte, lport, rport uint16, ifindex uint32) error {
	alen, err := addrLen(fam)
	if err != nil {
		return err
	}
	if len(lb) != alen || len(rb) != alen {
		return fmt.Errorf("%w: tuple: %d- and %d-byte addresses for family %d", ErrBadImage, len(lb), len(rb), fam)
	}
	if lport == 0 || rport == 0 {
		return fmt.Errorf("%w: tuple: port 0", ErrBadImage)
	}
	la, _ := netip.AddrFromSlice(lb)
	ra, _ := netip.AddrFromSlice(rb)
	switch {
	case la.Is4In6() != ra.Is4In6(): // an IPv4 and an IPv6 end: no session has them
		return fmt.Errorf("%w: tuple: %v and %v mix address families", ErrBadImage, la, ra)
	case la.Is4In6(): // the AF_INET tuple it is
		la, ra = la.Unmap(), ra.Unmap()
	}
	*t = Tuple{
		Local:   netip.AddrPortFrom(la, lport),
		Remote:  netip.AddrPortFrom(ra, rport),
		IfIndex: ifindex,
	}
	return nil
}

func b2u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// encodeChunks writes q as attributes typ of at most ChunkMax bytes.
func encodeChunks(ae *netlink.AttributeEncoder, typ uint16, q []byte) {
	for len(q) > 0 {
		n := min(len(q), tcptakeh.ChunkMax)
		ae.Bytes(typ, q[:n])
		q = q[n:]
	}
}

// encodeSession writes the attributes of the "session" set for img.
func encodeSession(ae *netlink.AttributeEncoder, img *Image) {
	encodeTupleNest(ae, tcptakeh.ASessionTuple, img.Tuple)
	ae.Uint8(tcptakeh.ASessionState, uint8(img.State))
	ae.Uint32(tcptakeh.ASessionSndUna, img.SndUna)
	ae.Uint32(tcptakeh.ASessionSndNxt, img.SndNxt)
	ae.Uint32(tcptakeh.ASessionWriteSeq, img.WriteSeq)
	ae.Uint32(tcptakeh.ASessionRcvNxt, img.RcvNxt)
	ae.Uint32(tcptakeh.ASessionRcvqLen, uint32(len(img.RecvQueue)))
	ae.Uint32(tcptakeh.ASessionSndqUnackedLen, uint32(len(img.SendUnacked)))
	ae.Uint32(tcptakeh.ASessionSndqUnsentLen, uint32(len(img.SendUnsent)))
	encodeChunks(ae, tcptakeh.ASessionRcvq, img.RecvQueue)
	encodeChunks(ae, tcptakeh.ASessionSndqUnacked, img.SendUnacked)
	encodeChunks(ae, tcptakeh.ASessionSndqUnsent, img.SendUnsent)
	ae.Uint32(tcptakeh.ASessionOptions, uint32(img.Options))
	if img.MSSClamp != 0 {
		ae.Uint32(tcptakeh.ASessionMssClamp, img.MSSClamp)
	}
	if img.Options&OptWScale != 0 {
		ae.Uint8(tcptakeh.ASessionSndWscale, img.SndWScale)
		ae.Uint8(tcptakeh.ASessionRcvWscale, img.RcvWScale)
	}
	if img.Options&OptTimestamps != 0 {
		ae.Uint32(tcptakeh.ASessionTsval, img.TSVal)
	}
	if w := img.Window; w != nil {
		ae.Uint32(tcptakeh.ASessionSndWl1, w.SndWl1)
		ae.Uint32(tcptakeh.ASessionSndWnd, w.SndWnd)
		ae.Uint32(tcptakeh.ASessionMaxWindow, w.MaxWindow)
		ae.Uint32(tcptakeh.ASessionRcvWnd, w.RcvWnd)
		ae.Uint32(tcptakeh.ASessionRcvWup, w.RcvWup)
	}
	so := &img.Sock
	ae.Uint8(tcptakeh.ASessionNodelay, b2u8(so.NoDelay))
	ae.Uint8(tcptakeh.ASessionKeepalive, b2u8(so.KeepAlive))
	for _, o := range []struct {
		typ uint16
		v   uint32
	}{
		{tcptakeh.ASessionKeepIdle, so.KeepIdle}, {tcptakeh.ASessionKeepIntvl, so.KeepIntvl},
		{tcptakeh.ASessionKeepCnt, so.KeepCnt}, {tcptakeh.ASessionUserTimeout, so.UserTimeout},
		{tcptakeh.ASessionRcvbuf, so.RcvBuf}, {tcptakeh.ASessionSndbuf, so.SndBuf},
	} {
		if o.v != 0 {
			ae.Uint32(o.typ, o.v)
		}
	}
	if so.TOS != 0 {
		ae.Uint8(tcptakeh.ASessionTos, so.TOS)
	}
	if so.TTL != 0 {
		ae.Uint8(tcptakeh.ASessionTtl, so.TTL)
	}
	if so.V6Only {
		ae.Uint8(tcptakeh.ASessionV6only, 1)
	}
	if k := img.Kernel; k != nil {
		encodeKernelState(ae, *k, KernelAll)
	}
	if len(img.AppState) > 0 {
		ae.Bytes(tcptakeh.ASessionAppState, img.AppState)
	}
	if !img.CaptureTime.IsZero() {
		ae.Uint64(tcptakeh.ASessionCaptureTimeNs, uint64(img.CaptureTime.UnixNano()))
	}
	if img.Generation != 0 {
		ae.Uint64(tcptakeh.ASessionGeneration, img.Generation)
	}
}

// Required attributes of a session, as bits of partial.have.
const (
	haveTuple = 1 << iota
	haveState
	haveSndUna
	haveSndNxt
	haveWriteSeq
	haveRcvNxt
	haveRcvqLen
	haveUnackedLen
	haveUnsentLen
	haveAll = 1<<iota - 1
)

var requiredNames = []string{"tuple", "state", "snd-una", "snd-nxt", "write-seq", "rcv-nxt", "rcvq-len", "sndq-unacked-len", "sndq-unsent-len"}

// partial is one session being decoded, possibly over several nests.
type partial struct {
	img       Image
	errno     uint32 // the module could not snapshot the session
	have      uint32
	window    int // window attributes seen
	rcvqLen   uint32
	unackLen  uint32
	unsentLen uint32
	// What img.Window and img.Kernel point to once set: allocated with
	// the partial, not each on its own.
	win  Window
	kern KernelState
}

func (p *partial) complete() bool {
	return uint32(len(p.img.RecvQueue)) == p.rcvqLen &&
		uint32(len(p.img.SendUnacked)) == p.unackLen &&
		uint32(len(p.img.SendUnsent)) == p.unsentLen
}

// sessionDecoder decodes "session" attribute sets. Consecutive nests with
// the same tuple continue one session (the module splits large queues
// across messages): their chunks are appended.
type sessionDecoder struct {
	parts []*partial
	// free is allocated ahead, in blocks of up to 256 partials (one
	// allocation instead of three a session; an image kept alive keeps
	// its block).
	free []partial
}

// decode reads one set of session attributes.
func (d *sessionDecoder) decode(ad *netlink.AttributeDecoder) error {
	if len(d.free) == 0 {
		d.free = make([]partial, min(256, max(2, len(d.parts))))
	}
	p := &d.free[0]
	if err := p.decodeAttrs(ad); err != nil {
		return err
	}
	if n := len(d.parts); n > 0 && p.have == haveTuple {
		last := d.parts[n-1]
		if last.img.Tuple == p.img.Tuple && !last.complete() {
			err := last.appendChunks(&p.img)
			*p = partial{} // the slot is free again
			return err
		}
	}
	d.free = d.free[1:]
	d.parts = append(d.parts, p)
	return nil
}

func (p *partial) appendChunks(more *Image) error {
	p.img.RecvQueue = append(p.img.RecvQueue, more.RecvQueue...)
	p.img.SendUnacked = append(p.img.SendUnacked, more.SendUnacked...)
	p.img.SendUnsent = append(p.img.SendUnsent, more.SendUnsent...)
	return p.checkChunks()
}

// checkChunks rejects queues growing past their declared lengths.
func (p *partial) checkChunks() error {
	if uint32(len(p.img.RecvQueue)) > p.rcvqLen || uint32(len(p.img.SendUnacked)) > p.unackLen ||
		uint32(len(p.img.SendUnsent)) > p.unsentLen {
		return badImage("%s: queue chunks exceed the declared queue lengths", p.img.Tuple)
	}
	return nil
}

// images returns the decoded sessions after checking each. With
// withQueues false (a GET without buffers), the declared queue lengths
// need no chunks and the checks that need the bytes are skipped.
//
// A session the module could not snapshot (a dump entry with "error")
// is left out; the others come back with a *SessionsError naming it.
func (d *sessionDecoder) images(withQueues bool) ([]*Image, error) {
	out := make([]*Image, 0, len(d.parts))
	var failed SessionsError
	for _, p := range d.parts {
		if p.errno != 0 {
			failed.Failed = append(failed.Failed, opErr(OpDump, p.img.Tuple, syscall.Errno(p.errno)).(*Error))
			failed.tuples = append(failed.tuples, p.img.Tuple)
			continue
		}
		if p.have != haveAll {
			for i, name := range requiredNames {
				if p.have&(1<<i) == 0 {
					return nil, badImage("required attribute %q missing", name)
				}
			}
		}
		if p.window != 0 && p.window != 5 {
			return nil, badImage("%s: %d of the 5 window attributes", p.img.Tuple, p.window)
		}
		img := &p.img
		if !withQueues {
			img.RecvQueue, img.SendUnacked, img.SendUnsent = nil, nil, nil
			img.Queued = &QueueLengths{Recv: p.rcvqLen, Unacked: p.unackLen, Unsent: p.unsentLen}
			out = append(out, img)
			continue
		}
		if !p.complete() {
			return nil, badImage("%s: queue data incomplete (have %d/%d/%d bytes, want %d/%d/%d)", p.img.Tuple,
				len(p.img.RecvQueue), len(p.img.SendUnacked), len(p.img.SendUnsent), p.rcvqLen, p.unackLen, p.unsentLen)
		}
		if err := img.validate(); err != nil {
			return nil, opErr(OpDecode, img, err)
		}
		out = append(out, img)
	}
	if len(failed.Failed) > 0 {
		return out, &failed
	}
	return out, nil
}

func (p *partial) decodeAttrs(ad *netlink.AttributeDecoder) error {
	img := &p.img
	u32 := func(bit uint32, dst *uint32) {
		p.have |= bit
		*dst = ad.Uint32()
	}
	win := func(dst *uint32) {
		p.window++
		*dst = ad.Uint32()
	}
	chunk := func(q *[]byte) {
		ad.Do(func(b []byte) error { // b is the message's own bytes: copied once, by append
			if len(b) > tcptakeh.ChunkMax {
				return fmt.Errorf("queue chunk of %d bytes exceeds %d", len(b), tcptakeh.ChunkMax)
			}
			if len(*q)+len(b) > tcptakeh.QueueMax {
				return fmt.Errorf("queue exceeds %d bytes", tcptakeh.QueueMax)
			}
			*q = append(*q, b...)
			return nil
		})
	}
	for ad.Next() {
		switch ad.Type() {
		case tcptakeh.ASessionError:
			p.errno = ad.Uint32()
		case tcptakeh.ASessionTuple:
			p.have |= haveTuple
			ad.Nested(func(nad *netlink.AttributeDecoder) error { return decodeTuple(nad, &img.Tuple) })
		case tcptakeh.ASessionState:
			p.have |= haveState
			img.State = State(ad.Uint8())
		case tcptakeh.ASessionSndUna:
			u32(haveSndUna, &img.SndUna)
		case tcptakeh.ASessionSndNxt:
			u32(haveSndNxt, &img.SndNxt)
		case tcptakeh.ASessionWriteSeq:
			u32(haveWriteSeq, &img.WriteSeq)
		case tcptakeh.ASessionRcvNxt:
			u32(haveRcvNxt, &img.RcvNxt)
		case tcptakeh.ASessionRcvqLen:
			u32(haveRcvqLen, &p.rcvqLen)
		case tcptakeh.ASessionSndqUnackedLen:
			u32(haveUnackedLen, &p.unackLen)
		case tcptakeh.ASessionSndqUnsentLen:
			u32(haveUnsentLen, &p.unsentLen)
		case tcptakeh.ASessionRcvq:
			chunk(&img.RecvQueue)
		case tcptakeh.ASessionSndqUnacked:
			chunk(&img.SendUnacked)
		case tcptakeh.ASessionSndqUnsent:
			chunk(&img.SendUnsent)
		case tcptakeh.ASessionOptions:
			img.Options = TCPOpts(ad.Uint32())
		case tcptakeh.ASessionMssClamp:
			img.MSSClamp = ad.Uint32()
		case tcptakeh.ASessionSndWscale:
			img.SndWScale = ad.Uint8()
		case tcptakeh.ASessionRcvWscale:
			img.RcvWScale = ad.Uint8()
		case tcptakeh.ASessionTsval:
			img.TSVal = ad.Uint32()
		case tcptakeh.ASessionSndWl1:
			win(&p.windowState().SndWl1)
		case tcptakeh.ASessionSndWnd:
			win(&p.windowState().SndWnd)
		case tcptakeh.ASessionMaxWindow:
			win(&p.windowState().MaxWindow)
		case tcptakeh.ASessionRcvWnd:
			win(&p.windowState().RcvWnd)
		case tcptakeh.ASessionRcvWup:
			win(&p.windowState().RcvWup)
		case tcptakeh.ASessionNodelay:
			img.Sock.NoDelay = ad.Uint8() != 0
		case tcptakeh.ASessionKeepalive:
			img.Sock.KeepAlive = ad.Uint8() != 0
		case tcptakeh.ASessionKeepIdle:
			img.Sock.KeepIdle = ad.Uint32()
		case tcptakeh.ASessionKeepIntvl:
			img.Sock.KeepIntvl = ad.Uint32()
		case tcptakeh.ASessionKeepCnt:
			img.Sock.KeepCnt = ad.Uint32()
		case tcptakeh.ASessionUserTimeout:
			img.Sock.UserTimeout = ad.Uint32()
		case tcptakeh.ASessionRcvbuf:
			img.Sock.RcvBuf = ad.Uint32()
		case tcptakeh.ASessionSndbuf:
			img.Sock.SndBuf = ad.Uint32()
		case tcptakeh.ASessionTos:
			img.Sock.TOS = ad.Uint8()
		case tcptakeh.ASessionTtl:
			img.Sock.TTL = ad.Uint8()
		case tcptakeh.ASessionV6only:
			img.Sock.V6Only = ad.Uint8() != 0
		case tcptakeh.ASessionTsRecent:
			p.kernel().TSRecent = ad.Uint32()
		case tcptakeh.ASessionSrttUs:
			p.kernel().SRTTus = ad.Uint32()
		case tcptakeh.ASessionMdevUs:
			p.kernel().MDEVus = ad.Uint32()
		case tcptakeh.ASessionRtoUs:
			p.kernel().RTOus = ad.Uint32()
		case tcptakeh.ASessionSndCwnd:
			p.kernel().SndCwnd = ad.Uint32()
		case tcptakeh.ASessionSndSsthresh:
			p.kernel().SndSsthresh = ad.Uint32()
		case tcptakeh.ASessionAppState:
			b := ad.Bytes()
			if len(b) > tcptakeh.AppStateMax {
				ad.Do(func([]byte) error {
					return fmt.Errorf("application state of %d bytes exceeds %d", len(b), tcptakeh.AppStateMax)
				})
				break
			}
			img.AppState = b
		case tcptakeh.ASessionCaptureTimeNs:
			img.CaptureTime = time.Unix(0, int64(ad.Uint64())).UTC()
		case tcptakeh.ASessionGeneration:
			img.Generation = ad.Uint64()
		case tcptakeh.ASessionCompact:
			ad.Do(p.decodeCompact)
		case tcptakeh.ASessionDigest:
			img.Digest = ad.Uint64()
		}
		// Unknown attributes are skipped: newer writers may add fields.
	}
	if err := ad.Err(); err != nil {
		return asBadImage(err)
	}
	const lens = haveRcvqLen | haveUnackedLen | haveUnsentLen
	if p.have&lens == lens {
		return p.checkChunks()
	}
	return nil
}

// windowState is the image's window, set on first use.
func (p *partial) windowState() *Window {
	p.img.Window = &p.win
	return &p.win
}

// kernel is the image's kernel state, set on first use.
func (p *partial) kernel() *KernelState {
	p.img.Kernel = &p.kern
	return &p.kern
}

// decodeCompact reads a struct session-compact (GET flag compact): the
// tuple and the values of the attributes state to snd-ssthresh,
// capture-time-ns and digest. A longer struct (a newer module's) is
// accepted, and the first release's, which ends before digest; a shorter
// one is rejected.
func (p *partial) decodeCompact(b []byte) error {
	if len(b) < tcptakeh.SessionCompactOffDigest {
		return fmt.Errorf("compact session state of %d bytes, want %d", len(b), tcptakeh.SessionCompactSize)
	}
	if len(b) >= tcptakeh.SessionCompactSize {
		p.img.Digest = binary.NativeEndian.Uint64(b[tcptakeh.SessionCompactOffDigest:])
	}
	u32 := func(off int) uint32 { return binary.NativeEndian.Uint32(b[off:]) }
	img := &p.img
	fam := binary.NativeEndian.Uint16(b[tcptakeh.SessionCompactOffFamily:])
	alen, err := addrLen(fam)
	if err != nil {
		return err
	}
	err = makeTuple(&img.Tuple, fam,
		b[tcptakeh.SessionCompactOffLocalAddr:][:alen], b[tcptakeh.SessionCompactOffRemoteAddr:][:alen],
		binary.BigEndian.Uint16(b[tcptakeh.SessionCompactOffLocalPort:]),
		binary.BigEndian.Uint16(b[tcptakeh.SessionCompactOffRemotePort:]),
		u32(tcptakeh.SessionCompactOffIfindex))
	if err != nil {
		return err
	}
	p.have |= haveAll
	p.window = 5
	img.State = State(b[tcptakeh.SessionCompactOffState])
	img.SndUna = u32(tcptakeh.SessionCompactOffSndUna)
	img.SndNxt = u32(tcptakeh.SessionCompactOffSndNxt)
	img.WriteSeq = u32(tcptakeh.SessionCompactOffWriteSeq)
	img.RcvNxt = u32(tcptakeh.SessionCompactOffRcvNxt)
	p.rcvqLen = u32(tcptakeh.SessionCompactOffRcvqLen)
	p.unackLen = u32(tcptakeh.SessionCompactOffSndqUnackedLen)
	p.unsentLen = u32(tcptakeh.SessionCompactOffSndqUnsentLen)
	img.Options = TCPOpts(u32(tcptakeh.SessionCompactOffOptions))
	img.MSSClamp = u32(tcptakeh.SessionCompactOffMssClamp)
	img.SndWScale = b[tcptakeh.SessionCompactOffSndWscale]
	img.RcvWScale = b[tcptakeh.SessionCompactOffRcvWscale]
	img.TSVal = u32(tcptakeh.SessionCompactOffTsval)
	*p.windowState() = Window{
		SndWl1:    u32(tcptakeh.SessionCompactOffSndWl1),
		SndWnd:    u32(tcptakeh.SessionCompactOffSndWnd),
		MaxWindow: u32(tcptakeh.SessionCompactOffMaxWindow),
		RcvWnd:    u32(tcptakeh.SessionCompactOffRcvWnd),
		RcvWup:    u32(tcptakeh.SessionCompactOffRcvWup),
	}
	*p.kernel() = KernelState{
		TSRecent:    u32(tcptakeh.SessionCompactOffTsRecent),
		SRTTus:      u32(tcptakeh.SessionCompactOffSrttUs),
		MDEVus:      u32(tcptakeh.SessionCompactOffMdevUs),
		RTOus:       u32(tcptakeh.SessionCompactOffRtoUs),
		SndCwnd:     u32(tcptakeh.SessionCompactOffSndCwnd),
		SndSsthresh: u32(tcptakeh.SessionCompactOffSndSsthresh),
	}
	has := b[tcptakeh.SessionCompactOffHas]
	so := &img.Sock
	so.NoDelay = b[tcptakeh.SessionCompactOffNodelay] != 0
	so.KeepAlive = b[tcptakeh.SessionCompactOffKeepalive] != 0
	so.KeepIdle = u32(tcptakeh.SessionCompactOffKeepIdle)
	so.KeepIntvl = u32(tcptakeh.SessionCompactOffKeepIntvl)
	so.KeepCnt = u32(tcptakeh.SessionCompactOffKeepCnt)
	so.UserTimeout = u32(tcptakeh.SessionCompactOffUserTimeout)
	so.TOS = b[tcptakeh.SessionCompactOffTos]
	if has&tcptakeh.CompactHasRcvbuf != 0 {
		so.RcvBuf = u32(tcptakeh.SessionCompactOffRcvbuf)
	}
	if has&tcptakeh.CompactHasSndbuf != 0 {
		so.SndBuf = u32(tcptakeh.SessionCompactOffSndbuf)
	}
	if has&tcptakeh.CompactHasTtl != 0 {
		so.TTL = b[tcptakeh.SessionCompactOffTtl]
	}
	if has&tcptakeh.CompactHasV6only != 0 {
		so.V6Only = b[tcptakeh.SessionCompactOffV6only] != 0
	}
	img.CaptureTime = time.Unix(0, int64(binary.NativeEndian.Uint64(b[tcptakeh.SessionCompactOffCaptureTimeNs:]))).UTC()
	return nil
}

// encodeFilter writes the tuple attributes f constrains (the content of
// the dump's tuple nest).
func encodeFilter(ae *netlink.AttributeEncoder, f SessionFilter) error {
	fam, err := f.family()
	if err != nil {
		return err
	}
	if fam != 0 {
		ae.Uint16(tcptakeh.ATupleFamily, fam)
	}
	if f.LocalAddr.IsValid() {
		ae.Bytes(tcptakeh.ATupleLocalAddr, addrBytes(f.LocalAddr.Unmap()))
	}
	if f.LocalPort != 0 {
		encodePort(ae, tcptakeh.ATupleLocalPort, f.LocalPort)
	}
	if f.RemoteAddr.IsValid() {
		ae.Bytes(tcptakeh.ATupleRemoteAddr, addrBytes(f.RemoteAddr.Unmap()))
	}
	if f.RemotePort != 0 {
		encodePort(ae, tcptakeh.ATupleRemotePort, f.RemotePort)
	}
	return nil
}

// encodeKernelState writes the session attributes of the selected fields.
func encodeKernelState(ae *netlink.AttributeEncoder, ks KernelState, fields KernelFields) {
	for _, f := range []struct {
		bit KernelFields
		typ uint16
		v   uint32
	}{
		{KernelTSRecent, tcptakeh.ASessionTsRecent, ks.TSRecent},
		{KernelSRTT, tcptakeh.ASessionSrttUs, ks.SRTTus},
		{KernelMDEV, tcptakeh.ASessionMdevUs, ks.MDEVus},
		{KernelRTO, tcptakeh.ASessionRtoUs, ks.RTOus},
		{KernelSndCwnd, tcptakeh.ASessionSndCwnd, ks.SndCwnd},
		{KernelSndSsthresh, tcptakeh.ASessionSndSsthresh, ks.SndSsthresh},
	} {
		if fields&f.bit != 0 {
			ae.Uint32(f.typ, f.v)
		}
	}
}

// decodeSegment reads a "segment" nest's content. Unknown attributes are
// skipped. It checks ad.Err itself.
func decodeSegment(ad *netlink.AttributeDecoder, s *Segment) error {
	for ad.Next() {
		switch ad.Type() {
		case tcptakeh.ASegmentSeq:
			s.Seq = ad.Uint32()
		case tcptakeh.ASegmentAck:
			s.Ack = ad.Uint32()
		case tcptakeh.ASegmentWindow:
			s.Window = ad.Uint32()
		case tcptakeh.ASegmentTsval:
			s.TSVal = ad.Uint32()
		case tcptakeh.ASegmentTsecr:
			s.TSEcr = ad.Uint32()
		case tcptakeh.ASegmentFlags:
			s.Flags = ad.Uint8()
		case tcptakeh.ASegmentLen:
			s.Len = ad.Uint32()
		case tcptakeh.ASegmentAgeMs:
			s.Age = time.Duration(ad.Uint32()) * time.Millisecond
		}
	}
	if err := ad.Err(); err != nil {
		return fmt.Errorf("segment: %w", err)
	}
	return nil
}

// decodeFreeze reads a "freeze" nest's content into fi and returns the
// event attribute (0, EventFrozen, when absent). The tuple is required.
// It checks ad.Err itself.
func decodeFreeze(ad *netlink.AttributeDecoder, fi *FreezeInfo) (EventType, error) {
	var (
		ev       EventType
		sawTuple bool
	)
	for ad.Next() {
		switch ad.Type() {
		case tcptakeh.AFreezeTuple:
			sawTuple = true
			ad.Nested(func(nad *netlink.AttributeDecoder) error { return decodeTuple(nad, &fi.Tuple) })
		case tcptakeh.AFreezeExpiresMs:
			fi.Expires = time.Duration(ad.Uint32()) * time.Millisecond
		case tcptakeh.AFreezeDroppedIn:
			fi.DroppedIn = ad.Uint64()
		case tcptakeh.AFreezeDroppedOut:
			fi.DroppedOut = ad.Uint64()
		case tcptakeh.AFreezeDroppedIcmp:
			fi.DroppedICMP = ad.Uint64()
		case tcptakeh.AFreezeEvent:
			ev = EventType(ad.Uint32())
		}
	}
	if err := ad.Err(); err != nil {
		return 0, fmt.Errorf("freeze: %w", err)
	}
	if !sawTuple {
		return 0, errors.New("freeze: no tuple")
	}
	return ev, nil
}

// decodeInfo reads the top-level attributes of an INFO reply.
func decodeInfo(ad *netlink.AttributeDecoder, mi *ModuleInfo) error {
	for ad.Next() {
		switch ad.Type() {
		case tcptakeh.AVersion:
			mi.Version = ad.String()
		case tcptakeh.AMaxFreezes:
			mi.MaxFreezes = ad.Uint32()
		case tcptakeh.AFreezes:
			mi.Freezes = ad.Uint32()
		}
	}
	return ad.Err()
}
