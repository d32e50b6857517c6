package libtcptake

import (
	"context"
	"errors"
	"time"
)

// ModuleFreezer freezes tuples through the tcptake kernel module (FREEZE
// and THAW): unlike NFTFreezer, it records the peer's segments while
// frozen (Client.PeerSegments) and can kick the session on Thaw.
type ModuleFreezer struct {
	// C is the module client; the freezer acts in its network namespace.
	C *Client
	// Timeout is how long a freeze lasts unless thawed; 0 means the
	// module's default, DefaultFreezeTimeout.
	Timeout time.Duration
}

var _ BatchFreezer = (*ModuleFreezer)(nil)

// Freeze drops the tuple's packets in both directions. Freezing a frozen
// tuple re-arms its timeout (FREEZE with flag replace), so it is not an
// error.
func (f *ModuleFreezer) Freeze(ctx context.Context, t Tuple) error {
	return f.C.Freeze(ctx, t, FreezeOptions{Timeout: f.Timeout, Replace: true})
}

// Thaw lifts the freeze; kick makes both ends send at once what the
// freeze held back (see Client.Thaw).
// errors.Is(err, os.ErrNotExist) when the tuple was not frozen (never, or
// its freeze expired): the drop is gone, but no kick was sent.
func (f *ModuleFreezer) Thaw(ctx context.Context, t Tuple, kick bool) error {
	return f.C.Thaw(ctx, t, kick)
}

// FreezeAll freezes every tuple of ts, many to a system call. On error
// none is left frozen.
func (f *ModuleFreezer) FreezeAll(ctx context.Context, ts []Tuple) error {
	errs := f.C.c.freeze(ctx, ts, FreezeOptions{Timeout: f.Timeout, Replace: true})
	var frozen []Tuple
	for i, err := range errs {
		if err == nil {
			frozen = append(frozen, ts[i])
		}
	}
	if len(frozen) == len(ts) {
		return nil
	}
	f.C.c.thaw(context.WithoutCancel(ctx), frozen, false)
	return errors.Join(errs...)
}

// ThawAll lifts the freezes of ts, many to a system call, without kick
// (Client.ThawAll can kick).
func (f *ModuleFreezer) ThawAll(ctx context.Context, ts []Tuple) error {
	return f.C.ThawAll(ctx, ts, false)
}

// moduleOf returns the module client behind f, or nil when f is not the
// module's freezer: the module then also reads and sets what TCP_REPAIR
// cannot, and kicks on thaw.
func moduleOf(f Freezer) *Client {
	if mf, ok := f.(*ModuleFreezer); ok {
		return mf.C
	}
	return nil
}

// moduleFreezer returns a ModuleFreezer for the calling thread's network
// namespace, or nil when the module is not usable (not loaded, no
// permission, not Linux). DefaultFreezer calls it.
func moduleFreezer() Freezer {
	c, err := New()
	if err != nil {
		return nil
	}
	return &ModuleFreezer{C: c}
}
