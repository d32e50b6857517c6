// Freezing: the drop that keeps a session exactly as dumped while it is
// stopped, moved and restored (freeze_nft_linux.go, freeze_module.go).

package libtcptake

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/tcptake/tcptake/internal/tcptakeh"
)

// Freezer drops every packet of a tuple in both directions, on this node,
// until Thaw. Two implementations exist: NFTFreezer (an nftables set in a
// table of tcptake's own, no kernel module needed) and the kernel module's
// FREEZE/THAW through *Client.
type Freezer interface {
	// Freeze installs the drop. Freezing a frozen tuple again is not an
	// error: it restarts the freeze's timeout.
	Freeze(ctx context.Context, t Tuple) error
	// Thaw lifts it. kick asks both ends to send at once what the freeze
	// held back (see Client.Thaw); freezers that cannot kick ignore it.
	Thaw(ctx context.Context, t Tuple, kick bool) error
}

// BatchFreezer is a Freezer that can change many tuples in one request.
type BatchFreezer interface {
	Freezer
	FreezeAll(ctx context.Context, ts []Tuple) error
	ThawAll(ctx context.Context, ts []Tuple) error
}

func freezeAll(ctx context.Context, f Freezer, ts []Tuple) error {
	if bf, ok := f.(BatchFreezer); ok {
		return bf.FreezeAll(ctx, ts)
	}
	for i, t := range ts {
		if err := f.Freeze(ctx, t); err != nil {
			thawAll(context.WithoutCancel(ctx), f, ts[:i], false)
			return err
		}
	}
	return nil
}

// thawAll thaws ts. kick is the module's; other batch freezers ignore it.
func thawAll(ctx context.Context, f Freezer, ts []Tuple, kick bool) error {
	if mc := moduleOf(f); mc != nil {
		return thawErr(mc.c.thaw(ctx, ts, kick))
	}
	if bf, ok := f.(BatchFreezer); ok {
		return bf.ThawAll(ctx, ts)
	}
	errs := make([]error, len(ts))
	for i, t := range ts {
		errs[i] = f.Thaw(ctx, t, kick)
	}
	return thawErr(errs)
}

// thawErr is the error of a batch of thaws: the first that is not
// os.ErrNotExist, which callers forgive (a freeze that expired left
// nothing to lift), else the first.
func thawErr(errs []error) error {
	var first error
	for _, err := range errs {
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

func sessionTuples(ss []*Session) []Tuple {
	ts := make([]Tuple, len(ss))
	for i, s := range ss {
		ts[i] = s.tuple
	}
	return ts
}

// NFTTable is the nftables table (family inet) NFTFreezer owns:
//
//	table inet tcptake {
//		set conns4 { type ipv4_addr . inet_service . ipv4_addr . inet_service; flags timeout; }
//		set conns6 { type ipv6_addr . inet_service . ipv6_addr . inet_service; flags timeout; }
//		chain input  { type filter hook input priority raw; meta mark 0x74637074 accept;
//			ip daddr . tcp dport . ip saddr . tcp sport @conns4 counter drop;
//			ip6 daddr . tcp dport . ip6 saddr . tcp sport @conns6 counter drop; }
//		chain output { type filter hook output priority raw; meta mark 0x74637074 accept;
//			ip saddr . tcp sport . ip daddr . tcp dport @conns4 counter drop;
//			ip6 saddr . tcp sport . ip6 daddr . tcp dport @conns6 counter drop; }
//	}
//
// A frozen tuple is one element, local . lport . remote . rport, with a
// timeout: output matches it in packet order, input reversed.
const NFTTable = "tcptake"

// DefaultFreezeTimeout bounds a freeze, so that a controller that dies
// never strands a session (the module uses the same default).
const DefaultFreezeTimeout = tcptakeh.FreezeTimeoutDefaultMs * time.Millisecond
