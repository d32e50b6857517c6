// TCP status adjustment: a session restored from a stale image (a
// failover checkpoint the dead node went on from) is re-aligned on where
// its peer really is before it restarts.

package libtcptake

import "time"

// Adjustment is what Restart learned from the peer of a session restored
// with Options.Adjust, and what it changed. The application decides from
// it whether the session can go on: with OutgoingAhead and IncomingLost
// both 0 the session is byte-exact from the peer's point of view.
type Adjustment struct {
	// Answered: the peer answered the probe (or the module recorded its
	// segments); without an answer the session keeps the image's position
	// and the figures below are 0 because nothing is known.
	Answered bool `json:"answered"`
	// Acked bytes of the image's send queue the peer already had: they
	// were dropped, the rest is sent at once (when the peer's answer
	// shows it holds nothing beyond its ACK, or the rest fits in a first
	// flight; otherwise bytes beyond go out on the peer's SACKs or the
	// retransmission timer: Documentation/takeover.md, Restart step 2).
	Acked uint32 `json:"acked"`
	// OutgoingAhead bytes the peer acknowledged beyond all the image
	// holds: the dead node sent newer data. snd_nxt moved past them.
	OutgoingAhead uint32 `json:"outgoing_ahead"`
	// IncomingLost bytes the dead node acknowledged to the peer that the
	// image does not hold: rcv_nxt moved past them. The image's receive
	// queue (read first) ends before that gap.
	IncomingLost uint32 `json:"incoming_lost"`
	// TSValMoved is how far our TSval moved forward: past the peer's
	// TSecr, and at least by the image's age, so that PAWS never drops
	// our segments.
	TSValMoved uint32 `json:"tsval_moved,omitempty"`
	// Age of the image when the session restarted (from CaptureTime).
	Age time.Duration `json:"age_ns"`
}

// Exact reports whether the session went on byte-exact: the peer answered
// and nothing is missing in either direction.
func (a *Adjustment) Exact() bool {
	return a.Answered && a.OutgoingAhead == 0 && a.IncomingLost == 0
}

// Adjustment returns what Restart learned and changed for a session
// restored with Options.Adjust, nil before Restart or without Adjust.
func (s *Session) Adjustment() *Adjustment {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.adj == nil {
		return nil
	}
	a := *s.adj
	return &a
}

// adjustImage re-aligns img on the segments its peer sent (the answer to
// the probe, and any it sent while the tuple was frozen), now.
func adjustImage(img *Image, segs []Segment, now time.Time) (*Image, Adjustment) {
	out := *img
	var adj Adjustment
	if !img.CaptureTime.IsZero() && now.After(img.CaptureTime) {
		adj.Age = now.Sub(img.CaptureTime)
	}
	var (
		ack, pureSeq, dataSeq, tsEcr uint32
		win                          uint32
		hasData, hasTS               bool
	)
	for _, sg := range segs {
		if sg.Flags&tcpACK == 0 {
			continue
		}
		if !adj.Answered || !seqAfter(ack, sg.Ack) {
			ack, win = sg.Ack, sg.Window
		}
		if sg.Len > 0 || sg.Flags&tcpFIN != 0 {
			// A data segment after the dead node's end starts at the
			// peer's snd_una (a retransmission) or later.
			if !hasData || seqAfter(dataSeq, sg.Seq) {
				dataSeq = sg.Seq
			}
			hasData = true
		} else if !adj.Answered || seqAfter(sg.Seq, pureSeq) {
			pureSeq = sg.Seq // a bare ACK carries the peer's snd_nxt
		}
		if sg.TSVal != 0 || sg.TSEcr != 0 {
			if !hasTS || seqAfter(sg.TSEcr, tsEcr) {
				tsEcr = sg.TSEcr
			}
			hasTS = true
		}
		adj.Answered = true
	}
	if adj.Answered {
		// Outgoing: the peer's rcv_nxt against what the image holds
		// (our FIN takes one more sequence number).
		end := img.WriteSeq
		if img.State.finSent() {
			end++
		}
		switch {
		case seqAfter(img.SndUna, ack):
			// below what the image knows acknowledged: stale, ignored
		case !seqAfter(ack, end):
			adj.Acked = dropAcked(&out, ack)
		default:
			adj.OutgoingAhead = ack - end
			out.SendUnacked, out.SendUnsent = nil, nil
			out.SndUna, out.SndNxt, out.WriteSeq = ack, ack, ack
		}
		// Incoming: the peer's snd_una against the image's rcv_nxt. It
		// is where a retransmission starts, or its snd_nxt when nothing
		// is in flight.
		peerUna := pureSeq
		if hasData && !seqAfter(dataSeq, pureSeq) {
			peerUna = dataSeq
		}
		rcvEnd := img.RcvNxt // and the peer's FIN, received, one more
		if img.State.finReceived() {
			rcvEnd++
		}
		if seqAfter(peerUna, rcvEnd) {
			adj.IncomingLost = peerUna - rcvEnd
			out.RcvNxt += adj.IncomingLost
		}
		if img.Window != nil {
			w := *img.Window
			if img.Options&OptWScale != 0 {
				win <<= img.SndWScale
			}
			w.SndWnd, w.MaxWindow = win, max(w.MaxWindow, win)
			w.SndWl1, w.RcvWup = out.RcvNxt, out.RcvNxt
			out.Window = &w
		}
	}
	if img.Options&OptTimestamps != 0 {
		// At least as far as the clock went since the capture, and past
		// what the peer echoes (PAWS drops a TSval older than its
		// ts_recent); bit 0 is the usec-TS flag on 6.7+, kept.
		tick := time.Millisecond
		if img.Options&OptUsecTS != 0 {
			tick = time.Microsecond
		}
		ts := img.TSVal + uint32(adj.Age/tick)
		if hasTS && seqAfter(tsEcr+2, ts) {
			ts = tsEcr + 2
		}
		ts = (ts+1)&^1 | img.TSVal&1
		if seqAfter(ts, img.TSVal) {
			adj.TSValMoved = ts - img.TSVal
			out.TSVal = ts
		}
	}
	return &out, adj
}

// dropAcked removes from img's send queue the bytes up to ack, which its
// peer has (and our FIN, acked too, one sequence number past the data),
// and returns how many bytes it dropped.
func dropAcked(img *Image, ack uint32) uint32 {
	have := min(ack-img.SndUna, uint32(len(img.SendUnacked)+len(img.SendUnsent)))
	if n := uint32(len(img.SendUnacked)); have <= n {
		img.SendUnacked = img.SendUnacked[have:]
	} else {
		img.SendUnacked, img.SendUnsent = nil, img.SendUnsent[have-n:]
	}
	img.SndUna += have
	img.SndNxt = img.SndUna + uint32(len(img.SendUnacked))
	return have
}

// TCP header flags.
const (
	tcpFIN = 0x01
	tcpACK = 0x10
)
