package libtcptake

import (
	"context"
	"log/slog"
	"time"
)

// Freezer drops every packet of a tuple in both directions, on this node,
// until Thaw. Two implementations exist: NFTFreezer (an nftables set in a
// table of tcptake's own, no kernel module needed) and the kernel module's
// FREEZE/THAW through *Client.
type Freezer interface {
	// Freeze installs the drop. Freezing a tuple twice is not an error.
	Freeze(ctx context.Context, t Tuple) error
	// Thaw lifts it. kick asks both ends to send at once what the freeze
	// held back (see Client.Thaw); freezers that cannot kick ignore it.
	Thaw(ctx context.Context, t Tuple, kick bool) error
}

// Options tune the session operations. The zero value is usable.
type Options struct {
	// Freezer drops the session's packets while it is stopped. When nil,
	// DefaultFreezer() is used.
	Freezer Freezer
	// Logger receives debug and warning records; nil means slog.Default().
	Logger *slog.Logger
	// NoFreebind makes Set fail with ErrNotLocal when the image's local
	// address is not on this node yet, instead of binding it with
	// IP_FREEBIND before the service address arrives.
	NoFreebind bool
	// ProbeTimeout bounds how long Restart waits for the peers of restored
	// sessions to answer the window probe (their answer says how much of
	// the send queue they already have); 0 means DefaultProbeTimeout.
	ProbeTimeout time.Duration
}

// DefaultProbeTimeout is the default Options.ProbeTimeout.
const DefaultProbeTimeout = 200 * time.Millisecond

func (o *Options) logger() *slog.Logger {
	if o == nil || o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}
