package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
)

// optNames are the text names of the negotiated TCP options, in flag order.
var optNames = []struct {
	opt        libtcptake.TCPOpts
	text, spec string
}{
	{libtcptake.OptSACK, "sack", "sack"},
	{libtcptake.OptTimestamps, "ts", "timestamps"},
	{libtcptake.OptWScale, "wscale", "wscale"},
	{libtcptake.OptECN, "ecn", "ecn"},
	{libtcptake.OptUsecTS, "usec-ts", "usec-ts"},
	{libtcptake.OptAccECN, "accecn", "accecn"},
}

// optionList names the options of o; spec selects the spec's entry names
// (JSON) over the short text names. Unknown bits are shown in hex.
func optionList(o libtcptake.TCPOpts, spec bool) []string {
	names := []string{}
	for _, n := range optNames {
		if o&n.opt != 0 {
			if spec {
				names = append(names, n.spec)
			} else {
				names = append(names, n.text)
			}
			o &^= n.opt
		}
	}
	if o != 0 {
		names = append(names, fmt.Sprintf("0x%x", uint32(o)))
	}
	return names
}

// printImage writes one image as a text block headed by where it came
// from (see printSession).
func printImage(w io.Writer, in inspected, data bool) {
	fmt.Fprintf(w, "%s #%d: ", in.file, in.index)
	printSession(w, in.img, data)
}

// printSession writes an image as a header line, then indented lines of
// related fields, named as in the spec.
func printSession(w io.Writer, img *libtcptake.Image, data bool) {
	const ind = "    "
	fmt.Fprintf(w, "%s %s generation %d\n", img.State, tupleText(img.Tuple), img.Generation)

	fmt.Fprintf(w, "%sseq snd_una %d snd_nxt %d write_seq %d rcv_nxt %d\n",
		ind, img.SndUna, img.SndNxt, img.WriteSeq, img.RcvNxt)
	fmt.Fprintf(w, "%squeue recv %d unacked %d unsent %d\n",
		ind, len(img.RecvQueue), len(img.SendUnacked), len(img.SendUnsent))

	opts := "none"
	if img.Options != 0 {
		opts = strings.Join(optionList(img.Options, false), " ")
	}
	fmt.Fprintf(w, "%soptions %s\n", ind, opts)
	var tcp []string
	if img.MSSClamp != 0 {
		tcp = append(tcp, fmt.Sprintf("mss_clamp %d", img.MSSClamp))
	}
	if img.Options&libtcptake.OptWScale != 0 {
		tcp = append(tcp, fmt.Sprintf("snd_wscale %d rcv_wscale %d", img.SndWScale, img.RcvWScale))
	}
	if img.Options&libtcptake.OptTimestamps != 0 {
		tcp = append(tcp, fmt.Sprintf("tsval %d", img.TSVal))
	}
	if len(tcp) > 0 {
		fmt.Fprintf(w, "%s%s\n", ind, strings.Join(tcp, " "))
	}

	if win := img.Window; win != nil {
		fmt.Fprintf(w, "%swindow snd_wl1 %d snd_wnd %d max_window %d rcv_wnd %d rcv_wup %d\n",
			ind, win.SndWl1, win.SndWnd, win.MaxWindow, win.RcvWnd, win.RcvWup)
	}
	fmt.Fprintf(w, "%ssockopts %s\n", ind, sockOptsText(img.Sock))
	if k := img.Kernel; k != nil {
		fmt.Fprintf(w, "%skernel ts_recent %d srtt_us %d mdev_us %d rto_us %d snd_cwnd %d snd_ssthresh %d\n",
			ind, k.TSRecent, k.SRTTus, k.MDEVus, k.RTOus, k.SndCwnd, k.SndSsthresh)
	}
	if len(img.AppState) > 0 {
		fmt.Fprintf(w, "%sapp_state %d bytes\n", ind, len(img.AppState))
	}
	captured := "unknown"
	if !img.CaptureTime.IsZero() {
		captured = img.CaptureTime.UTC().Format(time.RFC3339Nano)
	}
	fmt.Fprintf(w, "%scaptured %s\n", ind, captured)

	if !data {
		return
	}
	for _, q := range []struct {
		name string
		b    []byte
	}{
		{"rcvq", img.RecvQueue},
		{"sndq_unacked", img.SendUnacked},
		{"sndq_unsent", img.SendUnsent},
		{"app_state", img.AppState},
	} {
		if len(q.b) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s%s %d bytes:\n", ind, q.name, len(q.b))
		hexDump(w, ind+ind, q.b, dataLimit)
	}
}

// tupleText prints a tuple the way ss does: local, then remote.
func tupleText(t libtcptake.Tuple) string {
	s := t.String()
	if t.IfIndex != 0 {
		s += fmt.Sprintf(" ifindex %d", t.IfIndex)
	}
	return s
}

// sockOptsText lists the socket options the application set.
func sockOptsText(o libtcptake.SockOpts) string {
	var f []string
	flag := func(on bool, name string) {
		if on {
			f = append(f, name)
		}
	}
	num := func(v uint32, name string) {
		if v != 0 {
			f = append(f, fmt.Sprintf("%s %d", name, v))
		}
	}
	flag(o.NoDelay, "nodelay")
	flag(o.KeepAlive, "keepalive")
	num(o.KeepIdle, "keep_idle")
	num(o.KeepIntvl, "keep_intvl")
	num(o.KeepCnt, "keep_cnt")
	num(o.UserTimeout, "user_timeout")
	num(o.RcvBuf, "rcvbuf")
	num(o.SndBuf, "sndbuf")
	if o.TOS != 0 {
		f = append(f, fmt.Sprintf("tos 0x%02x", o.TOS))
	}
	num(uint32(o.TTL), "ttl")
	flag(o.V6Only, "v6only")
	if len(f) == 0 {
		return "none"
	}
	return strings.Join(f, " ")
}

// tupleJSON is the spec's attribute set "tuple".
type tupleJSON struct {
	Family     string `json:"family"`
	LocalAddr  string `json:"local_addr"`
	LocalPort  uint16 `json:"local_port"`
	RemoteAddr string `json:"remote_addr"`
	RemotePort uint16 `json:"remote_port"`
	IfIndex    uint32 `json:"ifindex,omitempty"`
}

func newTupleJSON(local, remote netip.AddrPort, ifindex uint32) tupleJSON {
	fam := "inet"
	if local.Addr().Is6() {
		fam = "inet6"
	}
	return tupleJSON{
		Family:     fam,
		LocalAddr:  local.Addr().String(),
		LocalPort:  local.Port(),
		RemoteAddr: remote.Addr().String(),
		RemotePort: remote.Port(),
		IfIndex:    ifindex,
	}
}

// imageJSON is an image of image inspect: where it came from, then its
// fields.
type imageJSON struct {
	File  string `json:"file"`
	Index int    `json:"index"`
	sessionImageJSON
}

// sessionImageJSON is the spec's attribute set "session", flattened the
// same way. Optional attributes are omitted when the image lacks them;
// queue and state bytes are hex, with --data (or buffers) only.
type sessionImageJSON struct {
	Tuple    tupleJSON `json:"tuple"`
	State    string    `json:"state"`
	SndUna   uint32    `json:"snd_una"`
	SndNxt   uint32    `json:"snd_nxt"`
	WriteSeq uint32    `json:"write_seq"`
	RcvNxt   uint32    `json:"rcv_nxt"`

	RcvqLen        int `json:"rcvq_len"`
	SndqUnackedLen int `json:"sndq_unacked_len"`
	SndqUnsentLen  int `json:"sndq_unsent_len"`

	Options   []string `json:"options"`
	MSSClamp  uint32   `json:"mss_clamp,omitempty"`
	SndWScale *uint8   `json:"snd_wscale,omitempty"` // with option wscale only
	RcvWScale *uint8   `json:"rcv_wscale,omitempty"`
	TSVal     *uint32  `json:"tsval,omitempty"` // with option timestamps only

	SndWl1    *uint32 `json:"snd_wl1,omitempty"`
	SndWnd    *uint32 `json:"snd_wnd,omitempty"`
	MaxWindow *uint32 `json:"max_window,omitempty"`
	RcvWnd    *uint32 `json:"rcv_wnd,omitempty"`
	RcvWup    *uint32 `json:"rcv_wup,omitempty"`

	NoDelay     bool   `json:"nodelay"`
	KeepAlive   bool   `json:"keepalive"`
	KeepIdle    uint32 `json:"keep_idle,omitempty"`
	KeepIntvl   uint32 `json:"keep_intvl,omitempty"`
	KeepCnt     uint32 `json:"keep_cnt,omitempty"`
	UserTimeout uint32 `json:"user_timeout,omitempty"`
	RcvBuf      uint32 `json:"rcvbuf,omitempty"`
	SndBuf      uint32 `json:"sndbuf,omitempty"`
	TOS         uint8  `json:"tos,omitempty"`
	TTL         uint8  `json:"ttl,omitempty"`
	V6Only      bool   `json:"v6only,omitempty"`

	TSRecent    *uint32 `json:"ts_recent,omitempty"`
	SRTTus      *uint32 `json:"srtt_us,omitempty"`
	MDEVus      *uint32 `json:"mdev_us,omitempty"`
	RTOus       *uint32 `json:"rto_us,omitempty"`
	SndCwnd     *uint32 `json:"snd_cwnd,omitempty"`
	SndSsthresh *uint32 `json:"snd_ssthresh,omitempty"`

	AppStateLen   int    `json:"app_state_len"`
	CaptureTimeNs int64  `json:"capture_time_ns,omitempty"`
	CaptureTime   string `json:"capture_time,omitempty"` // RFC 3339, for people
	Generation    uint64 `json:"generation"`

	Rcvq        string `json:"rcvq,omitempty"`
	SndqUnacked string `json:"sndq_unacked,omitempty"`
	SndqUnsent  string `json:"sndq_unsent,omitempty"`
	AppState    string `json:"app_state,omitempty"`
}

// stateSpecName is the spec's entry name of a TCP state ("fin-wait1").
func stateSpecName(s libtcptake.State) string {
	switch s {
	case libtcptake.StateFinWait1:
		return "fin-wait1"
	case libtcptake.StateFinWait2:
		return "fin-wait2"
	}
	return strings.ToLower(s.String())
}

func newImageJSON(in inspected, data bool) imageJSON {
	return imageJSON{File: in.file, Index: in.index, sessionImageJSON: newSessionImageJSON(in.img, data)}
}

func newSessionImageJSON(img *libtcptake.Image, data bool) sessionImageJSON {
	j := sessionImageJSON{
		Tuple:          newTupleJSON(img.Tuple.Local, img.Tuple.Remote, img.Tuple.IfIndex),
		State:          stateSpecName(img.State),
		SndUna:         img.SndUna,
		SndNxt:         img.SndNxt,
		WriteSeq:       img.WriteSeq,
		RcvNxt:         img.RcvNxt,
		RcvqLen:        len(img.RecvQueue),
		SndqUnackedLen: len(img.SendUnacked),
		SndqUnsentLen:  len(img.SendUnsent),
		Options:        optionList(img.Options, true),
		MSSClamp:       img.MSSClamp,
		NoDelay:        img.Sock.NoDelay,
		KeepAlive:      img.Sock.KeepAlive,
		KeepIdle:       img.Sock.KeepIdle,
		KeepIntvl:      img.Sock.KeepIntvl,
		KeepCnt:        img.Sock.KeepCnt,
		UserTimeout:    img.Sock.UserTimeout,
		RcvBuf:         img.Sock.RcvBuf,
		SndBuf:         img.Sock.SndBuf,
		TOS:            img.Sock.TOS,
		TTL:            img.Sock.TTL,
		V6Only:         img.Sock.V6Only,
		AppStateLen:    len(img.AppState),
		Generation:     img.Generation,
	}
	if img.Options&libtcptake.OptWScale != 0 {
		snd, rcv := img.SndWScale, img.RcvWScale
		j.SndWScale, j.RcvWScale = &snd, &rcv
	}
	if img.Options&libtcptake.OptTimestamps != 0 {
		tsval := img.TSVal
		j.TSVal = &tsval
	}
	if win := img.Window; win != nil {
		w := *win
		j.SndWl1, j.SndWnd, j.MaxWindow, j.RcvWnd, j.RcvWup = &w.SndWl1, &w.SndWnd, &w.MaxWindow, &w.RcvWnd, &w.RcvWup
	}
	if k := img.Kernel; k != nil {
		k := *k
		j.TSRecent, j.SRTTus, j.MDEVus, j.RTOus, j.SndCwnd, j.SndSsthresh = &k.TSRecent, &k.SRTTus, &k.MDEVus, &k.RTOus, &k.SndCwnd, &k.SndSsthresh
	}
	if !img.CaptureTime.IsZero() {
		j.CaptureTimeNs = img.CaptureTime.UnixNano()
		j.CaptureTime = img.CaptureTime.UTC().Format(time.RFC3339Nano)
	}
	if data {
		j.Rcvq = hex.EncodeToString(img.RecvQueue)
		j.SndqUnacked = hex.EncodeToString(img.SendUnacked)
		j.SndqUnsent = hex.EncodeToString(img.SendUnsent)
		j.AppState = hex.EncodeToString(img.AppState)
	}
	return j
}
