package ha

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// AddressManager moves the service address with the sessions: Up on the
// node that becomes the active (step 4 of a switchover), Down on the one
// that stops being it (step 3). An error from Up makes the switchover
// fail before any session restarts there, unless it is an
// *AnnounceError: the address is up, only telling the link failed (the
// neighbours learn it when their caches expire), which is logged.
type AddressManager interface {
	Up(ctx context.Context) error
	Down(ctx context.Context) error
}

// Hooks leaves the address to an external manager (keepalived, Pacemaker,
// a script): its functions are called where the address must move; a nil
// function does nothing.
type Hooks struct {
	OnUp, OnDown func(ctx context.Context) error
}

func (h Hooks) Up(ctx context.Context) error {
	if h.OnUp == nil {
		return nil
	}
	return h.OnUp(ctx)
}

func (h Hooks) Down(ctx context.Context) error {
	if h.OnDown == nil {
		return nil
	}
	return h.OnDown(ctx)
}

// Address is a service address on an interface, managed through
// rtnetlink in the calling thread's network namespace.
type Address struct {
	Prefix netip.Prefix // e.g. 192.0.2.100/24 or 2001:db8::100/64
	Dev    string       // the interface that carries it
}

// ParseAddress parses "192.0.2.100/24@eth0".
func ParseAddress(s string) (Address, error) {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return Address{}, fmt.Errorf("address %q: want IP/PREFIX@DEV", s)
	}
	p, err := netip.ParsePrefix(s[:i])
	if err != nil || s[i+1:] == "" {
		return Address{}, fmt.Errorf("address %q: want IP/PREFIX@DEV", s)
	}
	return Address{Prefix: p, Dev: s[i+1:]}, nil
}

func (a Address) String() string { return a.Prefix.String() + "@" + a.Dev }

// Addresses moves a set of service addresses itself: Up adds each one
// (IPv6 without duplicate address detection, usable at once) and announces
// it (gratuitous ARP, unsolicited neighbour advertisement with the
// override flag); Down removes them.
type Addresses []Address

func (as Addresses) Up(ctx context.Context) error {
	for _, a := range as {
		if err := a.modify(true); err != nil {
			return err
		}
	}
	for _, a := range as {
		if err := a.waitLocal(ctx); err != nil {
			return err
		}
	}
	var errs error
	for _, a := range as {
		errs = errors.Join(errs, a.Announce())
	}
	if errs != nil {
		return &AnnounceError{errs}
	}
	return nil
}

// AnnounceError is an address that is up but could not be announced.
type AnnounceError struct{ Err error }

func (e *AnnounceError) Error() string { return e.Err.Error() }
func (e *AnnounceError) Unwrap() error { return e.Err }

func (as Addresses) Down(ctx context.Context) error {
	var errs error
	for _, a := range as {
		errs = errors.Join(errs, a.modify(false))
	}
	return errs
}
