package ha

import (
	"cmp"
	"slices"
	"time"
)

// byPath orders a switchover's sessions so that those whose clients sit
// behind the slowest paths are stopped last, and the standby restarts and
// hands them over first. A session is frozen from its stop to its
// restart, which follows the last batch: the last stopped, restarted
// first, are frozen shortest. Their clients are the ones a stall costs
// most: every segment lost on the way waits for a retransmission timeout,
// which a slow or jittery path lengthens. So sessions go by their path's
// timeout (pathRTO), shortest first; ties keep their order.
func byPath(ts []*Tracked, pathRTO func(*Tracked) time.Duration) {
	rto := make(map[*Tracked]time.Duration, len(ts))
	for _, t := range ts {
		rto[t] = pathRTO(t)
	}
	slices.SortStableFunc(ts, func(a, b *Tracked) int { return cmp.Compare(rto[a], rto[b]) })
}
