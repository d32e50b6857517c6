package main

import (
	"errors"
	"os"
	"syscall"

	"github.com/tcptake/tcptake/libtcptake"
)

// hint says what to do about an error of libtcptake: the first entry of
// hints whose op is the *libtcptake.Error's (or any, when empty) and whose
// err matches with errors.Is (a sentinel of libtcptake or an errno).
type hint struct {
	op   libtcptake.Op
	err  error
	why  string // replaces the error's text, when set
	todo string
}

const notFrozen = "the tuple is not frozen (see 'tcptakectl freeze show')"

var hints = []hint{
	{op: libtcptake.OpOpen, err: os.ErrNotExist, why: "tcptake kernel module not loaded",
		todo: "install tcptake-dkms and run 'modprobe tcptake'"},
	{op: libtcptake.OpOpen, err: libtcptake.ErrUnsupported, why: "the tcptake kernel module needs Linux"},
	{err: libtcptake.ErrPermission, todo: "run as root or with CAP_NET_ADMIN over the network namespace"},
	{op: libtcptake.OpFreeze, err: syscall.EEXIST, todo: "add 'replace' to re-arm its timeout"},
	{op: libtcptake.OpFreeze, err: syscall.ENOSPC,
		todo: "delete freezes (see 'tcptakectl freeze show') or raise the module parameter max_freezes"},
	{op: libtcptake.OpThaw, err: os.ErrNotExist, todo: notFrozen},
	{op: libtcptake.OpPeerGet, err: os.ErrNotExist, todo: notFrozen},
	{op: libtcptake.OpGet, err: os.ErrNotExist,
		todo: "no such session (see 'tcptakectl session list'; give the tuple as its owner sees it)"},
	{op: libtcptake.OpSet, err: os.ErrNotExist,
		todo: "no such session (see 'tcptakectl session list'; give the tuple as its owner sees it)"},
	{op: libtcptake.OpSet, err: syscall.EBUSY,
		todo: "put the socket in TCP_REPAIR mode first: set is for a session being restored"},
	{op: libtcptake.OpEvents, err: libtcptake.ErrUnsupported,
		todo: "load the tcptake module of the same release as tcptakectl"},
}

// lookupHint is the hint for err, if any.
func lookupHint(err error) (hint, bool) {
	var le *libtcptake.Error
	if !errors.As(err, &le) {
		return hint{}, false
	}
	for _, h := range hints {
		if (h.op == "" || h.op == le.Op) && errors.Is(err, h.err) {
			return h, true
		}
	}
	return hint{}, false
}

// moduleFailed is the error of a libtcptake operation: what failed, the
// errno text with the module's extack message, and what to do about it.
// what may be empty when the hint says it all ("module not loaded").
func moduleFailed(what string, err error) error {
	why := err
	var le *libtcptake.Error
	if errors.As(err, &le) && le.Err != nil {
		s := le.Err.Error()
		if le.Message != "" {
			s += " (" + le.Message + ")"
		}
		why = errors.New(s)
	}
	h, _ := lookupHint(err)
	if h.why != "" {
		what, why = "", errors.New(h.why)
	}
	return &opError{what: what, err: why, todo: h.todo, cause: err}
}

// moduleNotLoaded reports whether err says that the module is absent.
func moduleNotLoaded(err error) bool {
	var le *libtcptake.Error
	return errors.As(err, &le) && le.Op == libtcptake.OpOpen && errors.Is(err, os.ErrNotExist)
}
