// The packed payload of frame versions 2 and 3: the attributes of the
// "session" set, the same ones version 1 carries as netlink TLVs, in fewer
// bytes.

package libtcptake

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"

	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// A packed attribute is one header byte, type<<2 | size, and its value:
//
//	size 1, 2, 3   a value of 1, 2 or 4 bytes follows
//	size 0         a uvarint length follows, then the value
//
// A type above 62 is written as 63 followed by the type as a uvarint.
// Integer attributes (u8 … u64, little-endian) drop their high zero
// bytes: a u32 of 1448 takes 2 bytes. A nest's value is its attributes,
// packed. Left out, and restored by the decoder: the three queue lengths
// (the chunks' sizes), snd-nxt (snd-una + the unacked bytes) and
// write-seq (snd-nxt + the unsent bytes) when they are those values, and
// from version 3 on rcv-wup when it is rcv-nxt (the kernel sets it so
// with every ACK it sends; the window, snd-wl1 with it, is there) and
// snd-ssthresh when it is the kernel's initial value (a session that
// never lost a segment; the kernel state, srtt-us with it, is there).
//
// Unpacking yields the version 1 payload, which the one decoder of the
// set reads: the attribute set of uapi/tcptake.yaml stays the only
// definition of the image.

// sessionWidths and tupleWidths are the integer attributes of the "session" and "tuple"
// sets and their widths; other attributes are bytes (or the tuple nest).
var (
	sessionWidths = map[uint16]int{
		tcptakeh.ASessionState: 1, tcptakeh.ASessionSndUna: 4, tcptakeh.ASessionSndNxt: 4,
		tcptakeh.ASessionWriteSeq: 4, tcptakeh.ASessionRcvNxt: 4, tcptakeh.ASessionRcvqLen: 4,
		tcptakeh.ASessionSndqUnackedLen: 4, tcptakeh.ASessionSndqUnsentLen: 4, tcptakeh.ASessionOptions: 4,
		tcptakeh.ASessionMssClamp: 4, tcptakeh.ASessionSndWscale: 1, tcptakeh.ASessionRcvWscale: 1,
		tcptakeh.ASessionTsval: 4, tcptakeh.ASessionSndWl1: 4, tcptakeh.ASessionSndWnd: 4,
		tcptakeh.ASessionMaxWindow: 4, tcptakeh.ASessionRcvWnd: 4, tcptakeh.ASessionRcvWup: 4,
		tcptakeh.ASessionNodelay: 1, tcptakeh.ASessionKeepalive: 1, tcptakeh.ASessionKeepIdle: 4,
		tcptakeh.ASessionKeepIntvl: 4, tcptakeh.ASessionKeepCnt: 4, tcptakeh.ASessionUserTimeout: 4,
		tcptakeh.ASessionRcvbuf: 4, tcptakeh.ASessionSndbuf: 4, tcptakeh.ASessionTos: 1,
		tcptakeh.ASessionTtl: 1, tcptakeh.ASessionV6only: 1, tcptakeh.ASessionTsRecent: 4,
		tcptakeh.ASessionSrttUs: 4, tcptakeh.ASessionMdevUs: 4, tcptakeh.ASessionRtoUs: 4,
		tcptakeh.ASessionSndCwnd: 4, tcptakeh.ASessionSndSsthresh: 4, tcptakeh.ASessionCaptureTimeNs: 8,
		tcptakeh.ASessionGeneration: 8,
	}
	tupleWidths = map[uint16]int{tcptakeh.ATupleFamily: 2, tcptakeh.ATupleIfindex: 4}
)

// initialSsthresh is a socket's snd_ssthresh until its first loss
// (TCP_INFINITE_SSTHRESH).
const initialSsthresh = 0x7fffffff

// derived are the session attributes the packed form leaves out when the
// decoder can restore them.
var derived = map[uint16]bool{
	tcptakeh.ASessionSndNxt: true, tcptakeh.ASessionWriteSeq: true, tcptakeh.ASessionRcvqLen: true,
	tcptakeh.ASessionSndqUnackedLen: true, tcptakeh.ASessionSndqUnsentLen: true,
}

// pack appends img's packed payload to out: meta is img's version 1
// payload without the queue bytes, which follow as packed chunks.
func pack(out []byte, img *Image, meta []byte) ([]byte, error) {
	omit := func(typ uint16) bool {
		switch typ {
		case tcptakeh.ASessionSndNxt:
			return img.SndNxt == img.SndUna+uint32(len(img.SendUnacked))
		case tcptakeh.ASessionWriteSeq:
			return img.WriteSeq == img.SndNxt+uint32(len(img.SendUnsent))
		case tcptakeh.ASessionRcvWup:
			return img.Window != nil && img.Window.RcvWup == img.RcvNxt
		case tcptakeh.ASessionSndSsthresh:
			return img.Kernel != nil && img.Kernel.SndSsthresh == initialSsthresh
		}
		return derived[typ] // the lengths, from the chunks
	}
	out, err := packAttrs(out, meta, sessionWidths, omit)
	if err != nil {
		return nil, err
	}
	for _, q := range []struct {
		typ uint16
		b   []byte
	}{{tcptakeh.ASessionRcvq, img.RecvQueue}, {tcptakeh.ASessionSndqUnacked, img.SendUnacked}, {tcptakeh.ASessionSndqUnsent, img.SendUnsent}} {
		for b := q.b; len(b) > 0; {
			n := min(len(b), tcptakeh.ChunkMax)
			out = append(packHeader(out, q.typ, n), b[:n]...)
			b = b[n:]
		}
	}
	return out, nil
}

// packAttrs packs the attributes of tlv (netlink TLVs our own encoder
// wrote: the session set's, omit not nil, or the tuple nest's).
func packAttrs(out, tlv []byte, widths map[uint16]int, omit func(uint16) bool) ([]byte, error) {
	for len(tlv) > 0 {
		if len(tlv) < 4 {
			return nil, fmt.Errorf("truncated attribute")
		}
		n := int(binary.LittleEndian.Uint16(tlv))
		typ := binary.LittleEndian.Uint16(tlv[2:]) &^ (1<<15 | 1<<14) // NLA_F_NESTED, NLA_F_NET_BYTEORDER
		if n < 4 || n > len(tlv) {
			return nil, fmt.Errorf("attribute %d: bad length %d", typ, n)
		}
		v := tlv[4:n]
		tlv = tlv[min(len(tlv), (n+3)&^3):]
		switch {
		case omit != nil && omit(typ):
			continue
		case omit != nil && typ == tcptakeh.ASessionTuple:
			nest, err := packAttrs(nil, v, tupleWidths, nil)
			if err != nil {
				return nil, err
			}
			v = nest
		case widths[typ] > 0:
			for len(v) > 0 && v[len(v)-1] == 0 {
				v = v[:len(v)-1]
			}
		}
		out = packHeader(out, typ, len(v))
		out = append(out, v...)
	}
	return out, nil
}

func packHeader(out []byte, typ uint16, n int) []byte {
	t := byte(min(typ, 63)) << 2
	switch {
	case n == 1 || n == 2:
		out = append(out, t|byte(n))
	case n == 4:
		out = append(out, t|3)
	default:
		out = append(out, t)
	}
	if typ >= 63 {
		out = binary.AppendUvarint(out, uint64(typ))
	}
	if n != 1 && n != 2 && n != 4 {
		out = binary.AppendUvarint(out, uint64(n))
	}
	return out
}

// unpack turns a packed payload back into the version 1 payload; v3: a
// version 3 payload, which may leave out rcv-wup and snd-ssthresh.
func unpack(b []byte, v3 bool) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.LittleEndian
	var una, nxt, rcv uint32
	var have [64]bool
	var queued [3]int // rcvq, unacked, unsent chunk bytes
	err := unpackAttrs(b, sessionWidths, func(typ uint16, v []byte) error {
		if typ < 64 {
			have[typ] = true
		}
		switch typ {
		case tcptakeh.ASessionTuple:
			var nerr error
			ae.Nested(typ, func(nae *netlink.AttributeEncoder) error {
				nerr = unpackAttrs(v, tupleWidths, func(t uint16, nv []byte) error {
					nae.Bytes(t, nv)
					return nil
				})
				return nerr
			})
			return nerr
		case tcptakeh.ASessionSndUna:
			una = binary.LittleEndian.Uint32(v)
		case tcptakeh.ASessionSndNxt:
			nxt = binary.LittleEndian.Uint32(v)
		case tcptakeh.ASessionRcvNxt:
			rcv = binary.LittleEndian.Uint32(v)
		case tcptakeh.ASessionRcvq:
			queued[0] += len(v)
		case tcptakeh.ASessionSndqUnacked:
			queued[1] += len(v)
		case tcptakeh.ASessionSndqUnsent:
			queued[2] += len(v)
		}
		ae.Bytes(typ, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, typ := range []uint16{tcptakeh.ASessionRcvqLen, tcptakeh.ASessionSndqUnackedLen, tcptakeh.ASessionSndqUnsentLen} {
		if !have[typ] {
			ae.Uint32(typ, uint32(queued[i]))
		}
	}
	if !have[tcptakeh.ASessionSndNxt] && have[tcptakeh.ASessionSndUna] {
		nxt = una + uint32(queued[1])
		ae.Uint32(tcptakeh.ASessionSndNxt, nxt)
		have[tcptakeh.ASessionSndNxt] = true
	}
	if !have[tcptakeh.ASessionWriteSeq] && have[tcptakeh.ASessionSndNxt] {
		ae.Uint32(tcptakeh.ASessionWriteSeq, nxt+uint32(queued[2]))
	}
	if v3 && !have[tcptakeh.ASessionRcvWup] && have[tcptakeh.ASessionSndWl1] && have[tcptakeh.ASessionRcvNxt] {
		ae.Uint32(tcptakeh.ASessionRcvWup, rcv)
	}
	if v3 && !have[tcptakeh.ASessionSndSsthresh] && have[tcptakeh.ASessionSrttUs] {
		ae.Uint32(tcptakeh.ASessionSndSsthresh, initialSsthresh)
	}
	return ae.Encode()
}

// unpackAttrs reads packed attributes and passes each to f with integer
// values widened back to their widths.
func unpackAttrs(b []byte, widths map[uint16]int, f func(typ uint16, v []byte) error) error {
	for len(b) > 0 {
		h := b[0]
		b = b[1:]
		typ := uint16(h >> 2)
		if typ == 63 {
			t, k := binary.Uvarint(b)
			if k <= 0 || t > 0x3fff {
				return fmt.Errorf("packed attribute: bad type")
			}
			typ, b = uint16(t), b[k:]
		}
		n := []int{-1, 1, 2, 4}[h&3]
		if n < 0 {
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				return fmt.Errorf("packed attribute %d: bad length", typ)
			}
			n, b = int(l), b[k:]
		}
		if n > len(b) {
			return fmt.Errorf("packed attribute %d: %d bytes, %d left", typ, n, len(b))
		}
		v := b[:n]
		b = b[n:]
		if w := widths[typ]; w > 0 {
			if n > w {
				return fmt.Errorf("packed attribute %d: %d bytes for a %d-byte integer", typ, n, w)
			}
			v = append(make([]byte, 0, w), v...)
			v = v[:w]
		}
		if err := f(typ, v); err != nil {
			return err
		}
	}
	return nil
}
