//go:build linux

package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// VIP is a service address that moves with the sessions.
type VIP struct {
	Prefix netip.Prefix // e.g. 192.0.2.100/24 or 2001:db8::100/64
	Dev    string       // the interface that carries it
}

// ParseVIP parses "192.0.2.100/24@eth0".
func ParseVIP(s string) (VIP, error) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '@' {
			p, err := netip.ParsePrefix(s[:i])
			return VIP{Prefix: p, Dev: s[i+1:]}, err
		}
	}
	return VIP{}, fmt.Errorf("vip %q: want ADDR/LEN@DEV", s)
}

func (v VIP) String() string { return v.Prefix.String() + "@" + v.Dev }

func addVIPs(vips []VIP) error {
	for _, v := range vips {
		if err := v.Add(); err != nil {
			return err
		}
	}
	for _, v := range vips {
		if err := v.Announce(); err != nil {
			return err
		}
	}
	return nil
}

func delVIPs(vips []VIP) error {
	var errs error
	for _, v := range vips {
		errs = errors.Join(errs, v.Del())
	}
	return errs
}

// Add puts the address on the interface (IPv6: without duplicate address
// detection, so it is usable at once), in the calling thread's netns.
// An address already present is not an error.
func (v VIP) Add() error {
	err := v.addr(unix.RTM_NEWADDR, netlink.Create|netlink.Replace)
	if err != nil {
		return fmt.Errorf("add %v: %w", v, err)
	}
	return nil
}

// Del removes the address; an address not present is not an error.
func (v VIP) Del() error {
	err := v.addr(unix.RTM_DELADDR, 0)
	if errors.Is(err, unix.EADDRNOTAVAIL) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %v: %w", v, err)
	}
	return nil
}

func (v VIP) addr(cmd uint16, flags netlink.HeaderFlags) error {
	ifi, err := net.InterfaceByName(v.Dev)
	if err != nil {
		return err
	}
	a := v.Prefix.Addr()
	hdr := make([]byte, unix.SizeofIfAddrmsg) // struct ifaddrmsg
	hdr[0], hdr[1] = unix.AF_INET, uint8(v.Prefix.Bits())
	if a.Is6() {
		hdr[0], hdr[2] = unix.AF_INET6, unix.IFA_F_NODAD
	}
	binary.NativeEndian.PutUint32(hdr[4:], uint32(ifi.Index))
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.IFA_LOCAL, a.AsSlice())
	ae.Bytes(unix.IFA_ADDRESS, a.AsSlice())
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(cmd), Flags: netlink.Request | netlink.Acknowledge | flags},
		Data:   append(hdr, attrs...),
	})
	return err
}

// Announce tells the link the address is here now: a gratuitous ARP
// request for IPv4, an unsolicited neighbour advertisement (override) for
// IPv6, sent from the interface's MAC with a raw AF_PACKET socket.
func (v VIP) Announce() error {
	ifi, err := net.InterfaceByName(v.Dev)
	if err != nil {
		return err
	}
	if len(ifi.HardwareAddr) != 6 {
		return fmt.Errorf("announce %v: %s has no Ethernet address", v, v.Dev)
	}
	var frame []byte
	var dst net.HardwareAddr
	if a := v.Prefix.Addr(); a.Is4() {
		dst = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		frame = garp(ifi.HardwareAddr, a)
	} else {
		dst = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
		frame = unsolicitedNA(ifi.HardwareAddr, a)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("announce %v: %w", v, err)
	}
	// Closing a packet socket waits for an RCU grace period (about 10 ms):
	// keep that out of the blackout.
	defer func() { go unix.Close(fd) }()
	eth := append(append(append([]byte{}, dst...), ifi.HardwareAddr...), 0, 0)
	if v.Prefix.Addr().Is4() {
		binary.BigEndian.PutUint16(eth[12:], unix.ETH_P_ARP)
	} else {
		binary.BigEndian.PutUint16(eth[12:], unix.ETH_P_IPV6)
	}
	sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	copy(sa.Addr[:], dst)
	if err := unix.Sendto(fd, append(eth, frame...), 0, sa); err != nil {
		return fmt.Errorf("announce %v: %w", v, err)
	}
	return nil
}

// garp is an ARP request for a from a, by mac (RFC 5227 announcement).
func garp(mac net.HardwareAddr, a netip.Addr) []byte {
	b := make([]byte, 28)
	binary.BigEndian.PutUint16(b[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(b[2:], 0x0800) // IPv4
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], 1) // request
	copy(b[8:], mac)
	ip := a.As4()
	copy(b[14:], ip[:])
	copy(b[24:], ip[:]) // target hardware address stays zero
	return b
}

// unsolicitedNA is an IPv6 packet carrying a neighbour advertisement for a
// (flags Override), to all nodes, with the target link-layer option.
func unsolicitedNA(mac net.HardwareAddr, a netip.Addr) []byte {
	icmp := make([]byte, 32)
	icmp[0] = 136  // neighbour advertisement
	icmp[4] = 0x20 // O
	t := a.As16()
	copy(icmp[8:], t[:]) // target
	icmp[24], icmp[25] = 2, 1
	copy(icmp[26:], mac)
	src := a.As16()
	dst := netip.MustParseAddr("ff02::1").As16()
	// checksum over the pseudo header
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	add(src[:])
	add(dst[:])
	var ph [8]byte
	binary.BigEndian.PutUint32(ph[0:], uint32(len(icmp)))
	ph[7] = 58
	add(ph[:])
	add(icmp)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(icmp[2:], ^uint16(sum))
	ip := make([]byte, 40)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(icmp)))
	ip[6] = 58  // ICMPv6
	ip[7] = 255 // hop limit, required for ND
	copy(ip[8:], src[:])
	copy(ip[24:], dst[:])
	return append(ip, icmp...)
}
