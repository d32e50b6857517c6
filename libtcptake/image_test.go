package libtcptake

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// imageCmp compares images: byte slices by content (nil == empty) and
// addresses by value.
var imageCmp = []cmp.Option{
	cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) }),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

// fullImage sets every field, with queues that need several chunks.
func fullImage() *Image {
	unacked := pattern(tcptakeh.ChunkMax+100, 1)
	unsent := pattern(3, 2)
	return &Image{
		Tuple: Tuple{
			Local:  netip.MustParseAddrPort("[2001:db8::100]:80"),
			Remote: netip.MustParseAddrPort("[2001:db8::1]:40000"),
		},
		State:       StateFinWait1,
		SndUna:      0xfffffff0, // wraps
		SndNxt:      0xfffffff0 + uint32(len(unacked)),
		WriteSeq:    0xfffffff0 + uint32(len(unacked)+len(unsent)),
		RcvNxt:      12345,
		RecvQueue:   pattern(2*tcptakeh.ChunkMax, 3),
		SendUnacked: unacked,
		SendUnsent:  unsent,
		Options:     OptSACK | OptTimestamps | OptWScale | OptUsecTS,
		MSSClamp:    1440,
		SndWScale:   7,
		RcvWScale:   9,
		TSVal:       0xabcdef01,
		Window:      &Window{SndWl1: 1, SndWnd: 2, MaxWindow: 3, RcvWnd: 4, RcvWup: 5},
		Sock: SockOpts{NoDelay: true, KeepAlive: true, KeepIdle: 30, KeepIntvl: 5, KeepCnt: 3,
			UserTimeout: 9000, RcvBuf: 1 << 20, SndBuf: 1 << 19, TOS: 0x10, TTL: 33, V6Only: true},
		Kernel:      &KernelState{TSRecent: 6, SRTTus: 7, MDEVus: 8, RTOus: 200000, SndCwnd: 10, SndSsthresh: 11},
		AppState:    []byte("offset=42"),
		CaptureTime: time.Unix(1700000000, 123456789).UTC(),
		Generation:  77,
	}
}

func TestImageRoundTrip(t *testing.T) {
	for name, img := range map[string]*Image{
		"full": fullImage(),
		"minimal": {
			Tuple: Tuple{Local: netip.MustParseAddrPort("192.0.2.100:80"),
				Remote: netip.MustParseAddrPort("192.0.2.1:1234")},
			State: StateEstablished, SndUna: 1, SndNxt: 1, WriteSeq: 1, RcvNxt: 2,
		},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := img.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got Image
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(img, &got, imageCmp...); diff != "" {
				t.Fatalf("round trip (-want +got):\n%s", diff)
			}
			// A stream of frames reads back frame by frame, then io.EOF.
			var buf bytes.Buffer
			for range 2 {
				if err := WriteImage(&buf, img); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 {
				if _, err := ReadImage(&buf); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := ReadImage(&buf); err != io.EOF {
				t.Fatalf("after the last frame: %v, want io.EOF", err)
			}
		})
	}
}

// frame wraps a payload in a valid header.
func frame(payload []byte) []byte {
	b := make([]byte, frameHdrLen)
	copy(b, frameMagic)
	binary.BigEndian.PutUint16(b[4:], frameVersion)
	binary.BigEndian.PutUint32(b[8:], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[12:], crc32.Checksum(payload, castagnoli))
	return append(b, payload...)
}

func payloadOf(t *testing.T, fn func(ae *netlink.AttributeEncoder)) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.LittleEndian
	fn(ae)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestImageDecodeErrors(t *testing.T) {
	good, err := fullImage().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(fn func(b []byte) []byte) []byte {
		return fn(append([]byte(nil), good...))
	}
	minimal := &Image{
		Tuple: Tuple{Local: netip.MustParseAddrPort("192.0.2.100:80"), Remote: netip.MustParseAddrPort("192.0.2.1:1234")},
		State: StateEstablished,
	}
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "truncated frame header"},
		{"short header", good[:10], "truncated frame header"},
		{"truncated payload", good[:len(good)-1], "payload bytes, header says"},
		{"trailing bytes", append(append([]byte(nil), good...), 0), "payload bytes, header says"},
		{"bad magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b }), "bad magic"},
		{"bad version", mutate(func(b []byte) []byte { b[5] = 9; return b }), "image version 9"},
		{"flags", mutate(func(b []byte) []byte { b[7] = 1; return b }), "unknown frame flags"},
		{"absurd length", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 1<<31); return b }), "exceeds the limit"},
		{"corrupted", mutate(func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }), "CRC32C mismatch"},
		{"missing state", frame(payloadOf(t, func(ae *netlink.AttributeEncoder) {
			encodeTupleNest(ae, tcptakeh.ASessionTuple, minimal.Tuple)
		})), `required attribute "state" missing`},
		{"short u32", frame(payloadOf(t, func(ae *netlink.AttributeEncoder) {
			ae.Uint16(tcptakeh.ASessionSndUna, 1)
		})), "bad session image"},
		{"chunks beyond length", frame(payloadOf(t, func(ae *netlink.AttributeEncoder) {
			encodeSession(ae, minimal)
			ae.Bytes(tcptakeh.ASessionRcvq, []byte("extra"))
		})), "exceed the declared queue lengths"},
		{"queue shorter than length", frame(payloadOf(t, func(ae *netlink.AttributeEncoder) {
			img := *minimal
			img.RecvQueue = []byte("abc")
			encodeSession(ae, &img)
			ae.Uint32(tcptakeh.ASessionRcvqLen, 10)
		})), "queue data incomplete"},
		{"inconsistent seqs", frame(payloadOf(t, func(ae *netlink.AttributeEncoder) {
			encodeSession(ae, minimal)
			ae.Uint32(tcptakeh.ASessionSndNxt, 5)
		})), "snd_nxt-snd_una = 5 but 0 unacked bytes"},
		{"bad family", frame(payloadOf(t, func(ae *netlink.AttributeEncoder) {
			ae.Nested(tcptakeh.ASessionTuple, func(nae *netlink.AttributeEncoder) error {
				nae.Uint16(tcptakeh.ATupleFamily, 99)
				return nil
			})
		})), "bad session image"},
		{"partial window", frame(payloadOf(t, func(ae *netlink.AttributeEncoder) {
			encodeSession(ae, minimal)
			ae.Uint32(tcptakeh.ASessionSndWnd, 5)
		})), "of the 5 window attributes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var img Image
			err := img.UnmarshalBinary(tt.b)
			if !errors.Is(err, ErrBadImage) {
				t.Fatalf("err = %v, want ErrBadImage", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to mention %q", err, tt.want)
			}
			// In a stream, trailing bytes start the next frame.
			if _, err := ReadImage(bytes.NewReader(tt.b)); err == nil && tt.name != "trailing bytes" {
				t.Fatal("ReadImage accepted it")
			}
		})
	}
}

func TestImageUnknownAttributesSkipped(t *testing.T) {
	img := fullImage()
	b := frame(payloadOf(t, func(ae *netlink.AttributeEncoder) {
		ae.Bytes(999, []byte("from a newer writer"))
		encodeSession(ae, img)
		ae.Uint64(1000, 1)
	}))
	var got Image
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.SendUnacked, img.SendUnacked) || got.Generation != img.Generation {
		t.Fatal("fields lost around unknown attributes")
	}
}

// TestSessionDecoderContinuation checks the family-doc rule: consecutive
// nests with the same tuple continue one session's queues.
func TestSessionDecoderContinuation(t *testing.T) {
	img := fullImage()
	first := *img
	first.RecvQueue, first.SendUnacked, first.SendUnsent = img.RecvQueue[:10], nil, nil
	nests := [][]byte{
		payloadOf(t, func(ae *netlink.AttributeEncoder) {
			encodeSession(ae, &first)
			// The lengths are those of the whole session.
			ae.Uint32(tcptakeh.ASessionRcvqLen, uint32(len(img.RecvQueue)))
			ae.Uint32(tcptakeh.ASessionSndqUnackedLen, uint32(len(img.SendUnacked)))
			ae.Uint32(tcptakeh.ASessionSndqUnsentLen, uint32(len(img.SendUnsent)))
		}),
		payloadOf(t, func(ae *netlink.AttributeEncoder) {
			encodeTupleNest(ae, tcptakeh.ASessionTuple, img.Tuple)
			encodeChunks(ae, tcptakeh.ASessionRcvq, img.RecvQueue[10:])
			encodeChunks(ae, tcptakeh.ASessionSndqUnacked, img.SendUnacked)
		}),
		payloadOf(t, func(ae *netlink.AttributeEncoder) {
			encodeTupleNest(ae, tcptakeh.ASessionTuple, img.Tuple)
			encodeChunks(ae, tcptakeh.ASessionSndqUnsent, img.SendUnsent)
		}),
	}
	var d sessionDecoder
	for _, n := range nests {
		ad, err := netlink.NewAttributeDecoder(n)
		if err != nil {
			t.Fatal(err)
		}
		ad.ByteOrder = binary.LittleEndian
		if err := d.decode(ad); err != nil {
			t.Fatal(err)
		}
	}
	imgs, err := d.images(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 {
		t.Fatalf("%d sessions, want 1", len(imgs))
	}
	got := imgs[0]
	if !bytes.Equal(got.RecvQueue, img.RecvQueue) || !bytes.Equal(got.SendUnacked, img.SendUnacked) || !bytes.Equal(got.SendUnsent, img.SendUnsent) {
		t.Fatal("continued queues differ")
	}
}

func FuzzDecodeImage(f *testing.F) {
	good, err := fullImage().MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:40])
	f.Add([]byte(frameMagic))
	f.Add(frame(func() []byte { // version 1
		ae := netlink.NewAttributeEncoder()
		ae.ByteOrder = binary.LittleEndian
		encodeSession(ae, fullImage())
		b, _ := ae.Encode()
		return b
	}()))
	f.Fuzz(func(t *testing.T, b []byte) {
		var img Image
		if err := img.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrBadImage) {
				t.Fatalf("error not ErrBadImage: %v", err)
			}
			return
		}
		// Whatever decodes must encode and decode to the same image.
		b2, err := img.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded image does not encode: %v", err)
		}
		var img2 Image
		if err := img2.UnmarshalBinary(b2); err != nil {
			t.Fatalf("re-encoded image does not decode: %v", err)
		}
		if diff := cmp.Diff(&img, &img2, imageCmp...); diff != "" {
			t.Fatalf("unstable round trip (-first +second):\n%s", diff)
		}
	})
}

// TestImagePacked checks that version 3 frames (MarshalBinary) and
// version 1 frames of the same image decode to it, as does a version 2
// frame written before version 3, and that a typical
// session (IPv4, established, timestamps, window scaling, SACK, the
// window, keepalive, a byte of application state) costs at most 128
// bytes beyond its queue bytes, with the module's kernel state too (a
// session that never lost a segment: snd-ssthresh is the initial value,
// which the packed form leaves out; "lost" keeps another).
func TestImagePacked(t *testing.T) {
	typical := &Image{
		Tuple: Tuple{Local: netip.MustParseAddrPort("192.0.2.100:9000"),
			Remote: netip.MustParseAddrPort("192.0.2.1:45678")},
		State: StateEstablished, SndUna: 0x8a3c1f20, SndNxt: 0x8a3c1f20 + 4096, WriteSeq: 0x8a3c1f20 + 4096,
		RcvNxt: 0x1b2c3d4e, RecvQueue: pattern(4096, 1), SendUnacked: pattern(4096, 2),
		Options: OptSACK | OptTimestamps | OptWScale, MSSClamp: 1448, SndWScale: 7, RcvWScale: 7,
		TSVal:    0x12345678,
		Window:   &Window{SndWl1: 0x1b2c2d4e, SndWnd: 64256, MaxWindow: 64256, RcvWnd: 65152, RcvWup: 0x1b2c3d4e},
		Sock:     SockOpts{NoDelay: true, KeepAlive: true, KeepIdle: 15, KeepIntvl: 15, KeepCnt: 9},
		AppState: []byte{1}, CaptureTime: time.Unix(1800000000, 987654321).UTC(), Generation: 1,
	}
	module := *typical
	module.Kernel = &KernelState{TSRecent: 0x2b3c4d5e, SRTTus: 8 * 1873, MDEVus: 4 * 912, RTOus: 204000,
		SndCwnd: 10, SndSsthresh: initialSsthresh}
	lost := module
	lost.Kernel = &KernelState{TSRecent: 0x2b3c4d5e, SRTTus: 8 * 1873, MDEVus: 4 * 912, RTOus: 408000,
		SndCwnd: 7, SndSsthresh: 7}
	// A version 2 frame (rcv-wup and snd-ssthresh in it) still decodes:
	// the module image with 3 and 4 queue bytes, as tcptake wrote it
	// before version 3.
	small := module
	small.RecvQueue, small.SendUnacked = []byte("abc"), []byte("defg")
	small.SndNxt, small.WriteSeq = small.SndUna+4, small.SndUna+4
	old, _ := hex.DecodeString("54435054000200000000007aa5ce40a6041205020bc00002640e232813c000020116b26e0901" +
		"0f201f3c8a1b4e3d2c1b35073aa8053d07410747785634124b4e2d2c1b4e00fb5200fb5680fe5b4e3d2c1b5d016101650f690f" +
		"6d098b5e4d3c2b8e883a92400e9403e01c03990a9fffffff7fa101a408b16892ce76e2fa18a90128036162632f64656667")
	var got Image
	if err := got.UnmarshalBinary(old); err != nil {
		t.Fatalf("version 2 frame: %v", err)
	}
	if diff := cmp.Diff(&small, &got, imageCmp...); diff != "" {
		t.Fatalf("version 2 frame: decoded image differs (-want +got):\n%s", diff)
	}
	for name, img := range map[string]*Image{"typical": typical, "module": &module, "lost": &lost, "full": fullImage()} {
		t.Run(name, func(t *testing.T) {
			v3, err := img.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if v := binary.BigEndian.Uint16(v3[4:]); v != framePacked {
				t.Fatalf("MarshalBinary wrote version %d, want %d", v, framePacked)
			}
			v1 := frame(payloadOf(t, func(ae *netlink.AttributeEncoder) { encodeSession(ae, img) }))
			for version, b := range map[int][]byte{1: v1, 3: v3} {
				var got Image
				if err := got.UnmarshalBinary(b); err != nil {
					t.Fatalf("version %d: %v", version, err)
				}
				if diff := cmp.Diff(img, &got, imageCmp...); diff != "" {
					t.Fatalf("version %d: decoded image differs (-want +got):\n%s", version, diff)
				}
			}
			queues := len(img.RecvQueue) + len(img.SendUnacked) + len(img.SendUnsent)
			t.Logf("%s: %d bytes beyond the queues (version 1: %d)", name, len(v3)-queues, len(v1)-queues)
			if (name == "typical" || name == "module") && len(v3)-queues > 128 {
				t.Fatalf("%d bytes beyond the queues, want at most 128", len(v3)-queues)
			}
		})
	}
}
