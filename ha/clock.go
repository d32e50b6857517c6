package ha

import "time"

// Clock is the time source of a Node; tests substitute a fake.
type Clock interface {
	Now() time.Time
	// NewTicker returns a channel ticking every d and its stop function.
	NewTicker(d time.Duration) (<-chan time.Time, func())
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}
