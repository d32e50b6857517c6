package ha

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerIsRoot checks the caller's credentials (SO_PEERCRED).
func peerIsRoot(c *net.UnixConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var serr error
	if err := rc.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	if cred.Uid != 0 {
		return fmt.Errorf("%w: uid %d is not root", ErrPermission, cred.Uid)
	}
	return nil
}
