package ha

import (
	"errors"
	"fmt"
)

// Errors that a Node's operations wrap; test with errors.Is.
var (
	// ErrNotActive: the operation needs the active role.
	ErrNotActive = errors.New("ha: node is not the active")
	// ErrNoPeer: the sync link is down.
	ErrNoPeer = errors.New("ha: no sync link to the peer")
	// ErrBusy: a switchover is already running.
	ErrBusy = errors.New("ha: a switchover is already running")
	// ErrRefused: the peer refused the switchover (see the message).
	ErrRefused = errors.New("ha: the peer refused the switchover")
	// ErrPermission: a control caller is not root.
	ErrPermission = errors.New("ha: permission denied")
	// ErrCutLink, returned by Options.Fault (tests only), cuts the sync
	// link there instead of failing the step.
	ErrCutLink = errors.New("ha: fault: cut the sync link")
)

// LinkError is a refused or failed sync link: a bad handshake, a peer
// with the wrong key, or a frame that breaks the protocol. Nothing in a
// refused connection reaches the node beyond the failed step.
type LinkError struct {
	Op     string // "handshake", "hello", "read", "write"
	Remote string // the peer's address, when known
	Err    error
}

func (e *LinkError) Error() string {
	if e.Remote == "" {
		return fmt.Sprintf("ha link: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("ha link %s: %s: %v", e.Remote, e.Op, e.Err)
}

func (e *LinkError) Unwrap() error { return e.Err }

// Reasons a frame or a peer is refused; a LinkError wraps one of them.
var (
	ErrWrongKey    = errors.New("peer key is not the configured one")
	ErrBadFrame    = errors.New("malformed frame")
	ErrVersion     = errors.New("unsupported protocol version")
	ErrFrameTooBig = errors.New("frame exceeds the size limit")
	ErrReplay      = errors.New("frame out of sequence or from another connection")
	ErrStaleEpoch  = errors.New("frame from an older epoch")
	ErrTwoActives  = errors.New("both nodes claim the active role at the same epoch")
	ErrLinkTimeout = errors.New("no heartbeat from the peer")
)

// StepError is a switchover that failed at one step; Resumed says where
// the sessions are now.
type StepError struct {
	Step    Step
	Err     error
	Resumed bool // the sessions resumed on the old active
}

func (e *StepError) Error() string {
	where := "the sessions stay on the new active"
	if e.Resumed {
		where = "the sessions resumed on this node"
	}
	return fmt.Sprintf("switchover failed at %s (%s): %v", e.Step, where, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }
