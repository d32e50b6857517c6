//go:build !linux

package ha

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// The service address, the control socket's credentials and the listener
// options are Linux's: elsewhere they fail with errors.ErrUnsupported, so
// that a program embedding the package builds everywhere.

var errNeedsLinux = fmt.Errorf("%w: package ha needs Linux", errors.ErrUnsupported)

func (a Address) modify(bool) error               { return errNeedsLinux }
func (a Address) waitLocal(context.Context) error { return errNeedsLinux }

// Announce needs Linux.
func (a Address) Announce() error { return errNeedsLinux }

func peerIsRoot(*net.UnixConn) error { return errNeedsLinux }

// Listen needs Linux.
func Listen(context.Context, string) (*net.TCPListener, error) { return nil, errNeedsLinux }

func connRTO(*net.TCPConn) time.Duration { return 0 }
