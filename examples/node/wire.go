//go:build linux

package node

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
)

// The handoff protocol between two nodes, over any reliable byte stream
// (a unix socket between two processes, a socketpair in one process):
//
//	pusher                              taker
//	stop+get each session ── 'I' image ──▶ set (repair mode, frozen, freebind)
//	                       ── 'E' end ────▶
//	                       ◀── 'R' ready ── (or 'X' abort: pusher resumes in place)
//	service IP down        ── 'G' go ─────▶ service IP up + GARP/NA, restart each
//	release + thaw         ◀── 'D' done ───
//
// Every message is a type byte, a big-endian uint32 length and a payload
// (an image frame, or JSON).
const (
	msgImage = 'I'
	msgEnd   = 'E'
	msgReady = 'R'
	msgAbort = 'X'
	msgGo    = 'G'
	msgDone  = 'D'
)

const maxMsg = 256 << 20

func writeMsg(w io.Writer, typ byte, payload []byte) error {
	var hdr [5]byte
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.Write(append(hdr[:], payload...)); err != nil {
		return fmt.Errorf("handoff: send %c: %w", typ, err)
	}
	return nil
}

func writeJSON(w io.Writer, typ byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeMsg(w, typ, b)
}

func readMsg(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, fmt.Errorf("handoff: receive: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxMsg {
		return 0, nil, fmt.Errorf("handoff: message of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, fmt.Errorf("handoff: receive %c: %w", hdr[0], err)
	}
	return hdr[0], b, nil
}

// expect reads one message of type want; an abort becomes an error.
func expect(r io.Reader, want byte, v any) error {
	typ, b, err := readMsg(r)
	if err != nil {
		return err
	}
	if typ == msgAbort {
		return &abortError{string(b)}
	}
	if typ != want {
		return fmt.Errorf("handoff: got message %q, want %q", typ, want)
	}
	if v != nil {
		return json.Unmarshal(b, v)
	}
	return nil
}

// abortError is the peer's 'X': it gave up before restarting anything.
type abortError struct{ msg string }

func (e *abortError) Error() string { return "handoff: peer aborted: " + e.msg }

// SessionReport is one moved session.
type SessionReport struct {
	Tuple       string `json:"tuple"`
	State       string `json:"state"`
	ImageBytes  int    `json:"image_bytes"`
	RecvQueue   int    `json:"recvq"`
	SendUnacked int    `json:"unacked"`
	SendUnsent  int    `json:"unsent"`
	MSSBefore   uint32 `json:"mss_before"`
	MSSAfter    uint32 `json:"mss_after"`
}

// Report is what a handoff did and how long each step took, in
// microseconds. The blackout runs from the first stop on the pusher to the
// last restart on the taker (both nodes share one clock in the demo).
type Report struct {
	Sessions   int             `json:"sessions"`
	ImageBytes int             `json:"image_bytes"`
	StopGetUs  int64           `json:"stop_get_us"`
	SetUs      int64           `json:"set_us"`
	IPDownUs   int64           `json:"ip_down_us"`
	IPUpUs     int64           `json:"ip_up_us"`
	RestartUs  int64           `json:"restart_us"`
	ReleaseUs  int64           `json:"release_us"`
	BlackoutUs int64           `json:"blackout_us"`
	Detail     []SessionReport `json:"detail,omitempty"`
}

type endMsg struct {
	T0        int64           `json:"t0"` // unix ns of the first stop
	StopGetUs int64           `json:"stop_get_us"`
	Detail    []SessionReport `json:"detail"`
}

type readyMsg struct {
	SetUs int64 `json:"set_us"`
}

type goMsg struct {
	IPDownUs int64 `json:"ip_down_us"`
}

type doneMsg struct {
	IPUpUs    int64    `json:"ip_up_us"`
	RestartUs int64    `json:"restart_us"`
	TEnd      int64    `json:"t_end"` // unix ns after the last restart
	MSSAfter  []uint32 `json:"mss_after"`
}

func us(d time.Duration) int64 { return d.Microseconds() }

// Push hands every live session of n, and the service addresses vips, to
// the node at the other end of c. If the peer cannot take them, the
// sessions resume here.
func (n *Node) Push(ctx context.Context, c io.ReadWriter, vips []VIP) (*Report, error) {
	t0 := time.Now()
	var detail []SessionReport
	stopped, err := n.StopAll(ctx, func(st *Stopped) error {
		b, err := st.Img.MarshalBinary()
		if err != nil {
			return err
		}
		detail = append(detail, SessionReport{
			Tuple: st.Img.Tuple.String(), State: st.Img.State.String(), ImageBytes: len(b),
			RecvQueue: len(st.Img.RecvQueue), SendUnacked: len(st.Img.SendUnacked),
			SendUnsent: len(st.Img.SendUnsent), MSSBefore: st.MSS,
		})
		return writeMsg(c, msgImage, b)
	})
	stopGet := time.Since(t0)
	if err != nil {
		writeMsg(c, msgAbort, []byte(err.Error()))
		return nil, errors.Join(err, n.Resume(ctx, stopped))
	}
	if err := writeJSON(c, msgEnd, endMsg{T0: t0.UnixNano(), StopGetUs: us(stopGet), Detail: detail}); err != nil {
		return nil, errors.Join(err, n.Resume(ctx, stopped))
	}
	var ready readyMsg
	if err := expect(c, msgReady, &ready); err != nil {
		return nil, errors.Join(err, n.Resume(ctx, stopped))
	}
	t := time.Now()
	if err := n.do(func() error { return delVIPs(vips) }); err != nil {
		writeMsg(c, msgAbort, []byte(err.Error()))
		return nil, errors.Join(err, n.do(func() error { return addVIPs(vips) }), n.Resume(ctx, stopped))
	}
	ipDown := time.Since(t)
	if err := writeJSON(c, msgGo, goMsg{IPDownUs: us(ipDown)}); err != nil {
		return nil, err
	}
	var done doneMsg
	if err := expect(c, msgDone, &done); err != nil {
		var abort *abortError
		if errors.As(err, &abort) {
			// The taker released everything before restarting any
			// session: take the address back and resume here.
			return nil, errors.Join(err, n.do(func() error { return addVIPs(vips) }), n.Resume(ctx, stopped))
		}
		// Otherwise the taker may have restarted some sessions: never
		// resume here then, two live copies would be worse than a lost
		// session.
		return nil, err
	}
	t = time.Now()
	err = n.Release(ctx, stopped)
	rep := &Report{
		Sessions: len(stopped), StopGetUs: us(stopGet), SetUs: ready.SetUs,
		IPDownUs: us(ipDown), IPUpUs: done.IPUpUs, RestartUs: done.RestartUs,
		ReleaseUs: us(time.Since(t)), BlackoutUs: (done.TEnd - t0.UnixNano()) / 1000,
		Detail: detail,
	}
	for i := range rep.Detail {
		rep.ImageBytes += rep.Detail[i].ImageBytes
		if i < len(done.MSSAfter) {
			rep.Detail[i].MSSAfter = done.MSSAfter[i]
		}
	}
	return rep, err
}

// Take receives sessions pushed by a peer on c: it sets each one up frozen,
// takes over vips when the peer has let go of them, restarts the sessions
// and runs them here.
func (n *Node) Take(ctx context.Context, c io.ReadWriter, vips []VIP) (*Report, error) {
	var sets []*libtcptake.Session
	var imgs []*libtcptake.Image
	var setErr error
	var setTime time.Duration
	var end endMsg
	abort := func(err error) (*Report, error) {
		writeMsg(c, msgAbort, []byte(err.Error()))
		n.do(func() error {
			for _, s := range sets {
				s.Release()
				s.Thaw(ctx)
			}
			return nil
		})
		return nil, err
	}
	for {
		typ, b, err := readMsg(c)
		if err != nil {
			return abort(err)
		}
		if typ == msgAbort {
			return abort(fmt.Errorf("handoff: peer aborted: %s", b))
		}
		if typ == msgEnd {
			if err := json.Unmarshal(b, &end); err != nil {
				return abort(err)
			}
			break
		}
		if typ != msgImage {
			return abort(fmt.Errorf("handoff: unexpected message %q", typ))
		}
		if setErr != nil {
			continue
		}
		img := new(libtcptake.Image)
		if err := img.UnmarshalBinary(b); err != nil {
			setErr = err
			continue
		}
		t := time.Now()
		err = n.do(func() error {
			s, err := libtcptake.Set(ctx, img, n.Options)
			if err == nil {
				sets = append(sets, s)
				imgs = append(imgs, img)
			}
			return err
		})
		setTime += time.Since(t)
		if err != nil {
			setErr = err
		}
	}
	if setErr != nil {
		return abort(setErr)
	}
	if err := writeJSON(c, msgReady, readyMsg{SetUs: us(setTime)}); err != nil {
		return abort(err)
	}
	var g goMsg
	if err := expect(c, msgGo, &g); err != nil {
		return abort(err)
	}
	t := time.Now()
	if err := n.do(func() error { return addVIPs(vips) }); err != nil {
		return abort(err)
	}
	ipUp := time.Since(t)
	t = time.Now()
	conns := make([]*net.TCPConn, len(sets))
	var errs error
	n.do(func() error {
		for i, s := range sets {
			conn, err := s.Restart(ctx)
			if err != nil {
				errs = errors.Join(errs, err)
				continue
			}
			conns[i] = conn
		}
		return nil
	})
	restart := time.Since(t)
	tEnd := time.Now()
	mss := make([]uint32, len(conns))
	for i, conn := range conns {
		if conn != nil {
			mss[i] = SndMSS(conn)
			n.Adopt(conn, imgs[i].AppState)
		}
	}
	if err := writeJSON(c, msgDone, doneMsg{IPUpUs: us(ipUp), RestartUs: us(restart), TEnd: tEnd.UnixNano(), MSSAfter: mss}); err != nil {
		errs = errors.Join(errs, err)
	}
	rep := &Report{
		Sessions: len(sets), StopGetUs: end.StopGetUs, SetUs: us(setTime), IPDownUs: g.IPDownUs,
		IPUpUs: us(ipUp), RestartUs: us(restart), BlackoutUs: (tEnd.UnixNano() - end.T0) / 1000,
		Detail: end.Detail,
	}
	for i := range rep.Detail {
		rep.ImageBytes += rep.Detail[i].ImageBytes
		if i < len(mss) {
			rep.Detail[i].MSSAfter = mss[i]
		}
	}
	return rep, errs
}
