// Image ⇄ wire: the frame that carries an image in a file or on a stream.

package libtcptake

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/mdlayher/netlink"
	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// An image on a wire or in a file is one frame: a 16-byte header, then the
// attributes of the "session" set: in version 1 as little-endian netlink
// TLVs (the same attributes a module GET reply nests in "session"), in
// versions 2 and 3 packed (packed.go); version 3, which MarshalBinary
// writes, also leaves out rcv-wup and snd-ssthresh where the decoder can
// restore them, so that an older reader refuses it instead of missing
// them. All three decode.
//
//	0      4        6      8        12       16
//	| magic | version | flags | length | crc32c | payload (length bytes) ...
//
// All header fields are big-endian; crc32c (Castagnoli) covers the payload.
const (
	frameMagic   = "TCPT"
	frameVersion = 1 // netlink TLVs
	framePacked  = 3 // packed (2: without rcv-wup and snd-ssthresh derived)
	frameHdrLen  = 16
	// frameMax bounds the payload: three full queues, application state
	// and headroom for attribute headers.
	frameMax = 3*tcptakeh.QueueMax + 4<<20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes img as one frame.
func (img *Image) MarshalBinary() ([]byte, error) {
	if err := img.validate(); err != nil {
		return nil, opErr(OpEncode, img, err)
	}
	// The attributes but the queue bytes as netlink TLVs, packed; the
	// queue bytes are copied once, into the frame.
	meta := *img
	meta.RecvQueue, meta.SendUnacked, meta.SendUnsent = nil, nil, nil
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.LittleEndian
	encodeSession(ae, &meta)
	tlv, err := ae.Encode()
	if err != nil {
		return nil, opErr(OpEncode, img, err)
	}
	queues := len(img.RecvQueue) + len(img.SendUnacked) + len(img.SendUnsent)
	b := make([]byte, frameHdrLen, frameHdrLen+len(tlv)+queues+3*8*(queues/tcptakeh.ChunkMax+1))
	if b, err = pack(b, img, tlv); err != nil {
		return nil, opErr(OpEncode, img, err)
	}
	payload := b[frameHdrLen:]
	copy(b, frameMagic)
	binary.BigEndian.PutUint16(b[4:], framePacked)
	binary.BigEndian.PutUint32(b[8:], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[12:], crc32.Checksum(payload, castagnoli))
	return b, nil
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
	return img.decodePayload(b[:frameHdrLen], b[frameHdrLen:])
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
	if err := img.decodePayload(hdr[:], payload); err != nil {
		return nil, err
	}
	return img, nil
}

func badImage(format string, args ...any) error {
	return opErr(OpDecode, nil, fmt.Errorf("%w: "+format, append([]any{ErrBadImage}, args...)...))
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
	if v := binary.BigEndian.Uint16(b[4:]); v < frameVersion || v > framePacked {
		return 0, badImage("image version %d, this build reads versions %d to %d", v, frameVersion, framePacked)
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

// decodePayload decodes the payload of a frame whose header hdr checked.
func (img *Image) decodePayload(hdr, payload []byte) error {
	if got, crc := crc32.Checksum(payload, castagnoli), binary.BigEndian.Uint32(hdr[12:]); got != crc {
		return badImage("CRC32C mismatch (header %#08x, payload %#08x): corrupted", crc, got)
	}
	if v := binary.BigEndian.Uint16(hdr[4:]); v != frameVersion {
		var err error
		if payload, err = unpack(payload, v == framePacked); err != nil {
			return badImage("%v", err)
		}
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
