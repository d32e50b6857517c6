package libtcptake

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// An image on a wire or in a file is one frame: a 16-byte header, then the
// attributes of the "session" set (little-endian netlink TLVs, the same
// attributes a module GET reply nests in "session").
//
//	0      4        6      8        12       16
//	| magic | version | flags | length | crc32c | payload (length bytes) ...
//
// All header fields are big-endian; crc32c (Castagnoli) covers the payload.
const (
	frameMagic   = "TCPT"
	frameVersion = 1
	frameHdrLen  = 16
	// frameMax bounds the payload: three full queues, application state
	// and headroom for attribute headers.
	frameMax = 3*tcptakeh.QueueMax + 4<<20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes img as one frame.
func (img *Image) MarshalBinary() ([]byte, error) {
	if err := img.validate(); err != nil {
		return nil, &Error{Op: OpEncode, Session: img.String(), Err: err}
	}
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.LittleEndian
	encodeSession(ae, img)
	payload, err := ae.Encode()
	if err != nil {
		return nil, &Error{Op: OpEncode, Session: img.String(), Err: err}
	}
	b := make([]byte, frameHdrLen, frameHdrLen+len(payload))
	copy(b, frameMagic)
	binary.BigEndian.PutUint16(b[4:], frameVersion)
	binary.BigEndian.PutUint32(b[8:], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[12:], crc32.Checksum(payload, castagnoli))
	return append(b, payload...), nil
}

// UnmarshalBinary decodes one frame into img. Trailing bytes are an error.
func (img *Image) UnmarshalBinary(b []byte) error {
	n, err := checkHeader(b)
	if err != nil {
		return err
	}
	if len(b)-frameHdrLen != n {
		return badImage("frame holds %d payload bytes, header says %d", len(b)-frameHdrLen, n)
	}
	return img.decodePayload(b[frameHdrLen:], binary.BigEndian.Uint32(b[12:]))
}

// WriteImage writes img as one frame to w.
func WriteImage(w io.Writer, img *Image) error {
	b, err := img.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// ReadImage reads one frame from r. It returns io.EOF when r ends cleanly
// before a frame, and an ErrBadImage error for a partial frame.
func ReadImage(r io.Reader) (*Image, error) {
	var hdr [frameHdrLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return nil, badImage("truncated frame header")
		}
		return nil, err
	}
	n, err := checkHeader(hdr[:])
	if err != nil {
		return nil, err
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, badImage("truncated: frame of %d bytes ends early", n)
		}
		return nil, err
	}
	img := new(Image)
	if err := img.decodePayload(payload, binary.BigEndian.Uint32(hdr[12:])); err != nil {
		return nil, err
	}
	return img, nil
}

func badImage(format string, args ...any) error {
	return &Error{Op: OpDecode, Err: fmt.Errorf("%w: "+format, append([]any{ErrBadImage}, args...)...)}
}

// asBadImage keeps a decoding error that is an *Error already and makes
// any other (from the netlink decoder) a badImage.
func asBadImage(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return badImage("%v", err)
}

// checkHeader validates a frame header and returns the payload length.
func checkHeader(b []byte) (int, error) {
	if len(b) < frameHdrLen {
		return 0, badImage("truncated frame header (%d of %d bytes)", len(b), frameHdrLen)
	}
	if !bytes.Equal(b[:4], []byte(frameMagic)) {
		return 0, badImage("bad magic %q, not a tcptake image", b[:4])
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != frameVersion {
		return 0, badImage("image version %d, this build reads version %d", v, frameVersion)
	}
	if f := binary.BigEndian.Uint16(b[6:]); f != 0 {
		return 0, badImage("unknown frame flags %#x", f)
	}
	n := binary.BigEndian.Uint32(b[8:])
	if n > frameMax {
		return 0, badImage("frame length %d exceeds the limit of %d", n, frameMax)
	}
	return int(n), nil
}

func (img *Image) decodePayload(payload []byte, crc uint32) error {
	if got := crc32.Checksum(payload, castagnoli); got != crc {
		return badImage("CRC32C mismatch (header %#08x, payload %#08x): corrupted", crc, got)
	}
	ad, err := netlink.NewAttributeDecoder(payload)
	if err != nil {
		return badImage("%v", err)
	}
	ad.ByteOrder = binary.LittleEndian
	var d sessionDecoder
	if err := d.decode(ad); err != nil {
		return err
	}
	imgs, err := d.images(true)
	if err != nil {
		return err
	}
	if len(imgs) != 1 {
		return badImage("frame holds %d sessions", len(imgs))
	}
	*img = *imgs[0]
	return nil
}

// validate checks the invariants every encoded image must hold.
func (img *Image) validate() error {
	if !img.Tuple.Local.IsValid() || !img.Tuple.Remote.IsValid() {
		return fmt.Errorf("%w: incomplete tuple", ErrBadImage)
	}
	if img.Tuple.Local.Addr().Is4() != img.Tuple.Remote.Addr().Is4() {
		return fmt.Errorf("%w: tuple mixes IPv4 and IPv6", ErrBadImage)
	}
	if img.State < StateEstablished || img.State > StateClosing {
		return fmt.Errorf("%w: state %d", ErrBadImage, img.State)
	}
	if img.SndNxt-img.SndUna != uint32(len(img.SendUnacked)) {
		return fmt.Errorf("%w: snd_nxt-snd_una = %d but %d unacked bytes", ErrBadImage, img.SndNxt-img.SndUna, len(img.SendUnacked))
	}
	if img.WriteSeq-img.SndNxt != uint32(len(img.SendUnsent)) {
		return fmt.Errorf("%w: write_seq-snd_nxt = %d but %d unsent bytes", ErrBadImage, img.WriteSeq-img.SndNxt, len(img.SendUnsent))
	}
	for _, q := range []struct {
		name string
		b    []byte
	}{{"receive queue", img.RecvQueue}, {"unacked queue", img.SendUnacked}, {"unsent queue", img.SendUnsent}} {
		if len(q.b) > tcptakeh.QueueMax {
			return fmt.Errorf("%w: %s of %d bytes exceeds %d", ErrBadImage, q.name, len(q.b), tcptakeh.QueueMax)
		}
	}
	if len(img.AppState) > tcptakeh.AppStateMax {
		return fmt.Errorf("%w: application state of %d bytes exceeds %d", ErrBadImage, len(img.AppState), tcptakeh.AppStateMax)
	}
	if img.SndWScale > 14 || img.RcvWScale > 14 {
		return fmt.Errorf("%w: window scale above 14", ErrBadImage)
	}
	if img.MSSClamp != 0 && (img.MSSClamp < 64 || img.MSSClamp > 65535) {
		return fmt.Errorf("%w: mss_clamp %d out of range", ErrBadImage, img.MSSClamp)
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
	have      uint32
	window    int // window attributes seen
	rcvqLen   uint32
	unackLen  uint32
	unsentLen uint32
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
}

// decode reads one set of session attributes.
func (d *sessionDecoder) decode(ad *netlink.AttributeDecoder) error {
	p := new(partial)
	if err := p.decodeAttrs(ad); err != nil {
		return err
	}
	if n := len(d.parts); n > 0 && p.have == haveTuple {
		last := d.parts[n-1]
		if last.img.Tuple == p.img.Tuple && !last.complete() {
			return last.appendChunks(&p.img)
		}
	}
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
func (d *sessionDecoder) images(withQueues bool) ([]*Image, error) {
	out := make([]*Image, 0, len(d.parts))
	for _, p := range d.parts {
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
		img := p.img
		if !withQueues {
			img.RecvQueue, img.SendUnacked, img.SendUnsent = nil, nil, nil
			img.Queued = &QueueLengths{Recv: p.rcvqLen, Unacked: p.unackLen, Unsent: p.unsentLen}
			out = append(out, &img)
			continue
		}
		if !p.complete() {
			return nil, badImage("%s: queue data incomplete (have %d/%d/%d bytes, want %d/%d/%d)", p.img.Tuple,
				len(p.img.RecvQueue), len(p.img.SendUnacked), len(p.img.SendUnsent), p.rcvqLen, p.unackLen, p.unsentLen)
		}
		if err := img.validate(); err != nil {
			return nil, &Error{Op: OpDecode, Session: img.String(), Err: err}
		}
		out = append(out, &img)
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
			win(&img.windowOrNew().SndWl1)
		case tcptakeh.ASessionSndWnd:
			win(&img.windowOrNew().SndWnd)
		case tcptakeh.ASessionMaxWindow:
			win(&img.windowOrNew().MaxWindow)
		case tcptakeh.ASessionRcvWnd:
			win(&img.windowOrNew().RcvWnd)
		case tcptakeh.ASessionRcvWup:
			win(&img.windowOrNew().RcvWup)
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
			img.kernelOrNew().TSRecent = ad.Uint32()
		case tcptakeh.ASessionSrttUs:
			img.kernelOrNew().SRTTus = ad.Uint32()
		case tcptakeh.ASessionMdevUs:
			img.kernelOrNew().MDEVus = ad.Uint32()
		case tcptakeh.ASessionRtoUs:
			img.kernelOrNew().RTOus = ad.Uint32()
		case tcptakeh.ASessionSndCwnd:
			img.kernelOrNew().SndCwnd = ad.Uint32()
		case tcptakeh.ASessionSndSsthresh:
			img.kernelOrNew().SndSsthresh = ad.Uint32()
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

func (img *Image) windowOrNew() *Window {
	if img.Window == nil {
		img.Window = new(Window)
	}
	return img.Window
}

func (img *Image) kernelOrNew() *KernelState {
	if img.Kernel == nil {
		img.Kernel = new(KernelState)
	}
	return img.Kernel
}
