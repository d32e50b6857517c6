package ha

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// connRTO is the retransmission timeout of c's path as RFC 6298 computes
// it, srtt + 4 × rttvar, from its socket's TCP_INFO, without the kernel's
// 200 ms floor (which would make every path alike); 0 when it cannot be
// read.
func connRTO(c *net.TCPConn) time.Duration {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var info *unix.TCPInfo
	rc.Control(func(fd uintptr) { info, _ = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
	if info == nil {
		return 0
	}
	return time.Duration(info.Rtt+4*info.Rttvar) * time.Microsecond
}
