package libtcptake

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// State is a TCP state, numbered as the kernel's TCP_* states.
type State uint8

// The TCP states a session image may carry (the spec's tcp-state enum).
const (
	StateEstablished State = tcptakeh.TcpStateEstablished
	StateSynSent     State = tcptakeh.TcpStateSynSent
	StateSynRecv     State = tcptakeh.TcpStateSynRecv
	StateFinWait1    State = tcptakeh.TcpStateFinWait1
	StateFinWait2    State = tcptakeh.TcpStateFinWait2
	StateTimeWait    State = tcptakeh.TcpStateTimeWait
	StateClose       State = tcptakeh.TcpStateClose
	StateCloseWait   State = tcptakeh.TcpStateCloseWait
	StateLastAck     State = tcptakeh.TcpStateLastAck
	StateListen      State = tcptakeh.TcpStateListen
	StateClosing     State = tcptakeh.TcpStateClosing
)

var stateNames = map[State]string{
	StateEstablished: "ESTABLISHED", StateSynSent: "SYN-SENT", StateSynRecv: "SYN-RECV",
	StateFinWait1: "FIN-WAIT-1", StateFinWait2: "FIN-WAIT-2", StateTimeWait: "TIME-WAIT",
	StateClose: "CLOSE", StateCloseWait: "CLOSE-WAIT", StateLastAck: "LAST-ACK",
	StateListen: "LISTEN", StateClosing: "CLOSING",
}

func (s State) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("STATE(%d)", uint8(s))
}

// Migratable reports whether tcptake can move a session in this state.
func (s State) Migratable() bool {
	switch s {
	case StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait, StateLastAck, StateClosing:
		return true
	}
	return false
}

// finSent reports whether our FIN is queued (it takes one sequence number
// after write_seq's data).
func (s State) finSent() bool {
	switch s {
	case StateFinWait1, StateFinWait2, StateClosing, StateLastAck:
		return true
	}
	return false
}

// finReceived reports whether the peer's FIN was received (it takes one
// sequence number before rcv_nxt).
func (s State) finReceived() bool {
	switch s {
	case StateCloseWait, StateLastAck, StateClosing:
		return true
	}
	return false
}

// TCPOpts are the TCP options a session negotiated (the spec's "opt" flags).
type TCPOpts uint32

// The negotiated options (the spec's opt flags).
const (
	OptSACK       TCPOpts = tcptakeh.OptSack
	OptTimestamps TCPOpts = tcptakeh.OptTimestamps
	OptWScale     TCPOpts = tcptakeh.OptWscale
	OptECN        TCPOpts = tcptakeh.OptEcn
	OptUsecTS     TCPOpts = tcptakeh.OptUsecTs
	OptAccECN     TCPOpts = tcptakeh.OptAccecn
)

// Tuple addresses a TCP session: the local and remote address and port as
// seen by the node that owns it.
type Tuple struct {
	Local  netip.AddrPort
	Remote netip.AddrPort
	// IfIndex scopes a link-local IPv6 address; 0 otherwise.
	IfIndex uint32
}

func (t Tuple) String() string { return t.Local.String() + " " + t.Remote.String() }

// unmap turns a v4-mapped tuple (a dual-stack socket's view of an IPv4
// session) into the IPv4 tuple its packets carry.
func (t Tuple) unmap() Tuple {
	t.Local = netip.AddrPortFrom(t.Local.Addr().Unmap(), t.Local.Port())
	t.Remote = netip.AddrPortFrom(t.Remote.Addr().Unmap(), t.Remote.Port())
	return t
}

// Is6 reports whether the tuple is IPv6.
func (t Tuple) Is6() bool { return t.Local.Addr().Is6() }

// Window is the TCP_REPAIR_WINDOW state.
type Window struct {
	SndWl1    uint32 `json:"snd_wl1"`
	SndWnd    uint32 `json:"snd_wnd"`
	MaxWindow uint32 `json:"max_window"`
	RcvWnd    uint32 `json:"rcv_wnd"`
	RcvWup    uint32 `json:"rcv_wup"`
}

// SockOpts are the socket options the application set on the session.
type SockOpts struct {
	NoDelay     bool   `json:"nodelay"`
	KeepAlive   bool   `json:"keepalive"`
	KeepIdle    uint32 `json:"keep_idle,omitempty"`    // seconds
	KeepIntvl   uint32 `json:"keep_intvl,omitempty"`   // seconds
	KeepCnt     uint32 `json:"keep_cnt,omitempty"`     //
	UserTimeout uint32 `json:"user_timeout,omitempty"` // milliseconds
	RcvBuf      uint32 `json:"rcvbuf,omitempty"`       // only when locked by the application
	SndBuf      uint32 `json:"sndbuf,omitempty"`       // only when locked by the application
	TOS         uint8  `json:"tos,omitempty"`          // IP_TOS / IPV6_TCLASS
	TTL         uint8  `json:"ttl,omitempty"`          // only when set by the application
	V6Only      bool   `json:"v6only,omitempty"`       //
}

// QueueLengths are the byte counts of a session's queues.
type QueueLengths struct {
	Recv    uint32 `json:"rcvq_len"`
	Unacked uint32 `json:"sndq_unacked_len"`
	Unsent  uint32 `json:"sndq_unsent_len"`
}

// KernelState is what only the tcptake kernel module can read and set.
type KernelState struct {
	TSRecent    uint32 `json:"ts_recent"`
	SRTTus      uint32 `json:"srtt_us"`
	MDEVus      uint32 `json:"mdev_us"`
	RTOus       uint32 `json:"rto_us"`
	SndCwnd     uint32 `json:"snd_cwnd"`
	SndSsthresh uint32 `json:"snd_ssthresh"`
}

// Image is everything needed to recreate a TCP session on another node:
// the session image of the tcptake protocol (attribute set "session").
//
// Sequence numbers are absolute. The send queue runs from SndUna to
// WriteSeq: SendUnacked covers [SndUna, SndNxt), SendUnsent [SndNxt,
// WriteSeq). RecvQueue holds the bytes received but not read, ending at
// RcvNxt. A FIN, sent or received, is implied by State and takes one
// sequence number beyond the data.
type Image struct {
	Tuple    Tuple  `json:"tuple"`
	State    State  `json:"state"`
	SndUna   uint32 `json:"snd_una"`
	SndNxt   uint32 `json:"snd_nxt"`
	WriteSeq uint32 `json:"write_seq"`
	RcvNxt   uint32 `json:"rcv_nxt"`

	RecvQueue   []byte `json:"-"`
	SendUnacked []byte `json:"-"`
	SendUnsent  []byte `json:"-"`

	Options   TCPOpts `json:"options"`
	MSSClamp  uint32  `json:"mss_clamp"`
	SndWScale uint8   `json:"snd_wscale"`
	RcvWScale uint8   `json:"rcv_wscale"`
	// TSVal is our TSval at capture; bit 0 is the usec-TS flag on 6.7+.
	TSVal uint32 `json:"tsval"`
	// Window is nil when the source had no TCP_REPAIR_WINDOW.
	Window *Window      `json:"window,omitempty"`
	Sock   SockOpts     `json:"sockopts"`
	Kernel *KernelState `json:"kernel,omitempty"`

	// Queued holds the queue lengths the kernel module reported for a GET
	// without buffers (Client.Get, Client.Sessions); nil when the queue
	// bytes themselves are present.
	Queued *QueueLengths `json:"queued,omitempty"`

	AppState    []byte    `json:"-"`
	CaptureTime time.Time `json:"capture_time"`
	Generation  uint64    `json:"generation"`

	// Digest is the kernel module's digest of the session's state but its
	// clock (the spec's session digest; CheckpointSince,
	// Client.SessionsChanged), 0 from elsewhere. It holds for the module
	// load that gave it only, and is not part of the binary image.
	Digest uint64 `json:"digest,omitempty"`
}

// String names the session for errors and logs.
func (img *Image) String() string { return img.Tuple.String() }

// seqAfter reports whether sequence number a comes after b (RFC 1982).
func seqAfter(a, b uint32) bool { return int32(b-a) < 0 }

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

// sameSession reports whether tuples a and b name the same session: the
// module may answer with the v4-mapped form of an IPv4 request (a
// dual-stack socket) or with the scope of a link-local address.
func sameSession(a, b Tuple) bool {
	eq := func(x, y netip.AddrPort) bool {
		return x.Port() == y.Port() && x.Addr().WithZone("").Unmap() == y.Addr().WithZone("").Unmap()
	}
	return eq(a.Local, b.Local) && eq(a.Remote, b.Remote) &&
		(a.IfIndex == 0 || b.IfIndex == 0 || a.IfIndex == b.IfIndex)
}
