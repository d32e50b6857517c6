package libtcptake

import (
	"context"
	"slices"
	"time"
)

// adjustPeers re-aligns restored sessions from stale images (Options.Adjust)
// on where their peers are: it gathers what each peer sent — the segments
// the module recorded while the tuple was frozen, and the answers to
// window probes, sent again until ProbeTimeout — and rebuilds each
// session from its adjusted image (adjustImage). A session that cannot be
// rebuilt is recorded in failed.
func adjustPeers(ctx context.Context, f Freezer, ss []*Session, failed map[*Session]error) {
	segs := make(map[*Session][]Segment, len(ss))
	if mc := moduleOf(f); mc != nil {
		for _, s := range ss {
			if rec, err := mc.PeerSegments(ctx, s.tuple); err == nil {
				segs[s] = append(segs[s], rec...)
			}
		}
	}
	probePeers(ctx, moduleOf(f), ss, func(s *Session, seg Segment) { segs[s] = append(segs[s], seg) })
	now := time.Now()
	for _, s := range ss {
		img, adj := adjustImage(s.img, segs[s], now)
		s.adj = &adj
		// The node that sent the image's unacked bytes is gone: when the
		// peer's answer shows it holds nothing beyond its ACK, it has none
		// of those left, and they are sent again at once (queueSend).
		s.peerExact = slices.ContainsFunc(segs[s], func(seg Segment) bool {
			return seg.Ack == img.SndUna && answersProbe(seg, s.img)
		})
		log := s.opts.logger()
		if !adj.Answered {
			log.Warn("tcptake: the peer did not answer: the session keeps the image's position", "session", s.tuple, "age", adj.Age)
		} else {
			log.Debug("tcptake: adjusted", "session", s.tuple, "acked", adj.Acked, "outgoing_ahead", adj.OutgoingAhead,
				"incoming_lost", adj.IncomingLost, "tsval_moved", adj.TSValMoved, "age", adj.Age)
		}
		if err := s.reset(img); err != nil {
			failed[s] = err
		}
	}
}
