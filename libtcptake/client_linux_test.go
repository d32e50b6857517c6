//go:build linux

package libtcptake

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/genetlink/genltest"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nlenc"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"

	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// The fake module's family.
var testFamily = genetlink.Family{
	ID:      0x1d,
	Version: tcptakeh.FamilyVersion,
	Name:    tcptakeh.FamilyName,
	Groups:  []genetlink.MulticastGroup{{ID: 7, Name: tcptakeh.McgrpEvents}},
}

// ack stands for the kernel's acknowledgement of a command without reply
// (genltest cannot build NLMSG_ERROR 0; the client skips any message not
// of the family).
var ack = []genetlink.Message{{}}

// testClient returns a Client talking to fn through genltest, after
// checking the request's command and netlink flags.
func testClient(t *testing.T, cmd uint8, flags netlink.HeaderFlags, fn genltest.Func) *Client {
	t.Helper()
	conn := genltest.Dial(genltest.ServeFamily(testFamily, genltest.CheckRequest(testFamily.ID, cmd, flags, fn)))
	lc, err := initClient(conn, nil, nil)
	if err != nil {
		t.Fatalf("initClient: %v", err)
	}
	c := &Client{c: lc}
	t.Cleanup(func() { c.Close() })
	return c
}

// nest is a nested attribute as the encoder writes it.
func nest(t testing.TB, typ uint16, as ...netlink.Attribute) netlink.Attribute {
	return netlink.Attribute{Type: netlink.Nested | typ, Data: attrs(t, as...)}
}

// reply is one genetlink reply message of the family holding as.
func reply(t testing.TB, cmd uint8, as ...netlink.Attribute) genetlink.Message {
	return genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: tcptakeh.FamilyVersion},
		Data:   attrs(t, as...),
	}
}

// checkData compares a request's attributes with want, as bytes.
func checkData(t *testing.T, want []netlink.Attribute, got []byte) {
	t.Helper()
	if diff := cmp.Diff(attrs(t, want...), got); diff != "" {
		t.Errorf("request attributes (-want +got):\n%s", diff)
	}
}

var (
	tu4 = Tuple{Local: netip.MustParseAddrPort("10.0.0.1:80"), Remote: netip.MustParseAddrPort("10.0.0.2:40000")}
	tu6 = Tuple{Local: netip.MustParseAddrPort("[2001:db8::1]:443"), Remote: netip.MustParseAddrPort("[2001:db8::2]:50000")}
)

func TestClientNotLoaded(t *testing.T) {
	conn := genltest.Dial(func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.ENOENT))
	})
	_, err := initClient(conn, nil, nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want os.ErrNotExist", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Op != "open" || !strings.Contains(err.Error(), "kernel module not loaded") {
		t.Fatalf("err = %#v (%v), want *Error open ... kernel module not loaded", err, err)
	}
}

func TestClientInfo(t *testing.T) {
	c := testClient(t, tcptakeh.CmdInfo, netlink.Request, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		checkData(t, nil, greq.Data)
		return []genetlink.Message{reply(t, tcptakeh.CmdInfo,
			netlink.Attribute{Type: tcptakeh.AVersion, Data: nlenc.Bytes("0.1.0")},
			netlink.Attribute{Type: tcptakeh.AMaxFreezes, Data: u32(4096)},
			netlink.Attribute{Type: tcptakeh.AFreezes, Data: u32(3)},
		)}, nil
	})
	got, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := &ModuleInfo{Version: "0.1.0", MaxFreezes: 4096, Freezes: 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("info (-want +got):\n%s", diff)
	}
}

func TestClientFreeze(t *testing.T) {
	tests := []struct {
		name string
		t    Tuple
		o    FreezeOptions
		want []netlink.Attribute
	}{
		{"default", tu4, FreezeOptions{}, []netlink.Attribute{nest(t, tcptakeh.ATuple, tupleAttrs(t, tu4)...)}},
		{"timeout replace", tu6, FreezeOptions{Timeout: 1500*time.Millisecond + 1, Replace: true}, []netlink.Attribute{
			nest(t, tcptakeh.ATuple, tupleAttrs(t, tu6)...),
			{Type: tcptakeh.ATimeoutMs, Data: u32(1501)},
			{Type: tcptakeh.AFreezeFlags, Data: u32(tcptakeh.FreezeFlagsReplace)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			c := testClient(t, tcptakeh.CmdFreeze, netlink.Request|netlink.Acknowledge, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
				calls++
				if greq.Header.Version != tcptakeh.FamilyVersion {
					t.Errorf("genl version %d", greq.Header.Version)
				}
				checkData(t, tt.want, greq.Data)
				return ack, nil
			})
			if err := c.Freeze(context.Background(), tt.t, tt.o); err != nil {
				t.Fatal(err)
			}
			if calls != 1 {
				t.Fatalf("%d requests", calls)
			}
		})
	}
}

func TestClientFreezeInvalid(t *testing.T) {
	c := testClient(t, tcptakeh.CmdFreeze, 0, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		t.Error("request sent")
		return ack, nil
	})
	if err := c.Freeze(context.Background(), tu4, FreezeOptions{Timeout: 11 * time.Minute}); err == nil {
		t.Error("11 min timeout accepted")
	}
	if err := c.Freeze(context.Background(), Tuple{}, FreezeOptions{}); !errors.Is(err, errTuple) {
		t.Errorf("zero tuple: err = %v", err)
	}
}

func TestClientThaw(t *testing.T) {
	for _, kick := range []bool{false, true} {
		want := []netlink.Attribute{nest(t, tcptakeh.ATuple, tupleAttrs(t, tu4)...)}
		if kick {
			want = append(want, netlink.Attribute{Type: tcptakeh.AThawFlags, Data: u32(tcptakeh.ThawFlagsKick)})
		}
		c := testClient(t, tcptakeh.CmdThaw, netlink.Request|netlink.Acknowledge, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
			checkData(t, want, greq.Data)
			return ack, nil
		})
		if err := c.Thaw(context.Background(), tu4, kick); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClientThawNotFrozen(t *testing.T) {
	c := testClient(t, tcptakeh.CmdThaw, 0, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, genltest.Error(int(unix.ENOENT))
	})
	err := c.Thaw(context.Background(), tu4, false)
	var e *Error
	if !errors.Is(err, os.ErrNotExist) || !errors.As(err, &e) || e.Op != "thaw" || e.Session != tu4.String() {
		t.Fatalf("err = %#v, want *Error thaw %s ENOENT", err, tu4)
	}
	mf := &ModuleFreezer{C: c}
	if err := mf.Thaw(context.Background(), tu4, true); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ModuleFreezer.Thaw: %v", err)
	}
}

func TestModuleFreezer(t *testing.T) {
	c := testClient(t, 0, 0, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		var want []netlink.Attribute
		switch greq.Header.Command {
		case tcptakeh.CmdFreeze:
			want = []netlink.Attribute{
				nest(t, tcptakeh.ATuple, tupleAttrs(t, tu4)...),
				{Type: tcptakeh.ATimeoutMs, Data: u32(30000)},
				{Type: tcptakeh.AFreezeFlags, Data: u32(tcptakeh.FreezeFlagsReplace)},
			}
		case tcptakeh.CmdThaw:
			want = []netlink.Attribute{
				nest(t, tcptakeh.ATuple, tupleAttrs(t, tu4)...),
				{Type: tcptakeh.AThawFlags, Data: u32(tcptakeh.ThawFlagsKick)},
			}
		default:
			t.Errorf("command %d", greq.Header.Command)
		}
		checkData(t, want, greq.Data)
		return ack, nil
	})
	var f Freezer = &ModuleFreezer{C: c, Timeout: 30 * time.Second}
	ctx := context.Background()
	for _, err := range []error{f.Freeze(ctx, tu4), f.Freeze(ctx, tu4), f.Thaw(ctx, tu4, true)} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// testImage is a complete session image with kernel state.
func testImage(tu Tuple, recv, unacked, unsent []byte) *Image {
	return &Image{
		Tuple:       tu,
		State:       StateEstablished,
		SndUna:      1000,
		SndNxt:      1000 + uint32(len(unacked)),
		WriteSeq:    1000 + uint32(len(unacked)+len(unsent)),
		RcvNxt:      5000,
		RecvQueue:   recv,
		SendUnacked: unacked,
		SendUnsent:  unsent,
		Options:     OptSACK | OptTimestamps | OptWScale,
		MSSClamp:    1460,
		SndWScale:   7,
		RcvWScale:   7,
		TSVal:       123456,
		Window:      &Window{SndWl1: 4999, SndWnd: 65535, MaxWindow: 65535, RcvWnd: 65535, RcvWup: 5000},
		Sock:        SockOpts{NoDelay: true},
		Kernel:      &KernelState{TSRecent: 42, SRTTus: 800, MDEVus: 200, RTOus: 201000, SndCwnd: 10, SndSsthresh: 0x7fffffff},
		Generation:  3,
	}
}

// sessionAttrs encodes img's session nest content with the image codec,
// and its digest as the module puts it.
func sessionAttrs(t testing.TB, img *Image) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	encodeSession(ae, img)
	if img.Digest != 0 {
		ae.Uint64(tcptakeh.ASessionDigest, img.Digest)
	}
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// continuation is a session nest continuing tu's queues.
func continuation(t testing.TB, tu Tuple, typ uint16, chunk []byte) netlink.Attribute {
	return nest(t, tcptakeh.ASession,
		nest(t, tcptakeh.ASessionTuple, tupleAttrs(t, tu)...),
		netlink.Attribute{Type: typ, Data: chunk})
}

// headerOnly is img without queue bytes, as Get without buffers returns it.
func headerOnly(img *Image) *Image {
	h := *img
	h.RecvQueue, h.SendUnacked, h.SendUnsent = nil, nil, nil
	h.Queued = &QueueLengths{Recv: uint32(len(img.RecvQueue)), Unacked: uint32(len(img.SendUnacked)), Unsent: uint32(len(img.SendUnsent))}
	return &h
}

// headerAttrs is img's session nest with the queue lengths but no chunks
// (GET without buffers).
func headerAttrs(t testing.TB, img *Image) netlink.Attribute {
	t.Helper()
	b := sessionAttrs(t, headerOnly(img))
	as, err := netlink.UnmarshalAttributes(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range as {
		switch as[i].Type {
		case tcptakeh.ASessionRcvqLen:
			as[i].Data = u32(uint32(len(img.RecvQueue)))
		case tcptakeh.ASessionSndqUnackedLen:
			as[i].Data = u32(uint32(len(img.SendUnacked)))
		case tcptakeh.ASessionSndqUnsentLen:
			as[i].Data = u32(uint32(len(img.SendUnsent)))
		}
	}
	return netlink.Attribute{Type: netlink.Nested | tcptakeh.ASession, Data: attrs(t, as...)}
}

func TestClientGet(t *testing.T) {
	full := testImage(tu4, []byte("received"), []byte("unacked"), []byte("unsent bytes"))
	t.Run("buffers", func(t *testing.T) {
		c := testClient(t, tcptakeh.CmdGet, netlink.Request, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
			checkData(t, []netlink.Attribute{
				nest(t, tcptakeh.ATuple, tupleAttrs(t, tu4)...),
				{Type: tcptakeh.AGetFlags, Data: u32(tcptakeh.GetFlagsBuffers)},
			}, greq.Data)
			return []genetlink.Message{reply(t, tcptakeh.CmdGet,
				netlink.Attribute{Type: netlink.Nested | tcptakeh.ASession, Data: sessionAttrs(t, full)})}, nil
		})
		got, err := c.Get(context.Background(), tu4, true)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(full, got, cmpAddrPort); diff != "" {
			t.Fatalf("image (-want +got):\n%s", diff)
		}
	})
	t.Run("no buffers", func(t *testing.T) {
		c := testClient(t, tcptakeh.CmdGet, netlink.Request, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
			checkData(t, []netlink.Attribute{nest(t, tcptakeh.ATuple, tupleAttrs(t, tu4)...)}, greq.Data)
			return []genetlink.Message{reply(t, tcptakeh.CmdGet, headerAttrs(t, full))}, nil
		})
		got, err := c.Get(context.Background(), tu4, false)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(headerOnly(full), got, cmpAddrPort); diff != "" {
			t.Fatalf("image (-want +got):\n%s", diff)
		}
	})
	t.Run("continued", func(t *testing.T) {
		// A do reply split over three messages: the first nest carries
		// the lengths and the first chunks, the others only chunks.
		big := testImage(tu6, bytes.Repeat([]byte("r"), 40000), []byte("u"), []byte("sssss"))
		first := *big
		first.RecvQueue, first.SendUnsent = big.RecvQueue[:tcptakeh.ChunkMax], nil
		firstAttrs, err := netlink.UnmarshalAttributes(sessionAttrs(t, &first))
		if err != nil {
			t.Fatal(err)
		}
		for i := range firstAttrs { // the declared lengths are the whole queues
			switch firstAttrs[i].Type {
			case tcptakeh.ASessionRcvqLen:
				firstAttrs[i].Data = u32(40000)
			case tcptakeh.ASessionSndqUnsentLen:
				firstAttrs[i].Data = u32(5)
			}
		}
		c := testClient(t, tcptakeh.CmdGet, netlink.Request, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
			return []genetlink.Message{
				reply(t, tcptakeh.CmdGet, netlink.Attribute{Type: netlink.Nested | tcptakeh.ASession, Data: attrs(t, firstAttrs...)}),
				reply(t, tcptakeh.CmdGet, continuation(t, tu6, tcptakeh.ASessionRcvq, big.RecvQueue[tcptakeh.ChunkMax:])),
				reply(t, tcptakeh.CmdGet, continuation(t, tu6, tcptakeh.ASessionSndqUnsent, big.SendUnsent)),
			}, nil
		})
		got, err := c.Get(context.Background(), tu6, true)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(big, got, cmpAddrPort); diff != "" {
			t.Fatalf("image (-want +got):\n%s", diff)
		}
	})
	t.Run("incomplete", func(t *testing.T) {
		c := testClient(t, tcptakeh.CmdGet, netlink.Request, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
			return []genetlink.Message{reply(t, tcptakeh.CmdGet, headerAttrs(t, full))}, nil
		})
		if _, err := c.Get(context.Background(), tu4, true); !errors.Is(err, ErrBadImage) {
			t.Fatalf("err = %v, want ErrBadImage", err)
		}
	})
	t.Run("other tuple", func(t *testing.T) {
		c := testClient(t, tcptakeh.CmdGet, netlink.Request, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
			return []genetlink.Message{reply(t, tcptakeh.CmdGet, headerAttrs(t, testImage(tu6, nil, nil, nil)))}, nil
		})
		if _, err := c.Get(context.Background(), tu4, false); !errors.Is(err, ErrBadImage) {
			t.Fatalf("err = %v, want ErrBadImage", err)
		}
	})
	t.Run("no session", func(t *testing.T) {
		c := testClient(t, tcptakeh.CmdGet, netlink.Request, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
			return nil, genltest.Error(int(unix.ENOENT))
		})
		_, err := c.Get(context.Background(), tu4, false)
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v, want os.ErrNotExist", err)
		}
	})
}

var cmpAddrPort = cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })

func TestClientSessions(t *testing.T) {
	a := testImage(tu4, bytes.Repeat([]byte{1}, tcptakeh.ChunkMax+10), []byte("ab"), nil)
	b := testImage(tu6, []byte("xyz"), nil, []byte("q"))
	// a's first nest: lengths, first receive chunk; then a continuation;
	// then b whole.
	aFirst := *a
	aFirst.RecvQueue = a.RecvQueue[:tcptakeh.ChunkMax]
	aAttrs, err := netlink.UnmarshalAttributes(sessionAttrs(t, &aFirst))
	if err != nil {
		t.Fatal(err)
	}
	for i := range aAttrs {
		if aAttrs[i].Type == tcptakeh.ASessionRcvqLen {
			aAttrs[i].Data = u32(uint32(len(a.RecvQueue)))
		}
	}
	c := testClient(t, tcptakeh.CmdGet, netlink.Request|netlink.Dump, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		checkData(t, []netlink.Attribute{
			nest(t, tcptakeh.ATuple,
				netlink.Attribute{Type: tcptakeh.ATupleFamily, Data: u16(afInet6)},
				netlink.Attribute{Type: tcptakeh.ATupleLocalAddr, Data: netip.MustParseAddr("2001:db8::1").AsSlice()},
				netlink.Attribute{Type: tcptakeh.ATupleRemotePort, Data: u16be(50000)},
			),
			{Type: tcptakeh.AGetFlags, Data: u32(tcptakeh.GetFlagsBuffers | tcptakeh.GetFlagsCompact)},
		}, greq.Data)
		return []genetlink.Message{
			reply(t, tcptakeh.CmdGet, netlink.Attribute{Type: netlink.Nested | tcptakeh.ASession, Data: attrs(t, aAttrs...)}),
			reply(t, tcptakeh.CmdGet, continuation(t, tu4, tcptakeh.ASessionRcvq, a.RecvQueue[tcptakeh.ChunkMax:])),
			reply(t, tcptakeh.CmdGet, netlink.Attribute{Type: netlink.Nested | tcptakeh.ASession, Data: sessionAttrs(t, b)}),
		}, nil
	})
	got, err := c.Sessions(context.Background(), SessionFilter{
		LocalAddr:  netip.MustParseAddr("2001:db8::1"),
		RemotePort: 50000,
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*Image{a, b}, got, cmpAddrPort); diff != "" {
		t.Fatalf("sessions (-want +got):\n%s", diff)
	}
}

func TestClientSessionsNoFilter(t *testing.T) {
	img := testImage(tu4, []byte("r"), nil, nil)
	c := testClient(t, tcptakeh.CmdGet, netlink.Request|netlink.Dump, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		checkData(t, []netlink.Attribute{{Type: tcptakeh.AGetFlags, Data: u32(tcptakeh.GetFlagsCompact)}}, greq.Data)
		return []genetlink.Message{reply(t, tcptakeh.CmdGet, headerAttrs(t, img))}, nil
	})
	got, err := c.Sessions(context.Background(), SessionFilter{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]*Image{headerOnly(img)}, got, cmpAddrPort); diff != "" {
		t.Fatalf("sessions (-want +got):\n%s", diff)
	}
}

func TestSessionFilterInvalid(t *testing.T) {
	c := testClient(t, 0, 0, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		t.Error("request sent")
		return nil, nil
	})
	for _, f := range []SessionFilter{
		{Family: afInet, LocalAddr: netip.MustParseAddr("::1")},
		{LocalAddr: netip.MustParseAddr("10.0.0.1"), RemoteAddr: netip.MustParseAddr("::1")},
		{Family: 3},
	} {
		if _, err := c.Sessions(context.Background(), f, false); !errors.Is(err, errTuple) {
			t.Errorf("%+v: err = %v", f, err)
		}
	}
}

func TestClientSet(t *testing.T) {
	ks := KernelState{TSRecent: 1, SRTTus: 2, MDEVus: 3, RTOus: 4, SndCwnd: 5, SndSsthresh: 6}
	tests := []struct {
		fields KernelFields
		want   []netlink.Attribute
	}{
		{KernelAll, []netlink.Attribute{
			{Type: tcptakeh.ASessionTsRecent, Data: u32(1)},
			{Type: tcptakeh.ASessionSrttUs, Data: u32(2)},
			{Type: tcptakeh.ASessionMdevUs, Data: u32(3)},
			{Type: tcptakeh.ASessionRtoUs, Data: u32(4)},
			{Type: tcptakeh.ASessionSndCwnd, Data: u32(5)},
			{Type: tcptakeh.ASessionSndSsthresh, Data: u32(6)},
		}},
		{KernelRTO | KernelSndCwnd, []netlink.Attribute{
			{Type: tcptakeh.ASessionRtoUs, Data: u32(4)},
			{Type: tcptakeh.ASessionSndCwnd, Data: u32(5)},
		}},
	}
	for _, tt := range tests {
		want := []netlink.Attribute{
			nest(t, tcptakeh.ATuple, tupleAttrs(t, tu4)...),
			nest(t, tcptakeh.ASession, append([]netlink.Attribute{
				nest(t, tcptakeh.ASessionTuple, tupleAttrs(t, tu4)...)}, tt.want...)...),
		}
		c := testClient(t, tcptakeh.CmdSet, netlink.Request|netlink.Acknowledge, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
			checkData(t, want, greq.Data)
			return ack, nil
		})
		if err := c.Set(context.Background(), tu4, ks, tt.fields); err != nil {
			t.Fatal(err)
		}
	}
	c := testClient(t, 0, 0, nil)
	for _, f := range []KernelFields{0, KernelAll + 1} {
		if err := c.Set(context.Background(), tu4, ks, f); err == nil {
			t.Errorf("fields %#x accepted", f)
		}
	}
}

func TestClientPeerSegments(t *testing.T) {
	c := testClient(t, tcptakeh.CmdPeerGet, netlink.Request, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		checkData(t, []netlink.Attribute{nest(t, tcptakeh.ATuple, tupleAttrs(t, tu4)...)}, greq.Data)
		return []genetlink.Message{reply(t, tcptakeh.CmdPeerGet,
			nest(t, tcptakeh.ASegment,
				netlink.Attribute{Type: tcptakeh.ASegmentSeq, Data: u32(100)},
				netlink.Attribute{Type: tcptakeh.ASegmentAck, Data: u32(200)},
				netlink.Attribute{Type: tcptakeh.ASegmentWindow, Data: u32(512)},
				netlink.Attribute{Type: tcptakeh.ASegmentTsval, Data: u32(7)},
				netlink.Attribute{Type: tcptakeh.ASegmentTsecr, Data: u32(8)},
				netlink.Attribute{Type: tcptakeh.ASegmentFlags, Data: []byte{0x18}},
				netlink.Attribute{Type: tcptakeh.ASegmentLen, Data: u32(5)},
				netlink.Attribute{Type: tcptakeh.ASegmentAgeMs, Data: u32(1500)},
				netlink.Attribute{Type: 99, Data: []byte("future")},
			),
			nest(t, tcptakeh.ASegment,
				netlink.Attribute{Type: tcptakeh.ASegmentSeq, Data: u32(105)},
				netlink.Attribute{Type: tcptakeh.ASegmentFlags, Data: []byte{0x10}},
			),
		)}, nil
	})
	got, err := c.PeerSegments(context.Background(), tu4)
	if err != nil {
		t.Fatal(err)
	}
	want := []Segment{
		{Seq: 100, Ack: 200, Window: 512, TSVal: 7, TSEcr: 8, Flags: 0x18, Len: 5, Age: 1500 * time.Millisecond},
		{Seq: 105, Flags: 0x10},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("segments (-want +got):\n%s", diff)
	}
}

func TestClientPeerSegmentsBad(t *testing.T) {
	c := testClient(t, tcptakeh.CmdPeerGet, netlink.Request, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return []genetlink.Message{reply(t, tcptakeh.CmdPeerGet,
			nest(t, tcptakeh.ASegment, netlink.Attribute{Type: tcptakeh.ASegmentSeq, Data: []byte{1, 2}}))}, nil
	})
	if _, err := c.PeerSegments(context.Background(), tu4); err == nil {
		t.Fatal("2-byte seq accepted")
	}
}

func freezeAttr(t testing.TB, fi FreezeInfo, ev *EventType) netlink.Attribute {
	as := []netlink.Attribute{
		nest(t, tcptakeh.AFreezeTuple, tupleAttrs(t, fi.Tuple)...),
		{Type: tcptakeh.AFreezeExpiresMs, Data: u32(uint32(fi.Expires / time.Millisecond))},
		{Type: tcptakeh.AFreezeDroppedIn, Data: u64(fi.DroppedIn)},
		{Type: tcptakeh.AFreezeDroppedOut, Data: u64(fi.DroppedOut)},
		{Type: tcptakeh.AFreezeDroppedIcmp, Data: u64(fi.DroppedICMP)},
	}
	if ev != nil {
		as = append(as, netlink.Attribute{Type: tcptakeh.AFreezeEvent, Data: u32(uint32(*ev))})
	}
	return nest(t, tcptakeh.AFreeze, as...)
}

func TestClientFreezes(t *testing.T) {
	want := []FreezeInfo{
		{Tuple: tu4, Expires: 9500 * time.Millisecond, DroppedIn: 3, DroppedOut: 1, DroppedICMP: 2},
		{Tuple: tu6, Expires: time.Second},
	}
	c := testClient(t, tcptakeh.CmdFreezeList, netlink.Request|netlink.Dump, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		checkData(t, nil, greq.Data)
		var msgs []genetlink.Message
		for _, fi := range want {
			msgs = append(msgs, reply(t, tcptakeh.CmdFreezeList, freezeAttr(t, fi, nil)))
		}
		return msgs, nil
	})
	got, err := c.Freezes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpAddrPort); diff != "" {
		t.Fatalf("freezes (-want +got):\n%s", diff)
	}
}

// rawKernel is a fake module at the netlink level, for what genltest
// cannot express: header flags (DUMP_INTR, MULTI), extack errors.
type rawKernel struct {
	t  *testing.T
	fn func(req netlink.Message, gm genetlink.Message) []netlink.Message
}

func (k *rawKernel) dial() *genetlink.Conn {
	family := genltest.ServeFamily(testFamily, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		return nil, errors.New("not a family request")
	})
	return genetlink.NewConn(nltest.Dial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		if len(reqs) != 1 {
			return nil, errors.New("no request")
		}
		req := reqs[0]
		var gm genetlink.Message
		if err := gm.UnmarshalBinary(req.Data); err != nil {
			return nil, err
		}
		if req.Header.Type == unix.GENL_ID_CTRL {
			gmsgs, err := family(gm, req)
			if err != nil {
				return nil, err
			}
			b, _ := gmsgs[0].MarshalBinary()
			return []netlink.Message{{Header: netlink.Header{Type: unix.GENL_ID_CTRL, Sequence: req.Header.Sequence, PID: req.Header.PID}, Data: b}}, nil
		}
		msgs := k.fn(req, gm)
		for i := range msgs {
			msgs[i].Header.Sequence, msgs[i].Header.PID = req.Header.Sequence, req.Header.PID
		}
		return msgs, nil
	}))
}

func (k *rawKernel) client() *Client {
	lc, err := initClient(k.dial(), nil, nil)
	if err != nil {
		k.t.Fatal(err)
	}
	return &Client{c: lc}
}

// genlMsg is a netlink message of the family holding gm.
func genlMsg(t testing.TB, flags netlink.HeaderFlags, gm genetlink.Message) netlink.Message {
	b, err := gm.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(testFamily.ID), Flags: flags}, Data: b}
}

// doneMsg ends a multi-part dump.
var doneMsg = netlink.Message{Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi}, Data: make([]byte, 4)}

func TestClientDumpInterrupted(t *testing.T) {
	want := []FreezeInfo{{Tuple: tu4, Expires: time.Second}, {Tuple: tu6, Expires: 2 * time.Second}}
	for _, tt := range []struct {
		name        string
		interrupted int // dumps flagged before a clean one
		wantErr     bool
	}{
		{"clean", 0, false},
		{"retried", 2, false},
		{"exhausted", dumpRetries, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dumps := 0
			k := &rawKernel{t: t, fn: func(req netlink.Message, gm genetlink.Message) []netlink.Message {
				if req.Header.Flags != netlink.Request|netlink.Dump || gm.Header.Command != tcptakeh.CmdFreezeList {
					t.Errorf("request flags %v command %d", req.Header.Flags, gm.Header.Command)
				}
				dumps++
				flags := netlink.Multi
				if dumps <= tt.interrupted {
					flags |= netlink.DumpInterrupted
				}
				var msgs []netlink.Message
				for i, fi := range want {
					f := netlink.Multi
					if i == 1 { // the kernel flags the messages after the change
						f = flags
					}
					msgs = append(msgs, genlMsg(t, f, reply(t, tcptakeh.CmdFreezeList, freezeAttr(t, fi, nil))))
				}
				return append(msgs, doneMsg)
			}}
			got, err := k.client().Freezes(context.Background())
			if tt.wantErr {
				if !errors.Is(err, errDumpInterrupted) || dumps != dumpRetries {
					t.Fatalf("err = %v after %d dumps, want errDumpInterrupted after %d", err, dumps, dumpRetries)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if dumps != tt.interrupted+1 {
				t.Fatalf("%d dumps, want %d", dumps, tt.interrupted+1)
			}
			if diff := cmp.Diff(want, got, cmpAddrPort); diff != "" {
				t.Fatalf("freezes (-want +got):\n%s", diff)
			}
		})
	}
}

// extackError is the kernel's NLMSG_ERROR with an extack message.
func extackError(req netlink.Message, errno unix.Errno, text string) netlink.Message {
	hdr := make([]byte, 16)
	nlenc.PutUint32(hdr[0:4], 16) // the echoed request is capped: header only
	nlenc.PutUint16(hdr[4:6], uint16(req.Header.Type))
	tlv, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NLMSGERR_ATTR_MSG, Data: nlenc.Bytes(text)}})
	data := append(nlenc.Int32Bytes(-int32(errno)), hdr...)
	return netlink.Message{
		Header: netlink.Header{Type: netlink.Error, Flags: netlink.Capped | netlink.AcknowledgeTLVs},
		Data:   append(data, tlv...),
	}
}

func TestClientExtack(t *testing.T) {
	k := &rawKernel{t: t, fn: func(req netlink.Message, gm genetlink.Message) []netlink.Message {
		switch gm.Header.Command {
		case tcptakeh.CmdFreeze:
			return []netlink.Message{extackError(req, unix.ENOSPC, "freeze table full")}
		case tcptakeh.CmdSet:
			return []netlink.Message{extackError(req, unix.ENOENT, "no socket in repair mode for this tuple")}
		case tcptakeh.CmdFreezeList: // an error at the end of a dump
			m := extackError(req, unix.EPERM, "need CAP_NET_ADMIN")
			m.Header.Type, m.Header.Flags = netlink.Done, netlink.Multi|netlink.AcknowledgeTLVs
			m.Data = append(m.Data[:4], m.Data[20:]...) // DONE carries no echoed header
			return []netlink.Message{m}
		}
		return nil
	}}
	c := k.client()
	ctx := context.Background()

	err := c.Freeze(ctx, tu4, FreezeOptions{})
	want := &Error{Op: "freeze", Session: tu4.String(), Message: "freeze table full", Err: unix.ENOSPC}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("freeze: %#v is no *Error", err)
	}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("freeze error (-want +got):\n%s", diff)
	}
	if got := err.Error(); got != "tcptake: freeze 10.0.0.1:80 10.0.0.2:40000: no space left on device (freeze table full)" {
		t.Errorf("freeze error text %q", got)
	}

	err = c.Set(ctx, tu4, KernelState{}, KernelRTO)
	if !errors.As(err, &e) || e.Message != "no socket in repair mode for this tuple" || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("set error %#v", err)
	}

	_, err = c.Freezes(ctx)
	if !errors.As(err, &e) || e.Message != "need CAP_NET_ADMIN" || !errors.Is(err, ErrPermission) || e.Op != "freeze-list" {
		t.Errorf("freeze-list error %#v", err)
	}
}

func TestOpErrNetlink(t *testing.T) {
	err := opErr(OpThaw, tu6, &netlink.OpError{Op: "receive", Err: unix.ENOENT, Message: "tuple not frozen"})
	want := &Error{Op: "thaw", Session: tu6.String(), Message: "tuple not frozen", Err: unix.ENOENT}
	if diff := cmp.Diff(want, err.(*Error)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatal("ENOENT is not os.ErrNotExist")
	}
	if err := opErr(OpInfo, nil, &netlink.OpError{Op: "receive", Err: unix.EPERM}); !errors.Is(err, ErrPermission) {
		t.Fatalf("EPERM: %v", err)
	}
}

func TestClientContextCanceled(t *testing.T) {
	c := testClient(t, 0, 0, func(genetlink.Message, netlink.Message) ([]genetlink.Message, error) {
		t.Error("request sent")
		return ack, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Thaw(ctx, tu4, false); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// eventSocket is a netlink socket fake for the events connection: it
// records joined groups and delivers queued
// notifications until its read deadline.
type eventSocket struct {
	mu       sync.Mutex
	groups   []uint32
	closed   bool
	deadline time.Time
	wake     chan struct{}
	ntf      chan netlink.Message
}

func newEventSocket() *eventSocket {
	return &eventSocket{wake: make(chan struct{}, 1), ntf: make(chan netlink.Message, 16)}
}

func (s *eventSocket) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.kick()
	return nil
}

func (s *eventSocket) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *eventSocket) Send(netlink.Message) error { return errors.New("events socket: no requests") }
func (s *eventSocket) SendMessages([]netlink.Message) error {
	return errors.New("events socket: no requests")
}

func (s *eventSocket) JoinGroup(g uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups = append(s.groups, g)
	return nil
}

func (s *eventSocket) LeaveGroup(uint32) error { return nil }

func (s *eventSocket) SetDeadline(t time.Time) error      { return s.SetReadDeadline(t) }
func (s *eventSocket) SetWriteDeadline(t time.Time) error { return nil }
func (s *eventSocket) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deadline = t
	s.kick()
	return nil
}

func (s *eventSocket) Receive() ([]netlink.Message, error) {
	for {
		s.mu.Lock()
		closed, dl := s.closed, s.deadline
		s.mu.Unlock()
		if closed {
			return nil, os.ErrClosed
		}
		if !dl.IsZero() && time.Now().After(dl) {
			return nil, os.ErrDeadlineExceeded
		}
		select {
		case m := <-s.ntf:
			if m.Header.Type == netlink.Error { // an injected socket error
				return nil, unix.Errno(nlenc.Uint32(m.Data))
			}
			return []netlink.Message{m}, nil
		case <-s.wake:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (s *eventSocket) ReceiveIter() iter.Seq2[netlink.Message, error] {
	return func(yield func(netlink.Message, error) bool) {
		msgs, err := s.Receive()
		if err != nil {
			yield(netlink.Message{}, err)
			return
		}
		for _, m := range msgs {
			if !yield(m, nil) {
				return
			}
		}
	}
}

func TestClientEvents(t *testing.T) {
	sock := newEventSocket()
	k := &rawKernel{t: t}
	lc, err := initClient(k.dial(), nil, func() (*netlink.Conn, error) {
		return netlink.NewConn(sock, 1), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{c: lc}
	defer c.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint32{7}, sock.groups); diff != "" {
		t.Fatalf("joined groups (-want +got):\n%s", diff)
	}
	ntf := func(fi FreezeInfo, ev EventType) netlink.Message {
		gm := reply(t, tcptakeh.CmdFreezeNtf, freezeAttr(t, fi, &ev))
		return genlMsg(t, 0, gm)
	}
	sock.ntf <- ntf(FreezeInfo{Tuple: tu4, Expires: 10 * time.Second}, EventFrozen)
	sock.ntf <- genlMsg(t, 0, reply(t, tcptakeh.CmdFreezeNtf)) // no freeze nest: reported, skipped
	sock.ntf <- netlink.Message{Header: netlink.Header{Type: netlink.Error}, Data: nlenc.Uint32Bytes(uint32(unix.ENOBUFS))}
	sock.ntf <- ntf(FreezeInfo{Tuple: tu6, DroppedIn: 4}, EventExpired)

	next := func() FreezeEvent {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("channel closed")
			}
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
		return FreezeEvent{}
	}
	if diff := cmp.Diff(FreezeEvent{Type: EventFrozen, Freeze: FreezeInfo{Tuple: tu4, Expires: 10 * time.Second}}, next(), cmpAddrPort); diff != "" {
		t.Errorf("event 1 (-want +got):\n%s", diff)
	}
	if ev := next(); ev.Err == nil {
		t.Errorf("bad notification: %+v", ev)
	}
	if ev := next(); !errors.Is(ev.Err, ErrEventsLost) {
		t.Errorf("overflow: %+v", ev)
	}
	if diff := cmp.Diff(FreezeEvent{Type: EventExpired, Freeze: FreezeInfo{Tuple: tu6, DroppedIn: 4}}, next(), cmpAddrPort); diff != "" {
		t.Errorf("event 4 (-want +got):\n%s", diff)
	}
	cancel()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("event after cancel: %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
	sock.mu.Lock()
	defer sock.mu.Unlock()
	if !sock.closed {
		t.Error("events socket not closed")
	}
}

func TestClientEventsNoDial(t *testing.T) {
	c := testClient(t, 0, 0, nil)
	if _, err := c.Events(context.Background()); err == nil {
		t.Fatal("Events without a dialer succeeded")
	}
}

// FuzzDecodeGetReply feeds a GET reply's attributes to the client's reply
// decoding, with and without buffers, and to the unchanged bitmap's.
func FuzzDecodeGetReply(f *testing.F) {
	img := testImage(tu4, []byte("received"), []byte("unacked"), []byte("unsent"))
	f.Add(attrs(f, netlink.Attribute{Type: netlink.Nested | tcptakeh.ASession, Data: sessionAttrs(f, img)}), true)
	f.Add(attrs(f, headerAttrs(f, img)), false)
	f.Add(attrs(f, headerAttrs(f, img), continuation(f, tu4, tcptakeh.ASessionRcvq, []byte("x"))), true)
	f.Add(attrs(f, compactSession(f, img, 0)), true)
	f.Add(attrs(f, compactSession(f, img, 8), continuation(f, tu4, tcptakeh.ASessionRcvq, []byte("x"))), false)
	f.Add(attrs(f, netlink.Attribute{Type: tcptakeh.AUnchanged, Data: []byte{0x3f}}), true)
	f.Fuzz(func(t *testing.T, b []byte, withBuffers bool) {
		msgs := []msg{{m: genetlink.Message{Data: b}}}
		n := len(b) % 20
		if u, err := decodeUnchanged(msgs, n); err == nil && len(u) != n {
			t.Fatalf("unchanged of %d tuples has %d entries", n, len(u))
		}
		imgs, err := decodeSessions(msgs, withBuffers)
		if err != nil {
			return
		}
		for _, im := range imgs {
			if _, err := tupleFamily(im.Tuple); err != nil {
				t.Fatalf("decoded an invalid tuple %v", im.Tuple)
			}
			if !withBuffers && (im.RecvQueue != nil || im.SendUnacked != nil || im.SendUnsent != nil) {
				t.Fatal("queue bytes without buffers")
			}
		}
	})
}

func TestClientGetLargeByDump(t *testing.T) {
	big := testImage(tu4, bytes.Repeat([]byte("r"), 70000), nil, nil)
	first := *big
	first.RecvQueue = big.RecvQueue[:tcptakeh.ChunkMax]
	firstAttrs, err := netlink.UnmarshalAttributes(sessionAttrs(t, &first))
	if err != nil {
		t.Fatal(err)
	}
	for i := range firstAttrs {
		if firstAttrs[i].Type == tcptakeh.ASessionRcvqLen {
			firstAttrs[i].Data = u32(70000)
		}
	}
	var dumps int
	c := testClient(t, tcptakeh.CmdGet, 0, func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		if nreq.Header.Flags&netlink.Dump == 0 {
			return nil, genltest.Error(int(unix.EMSGSIZE)) // "use a dump"
		}
		dumps++
		checkData(t, []netlink.Attribute{
			nest(t, tcptakeh.ATuple, tupleAttrs(t, tu4)...),
			{Type: tcptakeh.AGetFlags, Data: u32(tcptakeh.GetFlagsBuffers | tcptakeh.GetFlagsCompact)},
		}, greq.Data)
		return []genetlink.Message{
			reply(t, tcptakeh.CmdGet, netlink.Attribute{Type: netlink.Nested | tcptakeh.ASession, Data: attrs(t, firstAttrs...)}),
			reply(t, tcptakeh.CmdGet, continuation(t, tu4, tcptakeh.ASessionRcvq, big.RecvQueue[tcptakeh.ChunkMax:2*tcptakeh.ChunkMax])),
			reply(t, tcptakeh.CmdGet, continuation(t, tu4, tcptakeh.ASessionRcvq, big.RecvQueue[2*tcptakeh.ChunkMax:])),
		}, nil
	})
	got, err := c.Get(context.Background(), tu4, true)
	if err != nil {
		t.Fatal(err)
	}
	if dumps != 1 {
		t.Fatalf("%d dumps", dumps)
	}
	if diff := cmp.Diff(big, got, cmpAddrPort); diff != "" {
		t.Fatalf("image (-want +got):\n%s", diff)
	}
	// Without buffers, EMSGSIZE is just an error.
	if _, err := c.Get(context.Background(), tu4, false); !errors.Is(err, unix.EMSGSIZE) {
		t.Fatalf("get without buffers: %v", err)
	}
}

// TestClientSessionsPartial: a dump entry the module could not snapshot
// (attribute "error") leaves the rest of the dump usable: Sessions returns
// the other sessions with a *SessionsError naming it, and a Get of that
// session by dump returns its errno.
func TestClientSessionsPartial(t *testing.T) {
	img := testImage(tu6, []byte("received"), nil, nil)
	failed := attrs(t, nest(t, tcptakeh.ASessionTuple, tupleAttrs(t, tu4)...),
		netlink.Attribute{Type: tcptakeh.ASessionError, Data: u32(uint32(unix.EFBIG))})
	c := testClient(t, tcptakeh.CmdGet, 0, func(greq genetlink.Message, nreq netlink.Message) ([]genetlink.Message, error) {
		if nreq.Header.Flags&netlink.Dump == 0 {
			return nil, genltest.Error(int(unix.EMSGSIZE)) // "use a dump"
		}
		return []genetlink.Message{
			reply(t, tcptakeh.CmdGet, netlink.Attribute{Type: netlink.Nested | tcptakeh.ASession, Data: failed}),
			reply(t, tcptakeh.CmdGet, netlink.Attribute{Type: netlink.Nested | tcptakeh.ASession, Data: sessionAttrs(t, img)}),
		}, nil
	})
	imgs, err := c.Sessions(context.Background(), SessionFilter{}, true)
	var se *SessionsError
	if !errors.As(err, &se) || len(se.Failed) != 1 || se.Failed[0].Session != tu4.String() || !errors.Is(err, unix.EFBIG) {
		t.Fatalf("Sessions error %v, want a *SessionsError naming %v with EFBIG", err, tu4)
	}
	if len(imgs) != 1 || imgs[0].Tuple.String() != tu6.String() || string(imgs[0].RecvQueue) != "received" {
		t.Fatalf("Sessions returned %v, want the other session", imgs)
	}
	_, err = c.Get(context.Background(), tu4, true)
	var e *Error
	if !errors.As(err, &e) || e.Op != OpGet || e.Session != tu4.String() || !errors.Is(err, unix.EFBIG) {
		t.Fatalf("Get of the failed session: %v", err)
	}
}

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
	binary.NativeEndian.PutUint64(b[tcptakeh.SessionCompactOffDigest:], img.Digest)
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
		img.Digest = 0xfedcba9876543210 + uint64(i)
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
// module's) is read, the first release's (without digest) too, a shorter
// one rejected.
func TestDecodeCompactLength(t *testing.T) {
	img := compactImages()[0]
	old := *img
	old.Digest = 0
	for _, tc := range []struct {
		resize int
		ok     bool
	}{{0, true}, {8, true}, {64, true}, {-8, true}, {-9, false}, {-tcptakeh.SessionCompactSize, false}} {
		want := img
		if tc.resize == -8 {
			want = &old
		}
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
		if diff := cmp.Diff([]*Image{want}, imgs, cmpAddrPort); diff != "" {
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

// batchSocket is a fake module socket that answers as the kernel does: it
// runs the requests of one system call in order, answers each failed one
// (fail's errno, with extack) and each that asks for an ack, and hands out
// one answer per read.
type batchSocket struct {
	t       *testing.T
	fail    func(i int, gm genetlink.Message) unix.Errno // i: the request's number
	sendErr func(call int) error
	calls   [][]netlink.Message // the requests of each system call
	n       int
	queue   []netlink.Message
}

func (s *batchSocket) Close() error                    { return nil }
func (s *batchSocket) Send(m netlink.Message) error    { return s.SendMessages([]netlink.Message{m}) }
func (s *batchSocket) SetDeadline(time.Time) error     { return nil }
func (s *batchSocket) SetReadDeadline(time.Time) error { return nil }

func (s *batchSocket) SendMessages(msgs []netlink.Message) error {
	if s.sendErr != nil {
		if err := s.sendErr(len(s.calls)); err != nil {
			return err
		}
	}
	s.calls = append(s.calls, slices.Clone(msgs))
	for _, req := range msgs {
		var gm genetlink.Message
		if err := gm.UnmarshalBinary(req.Data); err != nil {
			s.t.Fatal(err)
		}
		errno := s.fail(s.n, gm)
		s.n++
		switch {
		case errno != 0:
			m := extackError(req, errno, fmt.Sprintf("request %d refused", s.n-1))
			m.Header.Sequence, m.Header.PID = req.Header.Sequence, req.Header.PID
			s.queue = append(s.queue, m)
		case req.Header.Flags&netlink.Acknowledge != 0:
			s.queue = append(s.queue, netlink.Message{
				Header: netlink.Header{Type: netlink.Error, Flags: netlink.Capped, Sequence: req.Header.Sequence, PID: req.Header.PID},
				Data:   make([]byte, 4+16),
			})
		}
	}
	return nil
}

func (s *batchSocket) Receive() ([]netlink.Message, error) {
	if len(s.queue) == 0 {
		return nil, errors.New("read would block forever")
	}
	m := s.queue[0]
	s.queue = s.queue[1:]
	return []netlink.Message{m}, nil
}

func (s *batchSocket) ReceiveIter() iter.Seq2[netlink.Message, error] {
	return func(yield func(netlink.Message, error) bool) {
		msgs, err := s.Receive()
		if err != nil {
			yield(netlink.Message{}, err)
			return
		}
		yield(msgs[0], nil)
	}
}

// batchClient is a Client whose socket is s (the family's lookup is
// genltest's).
func batchClient(t *testing.T, s *batchSocket) *Client {
	lc, err := initClient(genltest.Dial(genltest.ServeFamily(testFamily, nil)), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	lc.nl = netlink.NewConn(s, 1)
	lc.c = genetlink.NewConn(lc.nl)
	return &Client{c: lc}
}

// TestClientSessionsChanged: a dump of chosen tuples carries the known
// digests as host-endian u64s, one per tuple; the session answered keeps
// its digest, the bitmap marks the unchanged one, the third has none. A
// reply without the bitmap, or with one of the wrong size, is refused, as
// are digests that do not match the tuples one for one.
func TestClientSessionsChanged(t *testing.T) {
	ts := portTuples(3)
	known := []uint64{0, 0xabc, 0x1122334455667788}
	bitmap := []byte{0b010}
	c := testClient(t, tcptakeh.CmdGet, netlink.Request|netlink.Dump, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		ad, err := netlink.NewAttributeDecoder(greq.Data)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		n := 0
		for ad.Next() {
			switch ad.Type() {
			case tcptakeh.ATuplesCompact:
				if b := ad.Bytes(); bytes.Equal(b, wantTuplesCompact(ts)) {
					n = len(ts)
				}
			case tcptakeh.AKnownDigests:
				got = ad.Bytes()
			}
		}
		want := slices.Concat(u64(known[0]), u64(known[1]), u64(known[2]))
		if n != 3 || !bytes.Equal(got, want) {
			t.Errorf("request: %d tuples, known-digests %x; want 3, %x", n, got, want)
		}
		img := testImage(ts[0], []byte("r"), nil, nil)
		sess := netlink.Attribute{Type: netlink.Nested | tcptakeh.ASession,
			Data: append(sessionAttrs(t, img), attrs(t, netlink.Attribute{Type: tcptakeh.ASessionDigest, Data: u64(42)})...)}
		msgs := []genetlink.Message{reply(t, tcptakeh.CmdGet, sess)}
		if bitmap != nil {
			msgs = append(msgs, reply(t, tcptakeh.CmdGet, netlink.Attribute{Type: tcptakeh.AUnchanged, Data: bitmap}))
		}
		return msgs, nil
	})
	ctx := context.Background()
	imgs, unchanged, err := c.SessionsChanged(ctx, ts, known, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].Tuple != ts[0] || imgs[0].Digest != 42 || string(imgs[0].RecvQueue) != "r" {
		t.Fatalf("images %v, want the session of %v with digest 42", imgs, ts[0])
	}
	if !slices.Equal(unchanged, []bool{false, true, false}) {
		t.Errorf("unchanged %v, want [false true false]", unchanged)
	}
	for _, b := range [][]byte{nil, {0, 0}} {
		bitmap = b
		if _, _, err := c.SessionsChanged(ctx, ts, known, true); !errors.Is(err, ErrBadImage) {
			t.Errorf("unchanged %v: %v, want ErrBadImage", b, err)
		}
	}
	if _, _, err := c.SessionsChanged(ctx, ts, known[:2], true); !errors.Is(err, os.ErrInvalid) {
		t.Errorf("2 digests for 3 tuples: %v, want os.ErrInvalid", err)
	}
}

// wantTuplesCompact is the tuples-compact attribute of ts, as the uapi
// lays out struct tuple-compact (TestTuplesCompact checks it byte for byte).
func wantTuplesCompact(ts []Tuple) []byte {
	var b []byte
	for _, t := range ts {
		la, ra := t.Local.Addr().Unmap(), t.Remote.Addr().Unmap()
		l, r := la.As16(), ra.As16()
		fam := uint16(unix.AF_INET6)
		if la.Is4() {
			l, r = [16]byte{}, [16]byte{}
			copy(l[:], la.AsSlice())
			copy(r[:], ra.AsSlice())
			fam = unix.AF_INET
		}
		b = append(append(b, l[:]...), r[:]...)
		b = binary.NativeEndian.AppendUint32(b, t.IfIndex)
		b = binary.NativeEndian.AppendUint16(b, fam)
		b = binary.BigEndian.AppendUint16(b, t.Local.Port())
		b = binary.BigEndian.AppendUint16(b, t.Remote.Port())
		b = append(b, 0, 0)
	}
	return b
}

// TestTuplesCompact: struct tuple-compact byte for byte, IPv4 (also
// v4-mapped) and IPv6 with an ifindex.
func TestTuplesCompact(t *testing.T) {
	v4 := Tuple{Local: netip.MustParseAddrPort("[::ffff:10.0.0.1]:80"), Remote: netip.MustParseAddrPort("10.0.0.2:1000")}
	v6 := Tuple{Local: netip.MustParseAddrPort("[fe80::1]:443"), Remote: netip.MustParseAddrPort("[fe80::2]:258"), IfIndex: 7}
	want := slices.Concat(
		[]byte{10, 0, 0, 1}, make([]byte, 12), []byte{10, 0, 0, 2}, make([]byte, 12),
		u32(0), binary.NativeEndian.AppendUint16(nil, unix.AF_INET), []byte{0, 80, 0x03, 0xe8, 0, 0},
		[]byte{0xfe, 0x80}, make([]byte, 13), []byte{1}, []byte{0xfe, 0x80}, make([]byte, 13), []byte{2},
		u32(7), binary.NativeEndian.AppendUint16(nil, unix.AF_INET6), []byte{0x01, 0xbb, 0x01, 0x02, 0, 0})
	got := tuplesCompact([]Tuple{v4, v6})
	if !bytes.Equal(got, want) || !bytes.Equal(wantTuplesCompact([]Tuple{v4, v6}), want) {
		t.Fatalf("tuples-compact\n got %x\nwant %x", got, want)
	}
}

// TestClientSessionsTuplesCompactFallback: a module that refuses
// tuples-compact (EINVAL) gets a tuples nest each, from then on; when the
// nests fail too, the error is theirs and the client tries again next time.
// Known digests are not sent to it: every session is read.
func TestClientSessionsTuplesCompactFallback(t *testing.T) {
	ts := portTuples(2)
	var sent []string
	nestsFail := true
	k := &rawKernel{t: t, fn: func(req netlink.Message, gm genetlink.Message) []netlink.Message {
		ad, err := netlink.NewAttributeDecoder(gm.Data)
		if err != nil {
			t.Fatal(err)
		}
		nests := 0
		for ad.Next() {
			switch ad.Type() {
			case tcptakeh.ATuplesCompact, tcptakeh.AKnownDigests:
				sent = append(sent, "compact")
				return []netlink.Message{extackError(req, unix.EINVAL, "Unknown attribute type")}
			case tcptakeh.ATuples:
				nests++
			}
		}
		sent = append(sent, fmt.Sprintf("%d nests", nests))
		if nestsFail {
			return []netlink.Message{extackError(req, unix.EINVAL, "bad tuple")}
		}
		return []netlink.Message{doneMsg}
	}}
	c := k.client()
	defer c.Close()
	ctx := context.Background()
	if _, err := c.SessionsOf(ctx, ts, false); !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "bad tuple") {
		t.Fatalf("nests refused too: %v, want EINVAL with the nests' message", err)
	}
	nestsFail = false
	for range 2 {
		if _, err := c.SessionsOf(ctx, ts, false); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"compact", "2 nests", "compact", "2 nests", "2 nests"}; !slices.Equal(sent, want) {
		t.Fatalf("requests %q, want %q", sent, want)
	}
	_, unchanged, err := c.SessionsChanged(ctx, ts, []uint64{1, 2}, false)
	if err != nil || !slices.Equal(unchanged, []bool{false, false}) || sent[len(sent)-1] != "2 nests" {
		t.Fatalf("known digests to the old module: unchanged %v, %v, request %q", unchanged, err, sent[len(sent)-1])
	}
}

// portTuples are n IPv4 tuples told apart by the remote port, 1000 + i.
func portTuples(n int) []Tuple {
	ts := make([]Tuple, n)
	for i := range ts {
		ts[i] = Tuple{Local: tu4.Local, Remote: netip.AddrPortFrom(tu4.Remote.Addr(), uint16(1000+i))}
	}
	return ts
}

// requestPort is the remote port of a request's tuple.
func requestPort(t *testing.T, gm genetlink.Message) uint16 {
	ad, err := netlink.NewAttributeDecoder(gm.Data)
	if err != nil {
		t.Fatal(err)
	}
	var tu Tuple
	for ad.Next() {
		if ad.Type() == tcptakeh.ATuple {
			ad.Nested(func(nad *netlink.AttributeDecoder) error { return decodeTuple(nad, &tu) })
		}
	}
	if err := ad.Err(); err != nil {
		t.Fatal(err)
	}
	return tu.Remote.Port()
}

func TestClientBatch(t *testing.T) {
	const n = 2*batchMax + 22
	ts := portTuples(n)
	// Refused: one in the first batch, the last of the first (its error is
	// the batch's ack) and one in the third.
	refused := map[int]unix.Errno{5: unix.ENOENT, batchMax - 1: unix.ENOENT, 2*batchMax + 3: unix.EINVAL}
	s := &batchSocket{t: t, fail: func(i int, gm genetlink.Message) unix.Errno {
		if gm.Header.Command != tcptakeh.CmdThaw {
			t.Errorf("request %d: command %d", i, gm.Header.Command)
		}
		if got := requestPort(t, gm); got != uint16(1000+i) {
			t.Errorf("request %d is for port %d", i, got)
		}
		return refused[i]
	}}
	c := batchClient(t, s)
	errs := c.c.thaw(context.Background(), ts, true)
	for i, err := range errs {
		errno, bad := refused[i]
		var e *Error
		switch {
		case !bad && err != nil:
			t.Errorf("thaw %d: %v", i, err)
		case bad && (!errors.As(err, &e) || !errors.Is(err, errno) || e.Session != ts[i].String() ||
			e.Message != fmt.Sprintf("request %d refused", i) || e.Op != OpThaw):
			t.Errorf("thaw %d: %#v, want *Error %v \"request %d refused\"", i, err, errno, i)
		}
	}
	if len(s.calls) != 3 {
		t.Fatalf("%d system calls, want 3", len(s.calls))
	}
	for k, call := range s.calls {
		if want := min(batchMax, n-k*batchMax); len(call) != want {
			t.Errorf("call %d: %d requests, want %d", k, len(call), want)
		}
		for j, m := range call {
			if acked, last := m.Header.Flags&netlink.Acknowledge != 0, j == len(call)-1; acked != last {
				t.Errorf("call %d, request %d: ack %v", k, j, acked)
			}
		}
	}
	if len(s.queue) != 0 {
		t.Errorf("%d answers left unread", len(s.queue))
	}
	// thawErr prefers the real failure to the expired freezes.
	if err := thawErr(errs); !errors.Is(err, unix.EINVAL) {
		t.Errorf("thawErr = %v, want the EINVAL", err)
	}
	s.n = 0
	if err := c.ThawAll(context.Background(), ts, true); !errors.Is(err, unix.EINVAL) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ThawAll: %v, want the EINVAL and the ENOENTs", err)
	}
}

func TestClientBatchSendFails(t *testing.T) {
	ts := portTuples(batchMax + 1)
	s := &batchSocket{t: t, fail: func(int, genetlink.Message) unix.Errno { return 0 },
		sendErr: func(call int) error {
			if call == 1 {
				return unix.ENOBUFS
			}
			return nil
		}}
	errs := batchClient(t, s).c.freeze(context.Background(), ts, FreezeOptions{Replace: true})
	for i, err := range errs {
		if i < batchMax && err != nil || i == batchMax && !errors.Is(err, unix.ENOBUFS) {
			t.Errorf("freeze %d: %v", i, err)
		}
	}
}

func TestModuleFreezerFreezeAll(t *testing.T) {
	ts := portTuples(10)
	var thawed []uint16
	s := &batchSocket{t: t}
	s.fail = func(i int, gm genetlink.Message) unix.Errno {
		if gm.Header.Command == tcptakeh.CmdThaw {
			thawed = append(thawed, requestPort(t, gm))
			return 0
		}
		if i == 7 {
			return unix.ENOSPC
		}
		return 0
	}
	mf := &ModuleFreezer{C: batchClient(t, s)}
	if err := mf.FreezeAll(context.Background(), ts); !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("FreezeAll: %v, want ENOSPC", err)
	}
	want := []uint16{1000, 1001, 1002, 1003, 1004, 1005, 1006, 1008, 1009}
	if !slices.Equal(thawed, want) {
		t.Fatalf("thawed %v, want the frozen ones %v", thawed, want)
	}
}

// TestGetAllDump: with the module, GetAll reads stopped sessions from one
// GET dump of their tuples, and reads a session missing from it through
// its socket.
func TestGetAllDump(t *testing.T) {
	const n = dumpMin + 8
	msgs := dumpMsgs(t, n, 16, true)
	want, err := decodeSessions(msgs, true)
	if err != nil {
		t.Fatal(err)
	}
	const missing = 5 // dropped from the dump
	dumps := 0
	c := testClient(t, tcptakeh.CmdGet, netlink.Request|netlink.Dump, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		dumps++
		var ts []Tuple // every session's tuple, in order
		for _, img := range want {
			ts = append(ts, img.Tuple)
		}
		attrs := []netlink.Attribute{{Type: tcptakeh.ATuplesCompact, Data: wantTuplesCompact(ts)},
			{Type: tcptakeh.AGetFlags, Data: u32(tcptakeh.GetFlagsBuffers | tcptakeh.GetFlagsCompact)}}
		checkData(t, attrs, greq.Data)
		var out []genetlink.Message
		for i, img := range want {
			if i != missing {
				out = append(out, reply(t, tcptakeh.CmdGet, compactSession(t, img, 0)))
			}
		}
		return out, nil
	})
	f := &ModuleFreezer{C: c}
	ss := make([]*Session, n)
	for i := range ss {
		// A descriptor that is none: only the missing session reads it.
		ss[i] = &Session{fd: 1 << 20, tuple: want[i].Tuple, freezer: f, gen: 3}
	}
	// A nil session first, and the first session again last: an error
	// of their own each.
	got, err := GetAll(context.Background(), append(append([]*Session{nil}, ss...), ss[0]))
	if got[0] != nil || got[n+1] != nil {
		t.Fatalf("nil session, a session twice: images %v, %v", got[0], got[n+1])
	}
	got = got[1 : n+1]
	if dumps != 1 {
		t.Fatalf("%d dumps, want 1", dumps)
	}
	if want := "tcptake: get: nil session\ntcptake: get " + want[missing].Tuple.String() +
		": getsockopt TCP_INFO: bad file descriptor\ntcptake: get " + want[0].Tuple.String() +
		": session listed twice"; err.Error() != want || !errors.Is(err, unix.EBADF) {
		t.Fatalf("err = %v, want:\n%s", err, want)
	}
	for i := range ss {
		if i == missing {
			if got[i] != nil {
				t.Errorf("session %d: image %v", i, got[i])
			}
			continue
		}
		w := *want[i]
		w.Generation = 4
		if diff := cmp.Diff(&w, got[i], cmpAddrPort); diff != "" {
			t.Errorf("session %d (-want +got):\n%s", i, diff)
		}
	}
}

// TestClientSessionsOf: the tuples go out get-tuples-max to a dump, in
// order; no tuple, no dump; a bad tuple, no dump either.
func TestClientSessionsOf(t *testing.T) {
	ts := portTuples(tcptakeh.GetTuplesMax + 6)
	var counts []int
	next := 0
	c := testClient(t, tcptakeh.CmdGet, netlink.Request|netlink.Dump, func(greq genetlink.Message, _ netlink.Message) ([]genetlink.Message, error) {
		ad, err := netlink.NewAttributeDecoder(greq.Data)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ad.Next() {
			if ad.Type() == tcptakeh.ATuplesCompact {
				b := ad.Bytes()
				n = len(b) / tcptakeh.TupleCompactSize
				if next+n > len(ts) || !bytes.Equal(b, wantTuplesCompact(ts[next:next+n])) {
					t.Errorf("tuples-compact of %d bytes from tuple %d is not theirs", len(b), next)
				}
				next += n
			}
		}
		counts = append(counts, n)
		return []genetlink.Message{reply(t, tcptakeh.CmdGet)}, nil // no session
	})
	if _, err := c.SessionsOf(context.Background(), ts, true); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(counts, []int{tcptakeh.GetTuplesMax, 6}) {
		t.Fatalf("tuples per dump %v, want [%d 6]", counts, tcptakeh.GetTuplesMax)
	}
	counts = nil
	if imgs, err := c.SessionsOf(context.Background(), nil, true); imgs != nil || err != nil || counts != nil {
		t.Fatalf("no tuples: %v, %v after %d dumps", imgs, err, len(counts))
	}
	if _, err := c.SessionsOf(context.Background(), []Tuple{{}}, true); !errors.Is(err, errTuple) || counts != nil {
		t.Fatalf("zero tuple: %v after %d dumps", err, len(counts))
	}
}
