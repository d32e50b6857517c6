package ha

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/tcptake/tcptake/libtcptake"
)

// Checkpoints: the active captures its sessions (TCP state and the
// application's state at the same instant) periodically and on demand, and
// sends them to the standby delta-encoded in one checkpoint frame; the
// standby keeps exactly one consistent checkpoint per session, for a
// takeover should the active die.
//
// A checkpoint frame lists every session the active tracks, so a session
// absent from it has ended and is removed on the standby:
//
//	count u32 | capture time (unix ns) i64 | entries
//	entry: id u64 | kind u8 | body
//	  full:  the image (libtcptake.Image.MarshalBinary)
//	  same:  nothing: only the TSval and capture time moved (the frame's)
//	  kept:  nothing: the session could not be captured this time; its
//	         previous checkpoint stays
//	  delta: send drop u32 | receive drop u32 | snd_nxt u32 | shell image
//
// A delta's shell image is the new image with only the bytes appended to
// its queues since the previous checkpoint of the session: the standby
// drops the given number of bytes from the front of its send and receive
// streams (acknowledged by the peer, read by the application) and appends
// the shell's bytes. The application state travels whole in the shell.
// Every entry is relative to what the standby holds for the same link:
// a new link starts with full images.

const (
	ckFull  = 1
	ckSame  = 2
	ckKept  = 3
	ckDelta = 4
)

// CheckpointStatus describes the checkpoints a node sent (active) or holds
// (standby).
type CheckpointStatus struct {
	Sessions int           `json:"sessions"`
	Last     time.Time     `json:"last"`             // when the last checkpoint was captured
	Age      time.Duration `json:"age_ns"`           // of the last checkpoint, now
	Bytes    int           `json:"bytes"`            // size of the last checkpoint frame
	Duration time.Duration `json:"duration_ns"`      // capture time of the last one (active)
	Count    uint64        `json:"count"`            // checkpoints since start
	Failed   int           `json:"failed,omitempty"` // sessions not captured in the last one
	Interval time.Duration `json:"interval_ns"`      // 0: on demand only
	LastErr  string        `json:"last_error,omitempty"`
}

// stored is the standby's checkpoint of one session.
type stored struct {
	img *libtcptake.Image
	at  time.Time // received (standby's clock)
}

// checkpointLoop runs checkpoints every interval while the node is the
// active.
func (n *Node) checkpointLoop(ctx context.Context) {
	tick, stop := n.clock.NewTicker(n.o.CheckpointInterval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		n.mu.Lock()
		active := n.role == RoleActive && n.link != nil && !n.busy
		n.mu.Unlock()
		if active {
			if _, err := n.Checkpoint(ctx); err != nil {
				n.log.Debug("checkpoint", "err", err)
			}
		}
	}
}

// Checkpoint captures every tracked session that can be resumed (see
// Tracked.SetResume) with its application state and sends them to the
// standby. The sessions are paused while their batch is captured: a brief
// freeze without the kernel module (about 120 µs a session), none with it.
// A switchover or takeover running finishes first.
func (n *Node) Checkpoint(ctx context.Context) (*CheckpointStatus, error) {
	l, err := n.lockActive()
	if err != nil {
		return nil, err
	}
	defer n.recvMu.Unlock()
	ts := make([]*Tracked, 0, len(n.tracked))
	for t := range n.tracked {
		if t.resume != nil {
			ts = append(ts, t)
		}
	}
	n.mu.Unlock()
	return n.checkpoint(ctx, l, ts, nil)
}

// checkpoint captures ts and sends the checkpoint on l. With states nil,
// it pauses each batch and resumes it after the capture; otherwise the
// sessions are paused already, with these states, and stay so.
func (n *Node) checkpoint(ctx context.Context, l *peerLink, ts []*Tracked, states [][]byte) (*CheckpointStatus, error) {
	t0 := n.clock.Now()
	var buf bytes.Buffer
	count, failed := 0, 0
	var errs []error
	var sent []*Tracked // captured: their ckAt moves to captured
	var captured []time.Time
	for len(ts) > 0 {
		k := min(len(ts), n.o.BatchSize)
		batch, bstates := ts[:k], [][]byte(nil)
		if states == nil {
			batch, bstates = pauseAll(batch)
		} else {
			bstates, states = states[:k], states[k:]
		}
		ts = ts[k:]
		conns := make([]*net.TCPConn, len(batch))
		for i, t := range batch {
			conns[i] = t.conn
		}
		var imgs []*libtcptake.Image
		var err error
		if len(conns) > 0 {
			imgs, err = n.fops.checkpointAll(ctx, conns, lastSent(batch, l))
		}
		if states == nil {
			for _, t := range batch {
				t.resume()
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
		for i, t := range batch {
			count++
			var img *libtcptake.Image
			if i < len(imgs) {
				img = imgs[i]
			}
			if img == nil {
				failed++
				t.ckEncode(&buf, nil, l)
				continue
			}
			at := img.CaptureTime
			if img == t.ckLast { // the TCP state unchanged since it was sent
				at = t0
				if !bytes.Equal(img.AppState, bstates[i]) {
					c := *img // the application's moved: a copy (ckLast stays)
					img = &c
				}
			}
			img.AppState = bstates[i]
			if at.IsZero() {
				at, img.CaptureTime = t0, t0
			}
			if err := t.ckEncode(&buf, img, l); err != nil {
				failed++
				errs = append(errs, err)
				continue
			}
			sent, captured = append(sent, t), append(captured, at)
		}
	}
	dur := n.clock.Now().Sub(t0)
	hdr := make([]byte, 12, 12+buf.Len())
	binary.BigEndian.PutUint32(hdr, uint32(count))
	binary.BigEndian.PutUint64(hdr[4:], uint64(t0.UnixNano()))
	frame := append(hdr, buf.Bytes()...)
	err := n.send(l, msgCheckpoint, frame)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ckCount++
	n.ck = CheckpointStatus{Sessions: count, Last: t0, Bytes: len(frame), Duration: dur, Count: n.ckCount,
		Failed: failed, Interval: n.o.CheckpointInterval}
	n.stats.CheckpointBytes.observe(float64(len(frame)))
	if err == nil {
		for i, t := range sent {
			t.ckAt = captured[i]
		}
	}
	if err = errors.Join(append(errs, err)...); err != nil {
		n.ck.LastErr = err.Error()
	}
	st := n.ck
	return &st, err
}

// lastSent is the last image sent on link l of each of ts, nil where none
// (ckEncode's reference).
func lastSent(ts []*Tracked, l *peerLink) []*libtcptake.Image {
	prev := make([]*libtcptake.Image, len(ts))
	for i, t := range ts {
		if t.ckLink == l {
			prev[i] = t.ckLast
		}
	}
	return prev
}

// ckEncode appends t's checkpoint entry: relative to the last image sent
// on link l, or full. A nil img keeps the standby's previous one.
func (t *Tracked) ckEncode(w *bytes.Buffer, img *libtcptake.Image, l *peerLink) error {
	binary.Write(w, binary.BigEndian, t.id)
	if t.ckLink != l {
		t.ckLink, t.ckLast = l, nil
	}
	prev := t.ckLast
	switch {
	case img == nil: // the standby keeps what it has, if anything
		w.WriteByte(ckKept)
		return nil
	case prev != nil && sameImage(prev, img):
		w.WriteByte(ckSame)
		t.ckLast = img
		return nil
	}
	if prev != nil {
		if b, ok := deltaImage(prev, img); ok {
			w.WriteByte(ckDelta)
			w.Write(b)
			t.ckLast = img
			return nil
		}
	}
	b, err := img.MarshalBinary()
	if err != nil {
		t.ckLast = nil
		w.WriteByte(ckKept)
		return err
	}
	w.WriteByte(ckFull)
	w.Write(b)
	t.ckLast = img
	return nil
}

// sameImage reports whether b differs from a only in what moves by itself
// (TSval, capture time, generation, the module's RTT and congestion hints).
func sameImage(a, b *libtcptake.Image) bool {
	return a.Tuple == b.Tuple && a.State == b.State && a.SndUna == b.SndUna && a.SndNxt == b.SndNxt &&
		a.WriteSeq == b.WriteSeq && a.RcvNxt == b.RcvNxt && len(a.RecvQueue) == len(b.RecvQueue) &&
		a.Options == b.Options && a.MSSClamp == b.MSSClamp && a.SndWScale == b.SndWScale &&
		a.RcvWScale == b.RcvWScale && a.Sock == b.Sock && eqWindow(a.Window, b.Window) &&
		bytes.Equal(a.AppState, b.AppState)
}

func eqWindow(a, b *libtcptake.Window) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// deltaImage encodes img relative to prev: the bytes dropped from the front
// of each stream and a shell image with only the appended bytes.
func deltaImage(prev, img *libtcptake.Image) ([]byte, bool) {
	pSend := concat(prev.SendUnacked, prev.SendUnsent)
	nSend := concat(img.SendUnacked, img.SendUnsent)
	sDrop, sApp, ok := slide(prev.SndUna, pSend, img.SndUna, nSend)
	if !ok {
		return nil, false
	}
	rDrop, rApp, ok := slide(prev.RcvNxt-uint32(len(prev.RecvQueue)), prev.RecvQueue,
		img.RcvNxt-uint32(len(img.RecvQueue)), img.RecvQueue)
	if !ok {
		return nil, false
	}
	shell := *img
	shell.SendUnacked, shell.SendUnsent = nil, sApp
	shell.SndUna, shell.SndNxt = img.WriteSeq-uint32(len(sApp)), img.WriteSeq-uint32(len(sApp))
	shell.RecvQueue = rApp
	b, err := shell.MarshalBinary()
	if err != nil {
		return nil, false
	}
	hdr := make([]byte, 12, 12+len(b))
	binary.BigEndian.PutUint32(hdr, sDrop)
	binary.BigEndian.PutUint32(hdr[4:], rDrop)
	binary.BigEndian.PutUint32(hdr[8:], img.SndNxt)
	return append(hdr, b...), true
}

// slide expresses the stream nb starting at sequence nseq as the stream
// pb starting at pseq with drop bytes dropped from its front and app
// appended; ok is false when they do not overlap that way.
func slide(pseq uint32, pb []byte, nseq uint32, nb []byte) (drop uint32, app []byte, ok bool) {
	d := nseq - pseq
	if int32(d) < 0 {
		return 0, nil, false
	}
	if d >= uint32(len(pb)) { // all of the old stream is gone
		return uint32(len(pb)), nb, true
	}
	keep := pb[d:]
	if len(keep) > len(nb) || !bytes.Equal(keep, nb[:len(keep)]) {
		return 0, nil, false
	}
	return d, nb[len(keep):], true
}

func concat(a, b []byte) []byte { return append(append(make([]byte, 0, len(a)+len(b)), a...), b...) }

// applyCheckpoint decodes a checkpoint frame against the checkpoints the
// standby holds and replaces them, all at once: each session's is whole
// and from one capture, and sessions the active no longer lists are gone.
func (n *Node) applyCheckpoint(p []byte) error {
	if len(p) < 12 {
		return fmt.Errorf("%w: checkpoint header", ErrBadFrame)
	}
	size := len(p)
	count := binary.BigEndian.Uint32(p)
	captured := time.Unix(0, int64(binary.BigEndian.Uint64(p[4:])))
	p = p[12:]
	if uint64(count)*9 > uint64(len(p)) {
		return fmt.Errorf("%w: checkpoint of %d sessions in %d bytes", ErrBadFrame, count, len(p))
	}
	n.mu.Lock()
	old := n.ckStore
	n.mu.Unlock()
	now := n.clock.Now()
	store := make(map[uint64]*stored, count)
	for range count {
		if len(p) < 9 {
			return fmt.Errorf("%w: checkpoint entry", ErrBadFrame)
		}
		id, kind := binary.BigEndian.Uint64(p), p[8]
		p = p[9:]
		prev := old[id]
		var img *libtcptake.Image
		switch kind {
		case ckKept:
			if prev != nil {
				store[id] = prev
			}
			continue
		case ckSame:
			if prev == nil {
				return fmt.Errorf("%w: checkpoint: unchanged session %d unknown", ErrBadFrame, id)
			}
			c := *prev.img
			c.CaptureTime = captured
			img = &c
		case ckFull, ckDelta:
			var hdr []byte
			if kind == ckDelta {
				if len(p) < 12 || prev == nil {
					return fmt.Errorf("%w: checkpoint: delta of session %d", ErrBadFrame, id)
				}
				hdr, p = p[:12], p[12:]
			}
			k, err := frameLen(p)
			if err != nil {
				return err
			}
			img = new(libtcptake.Image)
			if err := img.UnmarshalBinary(p[:k]); err != nil {
				return err
			}
			p = p[k:]
			if kind == ckDelta {
				if img, err = undelta(prev.img, img, hdr); err != nil {
					return fmt.Errorf("%w: checkpoint: session %d: %v", ErrBadFrame, id, err)
				}
			}
		default:
			return fmt.Errorf("%w: checkpoint entry kind %d", ErrBadFrame, kind)
		}
		store[id] = &stored{img: img, at: now}
	}
	if len(p) != 0 {
		return fmt.Errorf("%w: %d bytes after the checkpoint entries", ErrBadFrame, len(p))
	}
	n.mu.Lock()
	n.ckStore = store
	n.ckCount++
	n.ck = CheckpointStatus{Sessions: len(store), Last: captured, Bytes: size, Count: n.ckCount}
	n.stats.CheckpointBytes.observe(float64(size))
	n.mu.Unlock()
	return nil
}

// frameLen is the length of the image frame at the start of p.
func frameLen(p []byte) (int, error) {
	const hdrLen = 16 // libtcptake's frame header; its length field at 8
	if len(p) < hdrLen {
		return 0, fmt.Errorf("%w: checkpoint image truncated", ErrBadFrame)
	}
	k := hdrLen + int(binary.BigEndian.Uint32(p[8:]))
	if k > len(p) || k < hdrLen {
		return 0, fmt.Errorf("%w: checkpoint image truncated", ErrBadFrame)
	}
	return k, nil
}

// undelta rebuilds an image from the previous one and a delta's shell.
func undelta(prev, shell *libtcptake.Image, hdr []byte) (*libtcptake.Image, error) {
	sDrop, rDrop, sndNxt := binary.BigEndian.Uint32(hdr), binary.BigEndian.Uint32(hdr[4:]), binary.BigEndian.Uint32(hdr[8:])
	pSend := concat(prev.SendUnacked, prev.SendUnsent)
	if sDrop > uint32(len(pSend)) || rDrop > uint32(len(prev.RecvQueue)) {
		return nil, errors.New("drops more than held")
	}
	send := append(pSend[sDrop:], shell.SendUnsent...)
	img := *shell
	img.SndUna = img.WriteSeq - uint32(len(send))
	if d := sndNxt - img.SndUna; int32(d) < 0 || d > uint32(len(send)) {
		return nil, errors.New("snd_nxt outside the send queue")
	}
	img.SndNxt = sndNxt
	img.SendUnacked, img.SendUnsent = send[:sndNxt-img.SndUna], send[sndNxt-img.SndUna:]
	img.RecvQueue = append(append([]byte(nil), prev.RecvQueue[rDrop:]...), shell.RecvQueue...)
	return &img, nil
}

// checkpointOps are the library calls of checkpoints and takeovers.
type checkpointOps interface {
	// checkpointAll returns one image per conn, nil where it failed;
	// prev[i] is the last one sent of conns[i] (nil: none): a session
	// unchanged since gets it back (libtcptake.CheckpointSince).
	checkpointAll(ctx context.Context, conns []*net.TCPConn, prev []*libtcptake.Image) ([]*libtcptake.Image, error)
	// setAdjusted sets images that may be stale, for Restart to adjust;
	// one session per image, nil where it failed.
	setAdjusted(ctx context.Context, imgs []*libtcptake.Image) ([]session, error)
	// freeze freezes (on) or thaws tuples on this node.
	freeze(ctx context.Context, ts []libtcptake.Tuple, on bool) error
}

func (l libOps) freeze(ctx context.Context, ts []libtcptake.Tuple, on bool) error {
	f := (libtcptake.Freezer)(nil)
	if l.o != nil {
		f = l.o.Freezer
	}
	if f == nil {
		var err error
		if f, err = libtcptake.DefaultFreezer(); err != nil {
			return err
		}
	}
	if bf, ok := f.(libtcptake.BatchFreezer); ok {
		if on {
			return bf.FreezeAll(ctx, ts)
		}
		return bf.ThawAll(ctx, ts)
	}
	var errs []error
	for _, t := range ts {
		if on {
			errs = append(errs, f.Freeze(ctx, t))
		} else {
			errs = append(errs, f.Thaw(ctx, t, false))
		}
	}
	return errors.Join(errs...)
}

// prefreeze keeps the tuples of the standby's checkpoints frozen here, so
// that a peer's segment reaching this node between the moment the service
// address arrives (keepalived adds it before it tells tcptake) and the
// takeover's set meets a drop, not a RST. Freezes lapse by themselves
// (libtcptake.DefaultFreezeTimeout); they are frozen again at half that
// age, which re-arms them, and lifted when the session ends. While this
// node holds no service address, they drop nothing.
func (n *Node) prefreeze(ctx context.Context) {
	n.mu.Lock()
	if n.role != RoleStandby {
		n.mu.Unlock()
		return
	}
	now := time.Now() // freezes lapse on the kernel's clock
	want := make(map[libtcptake.Tuple]bool, len(n.ckStore))
	var add, renew, del []libtcptake.Tuple
	for _, st := range n.ckStore {
		t := st.img.Tuple
		want[t] = true
		switch at, ok := n.frozen[t]; {
		case !ok:
			add = append(add, t)
		case now.Sub(at) > libtcptake.DefaultFreezeTimeout/2:
			renew = append(renew, t)
		}
	}
	for t := range n.frozen {
		if !want[t] {
			del = append(del, t)
			delete(n.frozen, t)
		}
	}
	for _, t := range append(add, renew...) {
		if n.frozen == nil {
			n.frozen = map[libtcptake.Tuple]time.Time{}
		}
		n.frozen[t] = now
	}
	n.mu.Unlock()
	var errs []error
	if len(del) > 0 {
		errs = append(errs, n.fops.freeze(ctx, del, false))
	}
	if len(add)+len(renew) > 0 {
		errs = append(errs, n.fops.freeze(ctx, append(add, renew...), true))
	}
	if err := errors.Join(errs...); err != nil {
		n.log.Warn("standby: freezing the checkpointed tuples", "err", err)
	}
}

func (l libOps) checkpointAll(ctx context.Context, conns []*net.TCPConn, prev []*libtcptake.Image) ([]*libtcptake.Image, error) {
	cs := make([]syscall.Conn, len(conns))
	for i, c := range conns {
		cs[i] = c
	}
	return libtcptake.CheckpointSince(ctx, cs, prev, l.o)
}

func (l libOps) setAdjusted(ctx context.Context, imgs []*libtcptake.Image) ([]session, error) {
	o := libtcptake.Options{}
	if l.o != nil {
		o = *l.o
	}
	o.Adjust = true
	out := make([]session, len(imgs))
	ss, err := libtcptake.SetAll(ctx, imgs, &o)
	if err == nil {
		for i, s := range ss {
			out[i] = s
		}
		return out, nil
	}
	// One image the node cannot set (its tuple in use, say) must not
	// cost the others: set them one by one.
	var errs []error
	for i, img := range imgs {
		s, err := libtcptake.Set(ctx, img, &o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[i] = s
	}
	return out, errors.Join(errs...)
}
