package libtcptake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// A Client talks to the tcptake kernel module (generic netlink family
// "tcptake", uapi/tcptake.yaml) in one network namespace. It addresses
// sessions by their 4-tuple, whichever process owns them.
//
// A Client is safe for concurrent use; its requests are serialised on one
// netlink socket. Every command needs CAP_NET_ADMIN in the user namespace
// that owns the network namespace (errors.Is(err, ErrPermission)
// otherwise). Errors are *Error values with the module's extack message in
// Message; errors.Is(err, os.ErrNotExist) when the tuple has no session or
// no freeze.
type Client struct {
	c osClient
}

// osClient is the platform implementation of a Client.
type osClient interface {
	io.Closer
	info(ctx context.Context) (*ModuleInfo, error)
	// freeze and thaw return one error per tuple (nil: done).
	freeze(ctx context.Context, ts []Tuple, o FreezeOptions) []error
	thaw(ctx context.Context, ts []Tuple, kick bool) []error
	get(ctx context.Context, t Tuple, withBuffers bool) (*Image, error)
	// sessions dumps the sessions f matches, or with ts non-nil those of
	// ts; with known non-nil (one digest per tuple), those that changed
	// since, and unchanged[i] for those left out as unchanged.
	sessions(ctx context.Context, f SessionFilter, ts []Tuple, known []uint64, withBuffers bool) (imgs []*Image, unchanged []bool, err error)
	// set applies ks[i] to ts[i]; one error per tuple.
	set(ctx context.Context, ts []Tuple, ks []KernelState, fields KernelFields) []error
	peerSegments(ctx context.Context, t Tuple) ([]Segment, error)
	freezes(ctx context.Context) ([]FreezeInfo, error)
	events(ctx context.Context) (<-chan FreezeEvent, error)
}

// ClientOptions configure a Client. The zero value is usable.
type ClientOptions struct {
	// NetNS is an open file descriptor of a network namespace (for
	// example of /run/netns/NAME or /proc/PID/ns/net): the Client's
	// sockets are created in it, so every command addresses that
	// namespace. 0 means the calling thread's namespace. The descriptor is
	// used only while the Client opens sockets (New and Events) and is not
	// closed by the Client.
	NetNS int
}

// New opens a Client in the current network namespace. When the module is
// not loaded (the family is not registered), the error satisfies
// errors.Is(err, os.ErrNotExist).
func New() (*Client, error) { return NewWithOptions(ClientOptions{}) }

// NewWithOptions opens a Client configured by o. When the module is not
// loaded, the error satisfies errors.Is(err, os.ErrNotExist); on other
// platforms than Linux it satisfies errors.Is(err, ErrUnsupported).
func NewWithOptions(o ClientOptions) (*Client, error) {
	c, err := newClient(o)
	if err != nil {
		return nil, err
	}
	return &Client{c: c}, nil
}

// Close closes the Client's socket. Event streams opened by Events have
// their own sockets and end with their context.
func (c *Client) Close() error { return c.c.Close() }

// ModuleInfo is the module's INFO reply.
type ModuleInfo struct {
	Version    string `json:"version"`     // the module's version
	MaxFreezes uint32 `json:"max_freezes"` // freeze table size per network namespace
	Freezes    uint32 `json:"freezes"`     // tuples frozen now in the Client's namespace
}

// Info reports the module's version and limits.
func (c *Client) Info(ctx context.Context) (*ModuleInfo, error) { return c.c.info(ctx) }

// FreezeOptions tune Freeze.
type FreezeOptions struct {
	// Timeout after which the freeze lifts by itself (rounded up to a
	// millisecond). 0 means the module's default, 10 s; at most 10 min.
	Timeout time.Duration
	// Replace re-arms the timeout of an existing freeze of the tuple;
	// without it, freezing a frozen tuple fails with EEXIST.
	Replace bool
}

// Freeze makes the module drop every packet of t, in both directions,
// until Thaw or the timeout. No socket needs to exist yet. While frozen,
// the peer's segments are recorded for PeerSegments.
func (c *Client) Freeze(ctx context.Context, t Tuple, o FreezeOptions) error {
	if err := checkTimeout(o.Timeout); err != nil {
		return opErr(OpFreeze, t, err)
	}
	return c.c.freeze(ctx, []Tuple{t}, o)[0]
}

// FreezeAll freezes each tuple of ts as Freeze does, with many requests
// in each system call. It returns errors.Join of the *Error of each tuple
// that could not be frozen; the others are.
func (c *Client) FreezeAll(ctx context.Context, ts []Tuple, o FreezeOptions) error {
	if err := checkTimeout(o.Timeout); err != nil {
		return opErr(OpFreeze, nil, err)
	}
	return errors.Join(c.c.freeze(ctx, ts, o)...)
}

// checkTimeout rejects timeouts the module would reject.
func checkTimeout(d time.Duration) error {
	const max = tcptakeh.FreezeTimeoutMaxMs * time.Millisecond
	if d < 0 || d > max {
		return fmt.Errorf("freeze timeout %v out of range (0 for the default, at most %v)", d, max)
	}
	return nil
}

// timeoutMs is d in milliseconds, rounded up.
func timeoutMs(d time.Duration) uint32 {
	return uint32((d + time.Millisecond - 1) / time.Millisecond)
}

// Thaw lifts the freeze of t. With kick, the module makes both ends send
// at once what the freeze held back instead of waiting for their timers:
// the session's own socket sends an ACK, then the first unacked or unsent
// segment; a peer that retransmitted into the freeze gets ICMP
// unreachables that revert its RTO backoff (RFC 6069), so it retransmits
// at once (uapi/tcptake.yaml, thaw-flags kick).
// errors.Is(err, os.ErrNotExist) when t is not frozen (never frozen,
// thawed, or expired).
func (c *Client) Thaw(ctx context.Context, t Tuple, kick bool) error {
	return c.c.thaw(ctx, []Tuple{t}, kick)[0]
}

// ThawAll thaws each tuple of ts as Thaw does, with many requests in each
// system call. It returns errors.Join of the *Error of each tuple that
// could not be thawed; the others are.
func (c *Client) ThawAll(ctx context.Context, ts []Tuple, kick bool) error {
	return errors.Join(c.c.thaw(ctx, ts, kick)...)
}

// Get snapshots the session of t atomically, without stopping it. With
// withBuffers the queue bytes are included (a session too large for one
// reply is fetched with a dump filtered on t). Without, the queue slices are
// nil: the send queue lengths follow from the sequence numbers
// (SndNxt-SndUna unacked, WriteSeq-SndNxt unsent); the receive queue's
// length is not kept. errors.Is(err, os.ErrNotExist) when t has no
// session.
func (c *Client) Get(ctx context.Context, t Tuple, withBuffers bool) (*Image, error) {
	return c.c.get(ctx, t, withBuffers)
}

// SessionFilter selects sessions for Sessions. Zero fields match all.
type SessionFilter struct {
	// Family is AF_INET (2) or AF_INET6 (10), or 0 for both. An address
	// implies its family (a v4-mapped address is AF_INET, as on the wire).
	Family     uint16
	LocalAddr  netip.Addr
	LocalPort  uint16
	RemoteAddr netip.Addr
	RemotePort uint16
}

// family returns the family f selects, 0 for any.
func (f SessionFilter) family() (uint16, error) {
	fam := f.Family
	for _, a := range []netip.Addr{f.LocalAddr, f.RemoteAddr} {
		if !a.IsValid() {
			continue
		}
		af := addrFamily(a)
		if fam != 0 && fam != af {
			return 0, fmt.Errorf("%w: filter mixes address families", errTuple)
		}
		fam = af
	}
	if fam != 0 && fam != afInet && fam != afInet6 {
		return 0, fmt.Errorf("%w: filter family %d (want 0, AF_INET or AF_INET6)", errTuple, fam)
	}
	return fam, nil
}

// Sessions snapshots every TCP session of the namespace that f matches,
// in one consistent dump (retried when the kernel flags it interrupted).
// withBuffers is as for Get. Sessions the module could not snapshot are
// left out and named by a *SessionsError, returned with the others. The
// dump asks for each session's state in one struct (GET flag compact),
// and in attributes from a module without the flag.
func (c *Client) Sessions(ctx context.Context, f SessionFilter, withBuffers bool) ([]*Image, error) {
	if _, err := f.family(); err != nil {
		return nil, opErr(OpDump, nil, err)
	}
	imgs, _, err := c.c.sessions(ctx, f, nil, nil, withBuffers)
	return imgs, err
}

// SessionsOf snapshots the sessions of ts, as Sessions does, in ts' order
// (GET dumps of chosen tuples: their cost is theirs alone, not the
// namespace's whole set of sessions). A tuple without a session is left
// out. A module older than the tuples attribute refuses with EINVAL.
func (c *Client) SessionsOf(ctx context.Context, ts []Tuple, withBuffers bool) ([]*Image, error) {
	imgs, _, err := c.SessionsChanged(ctx, ts, nil, withBuffers)
	return imgs, err
}

// SessionsChanged snapshots the sessions of ts as SessionsOf does, but for
// those whose digest (Image.Digest) is still known[i]: their state has not
// changed since the image known[i] came from (only the clock moved), and
// the module leaves them out, queue bytes uncopied, with unchanged[i] set.
// A tuple neither in imgs nor unchanged has no session. known is one
// digest per tuple, 0 where none is known; nil reads every session (and
// unchanged is nil). A module older than the known-digests attribute
// reads every session too (unchanged all false).
func (c *Client) SessionsChanged(ctx context.Context, ts []Tuple, known []uint64, withBuffers bool) (imgs []*Image, unchanged []bool, err error) {
	for _, t := range ts {
		if _, err := tupleFamily(t); err != nil {
			return nil, nil, opErr(OpDump, t, err)
		}
	}
	if known != nil && len(known) != len(ts) {
		return nil, nil, opErr(OpDump, nil, fmt.Errorf("%w: %d known digests for %d tuples", os.ErrInvalid, len(known), len(ts)))
	}
	if len(ts) == 0 {
		return nil, nil, nil
	}
	return c.c.sessions(ctx, SessionFilter{}, ts, known, withBuffers)
}

// KernelFields selects the KernelState fields Set applies.
type KernelFields uint8

// The fields of KernelState.
const (
	KernelTSRecent KernelFields = 1 << iota
	KernelSRTT
	KernelMDEV
	KernelRTO
	KernelSndCwnd
	KernelSndSsthresh

	// KernelAll selects every field (restoring a whole image).
	KernelAll = KernelTSRecent | KernelSRTT | KernelMDEV | KernelRTO | KernelSndCwnd | KernelSndSsthresh
)

// Set applies the fields of ks selected by fields to the session of t,
// which must be the caller's socket in TCP_REPAIR mode. To restore an
// image: Set(ctx, img.Tuple, *img.Kernel, KernelAll).
func (c *Client) Set(ctx context.Context, t Tuple, ks KernelState, fields KernelFields) error {
	if fields&^KernelAll != 0 || fields == 0 {
		return opErr(OpSet, t, fmt.Errorf("no or unknown kernel fields %#x", uint8(fields)))
	}
	return c.c.set(ctx, []Tuple{t}, []KernelState{ks}, fields)[0]
}

// Segment is a segment the peer sent while its tuple was frozen.
type Segment struct {
	Seq    uint32
	Ack    uint32
	Window uint32 // unscaled
	TSVal  uint32 // 0 without the timestamp option
	TSEcr  uint32
	Flags  uint8 // TCP header flags: FIN 0x01 ... CWR 0x80
	Len    uint32
	Age    time.Duration // how long ago the module saw it (ms resolution)
	// SACK is the first block of the segment's SACK option (start, end;
	// the D-SACK when there is one, RFC 2883) and SACKBlocks how many it
	// holds, in a segment tcptake captured (the module records none).
	SACK       [2]uint32
	SACKBlocks uint8
}

// PeerSegments returns the segments the module recorded for the frozen
// tuple t, oldest first (at most tcptakeh.PeerRingSize).
func (c *Client) PeerSegments(ctx context.Context, t Tuple) ([]Segment, error) {
	return c.c.peerSegments(ctx, t)
}

// FreezeInfo is one frozen tuple.
type FreezeInfo struct {
	Tuple      Tuple
	Expires    time.Duration // time left before the freeze lifts by itself
	DroppedIn  uint64        // packets from the peer dropped so far
	DroppedOut uint64        // packets to the peer dropped so far
	// DroppedICMP counts the ICMP errors about the tuple dropped so far
	// (they would change the frozen socket); 0 from a module that does
	// not drop them.
	DroppedICMP uint64
}

// Freezes lists the frozen tuples of the Client's namespace.
func (c *Client) Freezes(ctx context.Context) ([]FreezeInfo, error) { return c.c.freezes(ctx) }

// EventType is what a freeze notification reports.
type EventType uint32

// The freeze notifications.
const (
	EventFrozen  EventType = tcptakeh.EventFrozen
	EventThawed  EventType = tcptakeh.EventThawed
	EventExpired EventType = tcptakeh.EventExpired
)

func (e EventType) String() string {
	switch e {
	case EventFrozen:
		return "frozen"
	case EventThawed:
		return "thawed"
	case EventExpired:
		return "expired"
	}
	return fmt.Sprintf("event(%d)", uint32(e))
}

// FreezeEvent is a notification of the module's "events" group, or an
// error of the stream.
type FreezeEvent struct {
	Type   EventType
	Freeze FreezeInfo
	// Err is set on an event that reports a problem instead of a
	// notification: ErrEventsLost or an unreadable notification (the
	// stream continues), or the socket error that ends the stream (the
	// channel closes after it).
	Err error
}

// ErrEventsLost reports that the socket's receive buffer overflowed and
// notifications were dropped; list Freezes to resynchronise.
var ErrEventsLost = errors.New("tcptake: freeze notifications lost (receive buffer overflow)")

// Events subscribes to the module's freeze notifications (freeze, thaw,
// expiry) on a socket of its own. The channel closes when ctx ends or the
// stream fails (after an event carrying Err).
func (c *Client) Events(ctx context.Context) (<-chan FreezeEvent, error) {
	return c.c.events(ctx)
}
