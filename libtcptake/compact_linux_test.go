//go:build linux

package libtcptake

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// compactState is img's struct session-compact, as the module fills it.
func compactState(img *Image) []byte {
	b := make([]byte, tcptakeh.SessionCompactSize)
	put := func(off int, v uint32) { binary.NativeEndian.PutUint32(b[off:], v) }
	var w Window
	if img.Window != nil {
		w = *img.Window
	}
	var k KernelState
	if img.Kernel != nil {
		k = *img.Kernel
	}
	so := img.Sock
	fam, _ := tupleFamily(img.Tuple)
	binary.NativeEndian.PutUint16(b[tcptakeh.SessionCompactOffFamily:], fam)
	copy(b[tcptakeh.SessionCompactOffLocalAddr:], addrBytes(img.Tuple.Local.Addr().Unmap()))
	copy(b[tcptakeh.SessionCompactOffRemoteAddr:], addrBytes(img.Tuple.Remote.Addr().Unmap()))
	binary.BigEndian.PutUint16(b[tcptakeh.SessionCompactOffLocalPort:], img.Tuple.Local.Port())
	binary.BigEndian.PutUint16(b[tcptakeh.SessionCompactOffRemotePort:], img.Tuple.Remote.Port())
	binary.NativeEndian.PutUint32(b[tcptakeh.SessionCompactOffIfindex:], img.Tuple.IfIndex)
	binary.NativeEndian.PutUint64(b[tcptakeh.SessionCompactOffCaptureTimeNs:], uint64(img.CaptureTime.UnixNano()))
	for off, v := range map[int]uint32{
		tcptakeh.SessionCompactOffSndUna:         img.SndUna,
		tcptakeh.SessionCompactOffSndNxt:         img.SndNxt,
		tcptakeh.SessionCompactOffWriteSeq:       img.WriteSeq,
		tcptakeh.SessionCompactOffRcvNxt:         img.RcvNxt,
		tcptakeh.SessionCompactOffRcvqLen:        uint32(len(img.RecvQueue)),
		tcptakeh.SessionCompactOffSndqUnackedLen: uint32(len(img.SendUnacked)),
		tcptakeh.SessionCompactOffSndqUnsentLen:  uint32(len(img.SendUnsent)),
		tcptakeh.SessionCompactOffOptions:        uint32(img.Options),
		tcptakeh.SessionCompactOffMssClamp:       img.MSSClamp,
		tcptakeh.SessionCompactOffTsval:          img.TSVal,
		tcptakeh.SessionCompactOffSndWl1:         w.SndWl1,
		tcptakeh.SessionCompactOffSndWnd:         w.SndWnd,
		tcptakeh.SessionCompactOffMaxWindow:      w.MaxWindow,
		tcptakeh.SessionCompactOffRcvWnd:         w.RcvWnd,
		tcptakeh.SessionCompactOffRcvWup:         w.RcvWup,
		tcptakeh.SessionCompactOffKeepIdle:       so.KeepIdle,
		tcptakeh.SessionCompactOffKeepIntvl:      so.KeepIntvl,
		tcptakeh.SessionCompactOffKeepCnt:        so.KeepCnt,
		tcptakeh.SessionCompactOffUserTimeout:    so.UserTimeout,
		tcptakeh.SessionCompactOffRcvbuf:         so.RcvBuf,
		tcptakeh.SessionCompactOffSndbuf:         so.SndBuf,
		tcptakeh.SessionCompactOffTsRecent:       k.TSRecent,
		tcptakeh.SessionCompactOffSrttUs:         k.SRTTus,
		tcptakeh.SessionCompactOffMdevUs:         k.MDEVus,
		tcptakeh.SessionCompactOffRtoUs:          k.RTOus,
		tcptakeh.SessionCompactOffSndCwnd:        k.SndCwnd,
		tcptakeh.SessionCompactOffSndSsthresh:    k.SndSsthresh,
	} {
		put(off, v)
	}
	var has uint8
	for _, f := range []struct {
		bit uint8
		set bool
	}{
		{tcptakeh.CompactHasRcvbuf, so.RcvBuf != 0}, {tcptakeh.CompactHasSndbuf, so.SndBuf != 0},
		{tcptakeh.CompactHasTtl, so.TTL != 0}, {tcptakeh.CompactHasV6only, so.V6Only},
	} {
		if f.set {
			has |= f.bit
		}
	}
	for off, v := range map[int]uint8{
		tcptakeh.SessionCompactOffState:     uint8(img.State),
		tcptakeh.SessionCompactOffSndWscale: img.SndWScale,
		tcptakeh.SessionCompactOffRcvWscale: img.RcvWScale,
		tcptakeh.SessionCompactOffNodelay:   b2u8(so.NoDelay),
		tcptakeh.SessionCompactOffKeepalive: b2u8(so.KeepAlive),
		tcptakeh.SessionCompactOffTos:       so.TOS,
		tcptakeh.SessionCompactOffTtl:       so.TTL,
		tcptakeh.SessionCompactOffV6only:    b2u8(so.V6Only),
		tcptakeh.SessionCompactOffHas:       has,
	} {
		b[off] = v
	}
	return b
}

// compactSession is img's session nest as a GET with flag compact puts
// it: the struct (its length changed by resize bytes) and the chunks.
func compactSession(tb testing.TB, img *Image, resize int) netlink.Attribute {
	st := compactState(img)
	if resize < 0 {
		st = st[:len(st)+resize]
	} else {
		st = append(st, bytes.Repeat([]byte{0xa5}, resize)...)
	}
	as := []netlink.Attribute{{Type: tcptakeh.ASessionCompact, Data: st}}
	for _, q := range []struct {
		typ uint16
		b   []byte
	}{
		{tcptakeh.ASessionRcvq, img.RecvQueue}, {tcptakeh.ASessionSndqUnacked, img.SendUnacked},
		{tcptakeh.ASessionSndqUnsent, img.SendUnsent},
	} {
		if len(q.b) > 0 {
			as = append(as, netlink.Attribute{Type: q.typ, Data: q.b})
		}
	}
	return nest(tb, tcptakeh.ASession, as...)
}

// compactImages are images as the module takes them: capture time, no
// generation, the optional socket values of an IPv6 session set.
func compactImages() []*Image {
	a := testImage(tu4, []byte("received"), []byte("unacked"), []byte("unsent bytes"))
	b := testImage(tu6, nil, nil, nil)
	b.Sock = SockOpts{KeepAlive: true, KeepIdle: 7200, KeepIntvl: 75, KeepCnt: 9, UserTimeout: 30000,
		RcvBuf: 1 << 20, SndBuf: 1 << 19, TOS: 0x10, TTL: 17, V6Only: true}
	b.State = StateCloseWait
	for i, img := range []*Image{a, b} {
		img.Generation = 0
		img.CaptureTime = time.Unix(1700000000, int64(i)).UTC()
	}
	return []*Image{a, b}
}

// TestClientSessionsCompact: a dump in the compact form gives the images
// the attribute form gives, field by field, with and without buffers.
func TestClientSessionsCompact(t *testing.T) {
	want := compactImages()
	for _, withBuffers := range []bool{true, false} {
		var tlv, compact []netlink.Attribute
		for _, img := range want {
			tlv = append(tlv, netlink.Attribute{Type: netlink.Nested | tcptakeh.ASession, Data: sessionAttrs(t, img)})
			compact = append(compact, compactSession(t, img, 0))
		}
		fromTLV, err := decodeSessions([]msg{{m: reply(t, tcptakeh.CmdGet, tlv...)}}, withBuffers)
		if err != nil {
			t.Fatal(err)
		}
		c := testClient(t, tcptakeh.CmdGet, netlink.Request|netlink.Dump, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
			flags := uint32(tcptakeh.GetFlagsCompact)
			if withBuffers {
				flags |= tcptakeh.GetFlagsBuffers
			}
			checkData(t, []netlink.Attribute{{Type: tcptakeh.AGetFlags, Data: u32(flags)}}, greq.Data)
			return []genetlink.Message{reply(t, tcptakeh.CmdGet, compact[0]), reply(t, tcptakeh.CmdGet, compact[1])}, nil
		})
		got, err := c.Sessions(context.Background(), SessionFilter{}, withBuffers)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(fromTLV, got, cmpAddrPort); diff != "" {
			t.Fatalf("buffers %v: compact images differ from the attribute form (-tlv +compact):\n%s", withBuffers, diff)
		}
		if withBuffers {
			if diff := cmp.Diff(want, got, cmpAddrPort); diff != "" {
				t.Fatalf("images (-want +got):\n%s", diff)
			}
		}
	}
}

// TestDecodeCompactLength: a struct longer than this build knows (a newer
// module's) is read, a shorter one rejected.
func TestDecodeCompactLength(t *testing.T) {
	img := compactImages()[0]
	for _, tc := range []struct {
		resize int
		ok     bool
	}{{0, true}, {8, true}, {64, true}, {-1, false}, {-tcptakeh.SessionCompactSize, false}} {
		imgs, err := decodeSessions([]msg{{m: reply(t, tcptakeh.CmdGet, compactSession(t, img, tc.resize))}}, true)
		if !tc.ok {
			if !errors.Is(err, ErrBadImage) || len(imgs) != 0 {
				t.Errorf("%+d bytes: %d images, %v; want ErrBadImage", tc.resize, len(imgs), err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+d bytes: %v", tc.resize, err)
		}
		if diff := cmp.Diff([]*Image{img}, imgs, cmpAddrPort); diff != "" {
			t.Errorf("%+d bytes: (-want +got):\n%s", tc.resize, diff)
		}
	}
}

// TestClientSessionsCompactFallback: a module without GET flag compact
// rejects it (EOPNOTSUPP with its extack, in NLMSG_ERROR from the dump's
// start or, on 6.1, in NLMSG_DONE); the client dumps again in attributes,
// and asks in attributes from then on. Other errors are not retried.
func TestClientSessionsCompactFallback(t *testing.T) {
	img := compactImages()[0]
	for _, inDone := range []bool{false, true} {
		var requests []uint32
		k := &rawKernel{t: t, fn: func(req netlink.Message, gm genetlink.Message) []netlink.Message {
			ad, err := netlink.NewAttributeDecoder(gm.Data)
			if err != nil {
				t.Fatal(err)
			}
			var flags uint32
			for ad.Next() {
				if ad.Type() == tcptakeh.AGetFlags {
					flags = ad.Uint32()
				}
			}
			requests = append(requests, flags)
			if flags&^tcptakeh.GetFlagsBuffers != 0 {
				m := extackError(req, unix.EOPNOTSUPP, "unknown flag bits")
				if inDone {
					m.Header.Type, m.Header.Flags = netlink.Done, netlink.Multi|netlink.AcknowledgeTLVs
					m.Data = append(m.Data[:4], m.Data[20:]...)
				}
				return []netlink.Message{m}
			}
			return []netlink.Message{genlMsg(t, netlink.Multi, reply(t, tcptakeh.CmdGet,
				netlink.Attribute{Type: netlink.Nested | tcptakeh.ASession, Data: sessionAttrs(t, img)})), doneMsg}
		}}
		c := k.client()
		for range 2 {
			got, err := c.Sessions(context.Background(), SessionFilter{}, true)
			if err != nil {
				t.Fatalf("NLMSG_DONE %v: %v", inDone, err)
			}
			if diff := cmp.Diff([]*Image{img}, got, cmpAddrPort); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		}
		c.Close()
		want := []uint32{tcptakeh.GetFlagsBuffers | tcptakeh.GetFlagsCompact, tcptakeh.GetFlagsBuffers, tcptakeh.GetFlagsBuffers}
		if diff := cmp.Diff(want, requests); diff != "" {
			t.Fatalf("NLMSG_DONE %v: get-flags of the requests (-want +got):\n%s", inDone, diff)
		}
	}

	dumps := 0
	k := &rawKernel{t: t, fn: func(req netlink.Message, _ genetlink.Message) []netlink.Message {
		dumps++
		return []netlink.Message{extackError(req, unix.EPERM, "need CAP_NET_ADMIN")}
	}}
	c := k.client()
	defer c.Close()
	if _, err := c.Sessions(context.Background(), SessionFilter{}, true); !errors.Is(err, ErrPermission) || dumps != 1 {
		t.Fatalf("EPERM: %v after %d dumps, want ErrPermission after 1", err, dumps)
	}
}

// dumpMsgs is a GET dump of n idle sessions (empty queues, the values the
// module puts), perMsg sessions to a message as the module packs them,
// in attributes or in the compact form.
func dumpMsgs(tb testing.TB, n, perMsg int, compact bool) []msg {
	var msgs []msg
	for i := 0; i < n; i += perMsg {
		var as []netlink.Attribute
		for j := i; j < min(n, i+perMsg); j++ {
			img := testImage(Tuple{
				Local:  netip.MustParseAddrPort("10.0.0.1:80"),
				Remote: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(10000+j)),
			}, nil, nil, nil)
			img.Sock.KeepIdle, img.Sock.KeepIntvl, img.Sock.KeepCnt = 7200, 75, 9
			img.CaptureTime = time.Unix(1700000000, int64(j)).UTC()
			img.Generation = 0
			if compact {
				as = append(as, compactSession(tb, img, 0))
			} else {
				as = append(as, netlink.Attribute{Type: netlink.Nested | tcptakeh.ASession, Data: sessionAttrs(tb, img)})
			}
		}
		msgs = append(msgs, msg{m: reply(tb, tcptakeh.CmdGet, as...)})
	}
	return msgs
}

// BenchmarkDecodeSessions decodes a GET dump of 1000 idle sessions; the
// figures are per dump (per session: divide by 1000).
func BenchmarkDecodeSessions(b *testing.B) {
	for _, compact := range []bool{false, true} {
		name := "attributes"
		if compact {
			name = "compact"
		}
		b.Run(name, func(b *testing.B) {
			msgs := dumpMsgs(b, 1000, 20, compact)
			b.ReportAllocs()
			for b.Loop() {
				imgs, err := decodeSessions(msgs, true)
				if err != nil || len(imgs) != 1000 {
					b.Fatal(len(imgs), err)
				}
			}
		})
	}
}
