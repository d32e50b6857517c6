//go:build linux

package main

import (
	"fmt"
	"os"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// dumpSessions lists the TCP sockets, IPv4 and IPv6, whose state is in the
// states mask, through NETLINK_SOCK_DIAG in the network namespace of netns
// (nil: the current one). The socket is created in that namespace on a
// locked OS thread by netlink.Dial; nothing else runs in it.
func dumpSessions(netns *os.File, states uint32) ([]diagSock, error) {
	cfg := &netlink.Config{}
	if netns != nil {
		cfg.NetNS = int(netns.Fd())
	}
	conn, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, cfg)
	if err != nil {
		return nil, fmt.Errorf("open sock_diag socket: %w", err)
	}
	defer conn.Close()

	var socks []diagSock
	for _, family := range []uint8{afInet, afInet6} {
		msgs, err := conn.Execute(netlink.Message{
			Header: netlink.Header{
				Type:  sockDiagByFamily,
				Flags: netlink.Request | netlink.Dump,
			},
			Data: inetDiagReqV2(family, states),
		})
		if err != nil {
			return nil, fmt.Errorf("sock_diag dump: %w", err)
		}
		for _, m := range msgs {
			s, err := parseInetDiagMsg(m.Data)
			if err != nil {
				return nil, err
			}
			socks = append(socks, s)
		}
	}
	return socks, nil
}

// checkNetNS reports an error when f is not a namespace file (nsfs), so
// that "-n /etc/passwd" fails with a clear reason instead of setns's EINVAL.
func checkNetNS(f *os.File) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Type != unix.NSFS_MAGIC {
		return errNotNetNS
	}
	// NS_GET_NSTYPE (4.11+) tells a network namespace from the others.
	if t, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE); err == nil && t != unix.CLONE_NEWNET {
		return errNotNetNS
	}
	return nil
}
