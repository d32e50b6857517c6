package ha

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"golang.org/x/sys/unix"
)

// waitLocal waits until the kernel delivers packets for a just-added
// address locally. An IPv6 address's local route is installed from a
// workqueue, even without DAD: on a loaded node, a packet to the address
// right after the add — the peer's FIN tcptake injects at Restart, the
// peers' answers — would otherwise leave by the prefix route, and be lost.
func (a Address) waitLocal(ctx context.Context) error {
	c, err := rtnetlink.Dial(nil)
	if err != nil {
		return fmt.Errorf("address %v: %w", a, err)
	}
	defer c.Close()
	fam, bits := uint8(unix.AF_INET), uint8(32)
	if a.Prefix.Addr().Is6() {
		fam, bits = unix.AF_INET6, 128
	}
	ctx, cancel := context.WithTimeout(ctx, localRouteWait)
	defer cancel()
	for {
		rs, err := c.Route.Get(&rtnetlink.RouteMessage{Family: fam, DstLength: bits,
			Attributes: rtnetlink.RouteAttributes{Dst: net.IP(a.Prefix.Addr().AsSlice())}})
		if err == nil && len(rs) > 0 && rs[0].Type == unix.RTN_LOCAL {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("address %v: not routed locally after it was added: %w", a, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// localRouteWait bounds waitLocal.
const localRouteWait = 5 * time.Second

// modify adds or removes the address; adding one present or removing one
// absent is not an error.
func (a Address) modify(add bool) error {
	ifi, err := net.InterfaceByName(a.Dev)
	if err != nil {
		return fmt.Errorf("address %v: %w", a, err)
	}
	c, err := rtnetlink.Dial(nil)
	if err != nil {
		return fmt.Errorf("address %v: %w", a, err)
	}
	defer c.Close()
	ip := net.IP(a.Prefix.Addr().AsSlice())
	m := &rtnetlink.AddressMessage{
		Family:       unix.AF_INET,
		PrefixLength: uint8(a.Prefix.Bits()),
		Index:        uint32(ifi.Index),
		Attributes:   &rtnetlink.AddressAttributes{Address: ip, Local: ip},
	}
	if a.Prefix.Addr().Is6() {
		m.Family = unix.AF_INET6
		m.Flags = unix.IFA_F_NODAD
		m.Attributes.Local = nil
		m.Attributes.Flags = unix.IFA_F_NODAD
	}
	if add {
		err = c.Address.New(m)
		if errors.Is(err, unix.EEXIST) {
			err = nil
		}
	} else {
		err = c.Address.Delete(m)
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			err = nil
		}
	}
	if err != nil {
		verb := "add"
		if !add {
			verb = "remove"
		}
		return fmt.Errorf("%s address %v: %w", verb, a, err)
	}
	return nil
}

// Announce tells the link that the address is here now.
func (a Address) Announce() error {
	ifi, err := net.InterfaceByName(a.Dev)
	if err != nil {
		return fmt.Errorf("announce %v: %w", a, err)
	}
	ip := a.Prefix.Addr()
	if ip.Is4() {
		c, err := arp.Dial(ifi)
		if err != nil {
			return fmt.Errorf("announce %v: %w", a, err)
		}
		// Closing a packet socket waits for an RCU grace period
		// (about 10 ms): keep that out of the blackout.
		defer func() { go c.Close() }()
		// A gratuitous ARP request: sender and target are the address.
		p, err := arp.NewPacket(arp.OperationRequest, ifi.HardwareAddr, ip, ethernet.Broadcast, ip)
		if err == nil {
			err = c.WriteTo(p, ethernet.Broadcast)
		}
		if err != nil {
			return fmt.Errorf("announce %v: %w", a, err)
		}
		return nil
	}
	c, _, err := ndp.Listen(ifi, ndp.LinkLocal)
	if err != nil {
		return fmt.Errorf("announce %v: %w", a, err)
	}
	defer func() { go c.Close() }()
	na := &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: ip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: ifi.HardwareAddr}},
	}
	if err := c.WriteTo(na, nil, netip.IPv6LinkLocalAllNodes()); err != nil {
		return fmt.Errorf("announce %v: %w", a, err)
	}
	return nil
}
