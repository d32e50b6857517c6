package libtcptake

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/mdlayher/netlink"
)

// Sentinel errors, matched with errors.Is against any *Error.
var (
	// ErrPermission: the caller lacks CAP_NET_ADMIN over the network namespace.
	ErrPermission = os.ErrPermission
	// ErrUnsupported: the kernel or the session cannot do this (MPTCP,
	// no kernel module, an option the kernel lacks).
	ErrUnsupported = errors.ErrUnsupported
	// ErrBadImage: an image is truncated, corrupted, inconsistent or absurd.
	ErrBadImage = errors.New("bad session image")
	// ErrState: the session is in a TCP state tcptake cannot move.
	ErrState = errors.New("unsupported TCP state")
	// ErrInUse: the image's 4-tuple is taken on this node.
	ErrInUse = errors.New("4-tuple in use")
	// ErrNotLocal: the image's local address is not on this node and
	// IP_FREEBIND was not allowed.
	ErrNotLocal = errors.New("local address not on this node")
)

// Op names the operation that failed: a session operation of the
// library, a module command, or a step of the image codec.
type Op string

// The operations an *Error can name.
const (
	OpStop       Op = "stop"
	OpGet        Op = "get"
	OpSet        Op = "set"
	OpRestart    Op = "restart"
	OpRelease    Op = "release"
	OpCheckpoint Op = "checkpoint"
	OpEncode     Op = "encode"
	OpDecode     Op = "decode"
	OpOpen       Op = "open" // opening the module's genl family
	OpInfo       Op = "info"
	OpFreeze     Op = "freeze"
	OpThaw       Op = "thaw"
	OpDump       Op = "dump"
	OpPeerGet    Op = "peer-get"
	OpFreezeList Op = "freeze-list"
	OpEvents     Op = "events"
)

// Error is the error of a session operation. It names the operation and
// the session, and keeps the kernel's extack message when there is one.
type Error struct {
	Op      Op
	Session string // the 4-tuple, when known
	Message string // the kernel's extack text, when there is one
	Err     error
}

func (e *Error) Error() string {
	s := "tcptake: " + string(e.Op)
	if e.Session != "" {
		s += " " + e.Session
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Message != "" {
		s += " (" + e.Message + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is maps kernel errnos onto the package's sentinels.
func (e *Error) Is(target error) bool {
	var errno syscall.Errno
	if !errors.As(e.Err, &errno) {
		return false
	}
	switch target {
	case ErrPermission:
		return errno == syscall.EPERM || errno == syscall.EACCES
	case ErrInUse:
		return errno == syscall.EADDRINUSE
	case ErrNotLocal:
		return errno == syscall.EADDRNOTAVAIL
	case ErrUnsupported:
		return errno == syscall.EOPNOTSUPP || errno == syscall.ENOPROTOOPT
	case os.ErrNotExist:
		return errno == syscall.ENOENT || errno == syscall.ENODEV
	}
	return false
}

// opErr is the one constructor of *Error. It returns nil for a nil err,
// and keeps the errno and the extack message of a failed module command
// (a *netlink.OpError).
func opErr(op Op, sess fmt.Stringer, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Err: err}
	if sess != nil {
		e.Session = sess.String()
	}
	var oe *netlink.OpError
	if errors.As(err, &oe) {
		e.Message = oe.Message
		if oe.Err != nil {
			e.Err = oe.Err
		}
	}
	return e
}

// SessionsError is the error of a GET dump some of whose sessions the
// module could not snapshot (a queue above queue-max, no memory, queues
// changing under the read): Client.Sessions returns the others with it.
// errors.Is and errors.As see each session's *Error.
type SessionsError struct {
	Failed []*Error
	tuples []Tuple // Failed's sessions
}

func (e *SessionsError) Error() string {
	s := fmt.Sprintf("tcptake: dump: %d sessions could not be read", len(e.Failed))
	for _, f := range e.Failed {
		s += "; " + f.Session + ": " + f.Err.Error()
	}
	return s
}

func (e *SessionsError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f
	}
	return errs
}
